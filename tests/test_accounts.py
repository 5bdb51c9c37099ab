"""People's own accounts: changing their password."""

import re

import pytest
from django.contrib.auth import get_user_model

from provisioning.models import ExternalIdentity, Membership, Role
from tests.conftest import PASSWORD
from tests.views import assert_redirects_to_login

pytestmark = pytest.mark.django_db

CHANGE = "/accounts/password/"
NEW_PASSWORD = "Quiet-Harbour-Lantern-42"
RESET_LINK = re.compile(r"http://testserver(/accounts/reset/[\w-]+/[\w-]+/)")


@pytest.fixture
def oidc_member(team_a):
    """Someone the identity provider signed in: no usable password here (provisioning.identity)."""
    user = get_user_model().objects.create_user(
        "dora@corp.example", "dora@corp.example", None, first_name="Dora", last_name="Diaz"
    )
    ExternalIdentity.objects.create(user=user, issuer="https://sso.example", subject="dora")
    Membership.objects.create(user=user, team=team_a, role=Role.OPERATOR)
    return user


def log_in(client, username, password):
    """The log-in form, as a person uses it (302 when the password is right)."""
    return client.post("/accounts/login/", {"username": username, "password": password})


def reset_url(member_user, team_slug="team-a"):
    pk = Membership.objects.get(user=member_user).pk
    return f"/t/{team_slug}/members/{pk}/password-reset/"


# --- changing one's own password ------------------------------------------------------------


def test_people_change_their_own_password_from_the_header(client, as_user, cast):
    browser = as_user(cast["operator"])
    assert f'href="{CHANGE}"' in browser.get("/t/team-a/").content.decode()
    assert "Change your password" in browser.get(CHANGE).content.decode()

    response = browser.post(
        CHANGE, {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )

    assert response.status_code == 302 and response["Location"] == "/"
    assert "Your password was changed." in browser.get("/t/team-a/").content.decode()  # still signed in
    client.logout()
    assert log_in(client, "oscar", NEW_PASSWORD).status_code == 302


def test_a_wrong_old_password_or_a_weak_new_one_is_explained(as_user, cast):
    browser = as_user(cast["operator"])
    wrong = browser.post(
        CHANGE, {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    )
    assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    weak = browser.post(
        CHANGE, {"old_password": PASSWORD, "new_password1": "12345", "new_password2": "12345"}
    )
    assert "This password is too short" in weak.content.decode()
    assert get_user_model().objects.get(username="oscar").check_password(PASSWORD)


def test_people_of_the_identity_provider_are_not_offered_a_password_change(as_user, oidc_member):
    browser = as_user(oidc_member)
    assert CHANGE not in browser.get("/t/team-a/").content.decode()

    response = browser.get(CHANGE)

    assert response.status_code == 403
    assert "Provisioner keeps no password for you" in response.content.decode()
    assert browser.post(CHANGE, {"old_password": "", "new_password1": NEW_PASSWORD}).status_code == 403


def test_the_password_change_needs_a_signed_in_user(client):
    assert_redirects_to_login(client.get(CHANGE), CHANGE)
