"""Running one bulk job: lease, recovery, a bounded pool of senders, pauses, the end.

The lease. A job is run by at most one executor at a time. An executor takes the
lease (``lease_owner``, ``lease_expires_at``) in a locking transaction, renews it
every HEARTBEAT seconds and gives it up at the end. Another executor may take a
lease only when it has expired (LEASE seconds without a heartbeat), or at once
when its owner ran on this same host, that process is gone and it has missed
three heartbeats (a worker killed with kill -9 and started again). An executor
that finds its lease taken stops sending.

Claiming. Rows are sent in line order. The main thread claims a few rows at a
time (``pending`` -> ``sending``) and stores each one's correlation id, and for a
blank password the generated one (sealed). Each row goes through the same
service call as a single Send (services.Attempt), in its three steps: the main
thread validates the rows it hands out and writes their audit intent rows, all
of them in one transaction (services.begin: if that fails, none is sent); a
sender thread makes the call; the writer thread writes the outcome rows
(services.finish). So after a crash the audit log tells, for each ``sending``
row, what happened (``recover``):

- an outcome row exists: the row adopts it (created, conflict, failed, unknown);
- only the intent row exists: the request may have reached the provider, so the
  row is "unknown", and is sent again only when the operator asks for it;
- no intent row: it was never sent and goes back to ``pending``.

A row that reached ``created`` is never sent again.

Senders. ``job.concurrency`` threads (default 4) only make the calls, so at most
that many requests are at the provider at once. No database write stands
between two requests of a sender: the main thread begins up to ``ahead`` (half
the concurrency) rows more than the senders hold, so a sender takes its next
row the moment its answer is in. The writer thread, every FLUSH seconds, writes
the outcome rows of the calls that came back (one transaction), then their
results on the job's rows (one UPDATE whose values apply only while a row still
has that attempt's correlation id, so a late answer cannot overwrite a newer
attempt). What a kill -9 leaves "unknown" is therefore: the rows at the
provider, the rows begun and waiting for a sender (at most ``ahead``), and the
rows answered in the last FLUSH seconds. None of them is lost or sent twice:
the operator chooses to send them again, and a 409 then is "already exists".

Back-pressure. provisioning.client already waits out a short Retry-After and
sends once more. When the provider still refuses before acting (Unavailable:
429, 503 with Retry-After, connection refused), the whole job stops handing out
rows until the Retry-After (or a growing back-off when there is none) has
passed, then sends that row again; after MAX_BUSY_RETRIES it fails. Rows already
in flight finish. Token, configuration and repeated 401 errors would fail every
row alike, so they pause the job for the operator instead (the row goes back to
``pending``: nothing was created), as do BREAKER_FAILURES failures in a row.

Stopping. Cancel (status ``cancelling``) and a worker shutdown (request_stop())
stop the hand-out; rows in flight (begun: at the provider or next in line)
finish; claimed rows not yet begun go back to ``pending``. A shut-down executor
re-queues its job for the next worker.
"""

import logging
import os
import queue
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import F
from django.utils import timezone

from provisioning import crypto, services
from provisioning.bulk.models import (
    ACTIVE,
    BulkJob,
    BulkRow,
    JobStatus,
    RowState,
    SecretOrigin,
    open_secret,
    seal_secret,
)
from provisioning.device_form import generate_password
from provisioning.errors import ConfigurationError, TokenError, Unauthorized, Unavailable
from provisioning.models import AuditEvent
from provisioning.rows import db_value, quoted

logger = logging.getLogger(__name__)

LEASE = 30  # seconds a lease lives without a heartbeat
HEARTBEAT = 2  # seconds between heartbeats
CONTROL = 0.5  # seconds between looks at the job's status (cancel)
FLUSH = 0.1  # seconds a finished call's outcome may wait before it is written (audit row, then job row)
MAX_BUSY_RETRIES = 5
BREAKER_FAILURES = 20
MAX_PAUSE = 300  # seconds; a longer Retry-After is cut to this, and the row is tried again then
AUDIT_PAUSE = 5  # seconds to wait when the audit log could not be written

_stop = threading.Event()


def request_stop():
    """Ask every executor in this process to stop after the rows in flight (worker shutdown)."""
    _stop.set()


def _boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "noboot"


HOST = f"{socket.gethostname()[:60]}~{_boot_id()}"


def new_owner():
    return f"{HOST}/{os.getpid()}/{secrets.token_hex(4)}"


def _pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a killed child its parent has not reaped yet is a zombie: gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def lease_is_live(job, now=None):
    """True when an executor holds the job's lease and may still be working on it."""
    now = now or timezone.now()
    if not job.lease_owner or job.lease_expires_at is None or job.lease_expires_at <= now:
        return False
    host, _, rest = job.lease_owner.partition("/")
    pid = rest.partition("/")[0]
    stale = job.heartbeat_at is None or job.heartbeat_at < now - timedelta(seconds=3 * HEARTBEAT)
    return not (host == HOST and pid.isdigit() and stale and _pid_gone(int(pid)))


def acquire(job_id, owner):
    """Take the job's lease; return the job, or None when it is not to be run or someone else runs it."""
    now = timezone.now()
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status not in ACTIVE:
            return None
        if job.lease_owner and job.lease_owner != owner and lease_is_live(job, now):
            return None
        job.lease_owner = owner
        job.lease_expires_at = now + timedelta(seconds=LEASE)
        job.heartbeat_at = now
        fields = ["lease_owner", "lease_expires_at", "heartbeat_at"]
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            fields.append("status")
        if job.started_at is None:
            job.started_at = now
            fields.append("started_at")
        job.save(update_fields=fields)
    return BulkJob.objects.select_related("team", "client", "namespace").get(pk=job_id)


def recover(job):
    """Settle rows left ``sending`` by an executor that died; return how many became unknown."""
    rows = list(
        BulkRow.objects.filter(job=job, state=RowState.SENDING).values(
            "pk", "correlation_id", "resend", "secret_origin"
        )
    )
    if not rows:
        return 0
    cids = [r["correlation_id"] for r in rows if r["correlation_id"]]
    outcomes = {
        e["correlation_id"]: e
        for e in AuditEvent.objects.filter(
            correlation_id__in=cids, phase=AuditEvent.Phase.OUTCOME, action="device.provision"
        ).values("correlation_id", "status", "http_status", "message")
    }
    intents = set(
        AuditEvent.objects.filter(
            correlation_id__in=cids, phase=AuditEvent.Phase.INTENT, action="device.provision"
        ).values_list("correlation_id", flat=True)
    )
    unknown = 0
    now = timezone.now()
    for row in rows:
        cid = row["correlation_id"]
        found = outcomes.get(cid)
        if found is not None:
            state = adopted_state(found["status"], found["http_status"], row["resend"])
            fields = {"state": state, "http_status": found["http_status"], "message": found["message"][:1000]}
            if state != RowState.PENDING:
                fields["done_at"] = now
            fields.update(_secret_fields(state, row["secret_origin"]))
        elif cid in intents:
            state = RowState.UNKNOWN
            unknown += 1
            fields = {
                "state": state,
                "done_at": now,
                "message": "The worker stopped while this row was being sent: the outcome is unknown.",
            }
        else:
            fields = {"state": RowState.PENDING, "correlation_id": None}
        BulkRow.objects.filter(pk=row["pk"], state=RowState.SENDING).update(**fields)
    if unknown:
        logger.warning("bulk job %s: %d rows were in flight when the last executor stopped", job.pk, unknown)
    return unknown


def adopted_state(status, http_status, resend):
    """The row state for an outcome found in the audit log."""
    if status == "created":
        return RowState.CREATED
    if status == "conflict":
        return RowState.EXISTS if resend else RowState.CONFLICT
    if status == "unknown":
        return RowState.UNKNOWN
    if status == "failed" and http_status in (None, 429, 503):
        return RowState.PENDING  # refused before acting, or never reached the provider: safe to send
    return RowState.FAILED


def _secret_fields(state, origin):
    """The update that erases a row's sealed secret once ``state`` no longer needs it."""
    if state in (RowState.UNKNOWN, RowState.PENDING):
        return {}  # may be sent again: keep whatever it has
    if state in (RowState.CREATED, RowState.EXISTS) and origin == SecretOrigin.GENERATED:
        return {}  # waits for the one-time credentials download
    return {"secret_sealed": ""}


@dataclass
class Claimed:
    pk: int
    line: int
    cells: list
    correlation_id: uuid.UUID
    secret_sealed: str
    secret_origin: str
    resend: bool
    busy_retries: int


@dataclass
class Result:
    row: Claimed
    kind: str  # done, busy, stop, error
    state: str = ""
    wait: float = 0
    message: str = ""
    update: dict | None = None  # what to write on the row (see Executor._flush)
    attempt: services.Attempt | None = None  # a call that was made: its outcome row is still to write


class Executor:
    def __init__(self, job, owner, *, on_progress=None, stop_event=None):
        from provisioning.bulk.intake import Layout

        self.job = job
        self.owner = owner
        self.layout = Layout.for_job(job)
        self.concurrency = max(1, min(job.concurrency, 32))
        self.on_progress = on_progress
        self.stop_event = stop_event or threading.Event()
        self.actor = _actor(job)
        self.origin = str(job.public_id)
        self.work = queue.Queue()
        self.results = queue.Queue()
        self.buffer = deque()
        self.in_flight = 0
        self.exhausted = False
        self.pause_until = 0.0
        self.busy_streak = 0
        self.failures_in_a_row = 0
        self.stop_reason = None  # cancel, shutdown, lost, paused
        self.paused_reason = ""
        self.updates = []  # (Claimed, fields) waiting for the writer thread, see _flush
        self.finished = []  # services.Attempt whose outcome rows wait for the writer thread
        self.updates_lock = threading.Lock()
        # Rows whose intent is written ahead, waiting for a free sender, so that a sender's
        # next request never waits for the database (see _hand_out).
        self.ahead = max(1, self.concurrency // 2)
        self.writer_stop = threading.Event()

    # --- the main thread ----------------------------------------------------------------------

    def run(self):
        threads = [
            threading.Thread(target=self._sender, name=f"bulk-{self.job.pk}-{n}", daemon=True)
            for n in range(self.concurrency)
        ]
        writer = threading.Thread(target=self._writer, name=f"bulk-{self.job.pk}-writer", daemon=True)
        for thread in [*threads, writer]:
            thread.start()
        try:
            self._loop()
        finally:
            for _ in threads:
                self.work.put(None)
            for thread in threads:
                thread.join()
            self.writer_stop.set()
            writer.join()
        return self._finish()

    def _loop(self):
        next_heartbeat = time.monotonic() + HEARTBEAT
        next_control = time.monotonic() + CONTROL
        while True:
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + HEARTBEAT
                if not self._heartbeat():
                    self._stop("lost")
            if now >= next_control:
                next_control = now + CONTROL
                self._control()
                if self.on_progress:
                    self.on_progress(self.job)
            self._drain_results(block=False)
            if self.stop_reason is None and now >= self.pause_until:
                self._hand_out()
            if self.in_flight == 0 and (self.stop_reason is not None or (self.exhausted and not self.buffer)):
                return
            timeout = min(next_heartbeat, next_control) - time.monotonic()
            if self.pause_until > now:
                timeout = min(timeout, self.pause_until - now)
            self._drain_results(block=True, timeout=max(0.01, timeout))

    def _hand_out(self):
        """Keep every sender busy: validate the next rows, write their intents (one transaction
        for all of them), queue them for the senders.

        Up to ``ahead`` rows beyond the senders' number are begun before a sender is free, so a
        sender takes its next row the moment its answer is in; the provider still never has
        more than ``concurrency`` requests at once. Rows are claimed a few at a time.
        """
        free = self.concurrency + self.ahead - self.in_flight
        if free <= 0:
            return
        if len(self.buffer) < free and not self.exhausted:
            claimed = self._claim(free - len(self.buffer) + self.ahead)
            if not claimed:
                self.exhausted = True
            self.buffer.extend(claimed)
        ready = []
        while self.buffer and len(ready) < free:
            row = self.buffer.popleft()
            prepared = self._prepare(row)
            if isinstance(prepared, Result):  # settled without a call
                self._accept(prepared)
            else:
                ready.append((row, prepared))
        if not ready:
            return
        try:
            services.begin([attempt for _, attempt in ready])
        except services.AuditUnavailable as exc:
            for row, _ in ready:
                self._accept(
                    Result(row, "busy", wait=AUDIT_PAUSE, message=str(exc), update=self._back_to_pending())
                )
            return
        for item in ready:
            self.work.put(item)
            self.in_flight += 1

    def _claim(self, count):
        """Move up to ``count`` pending rows to ``sending``, each with its correlation id (and a
        sealed generated password) stored before anything is sent: one SELECT, one executemany."""
        job = self.job
        generate = job.credentials_type == "hashed-password"
        rows = list(
            BulkRow.objects.filter(job=job, state=RowState.PENDING)
            .order_by("line")
            .values("pk", "line", "cells", "secret_sealed", "secret_origin", "resend", "busy_retries")[:count]
        )
        if not rows:
            return []
        for row in rows:
            row["correlation_id"] = uuid.uuid4()
            if generate and row["secret_origin"] == SecretOrigin.NONE:
                row["secret_sealed"] = seal_secret(job.public_id, row["line"], generate_password())
                row["secret_origin"] = SecretOrigin.GENERATED
        sql, prepare = _claim_sql()
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.executemany(sql, [prepare(row) for row in rows])
            done = cursor.rowcount
        if done != len(rows):  # a row changed under us (it should not: the lease is ours)
            mine = set(
                BulkRow.objects.filter(
                    pk__in=[r["pk"] for r in rows], correlation_id__in=[r["correlation_id"] for r in rows]
                ).values_list("pk", flat=True)
            )
            rows = [row for row in rows if row["pk"] in mine]
        return [Claimed(**row) for row in rows]

    def _drain_results(self, *, block, timeout=None):
        while True:
            try:
                result = self.results.get(timeout=timeout) if block else self.results.get_nowait()
            except queue.Empty:
                break
            self.in_flight -= 1
            self._accept(result)
            block = False  # after the first result, take only what is already there

    def _accept(self, result):
        """Take a row's result: queue its writes for the writer thread, then act on it."""
        if result.attempt is not None or (result.update is not None and result.kind == "done"):
            with self.updates_lock:
                if result.attempt is not None:
                    self.finished.append(result.attempt)
                if result.update is not None and result.kind == "done":
                    self.updates.append((result.row, result.update))
        if result.update is not None and result.kind != "done":
            self._hand_back(result.row, result.update)  # pending again before the next claim looks
        self._handle(result)

    def _flush(self):
        """Write the outcome rows of the calls that came back, then the finished rows: a
        transaction each, for all of them.

        The audit rows go first, so a crash between the two loses nothing: recovery adopts
        the outcome from the audit log. Each row's values apply only while it still has the
        attempt's correlation id, so a late answer cannot overwrite a newer attempt.
        """
        with self.updates_lock:
            updates, self.updates = self.updates, []
            finished, self.finished = self.finished, []
        if finished:
            services.finish(finished)  # the audit outcome rows first: recovery reads them
        if updates:
            self._write(updates)

    def _writer(self):
        """The thread that writes finished rows, so the main thread never waits on it to hand out rows."""
        try:
            while not self.writer_stop.wait(FLUSH):
                try:
                    self._flush()
                except DatabaseError:
                    # The rows stay "sending"; their outcomes are in the audit log, which
                    # recovery reads when the job runs next (_finish sees them and re-queues it).
                    logger.exception("bulk job %s: writing finished rows failed", self.job.pk)
        finally:
            connections.close_all()  # this thread's connections only

    @staticmethod
    def _write(updates):
        """Finished rows: one executemany of a fixed UPDATE (building ORM CASE expressions for a
        batch cost more CPU than sending the row). ``WHERE correlation_id`` as everywhere."""
        sql, prepare = _settle_sql()
        with transaction.atomic(), connections["default"].cursor() as cursor:
            cursor.executemany(sql, [prepare(row, fields) for row, fields in updates])

    @staticmethod
    def _hand_back(row, fields):
        """A row handed back to ``pending`` (rare): written at once, before the next claim."""
        BulkRow.objects.filter(pk=row.pk, correlation_id=row.correlation_id).update(**fields)

    def _handle(self, result):
        if result.kind == "done":
            self.busy_streak = 0
            if result.state in (RowState.FAILED, RowState.UNKNOWN):
                self.failures_in_a_row += 1
                if self.failures_in_a_row >= BREAKER_FAILURES and self.stop_reason is None:
                    self._pause(
                        f"The last {BREAKER_FAILURES} rows all failed or ended unknown; the last one said: "
                        f"{result.message}"
                    )
            elif result.state in (RowState.CREATED, RowState.EXISTS):
                self.failures_in_a_row = 0
        elif result.kind == "busy":
            self.busy_streak += 1
            self.exhausted = False  # the row is pending again
            wait = min(result.wait or 2 ** min(self.busy_streak, 6), MAX_PAUSE)
            until = time.monotonic() + wait
            if until > self.pause_until:
                self.pause_until = until
                BulkJob.objects.filter(pk=self.job.pk).update(
                    pause_until=timezone.now() + timedelta(seconds=wait), throttled=F("throttled") + 1
                )
                logger.info("bulk job %s: the provider asked to wait; pausing %.0f s", self.job.pk, wait)
        elif result.kind == "stop":
            self.exhausted = False
            self._pause(result.message)
        elif result.kind == "error":
            self._pause(f"An unexpected error stopped the job ({result.message}). Resume to continue.")

    def _pause(self, reason):
        if self.stop_reason is None:
            self.stop_reason = "paused"
            self.paused_reason = reason[:500]

    def _stop(self, reason):
        if self.stop_reason is None:
            self.stop_reason = reason

    def _heartbeat(self):
        now = timezone.now()
        return bool(
            BulkJob.objects.filter(pk=self.job.pk, lease_owner=self.owner).update(
                lease_expires_at=now + timedelta(seconds=LEASE), heartbeat_at=now
            )
        )

    def _control(self):
        status = BulkJob.objects.filter(pk=self.job.pk).values_list("status", flat=True).first()
        if status == JobStatus.CANCELLING or status is None:
            self._stop("cancel")
        elif _stop.is_set() or self.stop_event.is_set():
            self._stop("shutdown")
        elif self.job.secrets_expire_at and timezone.now() >= self.job.secrets_expire_at:
            self._pause(
                "The job's passwords are erased 24 hours after it was confirmed, and that time has passed. "
                "Upload the rows that were not sent again (the failed-rows CSV holds them)."
            )

    def _finish(self):
        """Give back claimed rows that were not sent, settle the job's status, release the lease."""
        job = self.job
        self._flush()  # what the writer thread had not written yet
        if self.buffer:
            BulkRow.objects.filter(pk__in=[r.pk for r in self.buffer], state=RowState.SENDING).update(
                state=RowState.PENDING, correlation_id=None
            )
            self.buffer.clear()
        now = timezone.now()
        mine = BulkJob.objects.filter(pk=job.pk, lease_owner=self.owner)
        release = {"lease_owner": "", "lease_expires_at": None, "pause_until": None}
        if self.stop_reason == "lost":
            return "lost"
        if self.stop_reason == "shutdown":
            mine.update(status=JobStatus.QUEUED, **release)
            from provisioning.bulk.jobs import enqueue

            enqueue(job.pk)  # the next worker to start continues it
            return "stopped"
        if self.stop_reason == "paused":
            from provisioning.bulk.jobs import snapshot

            mine.update(status=JobStatus.PAUSED, paused_reason=self.paused_reason, **release)
            snapshot(job)
            logger.warning("bulk job %s paused: %s", job.pk, self.paused_reason)
            return "paused"
        if self.stop_reason == "cancel":
            mine.update(status=JobStatus.CANCELLED, finished_at=now, **release)
            _record_end(job, "bulk.cancelled", self.actor)
            return "cancelled"
        if BulkRow.objects.filter(job=job, state__in=[RowState.PENDING, RowState.SENDING]).exists():
            mine.update(**release)  # rows came back while finishing: run again
            from provisioning.bulk.jobs import enqueue

            enqueue(job.pk)
            return "again"
        mine.update(status=JobStatus.DONE, finished_at=now, **release)
        _record_end(job, "bulk.finish", self.actor)
        return "done"

    # --- sender threads ----------------------------------------------------------------------------

    def _sender(self):
        try:
            while True:
                item = self.work.get()
                if item is None:
                    return
                row, attempt = item
                try:
                    result = self._verdict(row, attempt.run())
                    result.attempt = attempt  # its outcome row is for the writer thread
                except Exception as exc:
                    # Without an outcome row the attempt stays open: recovery calls the row unknown.
                    logger.exception("bulk job %s line %s: unexpected error", self.job.pk, row.line)
                    result = Result(row, "error", message=type(exc).__name__)
                self.results.put(result)
        finally:
            connections.close_all()  # this thread's connections only (a token fetch may use one)

    def _prepare(self, row):
        """The row's services.Attempt, or the Result of a row that cannot be sent."""
        from provisioning.bulk.intake import form_problems, row_form

        job = self.job
        secret = None
        if row.secret_sealed:
            try:
                secret = open_secret(job.public_id, row.line, row.secret_sealed)
            except crypto.SecretBoxError as exc:
                return self._settle(
                    row, RowState.FAILED, message=f"The sealed password cannot be opened: {exc}"
                )
        if secret is None and job.credentials_type != "none":
            return self._settle(
                row,
                RowState.FAILED,
                message="Not sent: the row's password is no longer kept (secrets are erased 24 hours after "
                "the job was confirmed). Upload the row again.",
            )
        typed = secret if row.secret_origin == SecretOrigin.TYPED else ""
        form, problems, labels = row_form(
            job, self.layout, row.cells, password=typed, config=job.client, namespace=job.namespace
        )
        if not form.is_valid():
            problems.append(form_problems(form, labels))
        if problems:
            text = " ".join(problems)
            return self._settle(row, RowState.FAILED, message=f"Not sent: the row is no longer valid. {text}")
        generated = secret if row.secret_origin == SecretOrigin.GENERATED else None
        return services.provision_attempt(
            actor=self.actor,
            team=job.team,
            config=job.client,
            body=form.to_body(generated_secret=generated),
            auth_scope=form.effective_auth_scope(),
            correlation_id=row.correlation_id,
            origin={"bulkJob": self.origin, "line": row.line},
        )

    def _verdict(self, row, outcome):
        """What the call's outcome means for the row and the job (no database work here)."""
        error = outcome.error
        if outcome.status == "created":
            return self._settle(row, RowState.CREATED, outcome, message="")
        if outcome.status == "conflict":
            state = RowState.EXISTS if row.resend else RowState.CONFLICT
            return self._settle(row, state, outcome)
        if outcome.status == "unknown":
            return self._settle(row, RowState.UNKNOWN, outcome)
        if isinstance(error, Unavailable):
            if row.busy_retries + 1 >= MAX_BUSY_RETRIES:
                return self._settle(
                    row,
                    RowState.FAILED,
                    outcome,
                    message=f"The provider stayed busy after {MAX_BUSY_RETRIES} tries; nothing was created. "
                    f"{outcome.message}",
                )
            update = self._back_to_pending(busy=True)
            return Result(row, "busy", wait=error.retry_after or 0, message=outcome.message, update=update)
        if isinstance(error, TokenError | ConfigurationError | Unauthorized):
            message = f"{outcome.message} {error.next_step}".strip()
            return Result(row, "stop", message=message, update=self._back_to_pending())
        return self._settle(row, RowState.FAILED, outcome)

    def _settle(self, row, state, outcome=None, *, message=None):
        fields = {
            "state": state,
            "done_at": timezone.now(),
            "message": (outcome.message if message is None and outcome else message or "")[:1000],
            "http_status": outcome.http_status if outcome else None,
            "secret_sealed": _secret_fields(state, row.secret_origin).get("secret_sealed", row.secret_sealed),
        }
        return Result(row, "done", state=state, message=fields["message"], update=fields)

    @staticmethod
    def _back_to_pending(*, busy=False):
        update = {"state": RowState.PENDING, "correlation_id": None}
        if busy:
            update["busy_retries"] = F("busy_retries") + 1
        return update


def _claim_sql():
    """UPDATE for a claim; only model names are formatted in, the values are parameters."""
    table, (pk, state, cid, attempts, sealed, origin) = quoted(
        BulkRow, "id", "state", "correlation_id", "attempts", "secret_sealed", "secret_origin"
    )
    sql = (
        f"UPDATE {table} SET {state} = %s, {cid} = %s, {attempts} = {attempts} + 1, "  # noqa: S608
        f"{sealed} = %s, {origin} = %s WHERE {pk} = %s AND {state} = %s"
    )

    def prepare(row):
        return (
            RowState.SENDING.value,
            db_value(BulkRow, "correlation_id", row["correlation_id"]),
            row["secret_sealed"],
            row["secret_origin"],
            row["pk"],
            RowState.PENDING.value,
        )

    return sql, prepare


def _settle_sql():
    """UPDATE for a finished row, applied only while it has that attempt's correlation id."""
    table, (pk, cid, state, done_at, message, http_status, sealed) = quoted(
        BulkRow, "id", "correlation_id", "state", "done_at", "message", "http_status", "secret_sealed"
    )
    sql = (
        f"UPDATE {table} SET {state} = %s, {done_at} = %s, {message} = %s, {http_status} = %s, "  # noqa: S608
        f"{sealed} = %s WHERE {pk} = %s AND {cid} = %s"
    )

    def prepare(row, fields):
        return (
            str(fields["state"]),
            db_value(BulkRow, "done_at", fields["done_at"]),
            fields["message"],
            fields["http_status"],
            fields["secret_sealed"],
            row.pk,
            db_value(BulkRow, "correlation_id", row.correlation_id),
        )

    return sql, prepare


def _actor(job):
    from provisioning.bulk.jobs import job_actor

    return job_actor(job)


def _record_end(job, action, actor):
    from provisioning.bulk.jobs import record, snapshot

    found = snapshot(job)
    summary = ", ".join(f"{RowState(s).label.lower()}: {n}" for s, n in found.items() if n)
    record(job, action, actor=actor, message=summary[:1000])


def run(job_id, *, owner=None, on_progress=None, stop_event=None):
    """Run a job until it is done, cancelled, paused or stopped. Returns one of "done",
    "cancelled", "paused", "stopped" (shutdown), "again", "lost", or "busy" (someone else runs it)."""
    owner = owner or new_owner()
    close_old_connections()
    job = acquire(job_id, owner)
    if job is None:
        return "busy"
    recover(job)
    if job.client is None or job.namespace is None:
        what = "client configuration" if job.client is None else "namespace"
        BulkJob.objects.filter(pk=job.pk, lease_owner=owner).update(
            status=JobStatus.PAUSED,
            paused_reason=f"The job's {what} was deleted; nothing more can be sent. Cancel the job.",
            lease_owner="",
            lease_expires_at=None,
        )
        return "paused"
    return Executor(job, owner, on_progress=on_progress, stop_event=stop_event).run()
