"""People's own accounts: changing their password, and reset links sent by an admin."""

import logging
import re

import pytest
from django.contrib.auth import get_user_model

from provisioning.models import AuditEvent, ExternalIdentity, Membership, Role
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


# --- reset links ---------------------------------------------------------------------------


def test_a_team_admin_sends_a_member_a_reset_link_that_sets_a_new_password(
    client, as_user, cast, mailoutbox, caplog
):
    caplog.set_level(logging.DEBUG)
    browser = as_user(cast["admin"])
    assert reset_url(cast["operator"]) in browser.get("/t/team-a/members/").content.decode()

    response = browser.post(reset_url(cast["operator"]), follow=True)

    assert "A link to set a new password was e-mailed to oscar@example.com" in response.content.decode()
    (mail,) = mailoutbox
    assert mail.to == ["oscar@example.com"]
    (path,) = RESET_LINK.findall(mail.body)
    token = path.rstrip("/").rsplit("/", 1)[1]
    # The link is a secret: not in the audit row, not in any log line.
    event = AuditEvent.objects.get(action="member.password_reset")
    assert (event.target, event.actor_name, event.team_name) == ("oscar", "alice", "Team A")
    assert token not in str(AuditEvent.objects.values_list()) and token not in caplog.text

    client.logout()
    form = client.get(path, follow=True)  # Django moves the token into the session, then asks
    assert "Set a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        follow=True,
    )
    assert "Your password is set" in done.content.decode()
    assert log_in(client, "oscar", NEW_PASSWORD).status_code == 302
    client.logout()
    used = client.get(path, follow=True)
    assert "This link does not work" in used.content.decode()


def test_only_admins_of_the_members_team_send_reset_links(as_user, cast, mailoutbox):
    url = reset_url(cast["operator"])
    assert as_user(cast["operator"]).post(url).status_code == 403
    assert as_user(cast["auditor"]).post(url).status_code == 403
    assert as_user(cast["other"]).post(url).status_code == 404
    assert as_user(cast["other"]).post(url.replace("team-a", "team-b")).status_code == 404
    assert mailoutbox == [] and not AuditEvent.objects.filter(action="member.password_reset").exists()


def test_no_reset_link_for_someone_who_signs_in_with_the_identity_provider(
    as_user, cast, oidc_member, mailoutbox
):
    browser = as_user(cast["admin"])
    page = browser.get("/t/team-a/members/").content.decode()
    assert reset_url(cast["operator"]) in page and reset_url(oidc_member) not in page

    response = browser.post(reset_url(oidc_member), follow=True)

    assert "their password is kept there" in response.content.decode()
    assert mailoutbox == []


def test_without_email_set_up_no_reset_link_is_offered_or_sent(as_user, cast, mailoutbox, settings):
    settings.EMAIL_ENABLED = False
    browser = as_user(cast["admin"])
    assert "password-reset" not in browser.get("/t/team-a/members/").content.decode()

    response = browser.post(reset_url(cast["operator"]), follow=True)

    assert "E-mail is not set up here (EMAIL_URL)" in response.content.decode()
    assert mailoutbox == []


def test_a_mail_server_that_cannot_be_reached_is_reported_not_hidden(as_user, cast, settings):
    # A real SMTP connection to a port nobody listens on (the discard port).
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2

    response = as_user(cast["admin"]).post(reset_url(cast["operator"]), follow=True)

    assert "The e-mail could not be sent (ConnectionRefusedError)" in response.content.decode()
    assert not AuditEvent.objects.filter(action="member.password_reset").exists()


def test_a_superuser_sends_a_reset_link_from_the_admin_site(client, cast, mailoutbox):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")
    client.force_login(root)
    auditor = cast["auditor"]

    response = client.post(
        "/admin/auth/user/",
        {"action": "send_password_reset", "_selected_action": [auditor.pk]},
        follow=True,
    )

    shown = [str(message) for message in response.context["messages"]]
    assert shown == ["audrey: a reset link was e-mailed to audrey@example.com."]
    (mail,) = mailoutbox
    assert mail.to == ["audrey@example.com"] and RESET_LINK.search(mail.body)
    assert AuditEvent.objects.get(action="member.password_reset").actor_name == "root"
