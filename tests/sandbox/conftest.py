"""Fixtures for the sandbox tests: a tenant on the live server, tokens, and a small API caller.

Everything crosses real HTTP (pytest-django's live_server), as the dashboard's client will.
"""

import pytest
import requests

from provisioning.sandbox import knobs, seed
from tests.openapi import validate  # noqa: F401 - re-exported for the sandbox tests

from .clients import Ditto, Hono

TIMEOUT = 10
NAMESPACE = "com.acme.sensors"
DEVICE_ID = f"{NAMESPACE}:boiler-0042"
PASSWORD = "S3cure-Pa55-4711"


@pytest.fixture
def sandbox_url(live_server):
    return f"{live_server.url}/sandbox"


@pytest.fixture
def tenant(sandbox_url):
    return seed.create_tenant(sandbox_url, namespaces=[NAMESPACE, "com.example.demo"])


@pytest.fixture
def nexeed_tenant(sandbox_url):
    return seed.create_tenant(sandbox_url, namespaces=[NAMESPACE], style="nexeed", tenant="acme-tenant")


def request_token(tenant, *, scope=None, auth="post", **form):
    """POST to the tenant's token URL; ``auth`` is "post", "basic" or "basic-encoded"."""
    data = {"grant_type": "client_credentials", "scope": tenant["scope"] if scope is None else scope, **form}
    basic = None
    if auth == "post":
        data.update(client_id=tenant["client_id"], client_secret=tenant["client_secret"])
    elif auth == "basic":
        basic = (tenant["client_id"], tenant["client_secret"])
    elif auth == "basic-encoded":
        from urllib.parse import quote_plus

        basic = (quote_plus(tenant["client_id"]), quote_plus(tenant["client_secret"]))
    data = {key: value for key, value in data.items() if value is not None}
    return requests.post(tenant["token_url"], data=data, auth=basic, timeout=TIMEOUT)


def token_for(tenant, **kwargs):
    response = request_token(tenant, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def device_body(device_id=DEVICE_ID, password=PASSWORD, **thing):
    body = {
        "id": device_id,
        "hub": {"device": {}},
        "things": {"thing": {"attributes": {"manufacturer": "ACME"}, **thing}},
    }
    if password is not None:
        body["hub"]["credentials"] = {"type": "hashed-password", "secrets": [{"password": password}]}
    return body


class Api:
    """The provisioning API of one tenant, called with one token."""

    def __init__(self, tenant, token):
        self.tenant = tenant
        self.token = token
        self.sid = tenant["service_instance_id"]

    def headers(self, token=None):
        return {"Authorization": f"Bearer {token or self.token}", "Accept": "application/json"}

    def devices_url(self, sid=None):
        return f"{self.tenant['api_base_url']}/{sid or self.sid}/devices"

    def post(self, body, *, params=None, token=None, sid=None, timeout=TIMEOUT):
        return requests.post(
            self.devices_url(sid), json=body, params=params, headers=self.headers(token), timeout=timeout
        )

    def post_raw(self, data, *, content_type="application/json", params=None):
        headers = {**self.headers(), "Content-Type": content_type}
        return requests.post(self.devices_url(), data=data, params=params, headers=headers, timeout=TIMEOUT)

    def delete(self, device_id, *, params=None, token=None, sid=None):
        from urllib.parse import quote

        url = f"{self.devices_url(sid)}/{quote(device_id, safe=':')}"
        return requests.delete(url, params=params, headers=self.headers(token), timeout=TIMEOUT)


@pytest.fixture
def api(tenant):
    return Api(tenant, token_for(tenant))


@pytest.fixture(autouse=True)
def _clean_knobs(transactional_db):
    """Each test starts with default knobs and no faults (the flush between tests also does this)."""
    knobs.reset()
    yield


# The Hono registry and Ditto (provisioning/sandbox/hono.py, ditto.py)

HONO_TENANT = "acme-tenant"
BASIC_USER = ("ditto-hono-user", "Basic-Pa55-word")


@pytest.fixture
def basic_user(transactional_db):
    return seed.create_basic_user(*BASIC_USER)


@pytest.fixture
def hono(sandbox_url, basic_user):
    """The Hono registry as the Basic user, with the tenant HONO_TENANT."""
    seed.create_hono_tenant(HONO_TENANT)
    return Hono(sandbox_url, auth=basic_user)


@pytest.fixture
def ditto(sandbox_url, basic_user):
    """Ditto as the Basic user (subject nginx:ditto-hono-user)."""
    return Ditto(sandbox_url, auth=basic_user)


@pytest.fixture
def c2e(team_a, sandbox_url, hono):
    """A Hono + Ditto connection of team A to the sandbox, both endpoints as the Basic user."""
    from tests.factories import make_hono_ditto

    config = make_hono_ditto(
        team_a,
        url=sandbox_url,
        hono_tenant=HONO_TENANT,
        hono_username=BASIC_USER[0],
        ditto_username=BASIC_USER[0],
    )
    config.set_sealed("hono_password", BASIC_USER[1])
    config.set_sealed("ditto_password", BASIC_USER[1])
    config.save()
    return config


def parts_at_sandbox(device_id):
    """How many of each part of ``device_id`` exist at the sandbox (Hono device, credentials,
    Ditto policy with the device's id, thing)."""
    from provisioning.sandbox.models import DittoPolicy, DittoThing, HonoCredential, HonoDevice

    return {
        "device": HonoDevice.objects.filter(device_id=device_id).count(),
        "credentials": HonoCredential.objects.filter(device__device_id=device_id).count(),
        "policy": DittoPolicy.objects.filter(policy_id=device_id).count(),
        "thing": DittoThing.objects.filter(thing_id=device_id).count(),
    }
