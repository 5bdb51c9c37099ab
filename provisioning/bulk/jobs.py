"""What the pages and commands do to a bulk job, each action with its audit row ("bulk.*").

Views call these functions; none of them talks HTTP (the executor does, through
provisioning.services). State changes use conditional updates inside a
transaction, so a double click, two browsers or a racing executor cannot move a
job twice.

Finding stalled jobs: the db_worker does not run a task again when the worker
that held it died, so ``recover_stalled()`` enqueues a new task for every job that
should be running but whose executor's lease is dead (provisioning.bulk.executor).
The ``worker`` management command calls it at start and every few seconds; the
progress page offers the same as a "Resume" button.

Secrets: ``secrets_expire_at`` is 24 hours after the job was confirmed. At that
time (a deferred task, the worker's sweep, or whichever page looks first) every
sealed secret of the job is erased; the one-time credentials download erases
the generated ones earlier.
"""

import csv
import io
import logging
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from provisioning import audit, crypto
from provisioning.bulk import executor
from provisioning.bulk.models import (
    ACTIVE,
    FINISHED,
    PROBLEM_STATES,
    SKIPPED_STATES,
    BulkJob,
    BulkRow,
    JobStatus,
    RowState,
    SecretOrigin,
    open_secret,
)

logger = logging.getLogger(__name__)

SECRETS_LIFETIME = timedelta(hours=24)
DRAFT_LIFETIME = timedelta(hours=24)
VALIDATING_LIFETIME = timedelta(hours=1)
RATE_WINDOW = 20  # seconds of finished rows the current rate is measured over
WAITING_HINT_AFTER = 10  # seconds a queued job may wait before the page asks whether a worker runs


def record(job, action, *, actor, status="ok", message=""):
    """One audit row about a job (not about a device: those are written by services)."""
    return audit.record(
        action,
        actor=actor,
        team=job.team,
        config=job.client,
        status=status,
        target=f"bulk job {job.pk}: {job.file_name}"[:300],
        message=message,
    )


def job_actor(job):
    """Who the rows' audit entries name: the person who confirmed the job (or uploaded it)."""
    if job.confirmed_by_id:
        return job.confirmed_by
    if job.created_by_id:
        return job.created_by
    return SimpleNamespace(pk=None, username=job.confirmed_by_name or job.created_by_name)


# --- reading ------------------------------------------------------------------------------------


def counts(job):
    """{state: number of rows} with every state present (0 when none)."""
    found = dict(BulkRow.objects.filter(job=job).values_list("state").annotate(n=Count("id")).order_by())
    return {state: found.get(state, 0) for state in RowState.values}


@dataclass
class Progress:
    counts: dict
    total: int
    to_send: int
    done: int
    remaining: int
    skipped: int
    percent: int
    rate: float | None  # rows finished per second
    eta_seconds: int | None
    executor: str  # running, waiting, stalled, idle

    @property
    def created(self):
        return self.counts[RowState.CREATED]

    @property
    def failed(self):
        return self.counts[RowState.FAILED]

    @property
    def conflict(self):
        return self.counts[RowState.CONFLICT]

    @property
    def exists(self):
        return self.counts[RowState.EXISTS]

    @property
    def unknown(self):
        return self.counts[RowState.UNKNOWN]

    @property
    def problems(self):
        """Rows the failed-rows CSV holds."""
        return sum(self.counts[s] for s in PROBLEM_STATES)

    @property
    def rate_text(self):
        if not self.rate:
            return ""
        return f"{self.rate:.1f} devices/s" if self.rate < 100 else f"{self.rate:.0f} devices/s"

    @property
    def eta_text(self):
        return duration_text(self.eta_seconds) if self.eta_seconds else ""


def duration_text(seconds):
    """42 -> "42 s"; 250 -> "4 min 10 s"; 7300 -> "2 h 1 min"."""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes} min {rest} s" if rest and minutes < 10 else f"{minutes} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min"


def snapshot(job):
    """Store the row counts on the job (BulkJob.summary) and return them."""
    found = counts(job)
    BulkJob.objects.filter(pk=job.pk).update(summary=found)
    job.summary = found
    return found


def progress(job, now=None, *, from_summary=False):
    """Counts, rate and time left. ``from_summary`` uses the stored counts of a job that is
    not running (the job list), instead of counting its rows."""
    now = now or timezone.now()
    if from_summary and job.summary and not job.is_active:
        by_state = {state: job.summary.get(state, 0) for state in RowState.values}
    else:
        by_state = counts(job)
    total = sum(by_state.values())
    skipped = sum(by_state[s] for s in SKIPPED_STATES)
    to_send = total - skipped
    remaining = by_state[RowState.PENDING] + by_state[RowState.SENDING]
    done = to_send - remaining
    rate = None
    if job.started_at:
        if job.is_finished and job.finished_at:
            elapsed = (job.finished_at - job.started_at).total_seconds()
            rate = done / elapsed if elapsed > 0 and done else None
        elif job.status == JobStatus.RUNNING:
            window = min(RATE_WINDOW, max((now - job.started_at).total_seconds(), 1))
            recent = BulkRow.objects.filter(job=job, done_at__gte=now - timedelta(seconds=window)).count()
            rate = recent / window if recent else None
    eta = int(remaining / rate) + 1 if rate and remaining and job.is_active else None
    if eta is not None and job.pause_until and job.pause_until > now:
        eta += int((job.pause_until - now).total_seconds())  # the provider asked us to wait first
    return Progress(
        counts=by_state,
        total=total,
        to_send=to_send,
        done=done,
        remaining=remaining,
        skipped=skipped,
        percent=int(done * 100 / to_send) if to_send else 100,
        rate=rate,
        eta_seconds=eta,
        executor=executor_state(job, now),
    )


def executor_state(job, now=None):
    """running (a live executor holds the lease), waiting (a task waits for a worker),
    stalled (nobody works on a job that should be running), or idle (not active)."""
    if job.status not in ACTIVE:
        return "idle"
    now = now or timezone.now()
    if executor.lease_is_live(job, now):
        return "running"
    if _task_waiting(job):
        return "waiting"
    return "stalled"


def _task_waiting(job):
    if not job.task_id:
        return False
    from django_tasks_db.models import DBTaskResult

    status = DBTaskResult.objects.filter(id=job.task_id).values_list("status", flat=True).first()
    return status == "READY"


def first_preview(job):
    """The request the first row to send would make (provisioning.views.devices.request_preview), or None."""
    from provisioning.bulk.intake import Layout, row_form
    from provisioning.views.devices import request_preview

    row = (
        BulkRow.objects.filter(job=job, state__in=[RowState.PENDING, RowState.CREATED, RowState.SENDING])
        .order_by("line")
        .first()
    )
    if row is None or job.client is None or job.namespace is None:
        return None
    password = ""
    if row.secret_origin == SecretOrigin.TYPED and row.secret_sealed:
        try:
            password = open_secret(job.public_id, row.line, row.secret_sealed)
        except crypto.SecretBoxError:
            return None
    form, problems, _ = row_form(job, Layout.for_job(job), row.cells, password=password)
    if problems or not form.is_valid():
        return None
    preview = request_preview(form)  # masks the typed password; a blank one shows as generated
    preview["line"] = row.line
    return preview


# --- changing a job -------------------------------------------------------------------------------


def enqueue(job_pk):
    """Ask a worker to run the job (a new django-tasks task); remember the task's id."""
    from provisioning.bulk.tasks import run_job

    result = run_job.enqueue(job_pk)
    BulkJob.objects.filter(pk=job_pk).update(task_id=str(result.id))
    return result


def _enqueue_on_commit(job_pk):
    transaction.on_commit(lambda: enqueue(job_pk))


def _locked(job):
    return BulkJob.objects.select_for_update(of=("self",)).select_related("team", "client").get(pk=job.pk)


def start(job, actor, *, run_in_worker=True):
    """Confirm a draft: it is queued, and a worker task is enqueued when the transaction commits.

    ``run_in_worker=False`` (the provision_bulk command) only queues it: the caller runs it.
    Returns False when the job was no longer a draft (a second click).
    """
    now = timezone.now()
    with transaction.atomic():
        job = _locked(job)
        if job.status != JobStatus.DRAFT:
            return False
        if job.client is None or job.namespace is None:
            return False
        job.status = JobStatus.QUEUED
        job.confirmed_at = now
        job.confirmed_by = actor if getattr(actor, "pk", None) else None
        job.confirmed_by_name = getattr(actor, "username", "") or ""
        job.secrets_expire_at = now + SECRETS_LIFETIME
        job.save(
            update_fields=[
                "status",
                "confirmed_at",
                "confirmed_by",
                "confirmed_by_name",
                "secrets_expire_at",
            ]
        )
        sending = BulkRow.objects.filter(job=job, state=RowState.PENDING).count()
        record(
            job, "bulk.start", actor=actor, message=f"Confirmed: {sending} of {job.total_rows} rows to send."
        )
        if run_in_worker:
            _enqueue_on_commit(job.pk)
        transaction.on_commit(lambda: _schedule_purge(job.pk, job.secrets_expire_at))
    return True


def _schedule_purge(job_pk, when):
    from provisioning.bulk.tasks import purge_job_secrets

    purge_job_secrets.using(run_after=when).enqueue(job_pk)


def discard(job, actor):
    """Delete a draft and its rows (their sealed passwords with them)."""
    with transaction.atomic():
        job = _locked(job)
        if job.status != JobStatus.DRAFT:
            return False
        record(job, "bulk.discard", actor=actor, message=f"Draft of {job.total_rows} rows discarded.")
        job.delete()
    return True


def cancel(job, actor):
    """Stop sending. Rows already in flight finish; the rest stay unsent.

    A job nobody is executing is cancelled at once; otherwise its executor
    finishes the rows in flight and marks it cancelled.
    """
    now = timezone.now()
    with transaction.atomic():
        job = _locked(job)
        if job.status not in (*ACTIVE, JobStatus.PAUSED) or job.status == JobStatus.CANCELLING:
            return False
        name = getattr(actor, "username", "") or ""
        if job.status == JobStatus.PAUSED or not executor.lease_is_live(job, now):
            job.status = JobStatus.CANCELLED
            job.finished_at = now
            job.pause_until = None
            job.summary = counts(job)
        else:
            job.status = JobStatus.CANCELLING
        job.cancel_requested_by = name
        job.save(update_fields=["status", "finished_at", "pause_until", "cancel_requested_by", "summary"])
        record(
            job,
            "bulk.cancel",
            actor=actor,
            message="Cancel requested; rows in flight finish, no new ones are sent.",
        )
    return True


def resume(job, actor):
    """Continue a paused job, or one whose executor died (a new task is enqueued)."""
    now = timezone.now()
    with transaction.atomic():
        job = _locked(job)
        if job.status == JobStatus.PAUSED:
            job.status = JobStatus.QUEUED
            reason = job.paused_reason
            job.paused_reason = ""
            job.save(update_fields=["status", "paused_reason"])
            record(job, "bulk.resume", actor=actor, message=f"Resumed after: {reason}"[:1000])
        elif job.status in ACTIVE and not executor.lease_is_live(job, now):
            record(job, "bulk.resume", actor=actor, message="Resumed: the worker running it had stopped.")
        else:
            return False
        _enqueue_on_commit(job.pk)
    return True


def retryable_unknown(job):
    """Unknown rows that can be sent again: their secret (if they need one) is still kept."""
    rows = BulkRow.objects.filter(job=job, state=RowState.UNKNOWN)
    if job.credentials_type == "none":
        return rows
    return rows.exclude(secret_sealed="")


def retry_unknown(job, actor):
    """Send rows whose outcome is unknown again, as the operator's explicit choice.

    A 409 for such a row then means the earlier attempt created it: it is recorded
    as "already exists", not as a conflict. Returns (rows queued, rows that cannot
    be retried because their password is no longer kept).
    """
    with transaction.atomic():
        job = _locked(job)
        if job.status not in (JobStatus.DONE, JobStatus.PAUSED):
            return 0, 0
        unknown = BulkRow.objects.filter(job=job, state=RowState.UNKNOWN).count()
        queued = retryable_unknown(job).update(state=RowState.PENDING, resend=True, done_at=None)
        if not queued:
            return 0, unknown
        job.status = JobStatus.QUEUED
        job.finished_at = None
        job.paused_reason = ""
        job.save(update_fields=["status", "finished_at", "paused_reason"])
        record(
            job,
            "bulk.retry_unknown",
            actor=actor,
            message=f"{queued} rows with an unknown outcome sent again (a 409 now means it exists).",
        )
        _enqueue_on_commit(job.pk)
    return queued, unknown - queued


# --- results ----------------------------------------------------------------------------------------


def failed_rows_csv(job):
    """Lines of a CSV with the rows that did not end up created, ready to fix and upload again.

    The columns are the upload's, plus ``error``; the password cell is always empty
    (typed passwords are not given back), which the error text says for rows that had one.
    """
    states = list(PROBLEM_STATES)
    if job.status == JobStatus.CANCELLED:
        states.append(RowState.PENDING)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*job.columns, "error"])
    yield out.getvalue()
    rows = (
        BulkRow.objects.filter(job=job, state__in=states)
        .order_by("line")
        .values_list("line", "state", "cells", "message", "http_status", "secret_origin")
    )
    for line, state, cells, message, http_status, origin in rows.iterator(chunk_size=2000):
        out.seek(0)
        out.truncate()
        label = RowState(state).label if state != RowState.PENDING else "Not sent (cancelled)"
        status = f", HTTP {http_status}" if http_status else ""
        note = f"Line {line} ({label}{status}): {message}".rstrip(": ")
        if origin == SecretOrigin.TYPED:
            note += " The typed password is not kept: enter it again, or leave it empty to generate one."
        writer.writerow([*_safe_cells(cells), note])
        yield out.getvalue()


def _safe_cells(cells):
    """Cells as written back to a CSV: a leading = + - @ cannot start a spreadsheet formula."""
    return ["'" + c if c[:1] in ("=", "+", "-", "@", "\t", "\r") else c for c in cells]


def credentials_available(job, now=None):
    now = now or timezone.now()
    if job.credentials_downloaded_at or job.secrets_erased_at:
        return False
    if job.secrets_expire_at and job.secrets_expire_at <= now:
        return False
    return _credential_rows(job).exists()


# Rows whose generated password may be a device's: created, existing after an unknown attempt,
# or unknown. (A conflict's or a failure's password was never set anywhere.)
CREDENTIAL_STATES = (RowState.CREATED, RowState.EXISTS, RowState.UNKNOWN)


def _credential_rows(job):
    return BulkRow.objects.filter(
        job=job, secret_origin=SecretOrigin.GENERATED, state__in=CREDENTIAL_STATES
    ).exclude(secret_sealed="")


CREDENTIAL_COLUMNS = ["line", "device_id", "auth_id", "password", "status", "note"]


def take_credentials(job, actor):
    """The one-time credentials file (CSV text) of generated passwords, or None if gone.

    Only for finished jobs. The generated secrets are erased in the same
    transaction, so of two concurrent downloads exactly one gets the file.
    """
    from provisioning import ids
    from provisioning.bulk.intake import Layout

    now = timezone.now()
    with transaction.atomic():
        job = _locked(job)
        if job.status not in FINISHED or not credentials_available(job, now):
            return None
        auth_index = Layout.for_job(job).fields.get("auth_id")  # stored cells follow job.columns
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CREDENTIAL_COLUMNS)
        rows = (
            _credential_rows(job)
            .order_by("line")
            .values_list("line", "device_id", "state", "cells", "secret_sealed")
        )
        written = 0
        for line, device_id, state, cells, sealed in rows.iterator(chunk_size=2000):
            try:
                secret = open_secret(job.public_id, line, sealed)
            except crypto.SecretBoxError:
                logger.warning("bulk job %s line %s: a generated password could not be opened", job.pk, line)
                continue
            auth_id = (cells[auth_index].strip() if auth_index is not None else "") or ids.default_auth_id(
                device_id
            )
            note = {
                RowState.CREATED: "",
                RowState.EXISTS: "Already existed after an attempt whose outcome was unknown: "
                "this password is the one that attempt sent.",
                RowState.UNKNOWN: "Outcome unknown: if the device exists, this is probably its password.",
            }[state]
            writer.writerow([line, device_id, auth_id, secret, RowState(state).label, note])
            written += 1
        BulkRow.objects.filter(job=job, secret_origin=SecretOrigin.GENERATED).update(secret_sealed="")
        job.credentials_downloaded_at = now
        job.credentials_downloaded_by = getattr(actor, "username", "") or ""
        job.save(update_fields=["credentials_downloaded_at", "credentials_downloaded_by"])
        record(
            job,
            "bulk.credentials_download",
            actor=actor,
            message=f"Credentials file of {written} generated passwords downloaded; they are erased here.",
        )
    return out.getvalue()


def purge_secrets(job, *, reason="expired"):
    """Erase every sealed secret of the job (typed and generated); the audit keeps its redacted record."""
    now = timezone.now()
    with transaction.atomic():
        job = _locked(job)
        if job.secrets_erased_at:
            return 0
        unread = BulkRow.objects.filter(job=job, secret_origin=SecretOrigin.GENERATED).exclude(
            secret_sealed=""
        )
        unread_count = unread.count() if not job.credentials_downloaded_at else 0
        erased = BulkRow.objects.filter(job=job).exclude(secret_sealed="").update(secret_sealed="")
        job.secrets_erased_at = now
        job.save(update_fields=["secrets_erased_at"])
        if unread_count:
            record(
                job,
                "bulk.credentials_expired",
                actor=None,
                message=f"{unread_count} generated passwords were never downloaded; now erased ({reason}).",
            )
    return erased


def purge_expired(now=None):
    """Erase the secrets of jobs past their expiry; drop abandoned drafts and uploads. Returns a summary."""
    now = now or timezone.now()
    purged = 0
    for job in BulkJob.objects.filter(secrets_expire_at__lte=now, secrets_erased_at__isnull=True):
        purge_secrets(job)
        purged += 1
    drafts = BulkJob.objects.filter(status=JobStatus.DRAFT, created_at__lt=now - DRAFT_LIFETIME)
    uploads = BulkJob.objects.filter(status=JobStatus.VALIDATING, created_at__lt=now - VALIDATING_LIFETIME)
    dropped = drafts.delete()[1].get("bulk.BulkJob", 0) + uploads.delete()[1].get("bulk.BulkJob", 0)
    return {"purged": purged, "dropped": dropped}


def ensure_fresh(job):
    """Apply an expiry the sweep has not reached yet (called by the pages)."""
    if job.secrets_expire_at and not job.secrets_erased_at and job.secrets_expire_at <= timezone.now():
        purge_secrets(job)
        job.refresh_from_db()
    return job


def recover_stalled(now=None):
    """Enqueue a task for each job that should run but whose executor is gone. Returns the job ids."""
    now = now or timezone.now()
    revived = []
    for job in BulkJob.objects.filter(status__in=ACTIVE):
        if executor.lease_is_live(job, now) or _task_waiting(job):
            continue
        # A job confirmed a moment ago whose task a worker is just starting is not stalled.
        if job.heartbeat_at is None and job.confirmed_at and job.confirmed_at > now - timedelta(seconds=5):
            continue
        logger.info("bulk job %s has no live executor; enqueuing it again", job.pk)
        enqueue(job.pk)
        revived.append(job.pk)
    return revived
