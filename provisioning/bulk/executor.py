"""Running one bulk job: a pool of threads, each row sent the way a single Send (or a single
de-provision, or a single check) is.

The executor holds the job's lease (provisioning.bulk.lease) while it runs. What a row is
sent as is the job's action's (provisioning.bulk.actions: provision a CSV row, de-provision
or check a device); everything below is the same for each. A row goes through the single
Send's three parts (services.perform: audit intent, call, audit outcome; a check has no
intent, and its one row is written as an outcome is):

- The main thread takes the next rows in line order and, in one transaction, moves
  them to ``sending`` (with the attempt's correlation id and, for a blank password,
  the generated one, sealed) and writes their audit intents (``services.begin``): if
  that fails, none of them is sent. Then it submits them to the pool.
- A ``ThreadPoolExecutor`` of ``job.concurrency`` threads makes the calls (so at most
  that many requests are at the provider at once). The main thread keeps up to
  ``ahead`` begun rows more than the threads hold in the pool's queue, so a thread
  takes its next row the moment its answer is in, without waiting for the main
  thread. A queued row waits out a pause that began after it was queued.
- The main thread reads each answered row's verdict (provisioning.bulk.verdicts),
  then writes the audit outcomes (``services.finish``) and results of every row that
  came back since its last look, in one transaction. A result applies only while the
  row still has that attempt's correlation id. It also renews the lease and watches
  for cancel and shutdown. (One thread writing, a few rows to a transaction: on
  SQLite every write transaction waits for the one write lock, which the sandbox
  shares when it runs in the same database; per-row transactions from eight threads
  queued on it.)

Every provider goes through these same parts. A Bosch row is one call and its thread
does no database work. A Hono + Ditto or Ditto row is a plan of up to four calls sent
as ONE attempt (hono_ditto_service.PlannedAttempt): the main thread writes its intent
and its outcome with the other rows' as above, and the pool thread that sends the
plan writes the step rows itself, on its own database connection, as a single Send
does: one write before each call, holding the call's row and the previous call's
answer (the last answer goes in with the outcome). Why the threads: the row before a
call must be stored before the call is made (it is what tells "maybe sent" after a
crash), and handing each one to the main thread would make every call wait for it.
Measured (tests/bench/bench_bulk.py --provider hono_ditto, SQLite in WAL mode with
``BEGIN IMMEDIATE`` and a 20 s busy timeout, eight threads, the sandbox writing to the
same file): 10,000 rows, 80,000 step rows, not one locking error. Writing a call's two
rows in two transactions cost the threads about 40% of their time waiting for the
write lock, hence one. A refused step is undone by the same thread; an unknown one
ends the row ``unknown``.

Back-pressure. provisioning.api already waits out a short Retry-After and sends
once more. When the provider still refuses before acting (Unavailable: 429, 503
with Retry-After, connection refused), the row goes back to ``pending`` and the
whole job stops handing out rows until the Retry-After (or a growing back-off when
there is none) has passed; after MAX_BUSY_RETRIES the row fails. Rows already at
the provider finish. Token, connection and repeated 401 errors would fail every
row alike, so they pause the job for the operator instead (the row goes back to
``pending``: nothing was created), as do BREAKER_FAILURES failures in a row. A
Hono + Ditto row that stops so after some of its steps goes back to ``pending`` with
``resumes`` set: its next attempt continues from the first step not confirmed
(hono_ditto_service.resume), so nothing it made is sent again as new.

Stopping. Cancel (status ``cancelling``) and the ``stop`` event (a worker shutting
down) stop taking rows; rows already begun (at the provider, or next in line) are
sent and finish. The caller re-queues a stopped job. After a crash, lease.recover
tells from the audit log what happened to each row left ``sending``.
"""

import logging
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import timedelta

from django.db import DatabaseError, close_old_connections, connections, transaction
from django.db.models import F
from django.utils import timezone

from provisioning import crypto, services
from provisioning.bulk import actions, lease
from provisioning.bulk.events import job_actor, record
from provisioning.bulk.models import Action, BulkJob, BulkRow, JobStatus, RowState
from provisioning.bulk.verdicts import AUDIT_PAUSE, Verdict
from provisioning.models import AuditEvent

logger = logging.getLogger(__name__)

CONTROL = 0.5  # seconds between looks at the job's status (cancel) and the stop event
BREAKER_FAILURES = 20
MAX_PAUSE = 300  # seconds; a longer Retry-After is cut to this, and the row is tried again then


def close_thread_connections(pool, threads):
    """Close the database connections the pool's threads opened (Django's are per thread):
    one closing task per thread, each held at a barrier until all are taken, so every
    thread runs exactly one."""
    barrier = threading.Barrier(threads)

    def close():
        connections.close_all()
        barrier.wait()

    for future in [pool.submit(close) for _ in range(threads)]:
        future.result()


class Executor:
    def __init__(self, job, owner, *, stop, on_progress=None):
        self.job = job
        self.owner = owner
        self.stop = stop
        self.on_progress = on_progress
        self.concurrency = max(1, min(job.concurrency, 32))
        # Rows begun (intent written) and queued beyond the threads' number, so that a thread
        # takes its next row the moment its answer is in; the provider still never has more
        # than ``concurrency`` requests at once.
        self.ahead = max(2, self.concurrency // 2)
        self.actor = job_actor(job)
        self.action = actions.for_job(job, self.actor)
        self.exhausted = False
        self.pause_until = 0.0
        self.busy_streak = 0
        self.failures_in_a_row = 0
        self.stop_reason = None  # cancel, shutdown, lost, paused
        self.paused_reason = ""

    # --- the main thread ------------------------------------------------------------------------

    def run(self):
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"bulk-{self.job.pk}") as pool:
            running = set()
            try:
                self.loop(pool, running)
            finally:
                # Rows still at the provider when the loop left (an error): their outcomes are kept.
                self.settle([future.result() for future in wait(running).done])
                close_thread_connections(pool, self.concurrency)
        return self.finish()

    def loop(self, pool, running):
        next_heartbeat = time.monotonic() + lease.HEARTBEAT
        next_control = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= next_heartbeat:
                next_heartbeat = now + lease.HEARTBEAT
                if not lease.heartbeat(self.job, self.owner):
                    self.stop_with("lost")
            if now >= next_control:
                next_control = now + CONTROL
                self.control()
                if self.on_progress:
                    self.on_progress(self.job)
            if self.stop_reason is None and now >= self.pause_until:
                for work in self.begin_next(len(running)):
                    running.add(pool.submit(self.send, work))
            if not running and (self.stop_reason or self.exhausted):
                return
            timeout = min(next_heartbeat, next_control) - time.monotonic()
            if self.pause_until > now:
                timeout = min(timeout, self.pause_until - now)
            done, _ = wait(running, timeout=max(0.01, timeout), return_when=FIRST_COMPLETED)
            running.difference_update(done)
            answered = [future.result() for future in done]
            for _, verdict, _ in answered:
                self.handle(verdict)
            self.settle(answered)

    def settle(self, answered):
        """Write the audit outcomes and the results of rows that came back, in one transaction."""
        finished = [(work, fields) for work, _, fields in answered if fields is not None]
        if not finished:
            return
        try:
            with transaction.atomic():
                attempts = [work.attempt for work, _ in finished if work.attempt is not None]
                if attempts:
                    services.finish(attempts)
                events = [event for work, _ in finished for event in work.records]
                if events:
                    AuditEvent.objects.append(events)
                for work, fields in finished:
                    row = work.row
                    BulkRow.objects.filter(pk=row.pk, correlation_id=row.correlation_id).update(**fields)
        except DatabaseError as exc:
            # The rows stay "sending": recovery reads the audit log for them.
            logger.exception("bulk job %s: row results could not be written", self.job.pk)
            self.handle(Verdict("error", message=f"{exc!r}"[:200]))

    def begin_next(self, in_flight):
        """Begin the next rows when few are left in the pool's queue: mark them ``sending``
        with their correlation ids and write their audit intents, in one transaction. Returns
        the Works begun, to be sent."""
        if self.exhausted or in_flight - self.concurrency > self.ahead // 2:
            return []
        count = self.concurrency + self.ahead - in_flight
        job = self.job
        rows = list(BulkRow.objects.filter(job=job, state=RowState.PENDING).order_by("line")[:count])
        if not rows:
            self.exhausted = True
            return []
        begun, settled_now = [], []
        for row in rows:
            row.state = RowState.SENDING
            row.correlation_id = uuid.uuid4()
            row.attempts += 1
            work = self.action.prepare(row)
            row.resumes = None  # the new attempt's intent names the one it resumes
            if isinstance(work, dict):  # it cannot be sent: settled here
                for field, value in work.items():
                    setattr(row, field, value)
                settled_now.append(row)
            else:
                begun.append(work)
        fields = ["state", "correlation_id", "resumes", "attempts", "secret_sealed", "secret_origin"]
        try:
            with transaction.atomic():
                for work in begun:  # a handful of rows: plain UPDATEs cost less than bulk_update's CASEs
                    work.row.save(update_fields=fields)
                for row in settled_now:
                    row.save(update_fields=[*fields, "done_at", "message", "http_status"])
                intents = [work.attempt for work in begun if work.attempt is not None]
                if intents:
                    services.begin(intents)
        except (services.AuditUnavailable, DatabaseError) as exc:
            logger.warning("bulk job %s: rows could not be begun (%s); waiting", job.pk, exc)
            self.handle(Verdict("busy", wait=AUDIT_PAUSE, message=str(exc)))  # the rows stay pending
            return []
        for row in settled_now:
            self.handle(Verdict("done", state=row.state, message=row.message))
        return begun

    def handle(self, verdict):
        if verdict.kind == "done":
            self.busy_streak = 0
            if verdict.state in (RowState.FAILED, RowState.UNKNOWN):
                self.failures_in_a_row += 1
                if self.failures_in_a_row >= BREAKER_FAILURES:
                    self.pause(
                        f"The last {BREAKER_FAILURES} rows all failed or ended unknown; the last one said: "
                        f"{verdict.message}"
                    )
            elif verdict.state != RowState.CONFLICT:
                self.failures_in_a_row = 0
        elif verdict.kind == "busy":
            self.busy_streak += 1
            self.exhausted = False  # the row is pending again
            wait_s = min(verdict.wait or 2 ** min(self.busy_streak, 6), MAX_PAUSE)
            until = time.monotonic() + wait_s
            if until > self.pause_until:
                self.pause_until = until
                BulkJob.objects.filter(pk=self.job.pk).update(
                    pause_until=timezone.now() + timedelta(seconds=wait_s), throttled=F("throttled") + 1
                )
                logger.info("bulk job %s: the provider asked to wait; pausing %.0f s", self.job.pk, wait_s)
        elif verdict.kind == "stop":
            self.exhausted = False
            self.pause(verdict.message)
        elif verdict.kind == "error":
            self.pause(f"An unexpected error stopped the job ({verdict.message}). Resume to continue.")

    def pause(self, reason):
        if self.stop_reason is None:
            self.stop_reason = "paused"
            self.paused_reason = reason[:500]

    def stop_with(self, reason):
        if self.stop_reason is None:
            self.stop_reason = reason

    def control(self):
        status = BulkJob.objects.filter(pk=self.job.pk).values_list("status", flat=True).first()
        if status == JobStatus.CANCELLING or status is None:
            self.stop_with("cancel")
        elif self.stop.is_set():
            self.stop_with("shutdown")
        elif self.job.secrets_expire_at and timezone.now() >= self.job.secrets_expire_at:
            self.pause(
                "The job's passwords are erased 24 hours after it was confirmed, and that time has passed. "
                "Upload the rows that were not sent again (the failed-rows CSV holds them)."
            )

    def finish(self):
        """Settle the job's status and release the lease."""
        job = self.job
        if self.stop_reason == "lost":
            return "lost"
        if self.stop_reason == "shutdown":
            lease.release(job, self.owner, status=JobStatus.QUEUED)
            return "stopped"
        if self.stop_reason == "paused":
            lease.release(job, self.owner, status=JobStatus.PAUSED, paused_reason=self.paused_reason)
            job.store_summary()
            logger.warning("bulk job %s paused: %s", job.pk, self.paused_reason)
            return "paused"
        if self.stop_reason == "cancel":
            lease.release(job, self.owner, status=JobStatus.CANCELLED, finished_at=timezone.now())
            self.record_end("bulk.cancelled")
            return "cancelled"
        if BulkRow.objects.filter(job=job, state__in=[RowState.PENDING, RowState.SENDING]).exists():
            lease.release(job, self.owner)  # rows came back while finishing: run again
            return "again"
        lease.release(job, self.owner, status=JobStatus.DONE, finished_at=timezone.now())
        self.record_end("bulk.finish")
        return "done"

    def record_end(self, action):
        found = self.job.store_summary()
        summary = ", ".join(f"{RowState(s).label.lower()}: {n}" for s, n in found.items() if n)
        record(self.job, action, actor=self.actor, message=summary[:1000])

    # --- the pool's threads ---------------------------------------------------------------------

    def send(self, work):
        """Make one row's call(s) once the job may send: (Work, Verdict, the row's fields). A
        Bosch row's thread does no database work; see the docstring for the others."""
        while self.stop_reason != "lost" and (delay := self.pause_until - time.monotonic()) > 0:
            time.sleep(min(delay, CONTROL))
        if self.stop_reason == "lost":
            # Not sent, and the row stays "sending": the lease's new holder recovers it.
            return work, Verdict("lost"), None
        try:
            return (work, *work.run())
        except Exception as exc:
            # Without an outcome the row stays "sending": recovery reads the audit log for it.
            logger.exception("bulk job %s line %s: unexpected error", self.job.pk, work.row.line)
            return work, Verdict("error", message=f"{exc!r}"[:200]), None


def run(job_id, *, stop=None, owner=None, on_progress=None):
    """Run a job until it is done, cancelled, paused or stopped. Returns one of "done",
    "cancelled", "paused", "stopped" (``stop`` was set), "again" (rows came back: run it
    again), "lost" (another executor took the lease), or "busy" (someone else runs it)."""
    owner = owner or lease.new_owner()
    close_old_connections()
    job = lease.acquire(job_id, owner)
    if job is None:
        return "busy"
    lease.recover(job)
    if job.client is None or (job.action == Action.PROVISION and job.namespace is None):
        what = "connection" if job.client is None else "namespace"
        lease.release(
            job,
            owner,
            status=JobStatus.PAUSED,
            paused_reason=f"The job's {what} was deleted; nothing more can be sent. Cancel the job.",
        )
        return "paused"
    try:
        executor = Executor(job, owner, stop=stop or threading.Event(), on_progress=on_progress)
    except crypto.SecretBoxError as exc:  # a Basic password of the connection cannot be opened
        lease.release(
            job,
            owner,
            status=JobStatus.PAUSED,
            paused_reason=f"A password stored for the connection cannot be used ({exc}). A team admin "
            "can type it again in the connection's settings; then resume the job.",
        )
        return "paused"
    except actions.Unusable as exc:
        lease.release(job, owner, status=JobStatus.PAUSED, paused_reason=f"Nothing was sent. {exc}"[:500])
        return "paused"
    return executor.run()
