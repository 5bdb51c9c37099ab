"""No input makes the sandbox answer 500 or non-JSON (hypothesis, through Django's test client).

The test client raises a view's exception instead of turning it into a 500, so
a crash fails the example loudly.
"""

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.sandbox import seed

from .conftest import NAMESPACE, device_body

FORM = "application/x-www-form-urlencoded"
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = [
    "id",
    "hub",
    "hub.device",
    "hub.device.enabled",
    "hub.device.via",
    "hub.credentials",
    "hub.credentials.type",
    "hub.credentials.authId",
    "hub.credentials.secrets",
    "things",
    "things.thing",
    "things.thing.policyId",
    "things.thing._policy",
    "things.thing._copyPolicyFrom",
    "things.thing.features",
    "things.thing.definition",
]


class Target(dict):
    """The tenant under test; its repr (printed by hypothesis on failure) leaves out the secrets."""

    def __repr__(self):
        return f"<sandbox tenant {self['service_instance_id']}>"


@pytest.fixture
def fuzz_tenant(client):
    tenant = Target(seed.create_tenant("http://testserver/sandbox", namespaces=[NAMESPACE]))
    form = {
        "grant_type": "client_credentials",
        "client_id": tenant["client_id"],
        "client_secret": tenant["client_secret"],
        "scope": tenant["scope"],
    }
    response = client.post("/sandbox/token", urlencode(form), content_type=FORM)
    tenant["token"] = response.json()["access_token"]
    tenant["url"] = f"/sandbox/api/1/{tenant['service_instance_id']}/devices"
    return tenant


def assert_json_answer(response):
    assert response.status_code < 500, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    json.loads(response.content)


def _replace(body, path, value):
    *parents, last = path.split(".")
    node = body
    for key in parents:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[last] = value
    return body


@FUZZ
@given(field=st.sampled_from(FIELDS), value=json_values, name=st.text(min_size=1, max_size=20))
def test_mutated_bodies_never_crash(client, fuzz_tenant, field, value, name):
    body = _replace(device_body(f"{NAMESPACE}:{name}"), field, value)
    response = client.post(
        fuzz_tenant["url"],
        json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {fuzz_tenant['token']}"},
    )
    assert_json_answer(response)


@FUZZ
@given(raw=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
def test_any_body_never_crashes(client, fuzz_tenant, raw):
    response = client.generic(
        "POST",
        fuzz_tenant["url"],
        raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {fuzz_tenant['token']}"},
    )
    assert_json_answer(response)


@FUZZ
@given(authorization=st.text(max_size=80), sid=st.text(min_size=1, max_size=40), device=st.text(min_size=1))
def test_any_token_and_path_never_crash(client, fuzz_tenant, authorization, sid, device):
    headers = {"Authorization": authorization.encode("latin-1", "replace").decode("latin-1")}
    for url in (
        f"/sandbox/api/1/{quote(sid, safe='')}/devices",
        f"{fuzz_tenant['url']}/{quote(device, safe='')}",
    ):
        assert_json_answer(client.post(url, "{}", content_type="application/json", headers=headers))
        assert_json_answer(client.delete(url, headers=headers))
    valid = {"Authorization": f"Bearer {fuzz_tenant['token']}"}
    response = client.delete(
        f"{fuzz_tenant['url']}/{quote(device, safe='')}?keepPolicy={quote(sid)}", headers=valid
    )
    assert_json_answer(response)


@FUZZ
@given(
    form=st.dictionaries(
        st.sampled_from(["grant_type", "client_id", "client_secret", "scope", "audience", "other"]),
        st.text(max_size=30),
    ),
    authorization=st.text(max_size=60),
    tenant_path=st.text(min_size=1, max_size=20),
)
def test_any_token_request_never_crashes(client, fuzz_tenant, form, authorization, tenant_path):
    headers = {"Authorization": authorization.encode("latin-1", "replace").decode("latin-1")}
    for url in (
        "/sandbox/token",
        f"/sandbox/iam/access-management/v1/tenants/{quote(tenant_path, safe='')}/openid-connect/token",
    ):
        response = client.post(url, urlencode(form), content_type=FORM, headers=headers)
        assert_json_answer(response)
        # 404: a tenant path holding "/" names no token endpoint.
        assert response.status_code in (200, 400, 401, 404)
