"""Bulk jobs against the built-in sandbox over real HTTP; the sandbox's store is the truth."""

import csv
import io
import os
import threading
import time
import uuid

import pytest
from django.utils import timezone

from provisioning import audit
from provisioning.bulk import credentials, downloads, executor, jobs, lease, progress, tasks
from provisioning.bulk.models import BulkJob, BulkRow, JobStatus, RowState, SecretOrigin
from provisioning.models import AuditEvent, Connection
from provisioning.sandbox import knobs, store
from tests.sandbox.conftest import Api, device_body, token_for

from .conftest import NS, csv_bytes, device_rows, make_draft, run_job

pytestmark = pytest.mark.django_db(transaction=True)


def sid(config):
    return config.service_instance_id


def states(job):
    return {row.device_id: row.state for row in BulkRow.objects.filter(job=job)}


def outcomes(job, **filters):
    return AuditEvent.objects.filter(
        team_id=job.team_id, action="device.provision", phase=AuditEvent.Phase.OUTCOME, **filters
    )


def test_a_job_creates_every_row_once_with_audit_rows_linked_to_it(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    rows = device_rows(24, password=lambda n: f"Typed-Pass-{n:04d}" if n % 3 == 0 else "")
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(rows), concurrency=4)

    assert run_job(job, operator_a) == "done"

    expected = sorted(f"{NS}:dev-{n:05d}" for n in range(24))
    assert store.device_ids(sid(sandbox_config)) == expected
    assert job.status == JobStatus.DONE and job.finished_at and not job.lease_owner
    assert set(states(job).values()) == {RowState.CREATED}
    created = outcomes(job, status="created")
    assert created.count() == 24 and len(set(created.values_list("target", flat=True))) == 24
    intents = AuditEvent.objects.filter(action="device.provision", phase=AuditEvent.Phase.INTENT)
    origins = {(e.request["origin"]["bulkJob"], e.target) for e in intents}
    assert {o for o, _ in origins} == {str(job.public_id)}
    assert {e.actor_name for e in intents} == {"oscar"}
    line = BulkRow.objects.get(job=job, device_id=f"{NS}:dev-00005").line
    assert intents.get(target=f"{NS}:dev-00005").request["origin"]["line"] == line
    # Typed passwords reached the device, and are gone from the job once created.
    assert store.device_secret_matches(sid(sandbox_config), f"{NS}_dev-00003", "Typed-Pass-0003")
    assert (
        not BulkRow.objects.filter(job=job, secret_origin=SecretOrigin.TYPED)
        .exclude(secret_sealed="")
        .exists()
    )
    # No password in any audit row, ever.
    dump = str(list(AuditEvent.objects.values_list("request", "response", "message")))
    assert "Typed-Pass" not in dump
    assert AuditEvent.objects.filter(action="bulk.finish", status="ok").exists()


def test_generated_passwords_are_downloaded_once_then_erased(team_a, operator_a, sandbox_config, sandbox_ns):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(6)))
    run_job(job, operator_a)

    assert credentials.credentials_available(job)
    text = credentials.take_credentials(job, operator_a)

    entries = list(csv.DictReader(io.StringIO(text)))
    assert [c["device_id"] for c in entries] == [f"{NS}:dev-{n:05d}" for n in range(6)]
    for c in entries:
        assert c["status"] == "Created" and len(c["password"]) == 20
        assert store.device_secret_matches(sid(sandbox_config), c["auth_id"], c["password"])
    assert credentials.take_credentials(job, operator_a) is None
    assert not credentials.credentials_available(job)
    assert not BulkRow.objects.filter(job=job).exclude(secret_sealed="").exists()
    event = AuditEvent.objects.get(action="bulk.credentials_download")
    assert event.actor_name == "oscar" and entries[0]["password"] not in str(event.message)


def test_secrets_expire_after_24_hours_even_if_never_downloaded(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(2)))
    run_job(job, operator_a)
    BulkJob.objects.filter(pk=job.pk).update(secrets_expire_at=timezone.now())

    assert credentials.purge_expired()["purged"] == 1

    job.refresh_from_db()
    assert job.secrets_erased_at and not credentials.credentials_available(job)
    assert not BulkRow.objects.filter(job=job).exclude(secret_sealed="").exists()
    assert AuditEvent.objects.filter(action="bulk.credentials_expired").exists()
    assert credentials.take_credentials(job, operator_a) is None


def test_invalid_and_duplicate_rows_are_not_sent_and_come_back_in_the_failed_rows_csv(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    rows = [*device_rows(3), ["bad/name", "", "", "", "", "", "", ""], device_rows(1)[0]]
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(rows))

    run_job(job, operator_a)

    assert store.device_ids(sid(sandbox_config)) == [f"{NS}:dev-{n:05d}" for n in range(3)]
    failed = list(csv.reader(io.StringIO("".join(downloads.failed_rows_csv(job)))))
    assert failed[0] == [*job.columns, "error"]
    assert [r[0] for r in failed[1:]] == ["bad/name", "dev-00000"]
    assert failed[1][-1].startswith("Line 5 (Invalid): name: A device name cannot contain '/'")
    assert failed[2][-1] == f"Line 6 (Duplicate in file): The device id {NS}:dev-00000 is already on line 2."

    # Fixed and uploaded again: the error column is reported as ignored, the fixed row goes through.
    fixed = "".join(downloads.failed_rows_csv(job)).replace("bad/name", "good-name").encode()
    again = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, fixed)
    assert again.ignored_columns == ["error"]
    assert states(again) == {f"{NS}:good-name": RowState.PENDING, f"{NS}:dev-00000": RowState.PROVISIONED}


def test_a_409_from_the_provider_is_a_conflict_and_nothing_is_overwritten(
    team_a, operator_a, sandbox_config, sandbox_ns, sandbox
):
    # Made outside this dashboard, so the preview cannot know: the provider answers 409.
    api = Api(sandbox, token_for(sandbox))
    assert api.post(device_body(f"{NS}:dev-00001", password="Outside-Pass-1")).status_code == 201
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(3)))
    assert states(job)[f"{NS}:dev-00001"] == RowState.PENDING

    run_job(job, operator_a)

    row = BulkRow.objects.get(job=job, device_id=f"{NS}:dev-00001")
    assert row.state == RowState.CONFLICT and row.http_status == 409
    assert "already been provisioned" in row.message
    assert row.secret_sealed == ""  # its generated password was never set anywhere
    assert job.status == JobStatus.DONE
    assert store.device_ids(sid(sandbox_config)) == [f"{NS}:dev-{n:05d}" for n in range(3)]
    assert store.device_secret_matches(sid(sandbox_config), f"{NS}_dev-00001", "Outside-Pass-1")


def test_429_with_retry_after_pauses_the_whole_job_then_sends_the_row_again(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(6)), concurrency=2)
    # Two senders: each is refused four times (the client's own three retries included).
    knobs.inject_fault(429, count=8, retry_after=1)

    run_job(job, operator_a)

    assert store.device_ids(sid(sandbox_config)) == [f"{NS}:dev-{n:05d}" for n in range(6)]
    assert set(states(job).values()) == {RowState.CREATED}
    assert job.throttled >= 1
    busy = outcomes(job, status="failed", http_status=429).order_by("created_at")
    assert busy.count() >= 1
    last_refusal = busy.last().created_at
    later = AuditEvent.objects.filter(phase=AuditEvent.Phase.INTENT, created_at__gt=last_refusal)
    assert later.exists()
    # Nothing was sent while the job waited out the Retry-After.
    assert min(e.created_at for e in later) - last_refusal >= timezone.timedelta(seconds=0.9)
    assert outcomes(job, status="created").count() == 6


def test_a_5xx_is_an_unknown_outcome_sent_again_only_when_the_operator_asks(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(3)), concurrency=1)
    knobs.inject_fault(500, count=1)

    run_job(job, operator_a)

    assert list(states(job).values()).count(RowState.UNKNOWN) == 1
    assert job.status == JobStatus.DONE
    assert len(store.device_ids(sid(sandbox_config))) == 2  # the 500 created nothing
    assert jobs.retryable_unknown(job).count() == 1

    queued, skipped = jobs.retry_unknown(job, operator_a)
    assert (queued, skipped) == (1, 0)
    executor.run(job.pk)

    assert set(states(job).values()) == {RowState.CREATED}  # sent again: 201, a real creation
    assert len(store.device_ids(sid(sandbox_config))) == 3
    assert AuditEvent.objects.filter(action="bulk.retry_unknown").exists()


def test_an_unknown_row_that_was_created_becomes_already_exists_when_sent_again(
    team_a, operator_a, sandbox_config, sandbox_ns, settings
):
    settings.OUTBOUND_READ_TIMEOUT = 1
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(2)), concurrency=1)
    knobs.inject_fault("slow", count=1, seconds=2)  # answers after the client gave up, but creates it

    run_job(job, operator_a)
    unknown = BulkRow.objects.get(job=job, state=RowState.UNKNOWN)
    time.sleep(1.5)  # the sandbox finishes creating it
    assert unknown.device_id in store.device_ids(sid(sandbox_config))

    jobs.retry_unknown(job, operator_a)
    executor.run(job.pk)

    unknown.refresh_from_db()
    assert unknown.state == RowState.EXISTS and unknown.http_status == 409
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    # Its generated password is the one the first attempt sent: the credentials file says so.
    text = credentials.take_credentials(job, operator_a)
    entry = next(r for r in csv.DictReader(io.StringIO(text)) if r["device_id"] == unknown.device_id)
    assert entry["status"] == "Already exists"
    assert store.device_secret_matches(sid(sandbox_config), entry["auth_id"], entry["password"])
    assert store.device_ids(sid(sandbox_config)) == sorted(states(job))


def test_cancel_stops_after_the_rows_in_flight(team_a, operator_a, sandbox_config, sandbox_ns):
    job = make_draft(
        team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(40)), concurrency=2
    )
    knobs.configure(latency_ms=150)
    jobs.start(job, operator_a, run_in_worker=False)
    results = []
    runner = threading.Thread(target=lambda: results.append(executor.run(job.pk)))
    runner.start()
    deadline = time.monotonic() + 20
    while BulkRow.objects.filter(job=job, state=RowState.CREATED).count() < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert jobs.cancel(job, operator_a)
    runner.join(timeout=20)

    job.refresh_from_db()
    assert results == ["cancelled"] and job.status == JobStatus.CANCELLED
    found = states(job)
    created = sorted(d for d, s in found.items() if s == RowState.CREATED)
    assert 4 <= len(created) < 40
    assert set(found.values()) == {RowState.CREATED, RowState.PENDING}  # nothing left in flight
    assert store.device_ids(sid(sandbox_config)) == created
    failed = "".join(downloads.failed_rows_csv(job))
    assert failed.count("Not sent (cancelled)") == 40 - len(created)


def test_a_refused_token_pauses_the_job_without_failing_rows_and_resume_finishes_it(
    team_a, operator_a, sandbox_config, sandbox_ns, sandbox
):
    sandbox_config.set_secret("not-the-secret")
    sandbox_config.save()
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(5)))

    assert run_job(job, operator_a) == "paused"

    assert job.status == JobStatus.PAUSED and "refused the client id or secret" in job.paused_reason
    assert f"Step that failed: the token request to {sandbox_config.token_url}." in job.paused_reason
    assert set(states(job).values()) == {RowState.PENDING}
    assert store.device_ids(sid(sandbox_config)) == []

    config = Connection.objects.get(pk=sandbox_config.pk)
    config.set_secret(sandbox["client_secret"])
    config.save()
    assert jobs.resume(job, operator_a)
    assert executor.run(job.pk) == "done"
    assert len(store.device_ids(sid(sandbox_config))) == 5


def test_recovery_adopts_recorded_outcomes_and_never_resends_a_row_that_may_exist(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(4)))
    jobs.start(job, operator_a, run_in_worker=False)
    rows = list(BulkRow.objects.filter(job=job).order_by("line"))
    cids = [uuid.uuid4() for _ in rows]
    for row, cid in zip(rows, cids, strict=True):
        row.state, row.correlation_id = RowState.SENDING, cid
        row.save()

    def event(cid, phase, status=""):
        audit.record(
            "device.provision", team=team_a, phase=phase, status=status, target="x", correlation_id=cid
        )

    event(cids[0], AuditEvent.Phase.INTENT, "pending")
    event(cids[0], AuditEvent.Phase.OUTCOME, "created")  # created, then the worker died
    event(cids[1], AuditEvent.Phase.INTENT, "pending")  # sent, no answer recorded
    event(cids[2], AuditEvent.Phase.INTENT, "pending")
    audit.record(
        "device.provision",
        team=team_a,
        phase=AuditEvent.Phase.OUTCOME,
        status="failed",
        http_status=429,
        correlation_id=cids[2],
    )  # refused before acting
    # cids[3]: claimed, never sent (no intent row)

    assert lease.recover(job) == 1

    found = [BulkRow.objects.get(pk=r.pk).state for r in rows]
    assert found == [RowState.CREATED, RowState.UNKNOWN, RowState.PENDING, RowState.PENDING]


def test_a_dead_executor_is_detected_and_its_job_enqueued_again(
    team_a, operator_a, sandbox_config, sandbox_ns
):
    from django_tasks_db.models import DBTaskResult

    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(2)))
    jobs.start(job, operator_a, run_in_worker=False)
    gone = 2**22 + 12345  # above pid_max's default, so no process has it
    now = timezone.now()
    BulkJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        lease_owner=f"{lease.HOST}/{gone}.1234/abcd",
        lease_expires_at=now + timezone.timedelta(seconds=20),
        heartbeat_at=now,  # a heartbeat a moment ago: its process being gone is enough
    )
    job.refresh_from_db()
    assert progress.executor_state(job) == "stalled"

    assert tasks.revive_stalled() == [job.pk]
    job.refresh_from_db()
    assert DBTaskResult.objects.get(id=job.task_id).status == "READY"
    assert tasks.revive_stalled() == []  # the task waits for a worker: not enqueued twice
    assert executor.run(job.pk) == "done"
    assert len(store.device_ids(sid(sandbox_config))) == 2


def test_a_lease_holder_is_gone_when_its_process_id_now_names_another_process():
    pid = os.getpid()
    assert not lease.owner_is_gone(lease.new_owner())  # this very process
    assert lease.owner_is_gone(f"{lease.HOST}/{pid}.1/abcd")  # the same id, started at another time
    assert lease.owner_is_gone(f"{lease.HOST}/{2**22 + 12345}.1/abcd")
    assert not lease.owner_is_gone(f"other-host~x/{2**22 + 12345}.1/abcd")  # elsewhere: by the lease timeout


def test_a_lease_of_another_host_counts_until_it_expires(team_a, operator_a, sandbox_config, sandbox_ns):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(1)))
    jobs.start(job, operator_a, run_in_worker=False)
    now = timezone.now()
    BulkJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        lease_owner=f"other-host~x/{2**22 + 12345}.1/abcd",
        lease_expires_at=now + timezone.timedelta(seconds=5),
        heartbeat_at=now - timezone.timedelta(seconds=25),
    )

    assert tasks.revive_stalled() == []
    assert tasks.revive_stalled(now + timezone.timedelta(seconds=6)) == [job.pk]


def test_the_task_of_a_dead_worker_of_this_host_is_marked_failed(
    team_a, operator_a, offline_config, offline_ns
):
    from django_tasks_db.models import DBTaskResult

    job = make_draft(team_a, operator_a, offline_config, offline_ns, csv_bytes(device_rows(1)))
    jobs.start(job, operator_a, run_in_worker=False)
    tasks.enqueue_run(job.pk)
    job.refresh_from_db()
    task = DBTaskResult.objects.get(id=job.task_id)
    task.claim(f"{lease.HOST}/{2**22 + 12345}.1/abcd")  # as db_worker does, by a worker now gone
    live = DBTaskResult.objects.get(id=tasks.enqueue_run(job.pk).id)
    live.claim(lease.new_owner())

    assert tasks.fail_dead_tasks() == [str(task.id)]

    task.refresh_from_db()
    live.refresh_from_db()
    assert task.status == "FAILED" and task.exception_class_path.endswith("WorkerGone")
    assert live.status == "RUNNING"


def test_a_live_lease_keeps_a_second_executor_out(team_a, operator_a, sandbox_config, sandbox_ns):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(2)))
    jobs.start(job, operator_a, run_in_worker=False)
    assert lease.acquire(job.pk, "other-host~x/1.1/abcd") is not None

    assert executor.run(job.pk) == "busy"
    assert store.device_ids(sid(sandbox_config)) == []


def test_the_credentials_file_names_a_typed_auth_id_and_skips_rows_never_created(
    team_a, operator_a, sandbox_config, sandbox_ns, sandbox
):
    api = Api(sandbox, token_for(sandbox))
    assert api.post(device_body(f"{NS}:dev-00002", password="Outside-Pass-2")).status_code == 201
    rows = device_rows(3)
    rows[1][2] = "serial-4711"  # the auth_id column
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(rows))
    run_job(job, operator_a)

    text = credentials.take_credentials(job, operator_a)

    entries = {r["device_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert set(entries) == {f"{NS}:dev-00000", f"{NS}:dev-00001"}  # dev-00002 was a conflict
    assert entries[f"{NS}:dev-00001"]["auth_id"] == "serial-4711"
    assert store.device_secret_matches(
        sid(sandbox_config), "serial-4711", entries[f"{NS}:dev-00001"]["password"]
    )


def test_the_job_list_counts_a_finished_job_from_its_summary(team_a, operator_a, sandbox_config, sandbox_ns):
    job = make_draft(team_a, operator_a, sandbox_config, sandbox_ns, csv_bytes(device_rows(3)))
    run_job(job, operator_a)

    assert job.summary[RowState.CREATED] == 3
    found = progress.progress(job, from_summary=True)
    assert (found.created, found.to_send, found.percent) == (3, 3, 100)
