"""Check at provider against the sandbox over real HTTP: each part of a Hono + Ditto, Ditto and
Bosch device read back and compared with what its attempt sent (present, missing, different
after a change made through the sandbox's own API), each fault of a read (401, unknown tenant,
5xx, timeout, garbage), an unknown attempt settled, and a resumed attempt comparing a part it
finds already there."""

import json
import time

import pytest
from django.test import override_settings

from provisioning import drift, history
from provisioning import hono_ditto_service as service
from provisioning.models import AuditEvent
from provisioning.providers import hono_ditto as hd
from provisioning.providers import spec as specs
from provisioning.providers.hono_ditto_connection import auths_for, settings_for
from provisioning.providers.hono_ditto_send import Auths
from provisioning.providers.spec import DeviceSpec
from provisioning.sandbox import knobs, seed
from provisioning.services import provision_device
from tests.factories import make_hono_ditto

from .clients import Ditto
from .conftest import BASIC_USER, HONO_TENANT, device_body, parts_at_sandbox, token_for
from .test_hono_ditto_send import FaultAt

DEVICE = "org.acme:sensor-1"
PASSWORD = "S3cure-Pa55-4711"
ALL_PARTS = ["device", "credentials", "policy", "thing"]


def spec(**fields):
    return DeviceSpec(
        **{
            "id": DEVICE,
            "credentials": specs.TYPED_PASSWORD,
            "secret": PASSWORD,
            "attributes": {"serial": "4711"},
            "via": ("org.acme:gateway-1",),
            **fields,
        }
    )


def send(config, actor, *, fault=None, resolves=None, device=None):
    """Provision ``device`` through ``config`` as the device builder does; ``fault``: (step,
    kind, fault options) queued just before that step's request."""
    settings = settings_for(config)
    auths = auths_for(config)
    if fault is not None:
        step, kind, options = fault
        target = "hono" if step in ("device", "credentials") else "ditto"
        method = {"device": "POST"}.get(step, "PUT")
        path = {
            "device": f"/v1/devices/{HONO_TENANT}/{DEVICE}",
            "credentials": f"/v1/credentials/{HONO_TENANT}/{DEVICE}",
            "policy": f"/api/2/policies/{DEVICE}",
            "thing": f"/api/2/things/{DEVICE}",
        }[step]
        hook = FaultAt(target, method, path, kind, **options)
        auths = (
            Auths(hono=hook, ditto=auths.ditto) if target == "hono" else Auths(hono=auths.hono, ditto=hook)
        )
    sender = service.Sender(actor, config.team, settings, auths, config)
    plan = hd.plan(settings, device or spec())
    if resolves is not None:
        return service.resume(sender, plan, device_id=DEVICE, resolves=resolves)
    return service.provision(sender, plan, device_id=DEVICE)


def intent_of(result):
    return AuditEvent.objects.get(correlation_id=result.correlation_id, phase="intent")


def check(config, actor, result):
    return drift.check_attempt(actor=actor, team=config.team, config=config, intent=intent_of(result))


def states(found):
    return {part.part: part.state for part in found.parts}


def check_row(found):
    return AuditEvent.objects.get(correlation_id=found.correlation_id)


def wait_for(part):
    deadline = time.monotonic() + 10
    while parts_at_sandbox(DEVICE)[part] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # the slow request's handler finishes its writes


@pytest.fixture
def ditto_only(team_a, sandbox_url, ditto):
    config = make_hono_ditto(
        team_a, name="Ditto A", kind="ditto", url=sandbox_url, ditto_username=BASIC_USER[0]
    )
    config.set_sealed("ditto_password", BASIC_USER[1])
    config.save()
    return config


# --- present, missing, different --------------------------------------------------------------


def test_a_device_made_as_sent_is_present_part_by_part(c2e, operator_a):
    result = send(c2e, operator_a)
    assert result.ok
    found = check(c2e, operator_a, result)
    assert found.verdict == "present" and states(found) == dict.fromkeys(ALL_PARTS, "present")
    assert found.resolution == "" and found.correlation_id != result.correlation_id
    row = check_row(found)
    assert (row.action, row.status, row.target) == ("device.check", "present", DEVICE)
    assert row.request["checks"] == str(result.correlation_id) and "resolves" not in row.request
    assert [read["step"] for read in row.request["reads"]] == ALL_PARTS
    assert row.request["reads"][0]["url"].endswith(f"/v1/devices/{HONO_TENANT}/{DEVICE}")
    assert history.checked_attempt(row) == result.correlation_id
    texts = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert PASSWORD not in texts and BASIC_USER[1] not in texts


def test_parts_removed_at_the_provider_are_missing(c2e, operator_a, hono, ditto):
    result = send(c2e, operator_a)
    ditto.thing("DELETE", DEVICE)
    ditto.policy("DELETE", DEVICE)
    hono.device("DELETE", HONO_TENANT, DEVICE)
    found = check(c2e, operator_a, result)
    assert found.verdict == "missing" and states(found) == dict.fromkeys(ALL_PARTS, "missing")
    assert found.resolution == ""  # a created attempt has nothing to settle


def test_parts_changed_at_the_provider_are_different_and_say_what(c2e, operator_a, hono, ditto):
    result = send(c2e, operator_a)
    thing = ditto.thing("GET", DEVICE).json()
    thing["attributes"] = {"serial": "9999"}
    assert (
        ditto.thing("PUT", DEVICE, json={k: v for k, v in thing.items() if k != "thingId"}).status_code == 204
    )
    assert hono.device("PUT", HONO_TENANT, DEVICE, json={"enabled": False}).status_code == 204
    found = check(c2e, operator_a, result)
    assert found.verdict == "different"
    assert states(found) == {
        "device": "different",
        "credentials": "present",
        "policy": "present",
        "thing": "different",
    }
    device, thing_part = found.parts[0], found.parts[3]
    assert [d.words for d in device.differences] == [
        "enabled: sent true, found false",
        'via: sent ["org.acme:gateway-1"], found (none)',
    ]
    assert [d.as_dict() for d in thing_part.differences] == [
        {"field": "attributes.serial", "sent": '"4711"', "found": '"9999"'}
    ]
    assert "Twin (thing) differs: attributes.serial" in found.message
    response = check_row(found).response
    assert response["parts"][3]["differences"][0]["field"] == "attributes.serial"


def test_a_changed_credential_is_told_by_type_and_auth_id(c2e, operator_a, hono):
    result = send(c2e, operator_a)
    replaced = [
        {"type": "hashed-password", "auth-id": "someone-else", "secrets": [{"pwd-plain": "An0ther-Pa55"}]}
    ]
    assert hono.credentials("PUT", HONO_TENANT, DEVICE, json=replaced).status_code == 204
    found = check(c2e, operator_a, result)
    (difference,) = found.parts[1].differences
    assert difference.as_dict()["found"] == '["hashed-password someone-else"]'
    assert "An0ther-Pa55" not in json.dumps(check_row(found).response)


def test_a_ditto_twin_is_checked_with_its_policy(ditto_only, operator_a, ditto):
    result = send(ditto_only, operator_a, device=DeviceSpec(id=DEVICE, attributes={"a": 1}))
    assert result.ok
    found = check(ditto_only, operator_a, result)
    assert found.verdict == "present" and states(found) == {"policy": "present", "thing": "present"}
    policy = ditto.policy("GET", DEVICE).json()
    policy["entries"]["DEFAULT"]["resources"]["message:/"] = {"grant": ["READ"], "revoke": []}
    assert ditto.policy("PUT", DEVICE, json={"entries": policy["entries"]}).status_code == 204
    found = check(ditto_only, operator_a, result)
    assert states(found) == {"policy": "different", "thing": "present"}
    assert found.parts[0].differences[0].field == "entries.DEFAULT.resources.message:/"


# --- an unknown attempt -----------------------------------------------------------------------


def test_an_unknown_attempt_with_nothing_made_is_settled_as_not_created(c2e, operator_a):
    result = send(c2e, operator_a, fault=("device", 500, {}))
    assert result.status == "unknown"
    found = check(c2e, operator_a, result)
    assert found.verdict == "missing" and found.resolution == "not created"
    assert "did not create the device" in found.message
    row = check_row(found)
    assert (
        row.request["resolves"] == str(result.correlation_id) and row.response["resolution"] == "not created"
    )
    assert history.check_resolution(c2e.team, intent_of(result)) == row
    # Settled once: a second check answers but settles nothing more.
    again = check(c2e, operator_a, result)
    assert again.verdict == "missing" and again.resolution == ""


def test_an_unknown_attempt_that_made_everything_is_settled_as_created(c2e, operator_a):
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        result = send(c2e, operator_a, fault=("thing", "slow", {"seconds": 2}))
    assert result.status == "unknown"
    wait_for("thing")
    found = check(c2e, operator_a, result)
    assert found.verdict == "present" and found.resolution == "created"


def test_an_unknown_attempt_made_in_part_is_not_settled(c2e, operator_a):
    result = send(c2e, operator_a, fault=("policy", 500, {}))
    found = check(c2e, operator_a, result)
    assert found.verdict == "partial" and found.resolution == ""
    assert states(found) == {
        "device": "present",
        "credentials": "present",
        "policy": "missing",
        "thing": "missing",
    }
    assert "Missing: Policy, Twin (thing)." in found.message
    again = send(c2e, operator_a, resolves=result.correlation_id)  # Send again resumes
    assert again.ok and parts_at_sandbox(DEVICE) == dict.fromkeys(ALL_PARTS, 1)


def test_a_check_that_cannot_be_recorded_settles_nothing(c2e, operator_a, audit_refusal):
    result = send(c2e, operator_a, fault=("device", 500, {}))
    audit_refusal.refuse("event")
    found = check(c2e, operator_a, result)
    assert found.verdict == "missing" and found.resolution == "" and found.correlation_id is None
    assert "settles nothing" in found.next_step and "did not create" not in found.message
    audit_refusal.allow()
    assert history.check_resolution(c2e.team, intent_of(result)) is None


# --- faults of the reads: a clear message, nothing settled ------------------------------------


@pytest.mark.parametrize(
    ("target", "kind", "words"),
    [
        ("ditto", 401, "refused this connection's credentials (401)"),
        ("hono", 500, "failed (HTTP 500) to answer the read of the Hono device"),
        ("ditto", 503, "failed (HTTP 503)"),
        ("ditto", "garbage", "not JSON"),
        ("hono", "reset", "broke before an answer came"),
    ],
)
def test_a_failed_read_concludes_nothing(c2e, operator_a, target, kind, words):
    result = send(c2e, operator_a, fault=("device", 500, {}))  # unknown, nothing made
    knobs.inject_fault(kind, target=target)
    found = check(c2e, operator_a, result)
    assert found.verdict == "failed" and found.resolution == ""
    failed = next(part for part in found.parts if part.state == "failed")
    assert words in failed.message and words in found.message
    assert "concludes nothing" in found.message and found.next_step
    row = check_row(found)
    assert row.status == "failed" and "resolves" not in row.request
    assert history.check_resolution(c2e.team, intent_of(result)) is None


def test_a_garbage_answer_to_a_present_part_concludes_nothing(c2e, operator_a):
    result = send(c2e, operator_a)
    knobs.inject_fault("garbage", target="hono")
    found = check(c2e, operator_a, result)
    assert found.verdict == "failed" and found.parts[0].state == "failed"
    assert "answered 200 to the read of the Hono device, but its body is not JSON" in found.message


def test_a_read_that_times_out_concludes_nothing(c2e, operator_a):
    result = send(c2e, operator_a)
    knobs.inject_fault("slow", target="ditto", seconds=2)
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        found = check(c2e, operator_a, result)
    assert found.verdict == "failed"
    assert "did not answer in time" in found.message and "nothing was changed" in found.message


def test_an_unknown_tenant_is_said_plainly(c2e, operator_a):
    result = send(c2e, operator_a)
    c2e.hono_tenant = "no-such-tenant"
    c2e.save()
    found = check(c2e, operator_a, result)
    assert found.verdict == "failed"
    assert "does not know the tenant no-such-tenant (404)" in found.parts[0].message
    assert "tenant" in found.next_step


# --- Bosch: through Bosch IoT Things, when the connection has its URL -------------------------


@pytest.fixture
def bosch(team_a, tenant, sandbox_url):
    config = seed.dashboard_config(team_a, tenant, name="Sandbox")
    config.things_url = f"{sandbox_url}/things"
    config.save()
    return config


def bosch_send(config, actor, **thing):
    outcome = provision_device(
        actor=actor, team=config.team, config=config, body=device_body("com.acme.sensors:boiler-1", **thing)
    )
    return AuditEvent.objects.get(correlation_id=outcome.correlation_id, phase="intent"), outcome


def test_a_bosch_twin_is_read_through_things(bosch, operator_a, api):
    intent, outcome = bosch_send(bosch, operator_a)
    assert outcome.ok
    found = drift.check_attempt(actor=operator_a, team=bosch.team, config=bosch, intent=intent)
    assert found.verdict == "present" and states(found) == {"thing": "present"}
    assert found.parts[0].url.endswith("/sandbox/things/api/2/things/com.acme.sensors:boiler-1")
    assert "Hub device and its credentials cannot be read back" in found.not_read
    assert api.delete("com.acme.sensors:boiler-1").status_code == 200
    found = drift.check_attempt(actor=operator_a, team=bosch.team, config=bosch, intent=intent)
    assert found.verdict == "missing"


def test_a_bosch_twin_of_another_subscription_is_not_read(bosch, operator_a, sandbox_url):
    intent, _ = bosch_send(bosch, operator_a)
    other = seed.dashboard_config(
        bosch.team, seed.create_tenant(sandbox_url, namespaces=["com.acme.sensors"]), name="Other"
    )
    other.things_url = bosch.things_url
    other.save()
    found = drift.check_attempt(actor=operator_a, team=bosch.team, config=other, intent=intent)
    assert found.verdict == "missing"


def test_without_a_things_url_a_bosch_check_explains_and_reads_nothing(bosch, operator_a):
    intent, _ = bosch_send(bosch, operator_a)
    bosch.things_url = ""
    bosch.save()
    before = AuditEvent.objects.count()
    found = drift.check_attempt(actor=operator_a, team=bosch.team, config=bosch, intent=intent)
    assert found.verdict == "unavailable" and found.parts == [] and found.correlation_id is None
    assert "cannot read one back" in found.message and "Things base URL" in found.message
    assert AuditEvent.objects.count() == before


# --- "already exists" on a resumed attempt, compared --------------------------------------------


def step_rows(result, stage):
    rows = AuditEvent.objects.filter(correlation_id=result.correlation_id, action=service.STEP_ACTION)
    return [(row.request["step"], row.status) for row in rows.order_by("id") if row.request["stage"] == stage]


def test_a_resumed_step_that_finds_its_part_changed_says_so(c2e, operator_a, ditto):
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        result = send(c2e, operator_a, fault=("thing", "slow", {"seconds": 2}))
    wait_for("thing")
    ditto.thing("PUT", DEVICE, json={"policyId": DEVICE, "attributes": {"serial": "0000"}})
    again = send(c2e, operator_a, resolves=result.correlation_id)
    assert again.ok and again.status == "created"
    assert "Twin (thing) already existed" in again.message
    assert 'attributes.serial: sent "4711", found "0000"' in again.message
    assert step_rows(again, "compare") == [("thing", "different")]
    outcome = AuditEvent.objects.get(correlation_id=again.correlation_id, phase="outcome")
    assert outcome.message == again.message and outcome.response["existing"][0]["state"] == "different"
    assert parts_at_sandbox(DEVICE) == dict.fromkeys(ALL_PARTS, 1)  # nothing made twice


def test_a_resumed_step_that_finds_its_part_as_sent_says_nothing_more(c2e, operator_a):
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        result = send(c2e, operator_a, fault=("device", "slow", {"seconds": 2}))
    wait_for("device")
    again = send(c2e, operator_a, resolves=result.correlation_id)
    assert again.ok and again.message == "Made: device, credentials, policy, thing."
    assert step_rows(again, "compare") == [("device", "present")]


def test_a_fresh_attempt_refused_by_an_existing_device_says_whether_it_looks_like_ours(c2e, operator_a, hono):
    hono.device("POST", HONO_TENANT, DEVICE, json={"enabled": False})
    result = send(c2e, operator_a)
    assert result.status == "conflict" and result.failed_step == "device"
    assert (
        "The existing Hono device differs from what this attempt sends: enabled: sent true" in result.message
    )
    hono.device("PUT", HONO_TENANT, DEVICE, json={"enabled": True, "via": ["org.acme:gateway-1"]})
    result = send(c2e, operator_a)
    assert result.status == "conflict"
    assert "The existing Hono device matches what this attempt sends." in result.message


# --- the sandbox's Bosch IoT Things, against Ditto's OpenAPI document ---------------------------


def test_the_sandbox_things_answers_as_ditto_documents(bosch, operator_a, tenant, sandbox_url):
    bosch_send(bosch, operator_a, definition="com.acme:boiler:1.0.0")
    things = Ditto(f"{sandbox_url}/things", token=token_for(tenant))
    found = things.thing("GET", "com.acme.sensors:boiler-1")
    assert found.status_code == 200 and found.headers["ETag"] == '"rev:1"'
    assert found.json() == {
        "thingId": "com.acme.sensors:boiler-1",
        "policyId": "com.acme.sensors:boiler-1",
        "attributes": {"manufacturer": "ACME"},
        "features": {},
        "definition": "com.acme:boiler:1.0.0",
    }
    assert things.thing("GET", "com.acme.sensors:no-such").json()["error"] == "things:thing.notfound"
    assert things.thing("GET", "not an id").status_code == 400
    assert things.with_auth().thing("GET", "com.acme.sensors:boiler-1").status_code == 401
    knobs.inject_fault(503, target="ditto")
    assert things.thing("GET", "com.acme.sensors:boiler-1", fault=True).status_code == 503
