"""Shared set-up for the benchmark scripts: a throw-away database and the real server.

Each benchmark runs against this project as deployed: gunicorn serving the app
with the sandbox on, a migrated database of its own (SQLite in a temp folder by
default, or PostgreSQL with BENCH_DATABASE_URL), and the DatabaseCache (or Redis
with BENCH_REDIS_URL). Nothing here is a test; the scripts print figures.
"""

import os
import re
import resource
import socket
import statistics
import sys
import tempfile
from pathlib import Path

from tests import gunicorn

ROOT = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_TOKEN_RE = re.compile(r'name="form_token" value="([^"]+)"')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def configure(workdir=None):
    """Set the environment for this process and its children; return it."""
    workdir = Path(workdir or tempfile.mkdtemp(prefix="provisioner-bench-"))
    port = free_port()
    env = {
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "ENCRYPTION_KEYS": "bench1:" + "B" * 43,
        "SANDBOX_ENABLED": "true",
        "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir}/bench.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "BENCH_PORT": str(port),
    }
    if os.environ.get("BENCH_REDIS_URL"):
        env["REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    return env


def setup_django():
    import django

    django.setup()


def prepare_database():
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)  # pages use the manifest storage


def server(workers=2, threads=8):
    """Start gunicorn on BENCH_PORT; a context manager yielding its base URL."""
    return gunicorn.running(
        os.environ["BENCH_PORT"], os.environ.copy(), workers=workers, threads=threads, quiet=False
    )


def make_team_client(tenant, *, name="Bench"):
    """A team, an admin and a connection pointing at a sandbox tenant."""
    from django.contrib.auth import get_user_model

    from provisioning.models import Membership, Namespace, Team
    from provisioning.sandbox.seed import dashboard_config

    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    user, _ = get_user_model().objects.get_or_create(username="bench")
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": "admin"})
    config = dashboard_config(team, tenant, name=name)
    namespace, _ = Namespace.objects.get_or_create(team=team, name=tenant["namespace"])
    return team, user, config, namespace


def peak_rss_mb(children=False):
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024


def summary(values):
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):.1f}  p95 {p95:.1f}"


def log_in(session, base, username, password):
    """Log ``session`` in through the login form of the server at ``base``."""
    page = session.get(f"{base}/accounts/login/", timeout=30)
    token = CSRF_RE.search(page.text)[1]
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    if response.status_code != 302:
        raise RuntimeError(f"{username} could not log in to {base}: {response.status_code}")
    return session


def send_form(page_html, config_pk, namespace_pk, name, site="north"):
    """The device page's Send as a browser posts it, with the page's CSRF and one-time form
    tokens: a hashed-password device (password generated), the generated policy, one attribute."""
    return {
        "csrfmiddlewaretoken": CSRF_RE.search(page_html)[1],
        "form_token": FORM_TOKEN_RE.search(page_html)[1],
        "config": str(config_pk),
        "client": str(config_pk),  # the field's name before 0bdcff4, for bench_ab against older commits
        "namespace": str(namespace_pk),
        "name": name,
        "enabled": "on",
        "credentials_type": "hashed-password",
        "policy_mode": "generated",
        "auth_scope": "__default__",
        "attr_key": "site",
        "attr_value": site,
        "action": "send",
    }
