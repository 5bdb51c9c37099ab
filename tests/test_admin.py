"""The Django admin: a superuser manages teams; connections stay in the dashboard."""

import pytest

from provisioning.models import Membership, Namespace, Role, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "root-password-123")
    client.force_login(user)
    return client


def test_a_superuser_creates_a_team_with_its_first_admin(superuser_client, admin_a):
    response = superuser_client.post(
        "/admin/provisioning/team/add/",
        {
            "name": "Team C",
            "slug": "team-c",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-user": str(admin_a.pk),
            "memberships-0-role": "admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    team = Team.objects.get(slug="team-c")
    assert Membership.objects.get(team=team).user == admin_a
    assert Membership.objects.get(team=team).role == Role.ADMIN


def test_team_admins_are_not_let_into_the_admin_site(as_user, cast):
    response = as_user(cast["admin"]).get("/admin/provisioning/team/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_client_configurations_are_read_only_in_the_admin(superuser_client, config_a):
    page = superuser_client.get(f"/admin/provisioning/connection/{config_a.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "client-a-secret-value" not in html and config_a.secret_sealed not in html
    assert 'name="_save"' not in html
    response = superuser_client.post(
        f"/admin/provisioning/connection/{config_a.pk}/change/", {"token_url": "http://evil.example/"}
    )
    assert response.status_code == 403
    config_a.refresh_from_db()
    assert config_a.token_url.startswith("https://") and config_a.config_version == 1
    assert superuser_client.get("/admin/provisioning/connection/add/").status_code == 403


def test_the_admin_checks_the_namespace_rule(superuser_client, team_a):
    response = superuser_client.post(
        "/admin/provisioning/namespace/add/", {"team": team_a.pk, "name": "com..bad", "client": ""}
    )
    assert response.status_code == 200
    assert "After" in response.content.decode() and "needs a letter" in response.content.decode()
    assert not Namespace.objects.exists()


def test_the_admin_refuses_a_namespace_tied_to_another_teams_configuration(
    superuser_client, team_b, config_a
):
    response = superuser_client.post(
        "/admin/provisioning/namespace/add/", {"team": team_b.pk, "name": "com.acme", "client": config_a.pk}
    )
    assert response.status_code == 200
    assert "belongs to another team" in response.content.decode()
    assert not Namespace.objects.exists()


def test_invitations_are_not_created_in_the_admin(superuser_client):
    assert superuser_client.get("/admin/provisioning/invitation/add/").status_code == 403


def test_audit_events_cannot_be_changed_in_the_admin(superuser_client):
    assert superuser_client.get("/admin/provisioning/auditevent/add/").status_code == 403
