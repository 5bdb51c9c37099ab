"""Invitations: withdrawn by a team admin, accepted once through the link."""

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from provisioning.models import AuditEvent, Invitation, Membership, Role
from tests.views import assert_redirects_to_login

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Quiet-Harbour-Lantern-42"


@pytest.fixture
def invitation(team_a, admin_a):
    invitation, token = Invitation.issue(
        team=team_a, email="newcomer@example.com", role=Role.OPERATOR, invited_by_name="alice"
    )
    invitation.token = token
    return invitation


def revoke_url(invitation, team_slug="team-a"):
    return f"/t/{team_slug}/invitations/{invitation.pk}/revoke/"


def accept(client, token, username="newcomer", password1=NEW_PASSWORD, password2=NEW_PASSWORD):
    return client.post(
        f"/invitations/{token}/", {"username": username, "password1": password1, "password2": password2}
    )


# --- withdrawing ------------------------------------------------------------------------


def test_withdrawing_requires_login(client, invitation):
    assert_redirects_to_login(client.post(revoke_url(invitation)), revoke_url(invitation))
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_withdrawing_refuses_other_team(as_user, cast, invitation):
    client = as_user(cast["other"])
    assert client.post(revoke_url(invitation)).status_code == 404
    assert client.post(revoke_url(invitation, "team-b")).status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_withdrawing_refuses_the_wrong_role(as_user, cast, invitation, role):
    assert as_user(cast[role]).post(revoke_url(invitation)).status_code == 403
    assert Invitation.objects.filter(pk=invitation.pk).exists()


def test_an_admin_withdraws_an_invitation(as_user, cast, invitation, client):
    response = as_user(cast["admin"]).post(revoke_url(invitation))
    assert response.status_code == 302 and response["Location"] == "/t/team-a/members/"
    assert not Invitation.objects.exists()
    assert AuditEvent.objects.get(action="member.uninvite").target == "newcomer@example.com"
    client.logout()
    assert client.get(f"/invitations/{invitation.token}/").status_code == 404


def test_an_accepted_invitation_cannot_be_withdrawn(as_user, cast, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(accepted_at=timezone.now())
    assert as_user(cast["admin"]).post(revoke_url(invitation)).status_code == 404
    assert Invitation.objects.filter(pk=invitation.pk).exists()


# --- accepting --------------------------------------------------------------------------


def test_the_link_shows_whom_and_for_what(client, invitation):
    response = client.get(f"/invitations/{invitation.token}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Join Team A" in html and "newcomer@example.com" in html and "as operator" in html


def test_accepting_creates_the_account_and_joins_the_team(client, invitation, team_a):
    response = accept(client, invitation.token)

    assert response.status_code == 302 and response["Location"] == "/t/team-a/"
    user = get_user_model().objects.get(username="newcomer")
    assert user.email == "newcomer@example.com" and user.check_password(NEW_PASSWORD)
    assert Membership.objects.get(user=user).role == Role.OPERATOR
    assert Membership.objects.get(user=user).team == team_a
    assert client.get("/t/team-a/").status_code == 200  # logged in
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    event = AuditEvent.objects.get(action="member.join")
    assert event.actor_name == "newcomer" and NEW_PASSWORD not in str(event.__dict__)


def test_a_link_works_once(client, invitation):
    accept(client, invitation.token)
    client.logout()
    assert client.get(f"/invitations/{invitation.token}/").status_code == 404
    response = accept(client, invitation.token, username="second")
    assert response.status_code == 404
    assert b"This invitation cannot be used" in response.content
    assert not get_user_model().objects.filter(username="second").exists()


def test_an_expired_link_is_refused(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/invitations/{invitation.token}/").status_code == 404
    assert accept(client, invitation.token).status_code == 404
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_a_made_up_link_is_refused(client, invitation):
    assert client.get("/invitations/not-a-real-token/").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"password2": "Something-Else-42"}, "password2", "The two passwords differ."),
        ({"password1": "short", "password2": "short"}, "password1", "too short"),
        ({"password1": "password123", "password2": "password123"}, "password1", "too common"),
        ({"password1": "newcomer-example", "password2": "newcomer-example"}, "password1", "too similar"),
        ({"username": "alice"}, "username", "This user name is taken."),
        ({"username": "ALICE"}, "username", "This user name is taken."),
        ({"username": "no spaces please"}, "username", "Enter a valid username"),
    ],
)
def test_a_bad_account_form_is_refused_with_a_clear_message(client, invitation, fields, field, message):
    data = {"username": "newcomer", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, **fields}
    response = client.post(f"/invitations/{invitation.token}/", data)
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors[field])
    assert message in errors
    assert f'id="id_{field}_error"' in response.content.decode()
    assert not Membership.objects.filter(user__email="newcomer@example.com").exists()
    invitation.refresh_from_db()
    assert invitation.accepted_at is None  # still usable after a mistake


# --- one open invitation per address ------------------------------------------------------


def invite(client, email, role="operator"):
    response = client.post("/t/team-a/members/", {"email": email, "role": role})
    (token,) = re.findall(r"http://testserver/invitations/([\w-]+)/", response.content.decode())
    return response.content.decode(), token


def test_inviting_an_address_again_renews_its_invitation(as_user, cast, client):
    browser = as_user(cast["admin"])
    first_page, first = invite(browser, "Newcomer@Example.com")
    assert "Invitation link for newcomer@example.com" in first_page

    page, second = invite(browser, "newcomer@example.com", role="auditor")

    (invitation,) = Invitation.objects.all()  # one, not two
    assert invitation.role == Role.AUDITOR and invitation.token_hash == Invitation.hash_token(second)
    assert "Invitation link for newcomer@example.com" in page
    assert "It replaces the link of their earlier invitation, which no longer works." in page
    assert browser.get("/t/team-a/members/").content.decode().count("For <strong>newcomer@example.com") == 1
    renewed = AuditEvent.objects.filter(action="member.invite").order_by("pk").last()
    assert renewed.message == "Renewed: the earlier link no longer works."
    assert first not in str(AuditEvent.objects.values_list()) and second not in str(
        AuditEvent.objects.values_list()
    )
    client.logout()
    assert client.get(f"/invitations/{first}/").status_code == 404
    assert client.get(f"/invitations/{second}/").status_code == 200


def test_accepting_an_invitation_closes_the_addresss_other_invitations(client, team_a, team_b, admin_b):
    _, token = Invitation.issue(
        team=team_a, email="newcomer@example.com", role=Role.OPERATOR, invited_by_name="a"
    )
    elsewhere, other_token = Invitation.issue(
        team=team_b, email="newcomer@example.com", role=Role.AUDITOR, invited_by_name="bob"
    )

    assert accept(client, token).status_code == 302

    assert not Invitation.objects.filter(pk=elsewhere.pk).exists()
    closed = AuditEvent.objects.get(action="member.uninvite")
    assert (closed.team_id, closed.target) == (team_b.pk, "newcomer@example.com")
    assert "accepted an invitation to another team" in closed.message
    client.logout()
    assert client.get(f"/invitations/{other_token}/").status_code == 404
    assert Membership.objects.filter(user__username="newcomer").count() == 1
