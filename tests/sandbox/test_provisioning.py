"""POST /api/1/<sid>/devices and DELETE /api/1/<sid>/devices/<id>: the simulator contract (§7)."""

import base64
import json

import pytest
import requests

from provisioning.sandbox import knobs, seed, store
from provisioning.sandbox.models import HubCredentials, HubDevice, Policy, Thing

from .conftest import DEVICE_ID, NAMESPACE, PASSWORD, TIMEOUT, Api, device_body, token_for, validate

# Authentication and authorisation


def test_missing_token_is_401_with_www_authenticate(api):
    response = requests.post(api.devices_url(), json=device_body(), timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    validate(response.json(), "Provisioning400ErrorPayload")


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        # Signed with another key: forged.
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ."
        "c2lnbmF0dXJlLW9mLXNvbWVvbmUtZWxzZQ",
        # alg "none".
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.",
    ],
    ids=["not-a-jwt", "other-key", "alg-none"],
)
def test_forged_or_unknown_tokens_are_401(api, token):
    response = api.post(device_body(), token=token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_token_with_a_tampered_payload_is_401(api):
    header, claims, signature = api.token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    decoded["exp"] += 3600
    claims = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")
    assert api.post(device_body(), token=f"{header}.{claims}.{signature}").status_code == 401


def test_an_expired_token_is_401(api):
    assert api.post(device_body()).status_code == 201
    knobs.configure(clock_skew_seconds=3600)  # the sandbox's clock is now past exp
    response = api.post(device_body("com.acme.sensors:two"))
    assert response.status_code == 401
    assert "expired" in response.json()["errorDetails"]["message"]


def test_a_token_expires_after_its_lifetime(sandbox_url):
    tenant = seed.create_tenant(sandbox_url, namespaces=[NAMESPACE], token_lifetime=1)
    api = Api(tenant, token_for(tenant))
    knobs.configure(clock_skew_seconds=2)
    assert api.post(device_body()).status_code == 401


def test_unknown_service_instance_is_403(api):
    response = api.post(device_body(), sid="0081db5c-9765-4ffa-8a54-a3a71021dc67")
    assert response.status_code == 403
    validate(response.json(), "Provisioning400ErrorPayload")


def test_an_instance_the_token_does_not_cover_is_403(api, sandbox_url):
    other = seed.create_tenant(sandbox_url, namespaces=[NAMESPACE])
    assert api.post(device_body(), sid=other["service_instance_id"]).status_code == 403
    assert api.delete(DEVICE_ID, sid=other["service_instance_id"]).status_code == 403


def test_a_token_without_scopes_is_403(api, tenant):
    unscoped = token_for(tenant, scope="")
    assert api.post(device_body(), token=unscoped).status_code == 403


def test_a_token_with_only_the_hub_scope_is_403(sandbox_url):
    tenant = seed.create_tenant(sandbox_url, namespaces=[NAMESPACE])
    hub_only = token_for(tenant, scope=tenant["scope"].split()[0])
    assert Api(tenant, hub_only).post(device_body()).status_code == 403


def test_nexeed_tokens_cover_the_clients_instances(nexeed_tenant, sandbox_url):
    api = Api(nexeed_tenant, token_for(nexeed_tenant))
    assert api.post(device_body()).status_code == 201
    other = seed.create_tenant(sandbox_url, namespaces=[NAMESPACE])
    assert api.post(device_body(), sid=other["service_instance_id"]).status_code == 403


def test_expire_tokens_kills_tokens_issued_before(api, tenant):
    knobs.inject_fault("expire_tokens")
    assert api.post(device_body()).status_code == 401
    fresh = token_for(tenant)
    assert api.post(device_body(), token=fresh).status_code == 201


# 201


def test_it_provisions_a_device_and_answers_the_documented_body(api, tenant):
    response = api.post(device_body())
    assert response.status_code == 201, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert "Location" not in response.headers
    body = response.json()
    validate(body, "ProvisioningResponsePayload")
    sid = tenant["service_instance_id"]
    assert body["id"] == DEVICE_ID
    assert body["hub"]["device"] == {"deviceId": DEVICE_ID, "enabled": True}
    credentials = body["hub"]["credentials"]
    assert credentials["tenantId"] == f"t{sid.replace('-', '')}_hub"
    assert credentials["deviceId"] == DEVICE_ID
    assert credentials["authId"] == "com.acme.sensors_boiler-0042"
    assert credentials["type"] == "hashed-password"
    assert credentials["enabled"] is True
    assert credentials["secrets"] == [{"password": PASSWORD}]
    assert {adapter["type"] for adapter in credentials["adapters"]} == {"http", "mqtt"}
    thing = body["things"]["thing"]
    assert thing["thingId"] == thing["policyId"] == DEVICE_ID
    assert thing["attributes"] == {"manufacturer": "ACME"}
    assert thing["features"] == {}
    entries = thing["_policy"]["entries"]
    assert entries["DEFAULT"]["subjects"] == {f"iot-suite:{tenant['client_id']}": {"type": "suite-auth"}}
    assert entries["DEFAULT"]["resources"]["policy:/"]["grant"] == ["READ", "WRITE"]
    assert entries["DEVICE"]["subjects"] == {
        f"integration:{sid}_things:hub": {"type": "iot-things-integration"}
    }
    assert entries["DEVICE"]["resources"]["policy:/"]["grant"] == ["READ"]


def test_it_stores_all_four_resources_and_no_plaintext_password(api, tenant):
    api.post(device_body())
    stored = store.get_device(tenant["service_instance_id"], DEVICE_ID)
    assert stored["device"]["deviceId"] == DEVICE_ID
    assert stored["thing"]["policyId"] == DEVICE_ID
    assert stored["policy"]["entries"]["DEVICE"]
    assert stored["credentials"][0]["authId"] == "com.acme.sensors_boiler-0042"
    assert PASSWORD not in json.dumps(stored)
    assert store.device_secret_matches(
        tenant["service_instance_id"], "com.acme.sensors_boiler-0042", PASSWORD
    )
    assert not store.device_secret_matches(tenant["service_instance_id"], "com.acme.sensors_boiler-0042", "x")
    assert store.device_ids(tenant["service_instance_id"]) == [DEVICE_ID]


@pytest.mark.parametrize("scope", ["subscription", "deviceManagementSubscription"])
def test_auth_scope_makes_the_subscription_own_the_thing(api, tenant, scope):
    response = api.post(device_body(), params={"authScope": scope, "skipVorto": "true"})
    assert response.status_code == 201, response.text
    subjects = response.json()["things"]["thing"]["_policy"]["entries"]["DEFAULT"]["subjects"]
    assert subjects == {
        f"iot-suite:/service-instance.{tenant['service_instance_id']}.iot-things": {"type": "suite-auth"}
    }


def test_an_unknown_auth_scope_is_400(api):
    assert api.post(device_body(), params={"authScope": "everyone"}).status_code == 400


def test_the_minimal_documented_body_works(api):
    body = {
        "id": f"{NAMESPACE}:device-0101",
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "plain-text"}]},
        },
        "things": {"thing": {}},
    }
    response = api.post(body)
    assert response.status_code == 201
    validate(response.json(), "ProvisioningResponsePayload")


@pytest.mark.parametrize(
    "credentials",
    [
        {"type": "hashed-password", "secrets": [{"passwordBase64": base64.b64encode(b"pw-123456").decode()}]},
        {
            "type": "hashed-password",
            "secrets": [{"pwdHash": "AAAA", "hashFunction": "sha-256", "salt": "AAAA"}],
        },
        {"type": "psk", "authId": "psk-device-1", "secrets": [{"key": base64.b64encode(b"k" * 16).decode()}]},
        {"type": "x509-cert", "authId": "CN=device,O=ACME", "secrets": []},
        {
            "type": "hashed-password",
            "enabled": False,
            "deviceId": DEVICE_ID,
            "secrets": [
                {
                    "password": "Pass-word-9!",
                    "notBefore": "2024-01-01T00:00:00Z",
                    "notAfter": "2030-01-01T00:00:00Z",
                }
            ],
        },
    ],
)
def test_every_credentials_type_is_accepted_and_echoed(api, tenant, credentials):
    body = device_body()
    body["hub"]["credentials"] = credentials
    response = api.post(body)
    assert response.status_code == 201, response.text
    answer = response.json()
    validate(answer, "ProvisioningResponsePayload")
    assert answer["hub"]["credentials"]["secrets"] == credentials["secrets"]
    assert answer["hub"]["credentials"]["enabled"] is credentials.get("enabled", True)
    stored = json.dumps(store.get_device(tenant["service_instance_id"], DEVICE_ID)["credentials"])
    for secret in credentials["secrets"]:
        for field in ("passwordBase64", "key", "password"):
            if field in secret:
                assert secret[field] not in stored


def test_a_device_without_credentials_has_none_in_the_answer(api):
    body = device_body(password=None)
    body["hub"]["device"] = {"enabled": False, "via": "com.acme.sensors:gateway", "defaults": {"ttl": 60}}
    response = api.post(body)
    assert response.status_code == 201
    answer = response.json()
    validate(answer, "ProvisioningResponsePayload")
    assert "credentials" not in answer["hub"]
    assert answer["hub"]["device"] == {
        "deviceId": DEVICE_ID,
        "enabled": False,
        "via": "com.acme.sensors:gateway",
        "defaults": {"ttl": 60},
    }


def test_the_thing_fields_are_echoed(api):
    features = {"temperature": {"definition": ["com.acme:Temp:1.0.0"], "properties": {"value": 21.5}}}
    body = device_body(definition="com.acme:Boiler:1.0.0", features=features, thingId=DEVICE_ID)
    body["hub"]["device"]["deviceId"] = DEVICE_ID
    thing = api.post(body).json()["things"]["thing"]
    assert thing["definition"] == "com.acme:Boiler:1.0.0"
    assert thing["features"] == features


def test_an_existing_policy_can_be_reused(api, tenant):
    assert api.post(device_body()).status_code == 201
    response = api.post(device_body(f"{NAMESPACE}:second", policyId=DEVICE_ID))
    assert response.status_code == 201, response.text
    thing = response.json()["things"]["thing"]
    assert thing["policyId"] == DEVICE_ID
    assert "_policy" not in thing
    assert Policy.objects.count() == 1


def test_reusing_a_missing_policy_is_400(api):
    assert api.post(device_body(policyId=f"{NAMESPACE}:no-such-policy")).status_code == 400
    assert HubDevice.objects.count() == 0


def test_a_conflict_answers_before_a_missing_policy_to_reuse(api):
    assert api.post(device_body()).status_code == 201
    response = api.post(device_body(policyId=f"{NAMESPACE}:no-such-policy"))
    assert response.status_code == 409
    assert response.json()["errorDetails"]["conflicts"] == ["credentials", "device", "thing"]


def test_a_taken_policy_id_answers_before_a_missing_policy_to_copy(api):
    assert api.post(device_body()).status_code == 201
    assert api.delete(DEVICE_ID, params={"keepPolicy": "true"}).status_code == 200
    response = api.post(device_body(_copyPolicyFrom=f"{NAMESPACE}:no-such-policy"))
    assert response.status_code == 409
    assert response.json()["errorDetails"]["conflicts"] == ["policy"]
    assert HubDevice.objects.count() == HubCredentials.objects.count() == Thing.objects.count() == 0


def test_an_inline_policy_is_stored_and_echoed(api, tenant):
    policy = {
        "entries": {
            "OWNER": {
                "subjects": {"iot-suite:someone": {"type": "suite-auth"}},
                "resources": {"thing:/": {"grant": ["READ", "WRITE"], "revoke": []}},
            }
        }
    }
    response = api.post(device_body(_policy=policy))
    assert response.status_code == 201
    assert response.json()["things"]["thing"]["_policy"] == policy
    assert (
        store.get_device(tenant["service_instance_id"], DEVICE_ID)["policy"]["entries"] == policy["entries"]
    )


def test_a_policy_can_be_copied(api):
    api.post(device_body(), params={"authScope": "subscription"})
    response = api.post(device_body(f"{NAMESPACE}:copy", _copyPolicyFrom=DEVICE_ID))
    assert response.status_code == 201, response.text
    thing = response.json()["things"]["thing"]
    assert thing["policyId"] == f"{NAMESPACE}:copy"
    assert "iot-suite:/service-instance." in json.dumps(thing["_policy"])


# 400


def _without(path):
    body = device_body()
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    del node[last]
    return body


def _with(path, value):
    body = device_body()
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    node[last] = value
    return body


BAD_BODIES = {
    "missing id": _without("id"),
    "missing hub": _without("hub"),
    "missing hub.device": _without("hub.device"),
    "missing things": _without("things"),
    "missing things.thing": _without("things.thing"),
    "id not a string": _with("id", 42),
    "body not an object": [device_body()],
    "unknown credentials type": _with("hub.credentials", {"type": "magic", "secrets": [{"password": "x"}]}),
    "missing credentials type": _with("hub.credentials", {"secrets": [{"password": "x"}]}),
    "empty secrets": _with("hub.credentials", {"type": "hashed-password", "secrets": []}),
    "empty psk secrets": _with("hub.credentials", {"type": "psk", "secrets": []}),
    "eleven secrets": _with(
        "hub.credentials", {"type": "hashed-password", "secrets": [{"password": f"p{i}"} for i in range(11)]}
    ),
    "bad base64 password": _with(
        "hub.credentials", {"type": "hashed-password", "secrets": [{"passwordBase64": "not base64!"}]}
    ),
    "bad base64 psk": _with("hub.credentials", {"type": "psk", "secrets": [{"key": "@@@@"}]}),
    "two password forms": _with(
        "hub.credentials",
        {"type": "hashed-password", "secrets": [{"password": "a", "passwordBase64": "YQ=="}]},
    ),
    "bad notAfter": _with(
        "hub.credentials", {"type": "hashed-password", "secrets": [{"password": "a", "notAfter": "tomorrow"}]}
    ),
    "id without namespace": _with("id", "no-colon-here"),
    "id with a slash": _with("id", f"{NAMESPACE}:a/b"),
    "id too long": _with("id", f"{NAMESPACE}:" + "x" * 256),
    "namespace starting with a digit": _with("id", "1acme:dev"),
    "unregistered namespace": _with("id", "org.other:dev-1"),
    "enabled not a boolean": _with("hub.device", {"enabled": "yes"}),
    "bad definition": _with("things.thing", {"definition": "not-a-definition"}),
    "policyId and _policy": _with("things.thing", {"policyId": DEVICE_ID, "_policy": {"entries": {}}}),
    "attributes not an object": _with("things.thing", {"attributes": [1, 2]}),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_requests_are_400_and_leave_nothing(api, body):
    response = api.post(body)
    assert response.status_code == 400, response.text
    answer = response.json()
    validate(answer, "Provisioning400ErrorPayload")
    assert answer["description"]
    assert answer["errorDetails"]["status"] == 400
    assert HubDevice.objects.count() == Thing.objects.count() == 0


def test_the_invalid_id_error_is_ditto_shaped(api):
    details = api.post(_with("id", "1acme:dev")).json()["errorDetails"]
    assert details["error"] == "things:id.invalid"
    assert details["message"] == "Thing ID '1acme:dev' is not valid!"


@pytest.mark.parametrize(
    "data",
    [b"{not json", b"", b'{"id": "\\u0000"}', b"\xff\xfe", b'{"a": NaN}', b'{"a": 1e999}'],
)
def test_invalid_json_is_400(api, data):
    response = api.post_raw(data)
    assert response.status_code == 400
    validate(response.json(), "Provisioning400ErrorPayload")


def test_deeply_nested_json_is_400(api):
    body = device_body()
    body["things"]["thing"]["attributes"]["deep"] = json.loads("[" * 200 + "]" * 200)
    response = api.post(body)
    assert response.status_code == 400
    assert "nests deeper" in response.json()["description"]


def test_a_non_json_content_type_is_415(api):
    assert api.post_raw(json.dumps(device_body()), content_type="text/plain").status_code == 415


def test_a_body_over_1_mb_is_413(api):
    body = device_body()
    body["things"]["thing"]["attributes"]["blob"] = "x" * (1024 * 1024)
    assert api.post(body).status_code == 413


def test_a_bad_keep_flag_is_400(api):
    assert api.delete(DEVICE_ID, params={"keepPolicy": "maybe"}).status_code == 400


def test_wrong_methods_are_405_json(api):
    response = requests.get(api.devices_url(), headers=api.headers(), timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["errorDetails"]["status"] == 405


def test_unknown_api_paths_are_json_404(api):
    response = requests.get(f"{api.tenant['api_base_url']}/nothing/here", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["errorDetails"]["status"] == 404


# 409


def test_provisioning_twice_is_409_with_the_recommended_body(api):
    assert api.post(device_body()).status_code == 201
    response = api.post(device_body())
    assert response.status_code == 409
    assert response.json() == {
        "description": f"Device '{DEVICE_ID}' has already been provisioned.",
        "errorDetails": {
            "status": 409,
            "error": "things:thing.conflict",
            "message": f"The Thing with ID '{DEVICE_ID}' already exists",
            "description": "Choose another Thing ID",
            "conflicts": ["credentials", "device", "policy", "thing"],
        },
    }


@pytest.mark.parametrize("path", ["things.thing.thingId", "hub.device.deviceId", "hub.credentials.deviceId"])
def test_a_sub_id_that_differs_from_id_is_409(api, path):
    response = api.post(_with(path, f"{NAMESPACE}:someone-else"))
    assert response.status_code == 409
    assert response.json()["errorDetails"]["error"] == "provisioning:id.mismatch"
    assert HubDevice.objects.count() == 0


def test_an_existing_auth_id_is_409_and_nothing_is_written(api):
    assert api.post(device_body()).status_code == 201
    body = device_body(f"{NAMESPACE}:other")
    body["hub"]["credentials"]["authId"] = "com.acme.sensors_boiler-0042"
    response = api.post(body)
    assert response.status_code == 409
    assert response.json()["errorDetails"]["conflicts"] == ["credentials"]
    assert HubDevice.objects.count() == Thing.objects.count() == Policy.objects.count() == 1


def test_an_existing_policy_alone_is_409_and_nothing_is_written(api):
    # Delete everything but the policy, then provision the same id again.
    assert api.post(device_body()).status_code == 201
    assert api.delete(DEVICE_ID, params={"keepPolicy": "true"}).status_code == 200
    response = api.post(device_body())
    assert response.status_code == 409
    assert response.json()["errorDetails"]["error"] == "policies:policy.conflict"
    assert HubDevice.objects.count() == HubCredentials.objects.count() == Thing.objects.count() == 0


def test_kept_credentials_block_reprovisioning_under_the_same_auth_id(api):
    assert api.post(device_body()).status_code == 201
    assert api.delete(DEVICE_ID, params={"keepCredentials": "true"}).status_code == 200
    assert api.post(device_body()).status_code == 409
    assert api.post(device_body(password=None)).status_code == 201


def test_the_same_id_in_another_instance_is_fine(api, sandbox_url):
    other = seed.create_tenant(sandbox_url, namespaces=[NAMESPACE])
    assert api.post(device_body()).status_code == 201
    assert Api(other, token_for(other)).post(device_body()).status_code == 201


# DELETE


def test_delete_removes_all_four(api, tenant):
    api.post(device_body())
    response = api.delete(DEVICE_ID)
    assert response.status_code == 200
    body = response.json()
    validate(body, "DeprovisioningResponsePayload")
    assert body == {
        "device": "Device deleted successfully",
        "credentials": "Credentials deleted successfully",
        "thing": "Thing deleted successfully",
        "policy": "Policy deleted successfully",
    }
    assert store.get_device(tenant["service_instance_id"], DEVICE_ID) is None


def test_delete_keeps_what_it_is_told_to(api, tenant):
    api.post(device_body())
    response = api.delete(DEVICE_ID, params={"keepCredentials": "true", "keepPolicy": "true"})
    assert response.status_code == 200
    body = response.json()
    validate(body, "DeprovisioningResponsePayload")
    assert body["credentials"] == "Credentials kept"
    assert body["policy"] == "Policy kept"
    assert body["device"] == "Device deleted successfully"
    stored = store.get_device(tenant["service_instance_id"], DEVICE_ID)
    assert stored["device"] is None and stored["thing"] is None
    assert stored["credentials"] and stored["policy"]


def test_delete_with_false_flags_deletes_everything(api):
    api.post(device_body())
    body = api.delete(DEVICE_ID, params={"keepCredentials": "false", "keepPolicy": "false"}).json()
    assert body["credentials"] == "Credentials deleted successfully"
    assert body["policy"] == "Policy deleted successfully"


def test_delete_of_nothing_is_404(api):
    response = api.delete(f"{NAMESPACE}:never-there")
    assert response.status_code == 404
    assert response.json()["errorDetails"]["status"] == 404


def test_a_partial_delete_reports_what_was_missing(api):
    api.post(device_body(password=None))
    Thing.objects.all().delete()
    body = api.delete(DEVICE_ID).json()
    assert body == {
        "device": "Device deleted successfully",
        "credentials": "Credentials not found",
        "thing": "Thing not found",
        "policy": "Policy deleted successfully",
    }


def test_delete_takes_a_percent_encoded_id(api):
    # The Ditto rule forbids '/', so use a name with the other reserved characters.
    device_id = f"{NAMESPACE}:room 4 ?#%20&"
    assert api.post(device_body(device_id)).status_code == 201
    assert api.delete(device_id).status_code == 200


def test_delete_of_an_id_with_an_encoded_slash_is_404(api):
    url = f"{api.devices_url()}/{NAMESPACE}:a%2Fb"
    response = requests.delete(url, headers=api.headers(), timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["errorDetails"]["status"] == 404
