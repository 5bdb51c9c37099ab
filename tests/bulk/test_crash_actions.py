"""kill -9 the worker in the middle of a bulk de-provision or a bulk check, start it again: every
device done, nothing done twice.

As in test_crash.py, a real ``manage.py worker`` process runs the job against this test
database and the sandbox on the live server. What the sandbox received is counted where it
receives it: the live server runs in this process, so Django's ``request_started`` signal
sees every request that reached it (a DELETE a killed worker sent is counted even though
its answer was never read).
"""

import signal
import threading
from collections import Counter

import pytest
from django.core.signals import request_started

from provisioning.bulk import jobs, selection
from provisioning.bulk.models import Action, BulkJob, BulkRow, JobStatus, RowState
from provisioning.models import AuditEvent, Device, DeviceState
from provisioning.sandbox import knobs, store

from .conftest import NS, csv_bytes, device_rows, make_draft, parts, run_job
from .test_crash import count, start_worker, status, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def received():
    """Counter of (method, path) of the requests the sandbox received from now on."""
    seen = Counter()
    lock = threading.Lock()

    def note(sender, environ, **kwargs):
        with lock:
            seen[(environ["REQUEST_METHOD"], environ["PATH_INFO"])] += 1

    request_started.connect(note, dispatch_uid="test-crash-actions")
    yield seen
    request_started.disconnect(dispatch_uid="test-crash-actions")


def provisioned(team, actor, config, namespace, total):
    job = make_draft(team, actor, config, namespace, csv_bytes(device_rows(total)), concurrency=8)
    assert run_job(job, actor) == "done" and job.row_counts()[RowState.CREATED] == total
    return job


def confirm(team, actor, action, made, concurrency=4):
    """The job of "<action> what job ``made`` created", confirmed: its worker task enqueued."""
    form = selection.ActionForm({"action": action, "from_job": made.pk, "concurrency": concurrency})
    assert form.is_valid()
    chosen = selection.choose(team, form.cleaned_data)
    job, _ = jobs.start_action(team, actor, {**form.cleaned_data, "fingerprint": chosen.fingerprint})
    assert job is not None
    return job


def kill_mid_job(job, tmp_path, ready):
    """Run a worker until ``ready()``, kill -9 it; the rows it left in flight."""
    with open(tmp_path / "worker-1.log", "w") as log:
        first = start_worker(log)
        wait_for(ready, 60, "the job to be under way", first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    in_flight = count(job, RowState.SENDING)
    assert in_flight > 0, "the worker was killed between rows; the test proves nothing"
    assert status(job) == JobStatus.RUNNING
    return in_flight


def finish(job, tmp_path, actor, *, between=None):
    """Restart a worker and let it finish the job. ``between(job)``, when given, runs once the job
    is done and may send rows of unknown outcome again (the operator's choice), which the worker
    then finishes too."""
    with open(tmp_path / "worker-2.log", "w") as log:
        second = start_worker(log)
        try:
            wait_for(lambda: status(job) == JobStatus.DONE, 120, "the job to finish", second, log)
            if between is not None and between(job):
                wait_for(lambda: status(job) == JobStatus.DONE, 60, "the rows sent again", second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)


def test_kill_9_mid_de_provisioning_then_restart_deletes_each_device_once(
    team_a, operator_a, sandbox_config, sandbox_ns, tmp_path, received
):
    total = 160
    made = provisioned(team_a, operator_a, sandbox_config, sandbox_ns, total)
    knobs.configure(latency_ms=40)
    job = confirm(team_a, operator_a, Action.DEPROVISION, made)
    devices = [f"{NS}:dev-{n:05d}" for n in range(total)]
    path = f"/sandbox/api/1/{sandbox_config.service_instance_id}/devices/%s"

    in_flight = kill_mid_job(job, tmp_path, lambda: count(job, RowState.DELETED) >= 30)
    seen = {}

    def before_the_operator(job):
        # The executors together sent each DELETE at most once: the rows in flight at the kill
        # are "unknown" (their DELETE may or may not have gone out) and not sent on their own.
        seen.update({device: received[("DELETE", path % device)] for device in devices})
        seen["unknown"] = set(job.rows.filter(state=RowState.UNKNOWN).values_list("device_id", flat=True))
        return jobs.retry_unknown(job, operator_a)[0]

    finish(job, tmp_path, operator_a, between=before_the_operator)

    unknown = seen["unknown"]
    assert len(unknown) == in_flight
    assert all(seen[device] == 1 or (device in unknown and seen[device] == 0) for device in devices), seen
    assert store.device_ids(sandbox_config.service_instance_id) == []  # nothing lost
    rows = dict(job.rows.values_list("device_id", "state"))
    for device in devices:
        sent = received[("DELETE", path % device)]
        if device not in unknown:
            assert (sent, rows[device]) == (1, RowState.DELETED)
        else:  # sent again by the operator: a 404 when the first DELETE had gone through
            assert (sent, rows[device]) in ((1, RowState.DELETED), (2, RowState.GONE))
    deleted = AuditEvent.objects.filter(action="device.deprovision", phase="outcome", status="deleted")
    assert sorted(set(deleted.values_list("target", flat=True))) == devices
    assert set(Device.objects.values_list("state", flat=True)) == {DeviceState.DEPROVISIONED}


def test_kill_9_mid_de_provisioning_through_hono_and_ditto_deletes_each_part_once(
    team_a, operator_a, c2e_config, hd_ns, tmp_path, received
):
    total = 60
    made = provisioned(team_a, operator_a, c2e_config, hd_ns, total)
    knobs.configure(latency_ms=30)
    job = confirm(team_a, operator_a, Action.DEPROVISION, made)

    def mid_row():
        sending = BulkRow.objects.filter(job=job, state=RowState.SENDING).values("correlation_id")
        return (
            count(job, RowState.DELETED) >= 6
            and AuditEvent.objects.filter(
                correlation_id__in=sending, action="device.step", status="deleted"
            ).exists()
        )

    kill_mid_job(job, tmp_path, mid_row)

    def deletes():
        return Counter({key: n for key, n in received.items() if key[0] == "DELETE"})

    seen = {}

    def before_the_operator(job):
        seen["automatic"] = deletes()
        seen["unknown"] = job.rows.filter(state=RowState.UNKNOWN).count()
        return seen["unknown"] and jobs.retry_unknown(job, operator_a)[0]

    finish(job, tmp_path, operator_a, between=before_the_operator)

    assert set(seen["automatic"].values()) == {1}, seen  # no part's DELETE sent twice by the workers
    empty = {"device": 0, "credentials": 0, "policy": 0, "thing": 0}
    assert all(parts(f"{NS}:dev-{n:05d}") == empty for n in range(total))  # nothing lost
    assert Counter(job.rows.values_list("state", flat=True)) == {RowState.DELETED: total}
    # Sent again by the operator, a row continued from the part whose DELETE was in flight at the
    # kill: at most that one part of each such row was sent twice.
    every = deletes()
    assert len(every) == 3 * total  # the twin, the policy and the Hono device of each
    assert set(every.values()) <= {1, 2}
    assert sum(1 for n in every.values() if n == 2) <= seen["unknown"]


@pytest.mark.parametrize("provider", ["bosch", "hono_ditto"])
def test_kill_9_mid_check_then_restart_records_each_check_once(
    request, team_a, operator_a, tmp_path, live_server, provider
):
    if provider == "bosch":
        config, namespace = request.getfixturevalue("sandbox_config"), request.getfixturevalue("sandbox_ns")
        config.things_url = f"{live_server.url}/sandbox/things"
        config.save()
    else:
        config, namespace = request.getfixturevalue("c2e_config"), request.getfixturevalue("hd_ns")
    total = 80
    made = provisioned(team_a, operator_a, config, namespace, total)
    knobs.configure(latency_ms=30)
    job = confirm(team_a, operator_a, Action.CHECK, made)

    kill_mid_job(job, tmp_path, lambda: count(job, RowState.PRESENT) >= 12)
    finish(job, tmp_path, operator_a)

    assert Counter(BulkRow.objects.filter(job=job).values_list("state", flat=True)) == {
        RowState.PRESENT: total
    }
    checks = Counter(AuditEvent.objects.filter(action="device.check").values_list("target", flat=True))
    assert checks == {f"{NS}:dev-{n:05d}": 1 for n in range(total)}  # each recorded once, none lost
    assert BulkJob.objects.get(pk=job.pk).status == JobStatus.DONE
    assert set(Device.objects.values_list("check_result", flat=True)) == {"present"}
