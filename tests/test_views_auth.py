"""Log-in, log-out, django-axes lockout and the session idle timeout."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from provisioning.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


def log_in(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password})


def is_logged_in(client):
    return "_auth_user_id" in client.session


# --- log-in and log-out -----------------------------------------------------------------


def test_the_login_page_renders(client):
    response = client.get(LOGIN)
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content


def test_it_logs_in_with_the_right_password(client, admin_a):
    response = log_in(client, "alice", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/"
    assert is_logged_in(client)


def test_it_refuses_a_wrong_password_with_a_message(client, admin_a):
    response = log_in(client, "alice", "wrong-password")
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert not is_logged_in(client)


def test_it_returns_to_the_page_asked_for(client, admin_a):
    response = client.post(
        LOGIN, {"username": "alice", "password": PASSWORD, "next": "/t/team-a/connections/"}
    )
    assert response["Location"] == "/t/team-a/connections/"


def test_it_does_not_redirect_to_another_site_after_login(client, admin_a):
    response = client.post(
        LOGIN, {"username": "alice", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_logging_out_takes_a_post(client, admin_a):
    log_in(client, "alice", PASSWORD)
    assert client.get("/accounts/logout/").status_code == 405
    assert is_logged_in(client)
    response = client.post("/accounts/logout/")
    assert response.status_code == 302 and response["Location"] == LOGIN
    assert not is_logged_in(client)


# --- lockout ----------------------------------------------------------------------------


def test_five_failures_lock_the_account(client, admin_a):
    for _ in range(4):
        assert log_in(client, "alice", "wrong-password").status_code == 200
    locked = log_in(client, "alice", "wrong-password")
    assert locked.status_code == 429
    assert b"Too many failed log-ins" in locked.content
    assert b"15 minutes" in locked.content
    assert b"axes_reset_username" in locked.content  # the documented way to unlock early

    # While locked, even the right password does not get in.
    assert log_in(client, "alice", PASSWORD).status_code == 429
    assert not is_logged_in(client)


def test_the_lockout_is_for_that_user_only(client, admin_a, operator_a):
    for _ in range(5):
        log_in(client, "alice", "wrong-password")
    assert log_in(client, "oscar", PASSWORD).status_code == 302


def test_the_lockout_ends_after_fifteen_minutes(client, admin_a):
    for _ in range(5):
        log_in(client, "alice", "wrong-password")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert is_logged_in(client)


def test_the_lockout_still_holds_before_fifteen_minutes(client, admin_a):
    for _ in range(5):
        log_in(client, "alice", "wrong-password")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=14))
    assert log_in(client, "alice", PASSWORD).status_code == 429


def test_the_reset_command_unlocks_at_once(client, admin_a):
    for _ in range(5):
        log_in(client, "alice", "wrong-password")
    call_command("axes_reset_username", "alice", stdout=None)
    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_the_lockout_page_does_not_echo_the_password(client, admin_a):
    for _ in range(5):
        response = log_in(client, "alice", "Wrong-But-Secret-77")
    assert b"Wrong-But-Secret-77" not in response.content


# --- idle timeout -----------------------------------------------------------------------


def idle_for(client, seconds):
    session = client.session
    session["last_seen"] = int(timezone.now().timestamp()) - seconds
    session.save()


def test_a_recent_request_keeps_the_session(client, admin_a):
    log_in(client, "alice", PASSWORD)
    client.get("/t/team-a/")
    idle_for(client, django_settings.SESSION_COOKIE_AGE - 60)
    assert client.get("/t/team-a/").status_code == 200
    assert client.session["last_seen"] >= int(timezone.now().timestamp()) - 5


def test_an_idle_session_is_logged_out(client, admin_a):
    log_in(client, "alice", PASSWORD)
    client.get("/t/team-a/")
    idle_for(client, django_settings.SESSION_COOKIE_AGE + 60)

    response = client.get("/t/team-a/connections/?x=1")

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/t/team-a/connections/%3Fx%3D1"
    assert not is_logged_in(client)
    assert client.get("/t/team-a/").status_code == 302  # and it stays logged out


def test_an_idle_htmx_request_redirects_the_whole_page(client, admin_a):
    log_in(client, "alice", PASSWORD)
    client.get("/t/team-a/")
    idle_for(client, django_settings.SESSION_COOKIE_AGE + 60)

    response = client.get(
        "/t/team-a/namespaces/",
        {"name": "com.acme"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/t/team-a/namespaces/",
    )

    # Not a 302, which htmx would follow inside the fragment: an HX-Redirect to the login page.
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{LOGIN}?next=/t/team-a/namespaces/"
    assert not is_logged_in(client)


def test_an_anonymous_htmx_request_gets_a_client_redirect(client, team_a):
    response = client.get(
        "/t/team-a/namespaces/",
        {"name": "x"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/t/team-a/namespaces/",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{LOGIN}?next=/t/team-a/namespaces/"


def test_the_session_cookie_age_is_the_idle_timeout(client, admin_a):
    response = log_in(client, "alice", PASSWORD)
    cookie = response.cookies[django_settings.SESSION_COOKIE_NAME]
    assert int(cookie["max-age"]) == django_settings.SESSION_COOKIE_AGE
    assert cookie["httponly"]


# --- a form sent after the session ended ------------------------------------------------------

DEVICE_PAGE = "/t/team-a/devices/new/"
ENDED = "what you submitted was not sent: nothing was saved or sent to the provider"


def test_a_send_after_the_idle_timeout_sends_nothing_says_so_and_returns_to_the_page(
    client, operator_a, config_a, namespace_a
):
    log_in(client, "oscar", PASSWORD)
    assert client.get(DEVICE_PAGE).status_code == 200  # the form is open...
    idle_for(client, django_settings.SESSION_COOKIE_AGE + 60)  # ...and the operator went away

    response = client.post(
        DEVICE_PAGE,
        {"action": "send", "name": "boiler-1", "config": config_a.pk, "namespace": namespace_a.pk},
    )

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={DEVICE_PAGE}"
    assert not AuditEvent.objects.filter(action="device.provision").exists()
    login_page = client.get(response["Location"]).content.decode().replace("&#x27;", "'")
    assert ENDED in login_page
    back = client.post(response["Location"], {"username": "oscar", "password": PASSWORD, "next": DEVICE_PAGE})
    assert back["Location"] == DEVICE_PAGE


def test_a_form_posted_with_its_cookie_gone_returns_to_the_page_it_was_on(client, admin_a, config_a):
    """The browser drops the session cookie when it expires: the POST arrives signed out. Test
    connection posts to a URL that answers only POST; the login must lead back to the page."""
    log_in(client, "alice", PASSWORD)
    page = f"/t/team-a/connections/{config_a.pk}/"
    del client.cookies[django_settings.SESSION_COOKIE_NAME]

    response = client.post(f"{page}test/", HTTP_REFERER=f"http://testserver{page}")

    assert response["Location"] == f"{LOGIN}?next={page}"
    assert ENDED in client.get(response["Location"]).content.decode().replace("&#x27;", "'")
    assert not AuditEvent.objects.filter(action="client.test").exists()


def test_an_htmx_send_after_the_session_ended_redirects_the_page_and_says_so(
    client, operator_a, config_a, namespace_a
):
    log_in(client, "oscar", PASSWORD)
    client.get(DEVICE_PAGE)
    idle_for(client, django_settings.SESSION_COOKIE_AGE + 60)

    response = client.post(
        DEVICE_PAGE,
        {"action": "send", "name": "boiler-1"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{DEVICE_PAGE}",
    )

    assert response["HX-Redirect"] == f"{LOGIN}?next={DEVICE_PAGE}"
    assert ENDED in client.get(response["HX-Redirect"]).content.decode().replace("&#x27;", "'")
    assert not AuditEvent.objects.filter(action="device.provision").exists()
