"""Security headers as production sends them, and what the log-in lockout adds to test_views_auth.

Already covered elsewhere, and not repeated here: the CSP's directives and the absence of
'unsafe-inline' on the log-in and signed-in pages, X-Frame-Options, nosniff and the
referrer policy (test_csp.py); `check --deploy` (test_deploy_check.py); five failures
lock the account, the cool-off lets the user back in, the reset command (test_views_auth.py).

Here: HSTS when SECURE_HSTS_SECONDS is set and not when it is 0; and the real gunicorn
started as `make serve` starts it, with production settings behind a TLS-terminating
proxy, checked from outside: no version in the Server header, and CSP, HSTS and
X-Frame-Options on what it serves.
"""

import os
import re
import secrets
import socket
import time
from pathlib import Path

import pytest
import requests
from axes.models import AccessAttempt

from provisioning.crypto import new_key_entry
from tests.conftest import PASSWORD
from tests.gunicorn import manage
from tests.gunicorn import running as run_gunicorn

ROOT = Path(__file__).resolve().parent.parent
HSTS = "max-age=31536000; includeSubDomains; preload"
VERSION = re.compile(r"\d+\.\d+")


# --- HSTS, in process --------------------------------------------------------------------


@pytest.mark.django_db
def test_hsts_is_sent_over_https_when_configured(client):
    response = client.get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == HSTS


@pytest.mark.django_db
def test_hsts_is_not_sent_when_not_configured(client, settings):
    settings.SECURE_HSTS_SECONDS = 0
    response = client.get("/accounts/login/", secure=True)
    assert "Strict-Transport-Security" not in response


@pytest.mark.django_db
def test_hsts_follows_the_configured_age_and_flags(client, settings):
    settings.SECURE_HSTS_SECONDS = 600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = False
    settings.SECURE_HSTS_PRELOAD = False
    assert client.get("/accounts/login/", secure=True)["Strict-Transport-Security"] == "max-age=600"


@pytest.mark.django_db
def test_hsts_is_not_sent_over_plain_http(client):
    # Browsers ignore it there (RFC 6797 §8.1); production redirects plain http first.
    assert "Strict-Transport-Security" not in client.get("/accounts/login/")


# --- the log-in lockout: what test_views_auth.py does not cover ---------------------------


@pytest.mark.django_db
def test_failures_at_the_admin_login_lock_the_dashboard_login_too(client, admin_a):
    """The admin site's log-in form is no way around the lockout: both count the same failures."""
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "alice", "password": "wrong-password"})
    assert response.status_code == 429
    assert AccessAttempt.objects.filter(username="alice").exists()
    locked = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_cool_off_follows_the_setting(client, admin_a, settings):
    """AXES_COOLOFF_MINUTES sets the cool-off: with a short one, the user is back in when it ends."""
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(seconds=1)
    for _ in range(5):
        response = client.post("/accounts/login/", {"username": "alice", "password": "wrong-password"})
    assert response.status_code == 429
    assert b"1 minute" in response.content  # the page rounds the cool-off up to whole minutes
    assert client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 429
    time.sleep(1.2)
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"


# --- the real server ------------------------------------------------------------------------


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory, collected_static):
    """gunicorn with production settings (DEBUG off, the defaults for HTTPS, HSTS and the
    sandbox) behind a proxy that sets X-Forwarded-Proto, on a temporary SQLite database.

    The settings module is config.settings itself; only STATIC_ROOT points at the static
    files this test session collected (production collects them at image build).
    """
    work = tmp_path_factory.mktemp("gunicorn")
    (work / "prodlike_settings.py").write_text(
        f"from config.settings import *  # noqa: F403\n\nSTATIC_ROOT = {str(collected_static)!r}\n",
        encoding="utf-8",
    )
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(work), str(ROOT)]),
        "DJANGO_SETTINGS_MODULE": "prodlike_settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ENCRYPTION_KEYS": new_key_entry("prod1"),
        "DATABASE_URL": f"sqlite:///{work}/db.sqlite3",
        "ALLOWED_HOSTS": "127.0.0.1",
        "TRUST_X_FORWARDED_PROTO": "true",
        "LOG_LEVEL": "WARNING",
    }
    for command in (["migrate", "--noinput", "-v", "0"], ["createcachetable"]):
        done = manage(env, *command)
        assert done.returncode == 0, done.stderr
    # The flags of `make serve`.
    with run_gunicorn(port, env, extra=["--access-logfile", "-"]) as url:
        yield url


def get(url, path, **kwargs):
    """A request as the TLS-terminating proxy forwards it."""
    headers = {"X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
    return requests.get(f"{url}{path}", headers=headers, timeout=10, allow_redirects=False, **kwargs)


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/healthz", "/no-such-page/", "/static/no-such-file.css"]
)
def test_the_server_header_names_no_version(gunicorn, path):
    response = get(gunicorn, path)
    assert response.status_code in (200, 404)
    server = response.headers.get("Server", "")
    assert not VERSION.search(server), server
    assert "X-Powered-By" not in response.headers
    if response.status_code == 404:
        assert "Not found" in response.text  # the site's own page, not Django's debug page
        assert "Django" not in response.text and "Traceback" not in response.text


def test_a_static_file_names_no_version_either(gunicorn):
    page = get(gunicorn, "/accounts/login/").text
    stylesheet = re.search(r'href="(/static/[^"]+\.css)"', page).group(1)
    response = get(gunicorn, stylesheet)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")
    assert not VERSION.search(response.headers.get("Server", ""))


def test_a_page_from_the_server_carries_the_security_headers(gunicorn):
    response = get(gunicorn, "/accounts/login/")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert response.headers["Strict-Transport-Security"] == HSTS
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers["Set-Cookie"]  # the CSRF cookie
    assert "Secure" in cookie


def test_plain_http_is_redirected_to_https(gunicorn):
    response = requests.get(f"{gunicorn}/accounts/login/", timeout=10, allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"https://{gunicorn.removeprefix('http://')}/accounts/login/"
    assert not VERSION.search(response.headers.get("Server", ""))


def test_production_has_no_sandbox(gunicorn):
    assert get(gunicorn, "/sandbox/token").status_code == 404
