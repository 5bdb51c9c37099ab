"""Team admins invite, re-role and remove members of their team."""

import re

import pytest

from provisioning.models import AuditEvent, Invitation, Membership, Role
from tests.views import assert_redirects_to_login, request

pytestmark = pytest.mark.django_db

MEMBERS = "/t/team-a/members/"


def membership(user, team_slug="team-a"):
    return Membership.objects.get(user=user, team__slug=team_slug)


@pytest.fixture
def views(cast):
    """(url, method, data) of every members view, pointed at team A's operator."""
    target = membership(cast["operator"]).pk
    return [
        (MEMBERS, "GET", None),
        (MEMBERS, "POST", {"email": "new@example.com", "role": "operator"}),
        (f"/t/team-a/members/{target}/role/", "POST", {"role": "auditor"}),
        (f"/t/team-a/members/{target}/remove/", "POST", None),
    ]


def team_a_state():
    return sorted(Membership.objects.filter(team__slug="team-a").values_list("user__username", "role"))


CAST_STATE = [("alice", "admin"), ("audrey", "auditor"), ("oscar", "operator")]


def test_it_requires_login(client, cast, views):
    for url, method, data in views:
        assert_redirects_to_login(request(client, method, url, data), url)
    assert team_a_state() == CAST_STATE


def test_it_refuses_other_team(as_user, cast, views):
    client = as_user(cast["other"])
    for url, method, data in views:
        assert request(client, method, url, data).status_code == 404, url
        if url != MEMBERS:
            # Team A's membership is not reachable through team B's URLs either.
            assert request(client, method, url.replace("team-a", "team-b"), data).status_code == 404, url
    assert team_a_state() == CAST_STATE
    assert not Invitation.objects.filter(team__slug="team-a").exists()


def test_an_admin_cannot_reach_a_member_of_another_team(as_user, cast):
    bob = membership(cast["other"], "team-b").pk
    client = as_user(cast["admin"])
    assert client.post(f"/t/team-a/members/{bob}/role/", {"role": "auditor"}).status_code == 404
    assert client.post(f"/t/team-a/members/{bob}/remove/").status_code == 404
    assert membership(cast["other"], "team-b").role == Role.ADMIN


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_it_refuses_the_wrong_role(as_user, cast, views, role):
    client = as_user(cast[role])
    for url, method, data in views:
        assert request(client, method, url, data).status_code == 403, url
    assert team_a_state() == CAST_STATE
    assert not Invitation.objects.exists()


# --- the page ---------------------------------------------------------------------------


def test_an_admin_sees_the_members(as_user, cast):
    response = as_user(cast["admin"]).get(MEMBERS)
    html = response.content.decode()
    assert response.status_code == 200
    for name in ("alice", "oscar", "audrey"):
        assert name in html
    assert "bob" not in html
    assert "(you)" in html


# --- inviting ---------------------------------------------------------------------------


def test_inviting_a_new_person_shows_a_one_time_link(as_user, cast, team_a):
    client = as_user(cast["admin"])
    response = client.post(MEMBERS, {"email": "New.Person@Example.com", "role": "operator"})

    assert response.status_code == 200
    html = response.content.decode()
    (token,) = re.findall(r"http://testserver/invitations/([\w-]+)/", html)
    invitation = Invitation.objects.get()
    assert (invitation.email, invitation.role, invitation.team) == (
        "new.person@example.com",
        "operator",
        team_a,
    )
    assert invitation.token_hash == Invitation.hash_token(token)
    assert token not in invitation.token_hash  # only its hash is stored
    event = AuditEvent.objects.get(action="member.invite")
    assert event.target == "new.person@example.com" and token not in str(event.request)

    # The link is not shown again.
    again = client.get(MEMBERS).content.decode()
    assert token not in again
    assert "For <strong>new.person@example.com</strong> as operator" in again


def test_inviting_someone_with_an_account_adds_them_at_once(as_user, cast):
    response = as_user(cast["admin"]).post(MEMBERS, {"email": "BOB@example.com", "role": "auditor"})
    assert response.status_code == 302
    assert membership(cast["other"]).role == Role.AUDITOR
    assert membership(cast["other"], "team-b").role == Role.ADMIN  # still admin of their own team
    assert not Invitation.objects.exists()
    assert AuditEvent.objects.get(action="member.add").target == "bob"


def test_inviting_a_member_again_is_refused(as_user, cast):
    response = as_user(cast["admin"]).post(MEMBERS, {"email": "oscar@example.com", "role": "admin"})
    assert response.status_code == 200
    assert response.context["form"].errors["email"] == ["This person is already a member of the team."]
    assert membership(cast["operator"]).role == Role.OPERATOR


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-address", "role": "operator"}, "email"),
        ({"email": "", "role": "operator"}, "email"),
        ({"email": "x@example.com", "role": "owner"}, "role"),
    ],
)
def test_a_bad_invitation_is_refused_next_to_its_field(as_user, cast, data, field):
    response = as_user(cast["admin"]).post(MEMBERS, data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Invitation.objects.exists()


# --- changing roles ---------------------------------------------------------------------


def test_an_admin_changes_a_members_role(as_user, cast):
    target = membership(cast["operator"])
    response = as_user(cast["admin"]).post(f"/t/team-a/members/{target.pk}/role/", {"role": "auditor"})
    assert response.status_code == 302 and response["Location"] == MEMBERS
    assert membership(cast["operator"]).role == Role.AUDITOR
    event = AuditEvent.objects.get(action="member.role")
    assert event.target == "oscar" and event.request == {"role": "auditor"}


def test_an_admin_cannot_demote_themselves(as_user, cast):
    own = membership(cast["admin"])
    response = as_user(cast["admin"]).post(
        f"/t/team-a/members/{own.pk}/role/", {"role": "operator"}, follow=True
    )
    assert "You cannot take away your own admin role" in response.content.decode()
    assert membership(cast["admin"]).role == Role.ADMIN


def test_an_invalid_role_is_refused(as_user, cast):
    target = membership(cast["operator"])
    response = as_user(cast["admin"]).post(
        f"/t/team-a/members/{target.pk}/role/", {"role": "root"}, follow=True
    )
    assert "Choose a valid role." in response.content.decode()
    assert membership(cast["operator"]).role == Role.OPERATOR


# --- removing ---------------------------------------------------------------------------


def test_an_admin_removes_a_member(as_user, cast):
    target = membership(cast["operator"])
    response = as_user(cast["admin"]).post(f"/t/team-a/members/{target.pk}/remove/")
    assert response.status_code == 302 and response["Location"] == MEMBERS
    assert not Membership.objects.filter(pk=target.pk).exists()
    cast["operator"].refresh_from_db()  # the account stays; only the membership goes
    assert AuditEvent.objects.get(action="member.remove").target == "oscar"
    # The removed member can no longer open the team.
    assert request(as_user(cast["operator"]), "GET", "/t/team-a/").status_code == 404


def test_an_admin_cannot_remove_themselves(as_user, cast):
    own = membership(cast["admin"])
    response = as_user(cast["admin"]).post(f"/t/team-a/members/{own.pk}/remove/", follow=True)
    assert "You cannot remove yourself" in response.content.decode()
    assert Membership.objects.filter(pk=own.pk).exists()


def test_member_changes_take_a_post(as_user, cast):
    target = membership(cast["operator"])
    client = as_user(cast["admin"])
    assert client.get(f"/t/team-a/members/{target.pk}/role/").status_code == 405
    assert Membership.objects.filter(pk=target.pk).exists()


def test_removing_a_member_asks_for_confirmation_first(as_user, cast):
    """The members page links to a confirmation page (no JavaScript needed); only its POST removes."""
    target = membership(cast["operator"])
    client = as_user(cast["admin"])
    page = client.get(MEMBERS).content.decode()
    assert f'href="/t/team-a/members/{target.pk}/remove/"' in page

    confirm = client.get(f"/t/team-a/members/{target.pk}/remove/")
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert "Remove oscar from Team A?" in html
    assert '<button type="submit" class="danger">Remove oscar</button>' in html
    assert Membership.objects.filter(pk=target.pk).exists()
    assert not AuditEvent.objects.filter(action="member.remove").exists()

    response = client.post(f"/t/team-a/members/{target.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()
