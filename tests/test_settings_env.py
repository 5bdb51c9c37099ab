"""Settings come only from the environment, through strict helpers.

The helpers are called directly; the settings module itself is executed afresh (as a
separate module object, so the running test settings are untouched) with a chosen
environment, to check what it builds and what it refuses.
"""

import importlib.util
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_str
from provisioning.crypto import new_key_entry

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "config" / "settings.py"
VARIABLES = [
    "DEBUG",
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "REDIS_URL",
    "OUTBOUND_ALLOWED_HOSTS",
    "OUTBOUND_CA_BUNDLE",
    "SECURE_SSL_REDIRECT",
    "SECURE_COOKIES",
    "SECURE_HSTS_SECONDS",
    "SESSION_IDLE_MINUTES",
    "LOG_LEVEL",
    "SANDBOX_ENABLED",
    "OIDC_ISSUER",
    "OIDC_CLIENT_ID",
    "OIDC_CLIENT_SECRET",
    "OIDC_SCOPES",
    "OIDC_GROUPS_CLAIM",
    "OIDC_PROVIDER_NAME",
    "LOCAL_LOGIN_SUPERUSERS_ONLY",
    "EMAIL_URL",
    "EMAIL_PASSWORD",
    "DEFAULT_FROM_EMAIL",
    "PASSWORD_RESET_HOURS",
]


@pytest.fixture
def clean_env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_FILE", raising=False)
    return monkeypatch


def load_settings(monkeypatch, tmp_path, **env):
    """Run config/settings.py with exactly these variables (plus a scratch SQLite path)."""
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp_path}/db.sqlite3")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    spec = importlib.util.spec_from_file_location("settings_under_test", SETTINGS_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def production(**extra):
    return {
        "SECRET_KEY": "x" * 60,
        "ENCRYPTION_KEYS": new_key_entry("k1"),
        "ALLOWED_HOSTS": "provisioner.example.com",
        **extra,
    }


# --- the helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False)])
def test_env_bool_accepts_true_and_false(clean_env, raw, expected):
    clean_env.setenv("DEBUG", raw)
    assert env_bool("DEBUG", not expected) is expected


@pytest.mark.parametrize("raw", ["1", "0", "yes", "no", "on", "True", "FALSE", " true", "t"])
def test_env_bool_rejects_anything_but_true_or_false(clean_env, raw):
    clean_env.setenv("DEBUG", raw)
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be 'true' or 'false'"):
        env_bool("DEBUG")


def test_env_bool_uses_the_default_when_unset(clean_env):
    assert env_bool("DEBUG", False) is False
    assert env_bool("DEBUG", True) is True


def test_env_str_requires_a_value_without_a_default(clean_env):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is required"):
        env_str("SECRET_KEY")


def test_a_file_variant_is_read_and_stripped(clean_env, tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("  from-a-file\n", encoding="utf-8")
    clean_env.setenv("SECRET_KEY_FILE", str(secret_file))
    assert env_str("SECRET_KEY") == "from-a-file"


def test_setting_a_variable_and_its_file_variant_is_an_error(clean_env, tmp_path):
    secret_file = tmp_path / "secret_key"
    secret_file.write_text("one", encoding="utf-8")
    clean_env.setenv("SECRET_KEY", "two")
    clean_env.setenv("SECRET_KEY_FILE", str(secret_file))
    with pytest.raises(ImproperlyConfigured, match="Set SECRET_KEY or SECRET_KEY_FILE, not both"):
        env_str("SECRET_KEY")


def test_an_unreadable_file_variant_is_a_clear_error(clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FILE points at .* cannot be read"):
        env_str("SECRET_KEY")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ten", "must be a whole number"),
        ("0", "must be at least 1"),
        ("61", "must be at most 60"),
        ("1.5", "must be a whole number"),
    ],
)
def test_env_int_rejects_bad_numbers(clean_env, raw, message):
    clean_env.setenv("SESSION_IDLE_MINUTES", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_int("SESSION_IDLE_MINUTES", 30, minimum=1, maximum=60)


def test_env_int_reads_a_number_within_bounds(clean_env):
    clean_env.setenv("SESSION_IDLE_MINUTES", "45")
    assert env_int("SESSION_IDLE_MINUTES", 30, minimum=1, maximum=60) == 45


def test_env_list_splits_on_commas_and_drops_empty_items(clean_env):
    clean_env.setenv("ALLOWED_HOSTS", " a.example.com, ,b.example.com,,")
    assert env_list("ALLOWED_HOSTS") == ["a.example.com", "b.example.com"]
    clean_env.delenv("ALLOWED_HOSTS")
    assert env_list("ALLOWED_HOSTS", ["default"]) == ["default"]


# --- the settings module ----------------------------------------------------------------


def test_debug_is_off_unless_set(clean_env, tmp_path):
    settings = load_settings(clean_env, tmp_path, **production())
    assert settings.DEBUG is False
    assert settings.SECURE_SSL_REDIRECT is True
    assert settings.SESSION_COOKIE_SECURE is True and settings.CSRF_COOKIE_SECURE is True
    assert settings.SECURE_HSTS_SECONDS >= 31536000


def test_production_settings_come_from_the_environment(clean_env, tmp_path):
    settings = load_settings(
        clean_env,
        tmp_path,
        **production(
            ALLOWED_HOSTS="a.example.com,b.example.com",
            CSRF_TRUSTED_ORIGINS="https://a.example.com",
            OUTBOUND_ALLOWED_HOSTS="sandbox.internal",
        ),
    )
    assert settings.SECRET_KEY == "x" * 60
    assert settings.ALLOWED_HOSTS == ["a.example.com", "b.example.com"]
    assert settings.CSRF_TRUSTED_ORIGINS == ["https://a.example.com"]
    assert settings.OUTBOUND_ALLOWED_HOSTS == ["sandbox.internal"]


def test_without_allowed_hosts_production_allows_no_host(clean_env, tmp_path):
    env = production()
    del env["ALLOWED_HOSTS"]
    assert load_settings(clean_env, tmp_path, **env).ALLOWED_HOSTS == []


def test_debug_true_allows_localhost_by_default(clean_env, tmp_path):
    env = production(DEBUG="true")
    del env["ALLOWED_HOSTS"]
    settings = load_settings(clean_env, tmp_path, **env)
    assert settings.DEBUG is True
    assert settings.ALLOWED_HOSTS == ["127.0.0.1", "localhost"]


def test_a_bad_debug_value_stops_start_up(clean_env, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be 'true' or 'false', not 'yes'"):
        load_settings(clean_env, tmp_path, **production(DEBUG="yes"))


def test_a_missing_secret_key_stops_start_up(clean_env, tmp_path):
    env = production()
    del env["SECRET_KEY"]
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY is not set"):
        load_settings(clean_env, tmp_path, **env)


def test_a_missing_key_ring_stops_start_up(clean_env, tmp_path):
    env = production()
    del env["ENCRYPTION_KEYS"]
    with pytest.raises(ImproperlyConfigured, match="ENCRYPTION_KEYS is not set"):
        load_settings(clean_env, tmp_path, **env)


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("not-a-ring", "must look like 'kid:base64key'"),
        ("k1:c2hvcnQ", "must decode to 32 bytes"),
        ("k1:!!!!", "not valid base64|must decode to 32 bytes"),
    ],
)
def test_a_malformed_key_ring_stops_start_up(clean_env, tmp_path, ring, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        load_settings(clean_env, tmp_path, **production(ENCRYPTION_KEYS=ring))


def test_secrets_can_come_from_files(clean_env, tmp_path):
    (tmp_path / "secret_key").write_text("s" * 60 + "\n", encoding="utf-8")
    ring = new_key_entry("filed")
    (tmp_path / "keys").write_text(ring + "\n", encoding="utf-8")
    env = production(
        SECRET_KEY_FILE=str(tmp_path / "secret_key"), ENCRYPTION_KEYS_FILE=str(tmp_path / "keys")
    )
    del env["SECRET_KEY"], env["ENCRYPTION_KEYS"]
    settings = load_settings(clean_env, tmp_path, **env)
    assert settings.SECRET_KEY == "s" * 60
    assert settings.ENCRYPTION_KEYS == ring


def test_sqlite_is_the_default_database_in_wal_mode(clean_env, tmp_path):
    settings = load_settings(clean_env, tmp_path, **production())
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(database["NAME"]) == tmp_path / "db.sqlite3"
    assert "journal_mode=WAL" in database["OPTIONS"]["init_command"]


def test_a_postgres_url_is_parsed(clean_env, tmp_path):
    settings = load_settings(
        clean_env,
        tmp_path,
        **production(DATABASE_URL="postgres://prov%40user:p%3Ass@db.internal:5433/prov?sslmode=require"),
    )
    database = settings.DATABASES["default"]
    assert database["ENGINE"] == "django.db.backends.postgresql"
    assert (database["NAME"], database["USER"], database["PASSWORD"]) == ("prov", "prov@user", "p:ss")
    assert (database["HOST"], database["PORT"]) == ("db.internal", "5433")
    assert database["OPTIONS"] == {"sslmode": "require"}


def test_an_unknown_database_scheme_stops_start_up(clean_env, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL must start with sqlite:// or postgres://"):
        load_settings(clean_env, tmp_path, **production(DATABASE_URL="mysql://db/prov"))


def test_the_cache_is_the_database_without_redis_and_redis_with_it(clean_env, tmp_path):
    settings = load_settings(clean_env, tmp_path, **production())
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    settings = load_settings(clean_env, tmp_path, **production(REDIS_URL="redis://cache.internal:6379/2"))
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert settings.CACHES["default"]["LOCATION"] == "redis://cache.internal:6379/2"


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "fe80::1", "metadata.google.internal", "100.100.100.200", "fd00:ec2::254"]
)
def test_metadata_and_link_local_hosts_cannot_be_allowed_outbound(clean_env, tmp_path, host):
    with pytest.raises(ImproperlyConfigured, match="OUTBOUND_ALLOWED_HOSTS may not list"):
        load_settings(clean_env, tmp_path, **production(OUTBOUND_ALLOWED_HOSTS=f"localhost,{host}"))


def test_the_idle_timeout_is_the_session_age(clean_env, tmp_path):
    settings = load_settings(clean_env, tmp_path, **production(SESSION_IDLE_MINUTES="10"))
    assert settings.SESSION_COOKIE_AGE == 600
    # Not saved on every request: IdleTimeoutMiddleware renews the session once a minute.
    assert settings.SESSION_SAVE_EVERY_REQUEST is False


def test_a_bad_log_level_stops_start_up(clean_env, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="LOG_LEVEL must be"):
        load_settings(clean_env, tmp_path, **production(LOG_LEVEL="chatty"))


def test_login_lockout_is_five_failures_for_fifteen_minutes(clean_env, tmp_path):
    settings = load_settings(clean_env, tmp_path, **production())
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60


def test_the_running_test_database_uses_wal_on_sqlite(db):
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("WAL is a SQLite journal mode")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


OIDC = {
    "OIDC_ISSUER": "https://sso.example.com/realms/acme",
    "OIDC_CLIENT_ID": "provisioner",
    "OIDC_CLIENT_SECRET": "oidc-secret",
}


def test_oidc_is_off_unless_the_issuer_is_set(clean_env, tmp_path):
    settings = load_settings(clean_env, tmp_path, **production())
    assert settings.OIDC_ENABLED is False
    assert settings.LOCAL_LOGIN_SUPERUSERS_ONLY is False
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] == ["'self'"]


def test_oidc_settings_come_from_the_environment(clean_env, tmp_path):
    secret = tmp_path / "oidc_secret"
    secret.write_text("from-a-file\n")
    env = {**OIDC, "OIDC_GROUPS_CLAIM": "roles", "LOCAL_LOGIN_SUPERUSERS_ONLY": "true"}
    del env["OIDC_CLIENT_SECRET"]
    settings = load_settings(clean_env, tmp_path, **production(**env, OIDC_CLIENT_SECRET_FILE=str(secret)))
    assert settings.OIDC_ENABLED is True
    assert settings.OIDC_CLIENT_SECRET == "from-a-file"
    assert (settings.OIDC_SCOPES, settings.OIDC_GROUPS_CLAIM) == ("openid email profile", "roles")
    assert settings.LOCAL_LOGIN_SUPERUSERS_ONLY is True
    # Sign-out's form answers with a redirect to the provider's end-session endpoint.
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"] == [
        "'self'",
        "https://sso.example.com",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({**OIDC, "OIDC_CLIENT_SECRET": ""}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        ({**OIDC, "OIDC_CLIENT_ID": ""}, "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET"),
        (
            {**OIDC, "OIDC_ISSUER": "sso.example.com"},
            "OIDC_ISSUER must be the identity provider's issuer URL",
        ),
        ({**OIDC, "OIDC_SCOPES": "email profile"}, "OIDC_SCOPES must contain openid"),
        ({**OIDC, "OIDC_GROUPS_CLAIM": ""}, "OIDC_GROUPS_CLAIM may not be empty"),
        ({"LOCAL_LOGIN_SUPERUSERS_ONLY": "true"}, "LOCAL_LOGIN_SUPERUSERS_ONLY=true needs OIDC_ISSUER"),
        ({**OIDC, "LOCAL_LOGIN_SUPERUSERS_ONLY": "yes"}, "must be 'true' or 'false'"),
    ],
)
def test_bad_oidc_settings_stop_start_up(clean_env, tmp_path, env, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        load_settings(clean_env, tmp_path, **production(**env))


def test_an_outbound_ca_bundle_must_be_a_pem_file_of_certificates(clean_env, tmp_path):
    missing = tmp_path / "missing.pem"
    with pytest.raises(ImproperlyConfigured, match=r"OUTBOUND_CA_BUNDLE: .*missing\.pem.* cannot be read"):
        load_settings(clean_env, tmp_path, **production(OUTBOUND_CA_BUNDLE=str(missing)))
    not_pem = tmp_path / "key.txt"
    not_pem.write_text("this is not a certificate\n")
    with pytest.raises(ImproperlyConfigured, match="holds no PEM certificates"):
        load_settings(clean_env, tmp_path, **production(OUTBOUND_CA_BUNDLE=str(not_pem)))


# --- e-mail --------------------------------------------------------------------------------


def test_email_url_configures_smtp_with_starttls(clean_env, tmp_path):
    settings = load_settings(
        clean_env,
        tmp_path,
        **production(
            EMAIL_URL="smtp://mailer%40acme:p%40ss@mail.acme.example:587?tls=true&timeout=5",
            DEFAULT_FROM_EMAIL="Provisioner <noreply@acme.example>",
        ),
    )
    assert settings.EMAIL_ENABLED is True
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
    assert (settings.EMAIL_HOST, settings.EMAIL_PORT) == ("mail.acme.example", 587)
    assert (settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD) == ("mailer@acme", "p@ss")
    assert (settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL, settings.EMAIL_TIMEOUT) == (True, False, 5)
    assert settings.DEFAULT_FROM_EMAIL == "Provisioner <noreply@acme.example>"


def test_the_mail_password_may_come_from_a_file(clean_env, tmp_path):
    secret = tmp_path / "mail_password"
    secret.write_text("from-a-file\n")
    settings = load_settings(
        clean_env,
        tmp_path,
        **production(EMAIL_URL="smtps://mailer@mail.acme.example", EMAIL_PASSWORD_FILE=str(secret)),
    )
    assert settings.EMAIL_HOST_PASSWORD == "from-a-file"
    assert (settings.EMAIL_PORT, settings.EMAIL_USE_SSL, settings.EMAIL_USE_TLS) == (465, True, False)


def test_without_email_url_mail_is_printed_locally_and_not_sent_in_production(clean_env, tmp_path):
    local = load_settings(clean_env, tmp_path, **production(DEBUG="true"))
    assert local.EMAIL_ENABLED is True
    assert local.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
    # In production a reset link would otherwise land in the server's log: none is sent.
    prod = load_settings(clean_env, tmp_path, **production(DEBUG="false"))
    assert prod.EMAIL_ENABLED is False
    assert prod.EMAIL_BACKEND == "django.core.mail.backends.dummy.EmailBackend"


@pytest.mark.parametrize(
    ("url", "extra", "message"),
    [
        ("mailto://x@y", {}, "EMAIL_URL must start with smtp://, smtps:// or console://"),
        ("smtp://", {}, "EMAIL_URL names no mail server"),
        ("smtp://u:inline@mail.example", {"EMAIL_PASSWORD": "also"}, "not both"),
        ("smtp://mail.example?tls=yes", {}, "tls must be true or false"),
        ("smtp://mail.example?starttls=true", {}, "unknown option 'starttls'"),
        ("smtps://mail.example?tls=true", {}, "not both"),
        ("smtp://mail.example:25?timeout=soon", {}, "whole numbers"),
    ],
)
def test_a_bad_email_url_stops_start_up_with_the_reason(clean_env, tmp_path, url, extra, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        load_settings(clean_env, tmp_path, **production(EMAIL_URL=url, **extra))
