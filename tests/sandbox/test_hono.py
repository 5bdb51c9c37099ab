"""The sandbox's Hono device registry over real HTTP (provisioning-api.md §10).

Every answer is checked against hono-device-registry-v1.yaml by the Hono client.
"""

import pytest
import requests

from provisioning.sandbox import knobs, seed
from provisioning.sandbox.models import HonoCredential, HonoDevice, HonoTenant
from tests.openapi_responses import HONO

from .clients import Hono
from .conftest import HONO_TENANT, token_for

DEVICE = "org.acme:sensor-1"
AUTH_ID = "org.acme_sensor-1"


def password_set(auth_id=AUTH_ID, password="Dev1ce-Pa55!", **extra):
    return [{"type": "hashed-password", "auth-id": auth_id, "secrets": [{"pwd-plain": password, **extra}]}]


def test_it_creates_a_device_with_etag_location_and_its_id(hono):
    response = hono.device("POST", HONO_TENANT, DEVICE, json={"enabled": True, "ext": {"model": "T1"}})
    assert response.status_code == 201
    assert response.json() == {"id": DEVICE}
    assert response.headers["Location"].endswith(f"/sandbox/v1/devices/{HONO_TENANT}/{DEVICE}")
    etag = response.headers["ETag"]
    assert not etag.startswith('"')  # an opaque UUID, unquoted

    read = hono.device("GET", HONO_TENANT, DEVICE)
    assert read.status_code == 200
    assert read.headers["ETag"] == etag
    assert read.json()["ext"] == {"model": "T1"}
    assert read.json()["status"]["created"].endswith("Z")
    # Creating a device creates its empty credentials set.
    credentials = hono.credentials("GET", HONO_TENANT, DEVICE)
    assert credentials.status_code == 200 and credentials.json() == []


def test_it_creates_a_device_without_a_body_and_picks_an_id_when_asked(hono):
    assert hono.device("POST", HONO_TENANT, DEVICE).status_code == 201
    response = hono.devices("POST", HONO_TENANT)
    assert response.status_code == 201
    assert HonoDevice.objects.filter(device_id=response.json()["id"]).exists()


def test_an_existing_device_is_a_409(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    response = hono.device("POST", HONO_TENANT, DEVICE, json={})
    assert response.status_code == 409
    assert response.json() == {"error": "device already exists"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"enabled": True, "colour": "red"}, "unknown property 'colour'"),
        ({"enabled": "yes"}, "'enabled' must be true or false"),
        ({"via": ["gw-1"], "memberOf": ["group"]}, "must not be set together"),
        ({"via": [1]}, "array of strings"),
        ({"command-endpoint": {"headers": {}}}, "needs a uri"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_a_bad_device_body_is_a_400_that_says_why(hono, body, words):
    response = hono.device("POST", HONO_TENANT, DEVICE, json=body)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert not HonoDevice.objects.exists()


@pytest.mark.parametrize("device_id", ["org.acme:sensor 1", "org.acme:sensor#1", "x" * 257, "ünï"])
def test_a_device_id_off_the_pattern_is_a_400(hono, device_id):
    response = hono.device("POST", HONO_TENANT, device_id)
    assert response.status_code == 400
    assert "does not match the pattern" in response.json()["error"]


def test_a_body_must_be_json_with_its_content_type(hono):
    response = hono.device("POST", HONO_TENANT, DEVICE, raw=b'{"enabled": true}')
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]
    response = hono.device(
        "POST", HONO_TENANT, DEVICE, raw=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_a_body_over_16000_bytes_is_a_413(hono):
    response = hono.device("POST", HONO_TENANT, DEVICE, json={"ext": {"blob": "x" * 16_000}})
    assert response.status_code == 413


def test_an_unknown_tenant_or_device_is_a_404(hono):
    assert hono.device("POST", "no-such-tenant", DEVICE).status_code == 404
    assert hono.device("GET", HONO_TENANT, DEVICE).status_code == 404
    assert hono.device("PUT", HONO_TENANT, DEVICE, json={}).status_code == 404
    assert hono.device("DELETE", HONO_TENANT, DEVICE).status_code == 404
    assert hono.credentials("GET", HONO_TENANT, DEVICE).status_code == 404
    assert hono.credentials("PUT", HONO_TENANT, DEVICE, json=[]).status_code == 404


def test_put_replaces_the_registration_and_if_match_guards_it(hono):
    etag = hono.device("POST", HONO_TENANT, DEVICE, json={"ext": {"a": 1}}).headers["ETag"]
    stale = hono.device("PUT", HONO_TENANT, DEVICE, json={"enabled": False}, headers={"If-Match": "other"})
    assert stale.status_code == 412
    assert hono.device("PUT", HONO_TENANT, DEVICE, json={}, headers={"If-Match": "*"}).status_code == 412
    updated = hono.device("PUT", HONO_TENANT, DEVICE, json={"enabled": False}, headers={"If-Match": etag})
    assert updated.status_code == 204
    assert updated.headers["ETag"] != etag
    read = hono.device("GET", HONO_TENANT, DEVICE)
    assert read.json()["enabled"] is False and "ext" not in read.json()
    assert read.headers["ETag"] == updated.headers["ETag"]


def test_delete_honours_if_match_and_removes_the_credentials(hono):
    etag = hono.device("POST", HONO_TENANT, DEVICE).headers["ETag"]
    assert hono.credentials("PUT", HONO_TENANT, DEVICE, json=password_set()).status_code == 204
    assert hono.device("DELETE", HONO_TENANT, DEVICE, headers={"If-Match": "stale"}).status_code == 412
    assert hono.device("DELETE", HONO_TENANT, DEVICE, headers={"If-Match": etag}).status_code == 204
    assert not HonoCredential.objects.exists()
    assert hono.credentials("GET", HONO_TENANT, DEVICE).status_code == 404
    # The auth-id is free again for a new device.
    hono.device("POST", HONO_TENANT, "org.acme:sensor-2")
    assert hono.credentials("PUT", HONO_TENANT, "org.acme:sensor-2", json=password_set()).status_code == 204


def test_pwd_plain_is_hashed_and_never_shown(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    response = hono.credentials(
        "PUT",
        HONO_TENANT,
        DEVICE,
        json=password_set(password="Dev1ce-Pa55!", **{"not-after": "2030-01-01T00:00:00Z"}),
    )
    assert response.status_code == 204 and response.headers["ETag"]
    stored = HonoCredential.objects.get()
    assert "Dev1ce-Pa55!" not in str(stored.secrets)
    read = hono.credentials("GET", HONO_TENANT, DEVICE)
    assert read.headers["ETag"] == response.headers["ETag"]
    [credential] = read.json()
    assert credential["type"] == "hashed-password" and credential["auth-id"] == AUTH_ID
    [secret] = credential["secrets"]
    assert set(secret) == {"id", "not-after"}  # metadata only: no pwd-plain, pwd-hash, salt
    assert "Dev1ce-Pa55!" not in read.text and "sha256$" not in read.text


def test_credentials_put_replaces_the_whole_set(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    psk = {"type": "psk", "auth-id": "psk-1", "secrets": [{"key": "c2VjcmV0LWtleQ=="}]}
    hono.credentials("PUT", HONO_TENANT, DEVICE, json=[*password_set(), psk])
    assert HonoCredential.objects.count() == 2
    hono.credentials("PUT", HONO_TENANT, DEVICE, json=[psk])
    assert list(HonoCredential.objects.values_list("type", flat=True)) == ["psk"]
    hono.credentials("PUT", HONO_TENANT, DEVICE, json=[])
    assert not HonoCredential.objects.exists()


def test_a_psk_key_is_not_shown_either(hono):
    """The spec's PSKSecret requires ``key``, but its getAllCredentials asks registries to strip
    confidential data, and §10 says GET returns metadata only: the sandbox strips the key. The
    answer is the spec's shape once a key is put back."""
    hono.device("POST", HONO_TENANT, DEVICE)
    psk = {"type": "psk", "auth-id": "psk-1", "secrets": [{"key": "c2VjcmV0LWtleQ=="}]}
    hono.credentials("PUT", HONO_TENANT, DEVICE, json=[psk])
    read = requests.get(f"{hono.base_url}/v1/credentials/{HONO_TENANT}/{DEVICE}", auth=hono.auth, timeout=10)
    [credential] = read.json()
    assert "key" not in credential["secrets"][0] and "c2VjcmV0" not in read.text
    with_key = [{**credential, "secrets": [{**s, "key": "AA=="} for s in credential["secrets"]]}]
    assert HONO.schema_errors(with_key, "CredentialsSet") == []


def test_a_secret_sent_back_with_its_id_is_kept(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    hono.credentials("PUT", HONO_TENANT, DEVICE, json=password_set())
    before = HonoCredential.objects.get().secrets[0]
    [credential] = hono.credentials("GET", HONO_TENANT, DEVICE).json()
    credential["secrets"][0]["comment"] = "rotated never"
    assert hono.credentials("PUT", HONO_TENANT, DEVICE, json=[credential]).status_code == 204
    after = HonoCredential.objects.get().secrets[0]
    assert after["hidden"] == before["hidden"] and after["comment"] == "rotated never"
    unknown = password_set()
    unknown[0]["secrets"] = [{"id": "no-such-secret"}]
    response = hono.credentials("PUT", HONO_TENANT, DEVICE, json=unknown)
    assert response.status_code == 400 and "no-such-secret" in response.json()["error"]


@pytest.mark.parametrize(
    ("credentials", "words"),
    [
        (
            {"type": "hashed-password", "auth-id": "org.acme:sensor-1", "secrets": [{"pwd-plain": "x"}]},
            "pattern",
        ),
        ({"type": "hashed-password", "auth-id": AUTH_ID, "secrets": []}, "1 to 10 secrets"),
        ({"type": "hashed-password", "auth-id": AUTH_ID, "secrets": [{}]}, "needs pwd-plain"),
        (
            {"type": "hashed-password", "auth-id": AUTH_ID, "secrets": [{"pwd-plain": "x", "pin": 1}]},
            "unknown property 'pin'",
        ),
        (
            {"type": "hashed-password", "auth-id": AUTH_ID, "colour": 1, "secrets": [{"pwd-plain": "x"}]},
            "unknown property 'colour'",
        ),
        (
            {"type": "telepathy", "auth-id": AUTH_ID, "secrets": [{"pwd-plain": "x"}]},
            "unsupported credentials type",
        ),
        ({"type": "psk", "auth-id": "psk-1", "secrets": [{"key": "not base64!"}]}, "base64"),
        (
            {
                "type": "hashed-password",
                "auth-id": AUTH_ID,
                "secrets": [{"pwd-hash": "$2a$12$" + "a" * 53, "hash-function": "bcrypt"}],
            },
            "cost factor",
        ),
        (
            {
                "type": "hashed-password",
                "auth-id": AUTH_ID,
                "secrets": [
                    {
                        "pwd-plain": "x",
                        "not-before": "2030-01-01T00:00:00Z",
                        "not-after": "2029-01-01T00:00:00Z",
                    }
                ],
            },
            "not-before is after not-after",
        ),
        (
            {
                "type": "hashed-password",
                "auth-id": AUTH_ID,
                "secrets": [{"pwd-plain": "x", "not-after": "tomorrow"}],
            },
            "RFC 3339",
        ),
    ],
)
def test_a_bad_credentials_set_is_a_400_and_changes_nothing(hono, credentials, words):
    hono.device("POST", HONO_TENANT, DEVICE)
    hono.credentials("PUT", HONO_TENANT, DEVICE, json=password_set(auth_id="kept"))
    response = hono.credentials("PUT", HONO_TENANT, DEVICE, json=[credentials])
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert list(HonoCredential.objects.values_list("auth_id", flat=True)) == ["kept"]


def test_duplicate_type_and_auth_id_is_a_409_within_a_set_and_across_devices(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    hono.device("POST", HONO_TENANT, "org.acme:sensor-2")
    twice = password_set() + password_set()
    assert hono.credentials("PUT", HONO_TENANT, DEVICE, json=twice).status_code == 409
    assert hono.credentials("PUT", HONO_TENANT, DEVICE, json=password_set()).status_code == 204
    response = hono.credentials("PUT", HONO_TENANT, "org.acme:sensor-2", json=password_set())
    assert response.status_code == 409
    assert response.json() == {"error": "credentials (type, auth-id) must be unique for device"}


def test_credentials_put_honours_if_match(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    etag = hono.credentials("GET", HONO_TENANT, DEVICE).headers["ETag"]
    stale = hono.credentials("PUT", HONO_TENANT, DEVICE, json=password_set(), headers={"If-Match": "stale"})
    assert stale.status_code == 412
    assert not HonoCredential.objects.exists()
    fresh = hono.credentials("PUT", HONO_TENANT, DEVICE, json=password_set(), headers={"If-Match": etag})
    assert fresh.status_code == 204


def test_search_pages_filters_sorts_and_answers_404_for_no_match(hono):
    for n in range(5):
        hono.device(
            "POST",
            HONO_TENANT,
            f"org.acme:dev-{n}",
            json={"ext": {"brand": "eclipse" if n % 2 else "acme", "n": n}},
        )
    everything = hono.devices("GET", HONO_TENANT)
    assert everything.status_code == 200
    assert everything.json()["total"] == 5
    assert [d["id"] for d in everything.json()["result"]][:2] == ["org.acme:dev-0", "org.acme:dev-1"]
    page = hono.devices("GET", HONO_TENANT, params={"pageSize": 2, "pageOffset": 2})
    assert [d["id"] for d in page.json()["result"]] == ["org.acme:dev-2", "org.acme:dev-3"]
    filtered = hono.devices(
        "GET",
        HONO_TENANT,
        params={
            "filterJson": '{"field": "/ext/brand", "value": "ecl*"}',
            "sortJson": '{"field": "/ext/n", "direction": "desc"}',
        },
    )
    assert [d["id"] for d in filtered.json()["result"]] == ["org.acme:dev-3", "org.acme:dev-1"]
    none = hono.devices(
        "GET", HONO_TENANT, params={"filterJson": '{"field": "/ext/brand", "value": "bosch"}'}
    )
    assert none.status_code == 404
    assert hono.devices("GET", HONO_TENANT, params={"pageSize": 201}).status_code == 400
    assert hono.devices("GET", HONO_TENANT, params={"filterJson": "{nope"}).status_code == 400


def test_delete_of_all_devices_of_a_tenant(hono):
    hono.device("POST", HONO_TENANT, DEVICE)
    assert hono.devices("DELETE", HONO_TENANT).status_code == 204
    assert hono.devices("GET", HONO_TENANT).status_code == 404


def test_a_tenant_can_be_read_created_changed_and_deleted(hono):
    read = hono.tenant("GET", HONO_TENANT)
    assert read.status_code == 200 and read.headers["ETag"]
    created = hono.tenant("POST", "plant-7", json={"enabled": True, "ext": {"site": "7"}})
    assert created.status_code == 201 and created.json() == {"id": "plant-7"}
    assert hono.tenant("POST", "plant-7").status_code == 409
    assert hono.tenant("POST", "bad:tenant").status_code == 400
    assert hono.tenant("POST", "plant-8", json={"colour": "red"}).status_code == 400
    assert (
        hono.tenant("PUT", "plant-7", json={"enabled": False}, headers={"If-Match": "x"}).status_code == 412
    )
    assert hono.tenant("PUT", "plant-7", json={"enabled": False}).status_code == 204
    assert hono.tenant("GET", "plant-7").json() == {"enabled": False}
    assert hono.tenant("DELETE", "plant-7").status_code == 204
    assert hono.tenant("GET", "plant-7").status_code == 404
    assert not HonoTenant.objects.filter(tenant_id="plant-7").exists()


def test_basic_and_bearer_are_accepted_and_anything_else_is_a_401(hono, tenant):
    assert hono.device("POST", HONO_TENANT, DEVICE).status_code == 201
    bearer = hono.with_auth(token=token_for(tenant))
    assert bearer.device("GET", HONO_TENANT, DEVICE).status_code == 200
    for caller in (
        hono.with_auth(),
        hono.with_auth(auth=("ditto-hono-user", "wrong")),
        hono.with_auth(auth=("nobody", "Basic-Pa55-word")),
        hono.with_auth(token="forged.token.value"),
    ):
        response = caller.device("GET", HONO_TENANT, DEVICE)
        assert response.status_code == 401
        assert "Basic" in response.headers["WWW-Authenticate"]
        assert response.content == b""  # the spec's Unauthorized has no body


def test_an_expired_token_is_a_401(hono, tenant):
    bearer = hono.with_auth(token=token_for(tenant))
    knobs.expire_tokens()
    assert bearer.tenant("GET", HONO_TENANT).status_code == 401


def test_the_demo_seed_makes_a_tenant_and_a_user_that_work(sandbox_url):
    facts = seed.ensure_demo_hono_ditto(sandbox_url)
    assert facts["password"] and facts["hono_tenant"] == seed.DEMO_HONO_TENANT
    again = seed.ensure_demo_hono_ditto(sandbox_url)
    assert again["password"] is None  # only its hash is kept
    client = Hono(sandbox_url, auth=(facts["username"], facts["password"]))
    assert client.tenant("GET", facts["hono_tenant"]).status_code == 200


def test_tenants_can_be_searched_and_created_with_a_chosen_id(hono):
    created = hono.call("POST", "/tenants", "/tenants", json={"ext": {"site": "9"}})
    assert created.status_code == 201
    found = hono.call(
        "GET", "/tenants", "/tenants", params={"filterJson": '{"field": "/ext/site", "value": "9"}'}
    )
    assert found.status_code == 200
    assert [t["id"] for t in found.json()["result"]] == [created.json()["id"]]
    none = hono.call(
        "GET", "/tenants", "/tenants", params={"filterJson": '{"field": "/ext/site", "value": "0"}'}
    )
    assert none.status_code == 404
