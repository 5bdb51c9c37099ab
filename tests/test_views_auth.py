"""Log-in, log-out, django-axes lockout and the session idle timeout."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

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
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD, "next": "/t/team-a/clients/"})
    assert response["Location"] == "/t/team-a/clients/"


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

    response = client.get("/t/team-a/clients/?x=1")

    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/t/team-a/clients/%3Fx%3D1"
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
