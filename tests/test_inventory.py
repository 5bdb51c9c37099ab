"""The device inventory: kept in step with the audit log as attempts are made (against a
scripted provider over real HTTP), and always equal to what the whole log derives."""

import random
import uuid
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from provisioning import audit, inventory, services
from provisioning.models import AuditEvent, Device, DeviceState
from tests.factories import make_template
from tests.provider import SID, TokenIssuer, make_config

pytestmark = pytest.mark.django_db

DEVICES = f"/api/1/{SID}/devices"
DEVICE = "com.acme:dev-1"
NO_TEMPLATE = (None, None, None)


def body(device_id=DEVICE):
    return {
        "id": device_id,
        "hub": {
            "device": {},
            "credentials": {"type": "hashed-password", "secrets": [{"password": "Pw-0815-xyz!"}]},
        },
        "things": {"thing": {}},
    }


@pytest.fixture
def config(team_a, httpserver):
    httpserver.expect_request("/token", method="POST").respond_with_handler(TokenIssuer())
    return make_config(team_a, httpserver)


def answer(httpserver, status, method="POST", path=DEVICES):
    httpserver.expect_oneshot_request(path, method=method).respond_with_json({"id": DEVICE}, status=status)


def provision(config, actor, **kwargs):
    return services.provision_device(actor=actor, team=config.team, config=config, body=body(), **kwargs)


def deprovision(config, actor):
    return services.deprovision_device(actor=actor, team=config.team, config=config, device_id=DEVICE)


def device(config):
    return Device.objects.get(team=config.team, connection_ref=config.pk, device_id=DEVICE)


def test_a_created_device_is_listed_with_when_and_by_whom(httpserver, config, operator_a):
    answer(httpserver, 201)
    outcome = provision(config, operator_a)

    row = device(config)
    assert row.state == DeviceState.CREATED
    assert row.created_attempt == row.last_attempt == outcome.correlation_id
    assert row.created_by == AuditEvent.objects.get(phase="outcome").actor_name
    assert row.created_at == AuditEvent.objects.get(phase="outcome").created_at
    assert row.namespace == "com.acme" and row.connection_name == config.name
    assert row.open_attempt is None


@pytest.mark.parametrize("status", [400, 403, 409])
def test_a_device_whose_only_attempt_was_refused_is_not_listed(httpserver, config, operator_a, status):
    answer(httpserver, status)
    provision(config, operator_a)
    assert not Device.objects.exists()


def test_a_refused_attempt_on_a_created_device_leaves_it_created(httpserver, config, operator_a):
    answer(httpserver, 201)
    first = provision(config, operator_a)
    answer(httpserver, 409)
    second = provision(config, operator_a)

    row = device(config)
    assert row.state == DeviceState.CREATED and row.created_attempt == first.correlation_id
    assert row.last_attempt == second.correlation_id


def test_an_unknown_outcome_then_send_again_makes_it_created(httpserver, config, operator_a):
    answer(httpserver, 502)
    unknown = provision(config, operator_a)
    assert device(config).state == DeviceState.UNKNOWN

    answer(httpserver, 409)  # the earlier attempt had made it
    provision(config, operator_a, origin={"resolves": str(unknown.correlation_id)})
    row = device(config)
    assert row.state == DeviceState.CREATED


def test_a_bulk_jobs_device_names_its_job(httpserver, config, operator_a):
    job = uuid.uuid4()
    answer(httpserver, 201)
    provision(config, operator_a, origin={"bulkJob": str(job), "line": 2})
    assert device(config).bulk_job == job


def test_a_device_made_from_a_template_names_its_version(httpserver, config, operator_a):
    template = make_template(config.team)
    answer(httpserver, 201)
    provision(config, operator_a, template=template.latest())
    row = device(config)
    assert (row.template_ref, row.template_version, row.template_name) == (template.pk, 1, "Boiler")

    answer(httpserver, 409)  # a later attempt, without a template, on the device that exists
    provision(config, operator_a)
    assert device(config).template_version == 1


def test_a_deprovisioned_device_says_so(httpserver, config, admin_a):
    answer(httpserver, 201)
    provision(config, admin_a)
    answer(httpserver, 200, method="DELETE", path=f"{DEVICES}/{DEVICE}")
    deprovision(config, admin_a)
    row = device(config)
    assert row.state == DeviceState.DEPROVISIONED and row.created_at is not None


def test_an_attempt_without_an_answer_stays_open_on_its_device(config, operator_a):
    attempt = services.provision_attempt(actor=operator_a, team=config.team, config=config, body=body())
    services.begin([attempt])  # a crash before the call came back

    row = device(config)
    assert row.state == DeviceState.NONE
    assert row.open_attempt == attempt.correlation_id and row.open_action == "device.provision"


def test_an_outcome_that_is_not_written_leaves_the_inventory_as_it_was(
    httpserver, config, operator_a, audit_refusal
):
    answer(httpserver, 201)
    audit_refusal.refuse(phase="outcome")
    outcome = provision(config, operator_a)
    row = device(config)
    assert row.state == DeviceState.NONE and row.open_attempt == outcome.correlation_id


# --- the maintained inventory equals the one derived from the whole log -----------------------


class Log:
    """Writes audit rows the way the services do (intents, then outcomes, a few to a
    transaction), in a random order of attempts, resumes, crashes and de-provisions, and
    keeps its own expectation of each device's state."""

    def __init__(self, rng, teams, actor):
        self.rng, self.teams, self.actor = rng, teams, actor
        self.clock = timezone.now() - timedelta(days=30)
        self.state = {}  # (team, connection ref, device id) -> expected state
        self.crashed = {}  # key -> the action of its attempt that never got an outcome
        self.unknown = {}  # key -> correlation id of its latest unknown provisioning
        self.created = set()  # keys that were created at some time
        self.template_of = {}  # correlation id -> (template ref, version, name) its rows name
        self.templates = {}  # key -> the template version it was created from, as expected

    def row(self, key, phase, action, status="pending", cid=None, request=None, response=None):
        team, ref, target = key
        self.clock += timedelta(seconds=self.rng.randint(1, 90))
        event = audit.build(
            action,
            actor=self.actor,
            team=team,
            phase=phase,
            status=status,
            target=target,
            correlation_id=cid,
            request=request,
            response=response,
            at=self.clock,
        )
        event.client_ref = ref or None
        event.client_name = f"connection {ref}" if ref else ""
        if action != "device.check":  # both rows of an attempt name its template, as the services write them
            event.template_ref, event.template_version, event.template_name = self.template_of.get(
                cid, NO_TEMPLATE
            )
        return event

    def outcome_unknown(self, key, action):
        made = DeviceState.CREATED if action == "device.provision" else DeviceState.DEPROVISIONED
        if self.state.get(key) != made:
            self.state[key] = DeviceState.UNKNOWN

    def attempt(self, key):
        """One attempt's intent row and outcome row (None after a crash); the expectation follows."""
        rng, cid = self.rng, uuid.uuid4()
        if key in self.crashed:
            self.outcome_unknown(key, self.crashed.pop(key))
        self.state.setdefault(key, DeviceState.NONE)
        if self.state[key] == DeviceState.CREATED and rng.random() < 0.4:
            action, request, response = "device.deprovision", {"method": "DELETE"}, None
            status = rng.choice(["deleted", "deleted", "refused", "unknown"])
        else:
            action, request, response = "device.provision", {}, None
            if key in self.unknown and rng.random() < 0.7:
                request["origin"] = {"resolves": str(self.unknown.pop(key))}
            if rng.random() < 0.3:
                request.setdefault("origin", {})["bulkJob"] = str(uuid.uuid4())
            if rng.random() < 0.5:  # made from a template: one of two, in one of its versions
                ref = rng.choice([41, 42])
                self.template_of[cid] = (ref, rng.randint(1, 3), f"template {ref}")
            status = rng.choice(["created", "created", "conflict", "refused", "failed", "unknown"])
            if rng.random() < 0.3 and status not in ("created", "unknown"):  # a multi-step attempt stopped
                made = rng.sample(["device", "credentials", "policy"], rng.randint(0, 2))
                undone = made if rng.random() < 0.6 else made[:-1]
                response = {
                    "created": made,
                    "undone": undone,
                    "notUndone": [m for m in made if m not in undone],
                }
        intent = self.row(key, "intent", action, cid=cid, request=request)
        if rng.random() < 0.05:
            self.crashed[key] = action
            return intent, None
        outcome = self.row(key, "outcome", action, status, cid=cid, response=response)
        self.expect(key, action, status, request, response, cid)
        return intent, outcome

    def expect(self, key, action, status, request, response, cid):
        state = self.state[key]
        if status == "unknown":
            self.outcome_unknown(key, action)
            if action == "device.provision":
                self.unknown[key] = cid
        elif action == "device.deprovision":
            if status == "deleted":
                self.state[key] = DeviceState.DEPROVISIONED
        elif status == "created" or (status == "conflict" and "resolves" in request.get("origin", {})):
            self.state[key] = DeviceState.CREATED
            self.templates[key] = self.template_of.get(cid, NO_TEMPLATE)
        elif state == DeviceState.CREATED:
            pass
        elif response and response["notUndone"]:
            self.state[key] = DeviceState.INCOMPLETE
        elif status == "refused" and "resolves" in request.get("origin", {}):
            self.state[key] = DeviceState.DEPROVISIONED if key in self.created else DeviceState.NONE
        if status == "created" or self.state[key] == DeviceState.CREATED:
            self.created.add(key)
        if self.state[key] == DeviceState.NONE:
            del self.state[key]
            self.templates.pop(key, None)

    def run(self, attempts):
        keys = [(team, ref, f"com.acme:dev-{n}") for team in self.teams for ref in (0, 7) for n in range(12)]
        done = 0
        while done < attempts:
            batch = dict.fromkeys(self.rng.choice(keys) for _ in range(self.rng.randint(1, 6)))
            written = [self.attempt(key) for key in batch]  # one attempt per device at a time
            AuditEvent.objects.append([intent for intent, _ in written])
            AuditEvent.objects.append([outcome for _, outcome in written if outcome is not None])
            done += len(batch)
            key = self.rng.choice(keys)
            if key in self.state and self.rng.random() < 0.3:
                AuditEvent.objects.append([self.check(key)])

    def check(self, key):
        """A "Check at provider" row; when the device's last provisioning is unknown, it may settle it."""
        resolution = ""
        response = {"parts": []}
        if key in self.unknown and self.state[key] == DeviceState.UNKNOWN and self.rng.random() < 0.6:
            resolution = self.rng.choice(["created", "not created"])
            checked = self.unknown.pop(key)
            if resolution == "created":
                self.state[key] = DeviceState.CREATED
                self.created.add(key)
                self.templates[key] = self.template_of.get(checked, NO_TEMPLATE)  # the settled attempt's
            elif key in self.created:
                self.state[key] = DeviceState.DEPROVISIONED
            else:
                del self.state[key]
                self.templates.pop(key, None)
        else:
            checked = uuid.uuid4()
        request = {"checks": str(checked), "reads": []}
        if resolution:
            request["resolves"] = str(checked)
        response["resolution"] = resolution
        status = {"created": "present", "not created": "missing"}.get(resolution) or self.rng.choice(
            ["present", "missing", "different", "failed"]
        )
        return self.row(key, "event", "device.check", status, request=request, response=response)

    def expected(self):
        return {(team.pk, ref, target): state for (team, ref, target), state in self.state.items()}

    def expected_templates(self):
        return {
            (team.pk, ref, target): self.templates.get((team, ref, target), NO_TEMPLATE)
            for (team, ref, target) in self.state
        }


def listed():
    return {(row.team_id, row.connection_ref, row.device_id): row.state for row in Device.objects.all()}


def fields():
    return set(
        Device.objects.values_list(
            "team_id",
            "connection_ref",
            "device_id",
            "state",
            "created_attempt",
            "bulk_job",
            "open_attempt",
            "template_ref",
            "template_version",
            "template_name",
        )
    )


def templates_listed():
    return {
        (row.team_id, row.connection_ref, row.device_id): (
            row.template_ref,
            row.template_version,
            row.template_name,
        )
        for row in Device.objects.all()
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_maintained_inventory_equals_the_one_derived_from_the_log(
    team_a, team_b, admin_a, seed, monkeypatch
):
    log = Log(random.Random(seed), [team_a, team_b], admin_a)
    log.run(600)
    monkeypatch.setattr(inventory, "REBUILD_BATCH", 7)  # many batches, each of whole devices

    maintained = fields()
    assert listed() == log.expected()
    assert templates_listed() == log.expected_templates()
    assert {
        t for t in templates_listed().values() if t != NO_TEMPLATE
    }  # the sequence made some from templates
    assert inventory.rebuild() == len(maintained)
    assert fields() == maintained
    call_command("rebuild_inventory", "--check")


def test_the_check_says_when_the_inventory_differs_from_the_log(httpserver, config, operator_a):
    answer(httpserver, 201)
    provision(config, operator_a)
    Device.objects.update(state=DeviceState.DEPROVISIONED)  # changed by hand

    with pytest.raises(CommandError, match="differs from the audit log"):
        call_command("rebuild_inventory", "--check")
    assert device(config).state == DeviceState.DEPROVISIONED  # the check changed nothing
    call_command("rebuild_inventory")
    assert device(config).state == DeviceState.CREATED
    call_command("rebuild_inventory", "--check")


def test_an_install_upgraded_to_the_inventory_gets_it_from_its_log(httpserver, config, operator_a):
    answer(httpserver, 201)
    provision(config, operator_a)
    Device.objects.all().delete()  # as before the migration that brought the inventory

    inventory.fill_after_migrate()
    assert device(config).state == DeviceState.CREATED


def test_migrate_derives_the_inventory_of_an_install_that_had_none(httpserver, config, operator_a):
    answer(httpserver, 201)
    provision(config, operator_a)
    Device.objects.all().delete()

    call_command("migrate", verbosity=0)  # nothing to migrate; its post_migrate step runs
    assert device(config).state == DeviceState.CREATED
