"""Bulk actions on devices that exist (issue 14): de-provision or check a chosen set as one job,
run by the bulk executor with its guarantees, against the sandbox over real HTTP (Bosch's
provisioning API and its Things, the Hono registry and Ditto). The sandbox's own store is the
truth of what exists; the audit log and the inventory are read back as history and the
Devices page do.
"""

import time
import uuid
from collections import Counter

import pytest

from provisioning import drift, services
from provisioning.bulk import executor, jobs, lease, selection
from provisioning.bulk.models import Action, BulkJob, BulkRow, JobStatus, RowState
from provisioning.models import AuditEvent, Device, DeviceState
from provisioning.sandbox import knobs, store
from provisioning.sandbox.models import DittoPolicy, DittoThing, HubCredentials, Policy, ServiceInstance

from .conftest import NS, csv_bytes, device_rows, make_draft, parts, run_job

pytestmark = pytest.mark.django_db(transaction=True)


def provisioned(team, actor, config, namespace, count, prefix="dev"):
    """A finished provisioning job that created ``count`` devices through ``config``."""
    job = make_draft(team, actor, config, namespace, csv_bytes(device_rows(count, prefix=prefix)))
    assert run_job(job, actor) == "done"
    assert job.row_counts()[RowState.CREATED] == count
    return job


def choice(action, **fields):
    """The cleaned data of the ActionForm the Devices page (or a job's page) sends."""
    data = {"action": action, **fields}
    form = selection.ActionForm(data)
    assert form.is_valid(), form.errors
    return form.cleaned_data


def start(team, actor, data):
    """Confirm ``data`` as the confirmation page does (with the fingerprint it showed)."""
    chosen = selection.choose(team, data)
    assert not chosen.problem, chosen.problem
    job, _ = jobs.start_action(team, actor, {**data, "fingerprint": chosen.fingerprint}, run_in_worker=False)
    assert job is not None
    return job


def run(job):
    outcome = executor.run(job.pk)
    job.refresh_from_db()
    return outcome


def states(job):
    return Counter(job.rows.values_list("state", flat=True))


def instance(config):
    return ServiceInstance.objects.get(sid=config.service_instance_id)


def device_state(config, device_id):
    return Device.objects.get(connection_ref=config.pk, device_id=device_id).state


# --- de-provisioning through Bosch ---------------------------------------------------------------


def test_de_provisioning_what_a_job_created_deletes_each_device_once(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 12)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert (job.action, job.total_rows, job.client_id, job.source_job_id) == (
        Action.DEPROVISION,
        12,
        sandbox_config.pk,
        made.pk,
    )

    assert run(job) == "done"

    assert job.status == JobStatus.DONE and states(job) == {RowState.DELETED: 12}
    assert store.device_ids(sandbox_config.service_instance_id) == []
    # Audited as a single de-provision is, each attempt naming the job and its row.
    intents = AuditEvent.objects.filter(action="device.deprovision", phase="intent")
    assert intents.count() == 12
    assert {intent.request["origin"]["bulkJob"] for intent in intents} == {str(job.public_id)}
    outcomes = AuditEvent.objects.filter(action="device.deprovision", phase="outcome")
    assert Counter(outcomes.values_list("status", flat=True)) == {"deleted": 12}
    # The inventory follows the audit rows.
    assert set(Device.objects.values_list("state", flat=True)) == {DeviceState.DEPROVISIONED}


def test_a_device_already_gone_is_not_an_error(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 3)
    gone = f"{NS}:dev-00001"
    store.deprovision(instance(sandbox_config), gone)  # behind the dashboard's back

    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert run(job) == "done"

    row = job.rows.get(device_id=gone)
    assert (row.state, row.http_status) == (RowState.GONE, 404)
    assert "Already gone" in row.message
    assert states(job) == {RowState.DELETED: 2, RowState.GONE: 1}
    assert device_state(sandbox_config, gone) == DeviceState.DEPROVISIONED


def test_keep_policy_and_credentials_reach_the_provider(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 2)
    job = start(
        team_a,
        operator_a,
        choice(Action.DEPROVISION, from_job=made.pk, keep_policy=True, keep_credentials=True),
    )
    assert job.keep_policy and job.keep_credentials
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 2}
    assert Policy.objects.filter(instance=instance(sandbox_config)).count() == 2
    assert HubCredentials.objects.filter(instance=instance(sandbox_config)).count() == 2
    params = AuditEvent.objects.filter(action="device.deprovision", phase="intent").first().request["params"]
    assert params == {"keepCredentials": True, "keepPolicy": True}


def test_only_devices_the_action_fits_go_in_and_the_rest_are_counted(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 5)
    services.deprovision_device(
        actor=operator_a, team=team_a, config=sandbox_config, device_id=f"{NS}:dev-00000"
    )
    data = choice(Action.DEPROVISION, scope="all", filter=f"job={made.public_id}")
    chosen = selection.choose(team_a, data)
    assert (chosen.chosen, chosen.count) == (5, 4)  # the Devices page's "bulk job" filter
    assert chosen.left_out == {"it is de-provisioned already": 1}
    everything = selection.choose(team_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert everything.chosen == 5 and everything.count == 4
    assert everything.left_out == {"it is de-provisioned already": 1}

    first = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    # The same devices again while the first job has not run: left out, so nothing is sent twice.
    again = selection.choose(team_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert again.left_out == {
        "it is de-provisioned already": 1,
        "it is in another job that has not finished": 4,
    }
    assert again.count == 0 and again.problem
    # A check of them is another action: all five can be checked (the de-provisioned one too).
    assert selection.choose(team_a, choice(Action.CHECK, from_job=made.pk)).count == 5
    assert run(first) == "done"


def test_the_rows_are_the_devices_chosen_when_confirmed(team_a, operator_a, sandbox_config, sandbox_ns):
    provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 3)
    data = choice(Action.DEPROVISION, scope="all", filter="q=dev-0")
    shown = selection.choose(team_a, data)
    assert shown.count == 3
    # A device that matches after the page was shown: nothing is made, the page shows it again.
    provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 1, prefix="dev-0late")
    job, now = jobs.start_action(team_a, operator_a, {**data, "fingerprint": shown.fingerprint})
    assert job is None and now.count == 4 and not now.problem
    job, _ = jobs.start_action(
        team_a, operator_a, {**data, "fingerprint": now.fingerprint}, run_in_worker=False
    )
    # Provisioned after the confirmation: not added to the job.
    provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 1, prefix="dev-0later")
    assert run(job) == "done"
    assert job.total_rows == 4 and states(job) == {RowState.DELETED: 4}
    assert store.device_ids(sandbox_config.service_instance_id) == [f"{NS}:dev-0later-00000"]


def test_devices_on_several_connections_are_not_split(
    team_a, operator_a, sandbox_config, sandbox_ns, c2e_config
):
    provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 2)
    provisioned(team_a, operator_a, c2e_config, sandbox_ns, 3, prefix="hd")
    data = choice(Action.DEPROVISION, scope="all", filter="")
    chosen = selection.choose(team_a, data)
    assert chosen.problem.startswith("These devices are on 2 connections")
    assert [(config.name, n) for config, n in chosen.connections] == [("Cloud2Edge", 3), ("Sandbox", 2)]
    narrowed = selection.choose(team_a, {**data, "connection": sandbox_config.pk})
    assert (narrowed.problem, narrowed.count, narrowed.connection) == ("", 2, sandbox_config)


def test_a_deleted_connection_leaves_its_devices_out(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 2)
    ticked = list(Device.objects.values_list("pk", flat=True))
    sandbox_config.delete()
    chosen = selection.choose(team_a, choice(Action.DEPROVISION, device=ticked))
    assert chosen.left_out == {"its connection no longer exists": 2} and chosen.count == 0
    assert selection.choose(team_a, choice(Action.DEPROVISION, from_job=made.pk)).count == 0


# --- faults mid-job --------------------------------------------------------------------------


def test_a_busy_provider_is_waited_out_and_nothing_is_deleted_twice(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 6)
    knobs.configure(latency_ms=20)
    # More 429s than one call waits out: the row goes back, the job waits, then sends it again.
    knobs.inject_fault(429, count=4, retry_after=0)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk, concurrency=1))
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 6} and job.throttled >= 1
    assert store.device_ids(sandbox_config.service_instance_id) == []
    # A 429 was refused before acting: no row has a second outcome that deleted it.
    deleted = AuditEvent.objects.filter(action="device.deprovision", phase="outcome", status="deleted")
    assert sorted(Counter(deleted.values_list("target", flat=True)).values()) == [1] * 6


def test_a_500_is_unknown_and_sent_again_only_when_asked(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 4)
    knobs.inject_fault(500, count=1)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk, concurrency=1))
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 3, RowState.UNKNOWN: 1}
    unknown = job.rows.get(state=RowState.UNKNOWN)
    assert device_state(sandbox_config, unknown.device_id) == DeviceState.UNKNOWN

    assert jobs.retry_unknown(job, operator_a) == (1, 0)
    assert run(job) == "done"
    # The 500 was answered before the sandbox acted, so the device was still there.
    assert states(job) == {RowState.DELETED: 4}
    assert device_state(sandbox_config, unknown.device_id) == DeviceState.DEPROVISIONED


def test_a_timeout_is_unknown_and_sent_again_it_is_already_gone(
    team_a, operator_a, sandbox_config, sandbox_ns, settings
):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 2)
    settings.OUTBOUND_READ_TIMEOUT = 1
    knobs.inject_fault("slow", count=1, seconds=2)  # the sandbox deletes it after the client gave up
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk, concurrency=1))
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 1, RowState.UNKNOWN: 1}
    deadline = time.monotonic() + 10
    while store.device_ids(sandbox_config.service_instance_id):  # the late DELETE lands
        assert time.monotonic() < deadline
        time.sleep(0.1)
    jobs.retry_unknown(job, operator_a)
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 1, RowState.GONE: 1}
    assert store.device_ids(sandbox_config.service_instance_id) == []


def test_token_trouble_pauses_the_job_and_resume_finishes_it(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 4)
    knobs.expire_tokens()
    knobs.inject_fault(500, count=1, target="token")  # the fresh token cannot be had
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk, concurrency=1))
    assert run(job) == "paused"
    assert job.status == JobStatus.PAUSED and "token" in job.paused_reason
    assert job.rows.filter(state=RowState.FAILED).count() == 0  # nothing was deleted: sent again later
    assert jobs.resume(job, operator_a)
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 4}


def test_cancel_stops_the_job_with_the_rest_not_sent(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 6)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert jobs.cancel(job, operator_a)  # nobody runs it yet: cancelled at once
    assert run(job) == "busy"  # a cancelled job is not run
    assert BulkJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert len(store.device_ids(sandbox_config.service_instance_id)) == 6


# --- Eclipse Hono + Ditto and Ditto ---------------------------------------------------------------


def test_a_hono_ditto_job_deletes_every_part(team_a, operator_a, c2e_config, hd_ns):
    made = provisioned(team_a, operator_a, c2e_config, hd_ns, 4)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 4}
    empty = {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    assert all(parts(f"{NS}:dev-{n:05d}") == empty for n in range(4))
    steps = AuditEvent.objects.filter(action="device.step", request__stage="deprovision")
    assert Counter(steps.exclude(status="pending").values_list("status", flat=True)) == {"deleted": 12}


def test_a_ditto_job_keeps_the_policies_when_asked_and_a_gone_device_is_gone(
    team_a, operator_a, ditto_config, hd_ns
):
    job = make_draft(
        team_a, operator_a, ditto_config, hd_ns, csv_bytes(device_rows(3)), credentials_type="none"
    )
    assert run_job(job, operator_a) == "done"
    one = Device.objects.get(device_id=f"{NS}:dev-00002").pk
    first = start(team_a, operator_a, choice(Action.DEPROVISION, device=[one]))
    assert run(first) == "done" and states(first) == {RowState.DELETED: 1}

    keep = start(team_a, operator_a, choice(Action.DEPROVISION, scope="all", keep_policy=True))
    assert keep.total_rows == 2  # the one de-provisioned is left out
    assert run(keep) == "done"
    assert states(keep) == {RowState.DELETED: 2}
    assert DittoPolicy.objects.filter(policy_id__in=[f"{NS}:dev-00000", f"{NS}:dev-00001"]).count() == 2


def test_a_hono_ditto_row_busy_part_way_resumes_without_deleting_twice(team_a, operator_a, c2e_config, hd_ns):
    made = provisioned(team_a, operator_a, c2e_config, hd_ns, 1)
    # The twin and the policy are deleted; the Hono device's DELETE meets a registry that stays
    # busy through every wait one call makes (1 + 3 tries): the row goes back and resumes.
    knobs.inject_fault(503, count=4, target="hono", retry_after=0)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 1} and job.throttled == 1
    assert parts(f"{NS}:dev-00000") == {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    answers = AuditEvent.objects.filter(action="device.step", request__stage="deprovision").exclude(
        status="pending"
    )
    # Each part deleted once: the resumed attempt did not send the twin's or the policy's DELETE again.
    assert sorted(answers.values_list("request__step", "status")) == [
        ("device", "deleted"),
        ("device", "failed"),
        ("policy", "deleted"),
        ("thing", "deleted"),
    ]
    resumed = AuditEvent.objects.filter(
        action="device.deprovision", phase="intent", request__origin__has_key="resolves"
    )
    assert resumed.count() == 1


def test_a_hono_ditto_job_meets_a_part_gone_and_a_500_mid_job(team_a, operator_a, c2e_config, hd_ns):
    made = provisioned(team_a, operator_a, c2e_config, hd_ns, 2)
    DittoThing.objects.filter(thing_id=f"{NS}:dev-00001").delete()  # behind the dashboard's back
    knobs.inject_fault(500, count=1, target="ditto")  # dev-00000's first DELETE: its twin's
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk, concurrency=1))
    assert run(job) == "done"
    assert states(job) == {RowState.UNKNOWN: 1, RowState.DELETED: 1}
    assert parts(f"{NS}:dev-00000") == {"device": 1, "credentials": 1, "policy": 1, "thing": 1}
    gone = AuditEvent.objects.filter(action="device.step", target=f"{NS}:dev-00001", status="gone")
    assert list(gone.values_list("request__step", flat=True)) == ["thing"]

    assert jobs.retry_unknown(job, operator_a) == (1, 0)
    assert run(job) == "done"
    assert states(job) == {RowState.DELETED: 2}
    empty = {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    assert parts(f"{NS}:dev-00000") == empty and parts(f"{NS}:dev-00001") == empty


# --- checking ------------------------------------------------------------------------------------


@pytest.fixture
def things_config(sandbox_config, live_server):
    sandbox_config.things_url = f"{live_server.url}/sandbox/things"
    sandbox_config.save()
    return sandbox_config


def test_a_check_job_reads_every_device_back_and_records_each_check(
    team_a, operator_a, things_config, sandbox_ns
):
    made = provisioned(team_a, operator_a, things_config, sandbox_ns, 5)
    store.deprovision(instance(things_config), f"{NS}:dev-00003")
    job = start(team_a, operator_a, choice(Action.CHECK, from_job=made.pk))
    assert run(job) == "done"

    assert states(job) == {RowState.PRESENT: 4, RowState.MISSING: 1}
    checks = AuditEvent.objects.filter(action="device.check")
    # One device.check row per device, under the row's correlation id, as the single check writes it.
    assert sorted(checks.values_list("correlation_id", flat=True)) == sorted(
        job.rows.values_list("correlation_id", flat=True)
    )
    assert Counter(checks.values_list("status", flat=True)) == {"present": 4, "missing": 1}
    device = Device.objects.get(device_id=f"{NS}:dev-00003")
    assert device.check_result == "missing" and device.checked_at is not None


def test_a_check_job_through_hono_and_ditto(team_a, operator_a, c2e_config, hd_ns):
    made = provisioned(team_a, operator_a, c2e_config, hd_ns, 3)
    DittoPolicy.objects.filter(policy_id=f"{NS}:dev-00001").delete()
    job = start(team_a, operator_a, choice(Action.CHECK, from_job=made.pk))
    assert run(job) == "done"
    assert states(job) == {RowState.PRESENT: 2, RowState.PARTIAL: 1}
    assert "Policy" in job.rows.get(state=RowState.PARTIAL).message


def test_a_bosch_connection_without_things_url_cannot_be_checked(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 1)
    chosen = selection.choose(team_a, choice(Action.CHECK, from_job=made.pk))
    assert "no Things base URL" in chosen.problem
    assert jobs.start_action(team_a, operator_a, choice(Action.CHECK, from_job=made.pk))[0] is None


def test_a_refused_read_pauses_a_check_job(team_a, operator_a, things_config, sandbox_ns):
    made = provisioned(team_a, operator_a, things_config, sandbox_ns, 3)
    knobs.inject_fault(401, count=10, target="ditto")
    job = start(team_a, operator_a, choice(Action.CHECK, from_job=made.pk, concurrency=1))
    assert run(job) == "paused"
    assert "401" in job.paused_reason
    knobs.clear_faults()
    jobs.resume(job, operator_a)
    assert run(job) == "done" and states(job) == {RowState.PRESENT: 3}


def test_a_busy_read_is_made_again_later(team_a, operator_a, things_config, sandbox_ns):
    made = provisioned(team_a, operator_a, things_config, sandbox_ns, 2)
    knobs.inject_fault(429, count=4, target="ditto", retry_after=0)
    job = start(team_a, operator_a, choice(Action.CHECK, from_job=made.pk, concurrency=1))
    assert run(job) == "done"
    assert states(job) == {RowState.PRESENT: 2} and job.throttled >= 1


# --- recovery of rows an executor left "sending" ---------------------------------------------------


def test_recovery_sends_no_delete_twice_and_reads_again(team_a, operator_a, sandbox_config, sandbox_ns):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 3)
    job = start(team_a, operator_a, choice(Action.DEPROVISION, from_job=made.pk))
    rows = list(job.rows.order_by("line"))
    # Row 1's intent was written (its DELETE may have gone out); row 2 was claimed, nothing written.
    attempt = services.deprovision_attempt(
        actor=operator_a, team=team_a, config=sandbox_config, device_id=rows[0].device_id
    )
    services.begin([attempt])
    BulkRow.objects.filter(pk=rows[0].pk).update(
        state=RowState.SENDING, correlation_id=attempt.correlation_id
    )
    BulkRow.objects.filter(pk=rows[1].pk).update(state=RowState.SENDING, correlation_id=uuid.uuid4())
    assert lease.recover(job) == 1
    assert job.rows.get(pk=rows[0].pk).state == RowState.UNKNOWN
    assert job.rows.get(pk=rows[1].pk).state == RowState.PENDING
    assert run(job) == "done"
    assert states(job) == {RowState.UNKNOWN: 1, RowState.DELETED: 2}
    # Row 1's DELETE was never sent by the executor: it waits for the operator.
    assert store.device_ids(sandbox_config.service_instance_id) == [rows[0].device_id]


def test_recovery_of_a_check_adopts_what_was_recorded(team_a, operator_a, things_config, sandbox_ns):
    made = provisioned(team_a, operator_a, things_config, sandbox_ns, 2)
    job = start(team_a, operator_a, choice(Action.CHECK, from_job=made.pk))
    first, second = job.rows.order_by("line")
    intent = AuditEvent.objects.get(correlation_id=first.checks, phase="intent")
    cid = uuid.uuid4()
    _, record = drift.examine(
        actor=operator_a, team=team_a, config=things_config, intent=intent, correlation_id=cid
    )
    AuditEvent.objects.append([record])  # the check was recorded, the row's result was not
    BulkRow.objects.filter(pk=first.pk).update(state=RowState.SENDING, correlation_id=cid)
    BulkRow.objects.filter(pk=second.pk).update(state=RowState.SENDING, correlation_id=uuid.uuid4())
    lease.recover(job)
    assert job.rows.get(pk=first.pk).state == RowState.PRESENT
    assert job.rows.get(pk=second.pk).state == RowState.PENDING
    assert run(job) == "done"
    assert AuditEvent.objects.filter(action="device.check").count() == 2  # none recorded twice


def test_too_many_devices_for_one_job(team_a, operator_a, sandbox_config, sandbox_ns, settings):
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, 3)
    settings.BULK_MAX_ROWS = 2
    assert (
        "more than one job takes"
        in selection.choose(team_a, choice(Action.DEPROVISION, from_job=made.pk)).problem
    )
