"""Fixtures for the bulk tests: CSV builders, a draft job, and a team client on the sandbox.

Anything that sends rows runs against the built-in sandbox over real HTTP
(pytest-django's live_server); the sandbox's own store is the truth of what exists.
"""

import io
import uuid

import pytest

from provisioning import audit
from provisioning.bulk import executor, intake, jobs
from provisioning.models import Device, Namespace
from provisioning.sandbox import knobs, seed
from tests.factories import make_config, make_hono_ditto

NS = "com.acme.bulk"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    """Browser tests last, as tests/e2e/conftest.py arranges (Playwright's event loop stays
    in the main thread once started); this also holds when only tests/bulk is run."""
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if e2e:
        items[:] = [item for item in items if not item.get_closest_marker("e2e")] + e2e


HEADER = ["name", "password", "auth_id", "enabled", "via", "definition", "attr.site", "attr.floor"]


def csv_bytes(rows, header=HEADER, *, delimiter=",", bom=False, newline="\r\n"):
    """A CSV file as bytes; each row is a list of cells (quoted as a spreadsheet would)."""
    import csv

    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    data = out.getvalue().encode()
    return (b"\xef\xbb\xbf" + data) if bom else data


def device_rows(count, *, start=0, prefix="dev", password=lambda n: ""):
    return [
        [f"{prefix}-{n:05d}", password(n), "", "true", "", "", "north", str(n % 7)]
        for n in range(start, start + count)
    ]


def make_draft(team, actor, config, namespace, data, **options):
    params = {"credentials_type": "hashed-password", "auth_scope": "__default__", "concurrency": 4}
    params.update(options)
    return intake.create_draft(
        team=team,
        actor=actor,
        config=config,
        namespace=namespace,
        binary=io.BytesIO(data),
        file_name="devices.csv",
        **params,
    )


def run_job(job, actor, **kwargs):
    """Confirm a draft and run it to the end in this process (the worker's code path, minus the queue)."""
    jobs.start(job, actor, run_in_worker=False)
    outcome = executor.run(job.pk, **kwargs)
    job.refresh_from_db()
    return outcome


@pytest.fixture
def offline_config(team_a):
    """A connection pointing nowhere: for tests that validate but never send."""
    return make_config(
        team_a,
        name="Offline",
        preset="custom",
        token_url="https://token.invalid/token",
        client_id="offline",
        api_base_url="https://api.invalid/api/1",
        service_instance_id="offline-sid",
        secret="offline-secret",
    )


@pytest.fixture
def offline_ns(team_a, offline_config):
    return Namespace.objects.create(team=team_a, name=NS)


@pytest.fixture
def sandbox(live_server):
    """A sandbox tenant on the live server, with knobs reset; returns the tenant facts."""
    knobs.reset()
    return seed.create_tenant(f"{live_server.url}/sandbox", namespaces=[NS])


@pytest.fixture
def sandbox_config(team_a, sandbox):
    return make_config(
        team_a,
        name="Sandbox",
        preset="custom",
        token_url=sandbox["token_url"],
        client_id=sandbox["client_id"],
        scope=sandbox["scope"],
        api_base_url=sandbox["api_base_url"],
        service_instance_id=sandbox["service_instance_id"],
        secret=sandbox["client_secret"],
    )


@pytest.fixture
def sandbox_ns(team_a, sandbox_config):
    return Namespace.objects.create(team=team_a, name=NS)


# Eclipse Hono + Ditto and Ditto alone, on the sandbox's registry and Ditto (issue 13).

HONO_TENANT = "acme-bulk"
BASIC_USER = ("bulk-hono-user", "Bulk-Basic-Pa55")


@pytest.fixture
def hono_sandbox(live_server):
    """The sandbox's Hono registry (tenant HONO_TENANT) and Ditto, with a Basic user for both;
    knobs reset. Returns the sandbox's base URL."""
    knobs.reset()
    seed.create_basic_user(*BASIC_USER)
    seed.create_hono_tenant(HONO_TENANT)
    return f"{live_server.url}/sandbox"


@pytest.fixture
def c2e_config(team_a, hono_sandbox):
    """Team A's Eclipse Hono + Ditto connection to the sandbox, both endpoints HTTP Basic."""
    config = make_hono_ditto(
        team_a,
        name="Cloud2Edge",
        url=hono_sandbox,
        hono_tenant=HONO_TENANT,
        hono_username=BASIC_USER[0],
        ditto_username=BASIC_USER[0],
    )
    return with_passwords(config)


@pytest.fixture
def ditto_config(team_a, hono_sandbox):
    """Team A's Eclipse Ditto connection to the sandbox (HTTP Basic)."""
    config = make_hono_ditto(
        team_a, name="Twins", kind="ditto", url=hono_sandbox, ditto_username=BASIC_USER[0]
    )
    return with_passwords(config)


def with_passwords(config):
    """``config`` with the sandbox Basic user's password sealed for each of its endpoints."""
    for endpoint in ("hono", "ditto"):
        if getattr(config, f"{endpoint}_username"):
            config.set_sealed(f"{endpoint}_password", BASIC_USER[1])
    config.save()
    return config


@pytest.fixture
def hd_ns(team_a):
    return Namespace.objects.create(team=team_a, name=NS)


def parts(device_id):
    """How many of each part of ``device_id`` the sandbox holds (Hono device, credentials
    entries, Ditto policy with the device's id, thing)."""
    from provisioning.sandbox.models import DittoPolicy, DittoThing, HonoCredential, HonoDevice

    return {
        "device": HonoDevice.objects.filter(device_id=device_id).count(),
        "credentials": HonoCredential.objects.filter(device__device_id=device_id).count(),
        "policy": DittoPolicy.objects.filter(policy_id=device_id).count(),
        "thing": DittoThing.objects.filter(thing_id=device_id).count(),
    }


def created(team, config, name, actor, origin=None):
    """A device ``config`` created, as its audit rows say (the inventory follows them)."""
    device_id = f"{NS}:{name}"
    correlation = uuid.uuid4()
    request = {"method": "POST", "body": {"id": device_id}}
    if origin:
        request["origin"] = origin
    for phase, status in (("intent", "pending"), ("outcome", "created")):
        audit.record(
            "device.provision",
            actor=actor,
            team=team,
            config=config,
            phase=phase,
            status=status,
            target=device_id,
            correlation_id=correlation,
            request=request if phase == "intent" else None,
        )
    return Device.objects.get(team=team, connection_ref=config.pk, device_id=device_id)
