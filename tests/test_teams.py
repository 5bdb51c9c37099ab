"""New teams, made by a superuser from the dashboard."""

import pytest
from django.contrib.auth import get_user_model

from provisioning.models import AuditEvent, Membership, Role, Team
from tests.views import assert_redirects_to_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")


def test_a_superuser_creates_a_team_and_lands_on_it_as_its_admin(client, root):
    client.force_login(root)
    assert 'href="/teams/new/"' in client.get("/").content.decode()  # on the no-team page

    response = client.post("/teams/new/", {"name": "  ACME Sensors Ünit  "})

    team = Team.objects.get()
    assert (team.name, team.slug) == ("ACME Sensors Ünit", "acme-sensors-unit")
    assert response.status_code == 302 and response["Location"] == "/t/acme-sensors-unit/"
    assert Membership.objects.get(team=team).role == Role.ADMIN
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "target", "team_id"))
    assert actions == [("team.create", "ACME Sensors Ünit", team.pk), ("member.add", "root", team.pk)]
    assert (
        "Team ACME Sensors Ünit created; you are its admin."
        in client.get(response["Location"]).content.decode()
    )


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("team a", "A team with this name exists already."),
        ("Team-A!", "Another team already has the URL name “team-a”"),
        ("!!! ???", "Use at least one letter or digit"),
        ("x" * 101, "Ensure this value has at most 100 characters"),
    ],
)
def test_a_bad_team_name_is_explained(client, root, team_a, name, message):
    client.force_login(root)
    response = client.post("/teams/new/", {"name": name})
    assert response.status_code == 400 and message in response.content.decode()
    assert Team.objects.count() == 1


def test_only_superusers_create_teams(as_user, client, cast):
    for user in cast.values():
        assert as_user(user).get("/teams/new/").status_code == 403
        assert as_user(user).post("/teams/new/", {"name": "Mine"}).status_code == 403
    assert 'href="/teams/new/"' not in as_user(cast["admin"]).get("/t/team-a/").content.decode()
    client.logout()
    assert_redirects_to_login(client.get("/teams/new/"), "/teams/new/")
    assert not Team.objects.filter(name="Mine").exists()
