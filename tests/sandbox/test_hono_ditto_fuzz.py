"""No input makes the Hono or Ditto endpoints crash, and every answer matches its spec.

Hypothesis, through Django's test client (which raises a view's exception instead of
answering 500, so a crash fails the example loudly).
"""

import base64
import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioning.sandbox import seed
from tests.openapi_responses import DITTO, HONO

from .test_fuzz import FUZZ, _replace, json_values

USER = ("fuzz-user", "Fuzz-Pa55-word")
TENANT = "fuzz-tenant"
BASIC = "Basic " + base64.b64encode(":".join(USER).encode()).decode()

HONO_DEVICE_FIELDS = ["enabled", "via", "memberOf", "ext", "defaults", "status", "command-endpoint", "colour"]
CREDENTIAL_FIELDS = [
    "type",
    "auth-id",
    "enabled",
    "ext",
    "secrets",
    "secrets.0",
    "secrets.0.pwd-plain",
    "secrets.0.pwd-hash",
    "secrets.0.hash-function",
    "secrets.0.not-after",
    "secrets.0.id",
    "secrets.0.key",
]
THING_FIELDS = ["thingId", "policyId", "_policy", "_copyPolicyFrom", "definition", "attributes", "features"]
POLICY_FIELDS = ["policyId", "entries", "entries.A", "entries.A.subjects", "entries.A.resources", "imports"]


class Answer:
    """A Django test response as the spec checker reads a requests response."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.content = response.content
        self.headers = response.headers
        self.text = response.content.decode("utf-8", "replace")


@pytest.fixture
def fuzz_setup(transactional_db):
    seed.create_basic_user(*USER)
    seed.create_hono_tenant(TENANT)


def _send(client, method, url, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Answer(
        client.generic(method, url, raw, content_type="application/json", headers={"Authorization": BASIC})
    )


def _credentials():
    return [{"type": "hashed-password", "auth-id": "fuzz-1", "secrets": [{"pwd-plain": "Fuzz-device-1"}]}]


def _set(body, path, value):
    """_replace, reaching into lists by index."""
    *parents, last = path.split(".")
    node = body
    for key in parents:
        key = int(key) if isinstance(node, list) else key
        if isinstance(node, list):
            node = node[key] if key < len(node) and isinstance(node[key], dict) else {}
        else:
            if not isinstance(node.get(key), (dict, list)):
                node[key] = {}
            node = node[key]
    if isinstance(node, dict):
        node[last] = value
    return body


@FUZZ
@given(field=st.sampled_from(HONO_DEVICE_FIELDS), value=json_values, name=st.text(min_size=1, max_size=20))
def test_hono_device_bodies_never_crash(client, fuzz_setup, field, value, name):
    url = f"/sandbox/v1/devices/{TENANT}/{quote(name, safe='')}"
    answer = _send(client, "POST", url, {field: value})
    if "/" in name:
        assert answer.status_code == 404
        return
    HONO.check(answer, "POST", "/devices/{tenantId}/{deviceId}")
    answer = _send(client, "PUT", url, {field: value})
    HONO.check(answer, "PUT", "/devices/{tenantId}/{deviceId}")


@FUZZ
@given(field=st.sampled_from(CREDENTIAL_FIELDS), value=json_values)
def test_hono_credentials_never_crash(client, fuzz_setup, field, value):
    _send(client, "POST", f"/sandbox/v1/devices/{TENANT}/fuzz-device", b"")
    body = _credentials()
    _set(body[0], field, value)
    answer = _send(client, "PUT", f"/sandbox/v1/credentials/{TENANT}/fuzz-device", body)
    HONO.check(answer, "PUT", "/credentials/{tenantId}/{deviceId}")
    read = Answer(
        client.get(f"/sandbox/v1/credentials/{TENANT}/fuzz-device", headers={"Authorization": BASIC})
    )
    if not any(c.get("type") == "psk" for c in json.loads(read.content)):
        HONO.check(read, "GET", "/credentials/{tenantId}/{deviceId}")


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_never_crashes_hono_or_ditto(client, fuzz_setup, raw):
    HONO.check(
        _send(client, "POST", f"/sandbox/v1/devices/{TENANT}/fuzz-1", raw),
        "POST",
        "/devices/{tenantId}/{deviceId}",
    )
    HONO.check(
        _send(client, "PUT", f"/sandbox/v1/credentials/{TENANT}/fuzz-1", raw),
        "PUT",
        "/credentials/{tenantId}/{deviceId}",
    )
    DITTO.check(
        _send(client, "PUT", "/sandbox/api/2/things/org.fuzz:one", raw), "PUT", "/api/2/things/{thingId}"
    )
    DITTO.check(
        _send(client, "PUT", "/sandbox/api/2/policies/org.fuzz:one", raw), "PUT", "/api/2/policies/{policyId}"
    )


@FUZZ
@given(
    field=st.sampled_from(THING_FIELDS + POLICY_FIELDS),
    value=json_values,
    name=st.text(min_size=1, max_size=20),
)
def test_ditto_bodies_and_ids_never_crash(client, fuzz_setup, field, value, name):
    thing_id = f"org.fuzz:{quote(name, safe='')}"
    if field in THING_FIELDS:
        answer = _send(client, "PUT", f"/sandbox/api/2/things/{thing_id}", _replace({}, field, value))
        template, method = "/api/2/things/{thingId}", "PUT"
    else:
        body = {"entries": {"A": {"subjects": {"nginx:fuzz-user": {"type": "t"}}}}}
        answer = _send(client, "PUT", f"/sandbox/api/2/policies/{thing_id}", _replace(body, field, value))
        template, method = "/api/2/policies/{policyId}", "PUT"
    if "/" in name:
        assert answer.status_code == 404 and json.loads(answer.content)["status"] == 404
        return
    DITTO.check(answer, method, template)
    read = Answer(client.get(f"/sandbox/api/2/things/{thing_id}", headers={"Authorization": BASIC}))
    DITTO.check(read, "GET", "/api/2/things/{thingId}")
