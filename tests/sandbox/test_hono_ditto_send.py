"""Provisioning through Hono + Ditto and Ditto alone as one attempt, against the sandbox over
real HTTP: every step made, refused (earlier steps undone), unknown (nothing undone, then
resumed without duplicates), an undo refused, a 401 refreshed once, a 429 waited out, the
audit rows of each call, and de-provisioning with parts already gone.

A fault meant for the n-th request of a target is queued by the client's auth hook just
before that request is sent (``FaultAt``): the sandbox itself then refuses or fails it.
"""

import json
import time

import pytest
from django.test import override_settings

from provisioning import hono_ditto_service as service
from provisioning.models import AuditEvent, OpenAttempt
from provisioning.providers import hono_ditto as hd
from provisioning.providers import spec as specs
from provisioning.providers.hono_ditto_send import Auths, BasicAuth, BearerAuth
from provisioning.providers.spec import DeviceSpec
from provisioning.sandbox import knobs, seed
from provisioning.services import AuditUnavailable
from tests.factories import make_config

from .conftest import BASIC_USER, HONO_TENANT, parts_at_sandbox, token_for

DEVICE = "org.acme:sensor-1"
PASSWORD = "S3cure-Pa55-4711"
ALL_STEPS = ["device", "credentials", "policy", "thing"]


@pytest.fixture
def connection(sandbox_url, hono):
    settings = hd.ConnectionSettings(
        hono_url=sandbox_url,
        tenant=HONO_TENANT,
        ditto_url=sandbox_url,
        own_subject=f"nginx:{BASIC_USER[0]}",
        hono_auth=hd.BASIC,
        hono_username=BASIC_USER[0],
        ditto_auth=hd.BASIC,
        ditto_username=BASIC_USER[0],
    )
    return settings, Auths(hono=BasicAuth(*BASIC_USER), ditto=BasicAuth(*BASIC_USER))


@pytest.fixture
def ditto_only(sandbox_url, ditto):
    settings = hd.ConnectionSettings(
        ditto_url=sandbox_url,
        own_subject=f"nginx:{BASIC_USER[0]}",
        ditto_auth=hd.BASIC,
        ditto_username=BASIC_USER[0],
    )
    return settings, Auths(ditto=BasicAuth(*BASIC_USER))


@pytest.fixture
def who(team_a, operator_a):
    return {"actor": operator_a, "team": team_a, "config": None}


class FaultAt(BasicAuth):
    """Basic auth that queues a sandbox fault just before the request to a URL ending in
    ``suffix`` with ``method`` (once)."""

    def __init__(self, target, method, suffix, kind, **fault):
        super().__init__(*BASIC_USER)
        self.target, self.method, self.suffix, self.kind, self.fault = target, method, suffix, kind, fault
        self.done = False

    def __call__(self, request):
        if not self.done and request.method == self.method and request.url.endswith(self.suffix):
            self.done = True
            knobs.inject_fault(self.kind, target=self.target, **self.fault)
        return super().__call__(request)


STEP_FAULTS = {  # step: (target, method, URL suffix)
    "device": ("hono", "POST", f"/v1/devices/{HONO_TENANT}/{DEVICE}"),
    "credentials": ("hono", "PUT", f"/v1/credentials/{HONO_TENANT}/{DEVICE}"),
    "policy": ("ditto", "PUT", f"/api/2/policies/{DEVICE}"),
    "thing": ("ditto", "PUT", f"/api/2/things/{DEVICE}"),
}


def faulty(connection, step, kind, **fault):
    auths = connection[1]
    target, method, suffix = STEP_FAULTS[step]
    hook = FaultAt(target, method, suffix, kind, **fault)
    return Auths(hono=hook, ditto=auths.ditto) if target == "hono" else Auths(hono=auths.hono, ditto=hook)


def spec(**fields):
    return DeviceSpec(
        **{
            "id": DEVICE,
            "credentials": specs.TYPED_PASSWORD,
            "secret": PASSWORD,
            "attributes": {"a": 1},
            **fields,
        }
    )


def sender(who, settings, auths):
    return service.Sender(actor=who["actor"], team=who["team"], settings=settings, auths=auths)


def provision(who, connection, auths=None, device=None, **kwargs):
    settings, default_auths = connection
    plan = hd.plan(settings, device or spec())
    return service.provision(sender(who, settings, auths or default_auths), plan, device_id=DEVICE, **kwargs)


def resume(who, connection, earlier, auths=None):
    settings, default_auths = connection
    plan = hd.plan(settings, spec())
    return service.resume(
        sender(who, settings, auths or default_auths), plan, device_id=DEVICE, resolves=earlier
    )


def deprovision(who, connection):
    settings, auths = connection
    return service.deprovision(
        sender(who, settings, auths), hd.deprovision_plan(settings, DEVICE), device_id=DEVICE
    )


def at_sandbox():
    """Which parts of DEVICE exist at the sandbox."""
    return parts_at_sandbox(DEVICE)


def expected(*parts):
    return {part: int(part in parts) for part in ALL_STEPS}


def rows(result):
    return list(AuditEvent.objects.filter(correlation_id=result.correlation_id).order_by("created_at", "id"))


def step_rows(result, stage=None):
    found = [row for row in rows(result) if row.action == service.STEP_ACTION]
    return [(row.request["step"], row.status) for row in found if stage in (None, row.request["stage"])]


def assert_one_attempt(result, status):
    phases = [row.phase for row in rows(result)]
    assert phases.count("intent") == 1 and phases.count("outcome") == 1
    outcome = AuditEvent.objects.get(correlation_id=result.correlation_id, phase="outcome")
    assert outcome.status == status == result.status
    assert not OpenAttempt.objects.filter(correlation_id=result.correlation_id).exists()
    return outcome


# --- made ------------------------------------------------------------------------------------


def test_it_provisions_hono_and_ditto_as_one_audited_attempt(who, connection, hono, ditto):
    result = provision(who, connection)
    assert result.ok and result.created == ALL_STEPS and not result.undone
    assert at_sandbox() == expected(*ALL_STEPS)
    assert hono.credentials("GET", HONO_TENANT, DEVICE).json()[0]["auth-id"] == "org.acme_sensor-1"
    assert ditto.thing("GET", DEVICE).json()["policyId"] == DEVICE
    policy = ditto.policy("GET", DEVICE).json()
    assert "pre-authenticated:hono-connection-acme-tenant" in policy["entries"]["HONO"]["subjects"]
    outcome = assert_one_attempt(result, "created")
    assert step_rows(result) == [(name, status) for name in ALL_STEPS for status in ("pending", "created")]
    assert outcome.response["created"] == ALL_STEPS
    intent = AuditEvent.objects.get(correlation_id=result.correlation_id, phase="intent")
    assert [step["step"] for step in intent.request["steps"]] == ALL_STEPS


def test_it_provisions_a_twin_on_ditto_alone(who, ditto_only, ditto):
    result = provision(who, ditto_only, device=spec(credentials=specs.NONE, secret=""))
    assert result.ok and result.created == ["policy", "thing"]
    assert at_sandbox() == expected("policy", "thing")
    assert ditto.thing("GET", DEVICE).json()["attributes"] == {"a": 1}
    assert_one_attempt(result, "created")


def test_no_secret_is_in_any_audit_row(who, connection):
    knobs.inject_fault(402, target="ditto")  # the policy is refused: the device's undo is audited too
    result = provision(who, connection)
    provision(who, connection)
    texts = json.dumps([list(AuditEvent.objects.values())], default=str)
    assert result.undone == ["device", "credentials"]
    assert PASSWORD not in texts and BASIC_USER[1] not in texts
    assert "[redacted]" in texts or "********" in texts


# --- refused: the earlier steps undone ------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "made", "undone"),
    [
        ("device", [], []),
        ("credentials", ["device"], ["device"]),
        ("policy", ["device", "credentials"], ["device", "credentials"]),
        ("thing", ["device", "credentials", "policy"], ["policy", "device", "credentials"]),
    ],
)
def test_a_refused_step_undoes_the_earlier_ones(who, connection, step, made, undone):
    result = provision(who, connection, auths=faulty(connection, step, 402))
    assert result.status == "refused" and result.failed_step == step and result.http_status == 402
    assert result.undone == undone and not result.not_undone
    assert at_sandbox() == expected()
    assert_one_attempt(result, "refused")
    undo_rows = step_rows(result, "undo")
    assert [name for name, status in undo_rows if status == "deleted"] == [
        name for name in ("policy", "device") if name in undone
    ]
    if undone:
        assert "Undone:" in result.message


def test_an_existing_thing_is_a_conflict_and_left_alone(who, connection, ditto):
    theirs = "org.acme:theirs"
    assert ditto.policy("PUT", theirs, json=hd.policy_body(connection[0], spec())).status_code == 201
    ditto.thing("PUT", DEVICE, json={"policyId": theirs, "attributes": {"theirs": True}})
    result = provision(who, connection)
    assert result.status == "conflict" and result.failed_step == "thing"
    assert result.undone == ["policy", "device", "credentials"]
    assert at_sandbox() == expected("thing")
    assert ditto.thing("GET", DEVICE).json()["attributes"] == {"theirs": True}


def test_the_policy_of_an_existing_twin_is_a_conflict(who, connection, ditto):
    ditto.thing("PUT", DEVICE, json={})  # Ditto makes its policy, with the thing's id
    result = provision(who, connection)
    assert result.status == "conflict" and result.failed_step == "policy" and result.http_status == 412
    assert result.undone == ["device", "credentials"]
    assert at_sandbox() == expected("policy", "thing")


def test_an_existing_hono_device_is_a_conflict_with_nothing_to_undo(who, connection, hono):
    hono.device("POST", HONO_TENANT, DEVICE, json={"enabled": True})
    result = provision(who, connection)
    assert result.status == "conflict" and result.failed_step == "device"
    assert result.created == [] and result.undone == []
    assert at_sandbox() == expected("device")


def test_an_undo_that_is_refused_is_reported_and_the_rest_undone(who, connection):
    # The thing is refused, and so is the next Ditto request: the policy's undo.
    result = provision(who, connection, auths=faulty(connection, "thing", 402, count=2))
    assert result.status == "refused"
    assert result.not_undone == ["policy"] and result.undone == ["device", "credentials"]
    assert at_sandbox() == expected("policy")
    assert "Could not be undone" in result.message and "policy" in result.message
    assert ("policy", "refused") in step_rows(result, "undo")


# --- unknown: nothing undone, then resumed --------------------------------------------------


@pytest.mark.parametrize("step", ALL_STEPS)
def test_a_failed_step_leaves_the_attempt_unknown_and_resume_completes_it(who, connection, step):
    result = provision(who, connection, auths=faulty(connection, step, 500))
    made = ALL_STEPS[: ALL_STEPS.index(step)]
    assert result.status == "unknown" and result.failed_step == step
    assert result.created == made and result.undone == [] and result.not_undone == []
    assert at_sandbox() == expected(*made)
    assert_one_attempt(result, "unknown")

    again = resume(who, connection, result.correlation_id)
    assert again.ok and again.created == ALL_STEPS
    assert [name for name, status in step_rows(again) if status == "pending"] == ALL_STEPS[len(made) :]
    assert at_sandbox() == expected(*ALL_STEPS)
    intent = AuditEvent.objects.get(correlation_id=again.correlation_id, phase="intent")
    assert intent.request["origin"] == {"resolves": str(result.correlation_id)}


@pytest.mark.parametrize("step", ["device", "thing"])
def test_a_timed_out_step_that_acted_is_taken_as_made_on_resume(who, connection, step):
    with override_settings(OUTBOUND_READ_TIMEOUT=1):
        result = provision(who, connection, auths=faulty(connection, step, "slow", seconds=2))
    assert result.status == "unknown" and result.failed_step == step
    deadline = time.monotonic() + 10
    while at_sandbox()[step] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.3)  # the slow request's handler finishes its writes

    again = resume(who, connection, result.correlation_id)
    assert again.ok and again.created == ALL_STEPS
    assert (step, "already") in step_rows(again)
    assert at_sandbox() == expected(*ALL_STEPS)


def test_resume_after_resume_counts_every_earlier_step(who, connection):
    first = provision(who, connection, auths=faulty(connection, "credentials", 500))
    second = resume(who, connection, first.correlation_id, auths=faulty(connection, "thing", 500))
    assert second.status == "unknown" and second.created == ["device", "credentials", "policy"]
    third = resume(who, connection, second.correlation_id)
    assert third.ok and [name for name, status in step_rows(third) if status == "pending"] == ["thing"]
    assert at_sandbox() == expected(*ALL_STEPS)


def test_a_refusal_on_resume_undoes_the_steps_of_the_earlier_attempt(who, connection):
    first = provision(who, connection, auths=faulty(connection, "policy", 500))
    again = resume(who, connection, first.correlation_id, auths=faulty(connection, "policy", 402))
    assert again.status == "refused" and again.undone == ["device", "credentials"]
    assert at_sandbox() == expected()


# --- what the wire may do ------------------------------------------------------------------


def test_a_401_fetches_a_fresh_token_once(who, sandbox_url, tenant, ditto):
    fetched = []

    def fetch(reject):
        fetched.append(reject)
        return "not-a-token" if reject is None else token_for(tenant)

    settings = hd.ConnectionSettings(ditto_url=sandbox_url)
    result = provision(who, (settings, Auths(ditto=BearerAuth(fetch))), device=DeviceSpec(id=DEVICE))
    assert result.ok, result.message
    assert fetched == [None, "not-a-token"]
    assert at_sandbox() == expected("policy", "thing")


def test_a_second_401_is_refused_and_undone(who, sandbox_url):
    settings = hd.ConnectionSettings(ditto_url=sandbox_url)
    fetched = []

    def fetch(reject):
        fetched.append(reject)
        return f"bad-{len(fetched)}"

    result = provision(who, (settings, Auths(ditto=BearerAuth(fetch))), device=DeviceSpec(id=DEVICE))
    assert result.status == "refused" and result.http_status == 401 and result.failed_step == "policy"
    assert fetched == [None, "bad-1"]
    assert "401" in result.message


def test_a_429_with_retry_after_is_waited_out(who, connection):
    knobs.inject_fault(429, retry_after=1, target="hono")
    started = time.monotonic()
    result = provision(who, connection)
    assert result.ok and time.monotonic() - started >= 1
    assert at_sandbox() == expected(*ALL_STEPS)
    assert step_rows(result)[:2] == [("device", "pending"), ("device", "created")]


# --- fail closed -----------------------------------------------------------------------------


def test_nothing_is_sent_when_the_intent_cannot_be_written(who, connection, audit_refusal):
    audit_refusal.refuse()
    with pytest.raises(AuditUnavailable):
        provision(who, connection)
    assert at_sandbox() == expected()


def test_a_call_whose_row_cannot_be_written_is_not_made(who, connection, audit_refusal):
    audit_refusal.refuse("event")
    result = provision(who, connection)
    assert result.status == "failed" and result.failed_step == "device"
    assert at_sandbox() == expected()


def test_a_failure_of_our_own_audit_is_not_noted_as_the_connections_success(who, connection, audit_refusal):
    """Nothing reached the provider, so the connection's last call says nothing new."""
    settings, auths = connection
    config = make_config(who["team"], secret=None)
    audit_refusal.refuse("event")
    run = service.Sender(actor=who["actor"], team=who["team"], settings=settings, auths=auths, config=config)
    result = service.provision(run, hd.plan(settings, spec()), device_id=DEVICE)
    assert result.status == "failed"
    config.refresh_from_db()
    assert config.last_success_at is None


# --- de-provision ----------------------------------------------------------------------------


def test_deprovision_removes_every_part(who, connection):
    provision(who, connection)
    result = deprovision(who, connection)
    assert result.ok and result.status == "deleted"
    assert at_sandbox() == expected()
    assert_one_attempt(result, "deleted")
    assert step_rows(result, "deprovision") == [
        (name, status) for name in ("thing", "policy", "device") for status in ("pending", "deleted")
    ]


def test_deprovision_takes_missing_parts_as_already_gone(who, connection, ditto):
    provision(who, connection)
    ditto.thing("DELETE", DEVICE)
    result = deprovision(who, connection)
    assert result.ok
    assert [row for row in step_rows(result) if row[1] != "pending"] == [
        ("thing", "gone"),
        ("policy", "deleted"),
        ("device", "deleted"),
    ]
    assert "Already gone: thing" in result.message
    assert at_sandbox() == expected()
    nothing = deprovision(who, connection)
    assert nothing.ok and {status for _, status in step_rows(nothing) if status != "pending"} == {"gone"}


def test_deprovision_stops_at_a_refusal(who, connection):
    provision(who, connection)
    knobs.inject_fault(402, target="ditto")
    result = deprovision(who, connection)
    assert result.status == "refused" and result.failed_step == "thing"
    assert at_sandbox() == expected(*ALL_STEPS)


def test_a_bearer_token_from_the_sandbox_works_for_hono_and_ditto(who, sandbox_url, tenant, hono):
    seed.create_hono_tenant("bearer-tenant")
    settings = hd.ConnectionSettings(hono_url=sandbox_url, tenant="bearer-tenant", ditto_url=sandbox_url)
    token = token_for(tenant)
    auth = BearerAuth(lambda reject: token)
    result = provision(who, (settings, Auths(hono=auth, ditto=auth)))
    assert result.ok, result.message
    assert at_sandbox() == expected(*ALL_STEPS)
    assert token not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_a_deprovision_with_an_unknown_outcome_says_to_run_it_again_and_that_is_safe(who, connection):
    provision(who, connection)
    knobs.inject_fault(500, target="hono")  # the last step: the Hono device
    result = deprovision(who, connection)
    assert result.status == "unknown" and result.failed_step == "device"
    assert "De-provision the device again" in result.next_step and "409" not in result.next_step
    again = deprovision(who, connection)
    assert again.ok and at_sandbox() == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    assert "Already gone: thing, policy." in again.message
