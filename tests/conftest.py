"""The fixed cast: team A (admin, operator, auditor) and team B (an admin)."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings

from provisioning.models import AuditEvent, Membership, Namespace, Role, Team
from tests.factories import make_config
from tests.idp import configure, running_provider

PASSWORD = "a-long-test-password-1"


@pytest.fixture(scope="session", autouse=True)
def collected_static(tmp_path_factory):
    """Pages are rendered with production's manifest storage, as collected at image build.

    A template that names a missing static file fails here as it would in production.
    """
    root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(STATIC_ROOT=root):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield root


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Hashing is not under test, and PBKDF2's deliberate slowness made log-in tests crawl."""
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def team_a(db):
    return Team.objects.create(name="Team A", slug="team-a")


@pytest.fixture
def team_b(db):
    return Team.objects.create(name="Team B", slug="team-b")


def _member(team, username, role):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", PASSWORD)
    Membership.objects.create(user=user, team=team, role=role)
    return user


@pytest.fixture
def admin_a(team_a):
    return _member(team_a, "alice", Role.ADMIN)


@pytest.fixture
def operator_a(team_a):
    return _member(team_a, "oscar", Role.OPERATOR)


@pytest.fixture
def auditor_a(team_a):
    return _member(team_a, "audrey", Role.AUDITOR)


@pytest.fixture
def admin_b(team_b):
    return _member(team_b, "bob", Role.ADMIN)


@pytest.fixture
def cast(admin_a, operator_a, auditor_a, admin_b):
    return {"admin": admin_a, "operator": operator_a, "auditor": auditor_a, "other": admin_b}


def login_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def as_user(client):
    """as_user(user) -> the test client logged in as that user."""

    def _login(user):
        client.logout()
        return login_client(client, user)

    return _login


@pytest.fixture(scope="session")
def oidc_provider():
    """oauth2-mock-server, started once for the run (see tests/idp.py)."""
    with running_provider() as provider:
        yield provider


@pytest.fixture
def idp(oidc_provider, settings):
    """The OpenID Connect provider with its default claims, and sign-in with it turned on."""
    oidc_provider.set_claims()
    configure(settings, oidc_provider)
    return oidc_provider


@pytest.fixture
def config_a(team_a):
    """A connection of team A (pointing nowhere real)."""
    return make_config(team_a, client_id="client-a")


@pytest.fixture
def namespace_a(team_a, config_a):
    return Namespace.objects.create(team=team_a, name="com.acme.sensors", client=config_a)


@pytest.fixture(autouse=True)
def _empty_shared_cache(settings):
    """Each test starts with an empty shared cache (tokens, locks).

    The DatabaseCache lives in the test database, which is rolled back or flushed
    after each test anyway; Redis keeps its keys, so it is flushed here.
    """
    if settings.REDIS_URL:
        from django.core.cache import cache

        cache.clear()


class AuditRefusal:
    """A real database refusal of audit inserts: a trigger that aborts them (all, or one phase)."""

    def refuse(self, phase=None):
        table = AuditEvent._meta.db_table
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                when = f"WHEN NEW.phase = '{phase}'" if phase else ""
                cursor.execute(
                    f"CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} {when} "
                    "BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            else:
                when = f"WHEN (NEW.phase = '{phase}')" if phase else ""
                cursor.execute(
                    "CREATE OR REPLACE FUNCTION refuse_audit() RETURNS trigger "
                    "AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql"
                )
                cursor.execute(
                    f"CREATE TRIGGER refuse_audit BEFORE INSERT ON {table} FOR EACH ROW {when} "
                    "EXECUTE FUNCTION refuse_audit()"
                )

    def allow(self):
        on = "" if connection.vendor == "sqlite" else f" ON {AuditEvent._meta.db_table}"
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS refuse_audit" + on)
            if connection.vendor != "sqlite":
                cursor.execute("DROP FUNCTION IF EXISTS refuse_audit()")


@pytest.fixture
def audit_refusal(db):
    """Makes audit inserts fail; the trigger is gone after the test (also when the test
    commits, as a transactional one does)."""
    refusal = AuditRefusal()
    yield refusal
    refusal.allow()
