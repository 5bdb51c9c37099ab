"""The sandbox under gunicorn with two worker processes, as `make run` and Docker serve it.

Checks what only several processes can show: knobs and faults set here reach
every worker, a fault is used exactly once across workers, the token counter
adds up, and the "reset" fault finds gunicorn's socket.
"""

import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from provisioning.sandbox import knobs, seed
from tests import gunicorn

from .clients import Ditto, Hono
from .conftest import NAMESPACE, Api, device_body, token_for

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def _database_url():
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_url(transactional_db):
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "SANDBOX_ENABLED": "true",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
    }
    with gunicorn.running(port, env, threads=4, probe="/sandbox/api/") as url:
        yield url


@pytest.fixture
def gunicorn_api(gunicorn_url):
    tenant = seed.create_tenant(f"{gunicorn_url}/sandbox", namespaces=[NAMESPACE])
    return Api(tenant, token_for(tenant))


def test_reset_drops_the_connection_under_gunicorn(gunicorn_api):
    knobs.inject_fault("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        gunicorn_api.post(device_body())
    assert gunicorn_api.post(device_body()).status_code == 201


def test_faults_and_counters_are_shared_by_all_workers(gunicorn_api):
    knobs.inject_fault(429, count=6)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda n: gunicorn_api.post(device_body(f"{NAMESPACE}:dev-{n}")).status_code, range(20))
        )
    assert statuses.count(429) == 6
    assert statuses.count(201) == 14
    for _ in range(4):
        token_for(gunicorn_api.tenant)
    assert knobs.token_count() == 5


def test_hono_and_ditto_agree_across_workers(gunicorn_url):
    """Two processes, one registry and one Ditto: a device or a create-only thing is made once."""
    auth = seed.create_basic_user("worker-user", "Worker-Pa55-word")
    seed.create_hono_tenant("acme-tenant")
    hono = Hono(f"{gunicorn_url}/sandbox", auth=auth)
    ditto = Ditto(f"{gunicorn_url}/sandbox", auth=auth)
    with ThreadPoolExecutor(max_workers=8) as pool:
        devices = list(
            pool.map(lambda _: hono.device("POST", "acme-tenant", "org.acme:one").status_code, range(12))
        )
        things = list(
            pool.map(
                lambda _: (
                    ditto.thing("PUT", "org.acme:one", json={}, headers={"If-None-Match": "*"}).status_code
                ),
                range(12),
            )
        )
    assert sorted(devices) == [201] + [409] * 11
    assert sorted(things) == [201] + [412] * 11
    knobs.inject_fault(429, count=4, target="hono")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda n: hono.device("POST", "acme-tenant", f"org.acme:dev-{n}", fault=True).status_code,
                range(12),
            )
        )
    assert statuses.count(429) == 4 and statuses.count(201) == 8
