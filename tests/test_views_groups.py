"""Team admins map the identity provider's groups to roles in their team."""

import pytest

from provisioning.models import AuditEvent, GroupMapping, Membership, Role
from tests.views import assert_redirects_to_login, request
from tests.workflow import text

pytestmark = pytest.mark.django_db

GROUPS = "/t/team-a/groups/"


@pytest.fixture
def mapping_a(team_a):
    return GroupMapping.objects.create(team=team_a, group="/devices/operators", role=Role.OPERATOR)


@pytest.fixture
def views(mapping_a):
    return [
        (GROUPS, "GET", None),
        (GROUPS, "POST", {"group": "new-group", "role": "auditor"}),
        (f"/t/team-a/groups/{mapping_a.pk}/delete/", "POST", None),
    ]


def mappings():
    return sorted(GroupMapping.objects.values_list("team__slug", "group", "role"))


STATE = [("team-a", "/devices/operators", "operator")]


def test_it_requires_login(client, cast, views):
    for url, method, data in views:
        assert_redirects_to_login(request(client, method, url, data), url)
    assert mappings() == STATE


def test_it_refuses_other_team(as_user, cast, views, mapping_a):
    client = as_user(cast["other"])
    for url, method, data in views:
        assert request(client, method, url, data).status_code == 404, url
    # Team A's mapping is not reachable through team B's URLs either.
    assert client.post(f"/t/team-b/groups/{mapping_a.pk}/delete/").status_code == 404
    assert mappings() == STATE


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_it_refuses_members_who_are_not_admins(as_user, cast, views, role):
    client = as_user(cast[role])
    for url, method, data in views:
        assert request(client, method, url, data).status_code == 403, url
    assert mappings() == STATE


def test_an_admin_maps_a_group_and_it_is_audited(as_user, cast, mapping_a):
    client = as_user(cast["admin"])
    response = client.post(GROUPS, {"group": " device-admins ", "role": "admin"}, follow=True)
    page = text(response)
    assert "Members of device-admins join as admin at their next sign-in." in page
    assert "/devices/operators" in page and "device-admins" in page
    assert mappings() == [*STATE, ("team-a", "device-admins", "admin")]
    row = AuditEvent.objects.get(action="group.map")
    assert (row.team_name, row.target, row.actor_name, row.request) == (
        "Team A",
        "device-admins",
        "alice",
        {"role": "admin"},
    )


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"group": "", "role": "admin"}, "This field is required."),
        ({"group": "/devices/operators", "role": "admin"}, "This group is mapped already."),
        ({"group": "x" * 256, "role": "admin"}, "Ensure this value has at most 255 characters"),
        ({"group": "nul\x00here", "role": "admin"}, "Null characters are not allowed."),
        ({"group": "ok", "role": "owner"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_shown_next_to_the_field(as_user, cast, mapping_a, data, error):
    response = as_user(cast["admin"]).post(GROUPS, data)
    assert response.status_code == 200
    assert error in text(response)
    assert mappings() == STATE


def test_the_same_group_may_be_mapped_in_two_teams(as_user, cast, mapping_a):
    response = as_user(cast["other"]).post(
        "/t/team-b/groups/", {"group": "/devices/operators", "role": "admin"}
    )
    assert response.status_code == 302
    assert ("team-b", "/devices/operators", "admin") in mappings()


def test_removing_a_mapping_is_audited_and_leaves_memberships_until_the_next_sign_in(
    as_user, cast, mapping_a, team_a
):
    Membership.objects.filter(user=cast["operator"]).update(from_groups=True)
    client = as_user(cast["admin"])
    response = client.post(f"/t/team-a/groups/{mapping_a.pk}/delete/", follow=True)
    assert "/devices/operators is no longer mapped" in text(response)
    assert mappings() == []
    assert AuditEvent.objects.get(action="group.unmap").target == "/devices/operators"
    assert Membership.objects.filter(user=cast["operator"], team=team_a).exists()


def test_the_page_says_when_sign_in_with_a_provider_is_off(as_user, cast, settings):
    settings.OIDC_ENABLED = False
    page = text(as_user(cast["admin"]).get(GROUPS))
    assert "is not configured on this installation" in page


def test_the_page_names_the_groups_claim(as_user, cast, settings):
    settings.OIDC_ENABLED = True
    settings.OIDC_GROUPS_CLAIM = "roles"
    page = text(as_user(cast["admin"]).get(GROUPS))
    assert "<code>roles</code>" in page


def test_members_show_which_memberships_come_from_groups(as_user, cast):
    Membership.objects.filter(user=cast["operator"]).update(from_groups=True)
    page = text(as_user(cast["admin"]).get("/t/team-a/members/"))
    assert page.count("from groups</span>") == 1
    assert 'href="/t/team-a/groups/"' in page


def test_history_filters_group_mapping_changes(as_user, cast):
    client = as_user(cast["admin"])
    client.post(GROUPS, {"group": "readers", "role": "auditor"})
    page = text(client.get("/t/team-a/history/?action=group."))
    assert "group.map" in page and "Group mapping changes" in page
