"""kill -9 the worker in the middle of a job, start it again: 0 devices lost, 0 duplicated.

A real ``manage.py worker`` process runs the job against this test database and
the sandbox on the live server (Bosch's provisioning API, or its Hono registry and
Ditto). The sandbox's own store is the truth.
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django_tasks_db.models import DBTaskResult

from provisioning import hono_ditto_service
from provisioning.bulk import jobs
from provisioning.bulk.models import BulkJob, BulkRow, JobStatus, RowState
from provisioning.models import AuditEvent
from provisioning.sandbox import knobs, store
from provisioning.sandbox.models import DittoPolicy, DittoThing
from tests.test_token_processes import database_url

from .conftest import NS, csv_bytes, device_rows, make_draft, parts
from .test_hono_ditto import STEPS, password_matches

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
RESUME_WITHIN = 2.0  # seconds from a worker's restart to its taking the killed worker's job


def start_worker(log):
    env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"}
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker", "--interval", "0.2", "--sweep", "1", "--no-startup-delay"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, timeout, what, worker=None, log=None):
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None and worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}): {Path(log.name).read_text()[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def count(job, state):
    return BulkRow.objects.filter(job=job, state=state).count()


def status(job):
    return BulkJob.objects.get(pk=job.pk).status


def test_kill_9_mid_job_then_restart_loses_and_duplicates_nothing(
    team_a, operator_a, sandbox_config, sandbox_ns, tmp_path
):
    total = 240
    knobs.configure(latency_ms=40)
    rows = device_rows(total, password=lambda n: f"Typed-Pass-{n:05d}" if n % 2 else "")
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(rows), concurrency=4)
    jobs.start(job, operator_a)  # enqueued when the transaction commits

    with open(tmp_path / "worker-1.log", "w") as log:
        first = start_worker(log)
        wait_for(lambda: count(job, RowState.CREATED) >= 40, 60, "the first rows", first, log)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    in_flight = count(job, RowState.SENDING)
    created_before = count(job, RowState.CREATED)
    assert in_flight > 0, "the worker was killed between rows; the test proves nothing"
    assert created_before < total and status(job) == JobStatus.RUNNING
    dead_owner = BulkJob.objects.get(pk=job.pk).lease_owner
    dead_task = DBTaskResult.objects.get(id=BulkJob.objects.get(pk=job.pk).task_id)
    assert dead_task.status == "RUNNING"  # what db_worker leaves behind a killed worker

    with open(tmp_path / "worker-2.log", "w") as log:
        restarted = time.monotonic()
        second = start_worker(log)
        try:
            # The dead worker's lease is dead at once (its process is gone on this host), and the
            # new worker's start-up sweep enqueues the job again: it resumes within 2 s.
            wait_for(
                lambda: (
                    BulkJob.objects.filter(pk=job.pk, heartbeat_at__isnull=False)
                    .exclude(lease_owner__in=["", dead_owner])
                    .exists()
                ),
                10,
                "the job to resume",
                second,
                log,
            )
            resumed_after = time.monotonic() - restarted
            assert resumed_after <= RESUME_WITHIN, f"resumed {resumed_after:.1f} s after the restart"
            dead_task.refresh_from_db()
            assert dead_task.status == "FAILED" and "WorkerGone" in dead_task.exception_class_path
            wait_for(lambda: status(job) == JobStatus.DONE, 90, "the job to finish", second, log)
            unknown = count(job, RowState.UNKNOWN)
            if unknown:  # sent when the worker died, no answer recorded: only the operator resends
                assert jobs.retry_unknown(job, operator_a)[0] == unknown
                wait_for(lambda: status(job) == JobStatus.DONE, 60, "the retried rows", second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

    expected = sorted(f"{NS}:dev-{n:05d}" for n in range(total))
    assert store.device_ids(sandbox_config.service_instance_id) == expected  # 0 lost
    states = Counter(BulkRow.objects.filter(job=job).values_list("state", flat=True))
    assert set(states) <= {RowState.CREATED, RowState.EXISTS}, states
    outcomes = AuditEvent.objects.filter(action="device.provision", phase=AuditEvent.Phase.OUTCOME)
    created = Counter(outcomes.filter(status="created").values_list("target", flat=True))
    assert set(created.values()) == {1}  # 0 duplicated: no device was created twice
    existed = set(BulkRow.objects.filter(job=job, state=RowState.EXISTS).values_list("device_id", flat=True))
    # Every device has exactly one creation: a recorded 201, or (in flight at the kill) a later 409.
    assert sorted(set(created) | existed) == expected and not set(created) & existed
    assert len(existed) <= in_flight
    # No row was sent again after its 201 was recorded.
    for target, when in outcomes.filter(status="created").values_list("target", "created_at"):
        assert not AuditEvent.objects.filter(
            action="device.provision", phase=AuditEvent.Phase.INTENT, target=target, created_at__gt=when
        ).exists()
    conflicts = AuditEvent.objects.filter(action="device.provision", status="conflict").count()
    assert conflicts == states[RowState.EXISTS]  # a 409 only for rows whose outcome was unknown
    # The typed passwords reached the devices the restarted worker sent.
    assert store.device_secret_matches(
        sandbox_config.service_instance_id, f"{NS}_dev-{total - 1:05d}", f"Typed-Pass-{total - 1:05d}"
    )


def test_sigterm_stops_after_the_rows_in_flight_and_the_next_worker_continues(
    team_a, operator_a, sandbox_config, sandbox_ns, tmp_path
):
    knobs.configure(latency_ms=40)
    job = make_draft(
        team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(200)), concurrency=4
    )
    jobs.start(job, operator_a)

    with open(tmp_path / "worker-1.log", "w") as log:
        first = start_worker(log)
        wait_for(lambda: count(job, RowState.CREATED) >= 20, 60, "the first rows", first, log)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    stopped = BulkJob.objects.get(pk=job.pk)
    assert stopped.status == JobStatus.QUEUED and not stopped.lease_owner
    assert count(job, RowState.SENDING) == 0 and count(job, RowState.UNKNOWN) == 0
    assert count(job, RowState.PENDING) > 0

    with open(tmp_path / "worker-2.log", "w") as log:
        second = start_worker(log)
        try:
            wait_for(lambda: status(job) == JobStatus.DONE, 60, "the job to finish", second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

    assert len(store.device_ids(sandbox_config.service_instance_id)) == 200
    assert count(job, RowState.CREATED) == 200


def mid_plan(job):
    """True when a row being sent has made some of its steps but not all."""
    sending = BulkRow.objects.filter(job=job, state=RowState.SENDING).values("correlation_id")
    made = AuditEvent.objects.filter(
        correlation_id__in=sending, action=hono_ditto_service.STEP_ACTION, status="created"
    )
    return made.filter(request__step__in=["device", "credentials"]).exists()


def test_kill_9_mid_job_on_hono_and_ditto_then_restart_makes_every_part_exactly_once(
    team_a, operator_a, c2e_config, hd_ns, tmp_path
):
    """The same crash through the sandbox's Hono registry and Ditto: a row is four calls, so the
    kill lands between the calls of rows in flight. Restarted, each of them continues from its
    first step not confirmed; none ends unknown, and no part is made twice."""
    total = 120
    knobs.configure(latency_ms=30)
    rows = device_rows(total, password=lambda n: f"Typed-Pass-{n:05d}" if n % 2 else "")
    job = make_draft(team_a, operator_a, c2e_config, hd_ns, csv_bytes(rows), concurrency=4)
    jobs.start(job, operator_a)

    with open(tmp_path / "worker-1.log", "w") as log:
        first = start_worker(log)
        wait_for(
            lambda: count(job, RowState.CREATED) >= 12 and mid_plan(job), 60, "a row mid-plan", first, log
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    in_flight = list(
        BulkRow.objects.filter(job=job, state=RowState.SENDING).values_list("correlation_id", flat=True)
    )
    assert in_flight, "the worker was killed between rows; the test proves nothing"
    steps = AuditEvent.objects.filter(correlation_id__in=in_flight, action=hono_ditto_service.STEP_ACTION)
    assert steps.filter(status="created").exists(), "no row in flight had made a step yet"

    with open(tmp_path / "worker-2.log", "w") as log:
        second = start_worker(log)
        try:
            wait_for(lambda: status(job) == JobStatus.DONE, 120, "the job to finish", second, log)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)

    states = Counter(BulkRow.objects.filter(job=job).values_list("state", flat=True))
    assert states == {RowState.CREATED: total}  # every row in flight resumed: none unknown
    expected = [f"{NS}:dev-{n:05d}" for n in range(total)]
    assert all(
        parts(device) == {"device": 1, "credentials": 1, "policy": 1, "thing": 1} for device in expected
    )
    # The policy and the twin were never written over (created with If-None-Match: *).
    assert set(DittoThing.objects.values_list("revision", flat=True)) == {1}
    assert set(DittoPolicy.objects.values_list("revision", flat=True)) == {1}
    # Each part of each device confirmed exactly once over all of its attempts: made ("created"),
    # or, for the call that went out unanswered at the kill, found made by it ("already").
    confirmed = Counter(
        (row.target, row.request["step"])
        for row in AuditEvent.objects.filter(
            action=hono_ditto_service.STEP_ACTION,
            status__in=["created", "already"],
            request__stage="provision",
        )
    )
    assert set(confirmed) == {(device, step) for device in expected for step in STEPS}
    assert set(confirmed.values()) == {1}
    resumed = AuditEvent.objects.filter(
        action="device.provision", phase="intent", request__origin__has_key="resolves"
    )
    assert resumed.count() == len(in_flight)  # only the rows in flight were sent again, each once
    assert password_matches(expected[-1], f"Typed-Pass-{total - 1:05d}")
