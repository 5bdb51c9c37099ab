"""Several processes (not threads) share one token through the cache: one token request in all."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tests.provider import TokenIssuer, make_config

PROCESSES = 8
REDIS_TEST_URL = "redis://127.0.0.1:6379/13"


def database_url():
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def redis_available():
    import redis

    try:
        return redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cache", ["database", "redis"])
def test_many_processes_make_one_token_request(team_a, httpserver, tmp_path, cache):
    env = {**os.environ, "DATABASE_URL": database_url()}
    if cache == "redis":
        if not redis_available():
            if os.environ.get("CI"):
                pytest.fail("Redis at 127.0.0.1:6379 is required in CI")
            pytest.skip("no Redis at 127.0.0.1:6379")
        import redis

        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
        env["REDIS_URL"] = REDIS_TEST_URL
    else:
        env.pop("REDIS_URL", None)
        # The workers use the DatabaseCache even when this run's own cache is Redis.
        db_cache = {
            "default": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "provisioner_cache",
            }
        }
        with override_settings(CACHES=db_cache):
            call_command("createcachetable")
    issuer = TokenIssuer(delay=0.3)  # a slow endpoint widens the race
    httpserver.expect_request("/token", method="POST").respond_with_handler(issuer)
    config = make_config(team_a, httpserver)

    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.token_worker", str(config.pk), str(tmp_path), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(PROCESSES)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < PROCESSES:
        assert time.monotonic() < deadline, "workers did not start"
        assert all(w.poll() is None for w in workers), [
            w.communicate() for w in workers if w.poll() is not None
        ]
        time.sleep(0.05)
    (tmp_path / "go").touch()
    results = [w.communicate(timeout=60) for w in workers]

    assert [w.returncode for w in workers] == [0] * PROCESSES, [err for _, err in results]
    hashes = {out.strip() for out, _ in results}
    assert len(hashes) == 1, "every process must get the same token"
    assert issuer.count == 1
