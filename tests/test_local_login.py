"""Password sign-in beside the identity provider: on for everyone by default, for superusers only
with LOCAL_LOGIN_SUPERUSERS_ONLY, and always there for superusers when the provider is down."""

import pytest
from django.contrib.auth import get_user_model

from provisioning.models import Invitation, Role
from tests.conftest import PASSWORD
from tests.idp import Provider, configure
from tests.workflow import text

pytestmark = pytest.mark.django_db

DOWN = "http://127.0.0.1:9"  # the discard port: nothing answers there


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)


@pytest.fixture
def provider_down(settings):
    """Sign-in with an identity provider configured, and the provider down (no node needed)."""
    configure(settings, Provider(DOWN, control=None))
    return settings


@pytest.fixture
def superusers_only(provider_down):
    """... and password sign-in for superusers only."""
    provider_down.LOCAL_LOGIN_SUPERUSERS_ONLY = True
    return provider_down


def log_in(client, username):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD})


def test_passwords_sign_everyone_in_by_default(client, provider_down, admin_a):
    response = log_in(client, "alice")
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_superuser_signs_in_with_a_password_while_the_provider_is_down(client, superusers_only, superuser):
    assert client.get("/accounts/oidc/login/").status_code == 502
    response = log_in(client, "root")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").wsgi_request.user == superuser


def test_others_are_told_to_use_the_provider(client, superusers_only, admin_a):
    response = log_in(client, "alice")
    assert response.status_code == 200
    page = text(response)
    assert "Password sign-in is for superusers only here. Sign in with Mock IdP instead." in page
    assert "Superusers: log in with a password" in page
    assert not client.get("/").wsgi_request.user.is_authenticated


def test_a_wrong_password_still_says_only_that(client, superusers_only, admin_a):
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert "Please enter a correct username and password" in text(response)


def test_staff_who_are_not_superusers_cannot_use_the_admin_log_in_either(client, superusers_only, admin_a):
    get_user_model().objects.filter(pk=admin_a.pk).update(is_staff=True)
    response = client.post("/admin/login/?next=/admin/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert "Password sign-in is for superusers only here." in text(response)
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "x"})
    assert "Password sign-in is for superusers only" not in text(response)


def test_the_admin_site_takes_a_superusers_password(client, superusers_only, superuser):
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_invitations_are_not_made_when_only_the_provider_signs_people_in(as_user, superusers_only, admin_a):
    client = as_user(admin_a)
    response = client.post("/t/team-a/members/", {"email": "new@example.com", "role": Role.OPERATOR})
    assert "Nobody with this e-mail has signed in yet" in text(response)
    assert not Invitation.objects.exists()


def test_an_earlier_invitation_cannot_make_a_password_account(client, superusers_only, team_a):
    _, token = Invitation.issue(team=team_a, email="ivy@example.com", role=Role.OPERATOR, invited_by_name="a")
    response = client.post(
        f"/invitations/{token}/", {"username": "ivy", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 404
    assert "Sign in with Mock IdP" in text(response)
    assert not get_user_model().objects.filter(username="ivy").exists()
