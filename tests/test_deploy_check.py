"""`manage.py check --deploy` with production-like settings, run as a real process."""

import os
import secrets

import pytest

from provisioning.crypto import new_key_entry
from tests.gunicorn import manage


def production_env(tmp_path, **overrides):
    """Only what production sets: no DEBUG, a long random key, hosts and a key ring."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "provisioner.example.com",
        "ENCRYPTION_KEYS": new_key_entry("prod1"),
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def deploy_check(env):
    return manage(env, "check", "--deploy", "--fail-level", "WARNING")


def test_the_deploy_check_passes_with_production_settings(tmp_path):
    result = deploy_check(production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_passes_with_secrets_from_files(tmp_path):
    (tmp_path / "secret_key").write_text(secrets.token_urlsafe(64) + "\n", encoding="utf-8")
    (tmp_path / "keys").write_text(new_key_entry("filed") + "\n", encoding="utf-8")
    env = production_env(
        tmp_path,
        SECRET_KEY=None,
        ENCRYPTION_KEYS=None,
        SECRET_KEY_FILE=str(tmp_path / "secret_key"),
        ENCRYPTION_KEYS_FILE=str(tmp_path / "keys"),
    )
    result = deploy_check(env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_deploy_check_would_catch_a_weak_secret_key(tmp_path):
    # Proof that the check above has teeth: a short key is a deploy warning, so it fails.
    result = deploy_check(production_env(tmp_path, SECRET_KEY="short"))
    assert result.returncode != 0
    assert "security.W009" in result.stderr


def test_the_deploy_check_would_catch_debug(tmp_path):
    result = deploy_check(production_env(tmp_path, DEBUG="true"))
    assert result.returncode != 0
    assert "security.W018" in result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("SECRET_KEY", "SECRET_KEY is not set. Set SECRET_KEY or SECRET_KEY_FILE"),
        ("ENCRYPTION_KEYS", "ENCRYPTION_KEYS is not set. Generate a key with"),
    ],
)
def test_a_missing_secret_stops_start_up_with_a_clear_message(tmp_path, missing, message):
    result = manage(production_env(tmp_path, **{missing: None}), "check")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_a_malformed_key_ring_stops_start_up_with_a_clear_message(tmp_path):
    result = manage(production_env(tmp_path, ENCRYPTION_KEYS="k1:tooshort"), "check")
    assert result.returncode != 0
    assert "ENCRYPTION_KEYS entry 'k1' must decode to 32 bytes" in result.stderr


def test_start_up_errors_do_not_print_the_secret_key(tmp_path):
    key = secrets.token_urlsafe(64)
    result = manage(production_env(tmp_path, SECRET_KEY=key, ENCRYPTION_KEYS=None), "check")
    assert result.returncode != 0
    assert key not in result.stdout + result.stderr
