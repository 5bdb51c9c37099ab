"""What the pages and commands do to a bulk job: its state transitions, each with its audit row.

Views call these functions; none of them talks HTTP (the executor does, through
provisioning.services). State changes lock the job's row inside a transaction,
so a double click, two browsers or a racing executor cannot move a job twice; a
task a change needs (validation, running) is enqueued when the transaction commits.
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from provisioning.bulk import columns, intake, lease, selection, tasks
from provisioning.bulk.credentials import SECRETS_LIFETIME
from provisioning.bulk.csvfile import Layout
from provisioning.bulk.events import record
from provisioning.bulk.forms import DEFAULT_CONCURRENCY
from provisioning.bulk.models import ACTIVE, Action, BulkJob, BulkRow, JobStatus, RowState, locked, used_as
from provisioning.models import Team, display_name

SNAPSHOT_BATCH = 2000


def upload(
    *,
    team,
    actor,
    config,
    namespace,
    upload,
    file_name,
    credentials_type,
    auth_scope,
    concurrency,
    template=None,
):
    """Store an upload (intake.receive) and have a worker check its rows; return the job.

    A job whose header does not name the expected columns waits for the operator to match
    them (status ``mapping``, see ``match_columns``) before it is checked.
    Raises intake.UploadError, and keeps nothing, when the file is unusable at first sight.
    """
    with transaction.atomic():
        job = intake.receive(
            team=team,
            actor=actor,
            config=config,
            namespace=namespace,
            upload=upload,
            file_name=file_name,
            credentials_type=credentials_type,
            auth_scope=auth_scope,
            concurrency=concurrency,
            may_map=True,
            template=template,
        )
        next_step = "its columns are matched" if job.status == JobStatus.MAPPING else "its rows are checked"
        record(
            job,
            "bulk.upload",
            actor=actor,
            message=f"{job.file_name} uploaded ({job.upload_size:,} bytes)"
            + (f", starting from template {template.label}" if template is not None else "")
            + f"; {next_step} next.",
        )
        if job.status == JobStatus.VALIDATING:
            transaction.on_commit(lambda: tasks.enqueue_validation(job.pk))
    return job


def match_columns(job, actor, targets):
    """Lay out a ``mapping`` job's rows by the operator's ``targets`` (one per column of its
    header: a field, ``attr.<key>`` or ""), remember them for the team and this header, and
    have a worker check the rows. Returns False when the job no longer waits for this (a
    second submission). Raises UploadError when ``targets`` cannot lay out the rows."""
    with transaction.atomic():
        job = locked(job)
        if job.status != JobStatus.MAPPING:
            return False
        labels = [label for label, _ in job.column_map]
        layout = Layout(labels, targets)
        job.column_map = [[label, target] for label, target in zip(labels, targets, strict=True)]
        job.columns = layout.columns
        job.ignored_columns = layout.ignored
        job.status = JobStatus.VALIDATING
        job.save(update_fields=["column_map", "columns", "ignored_columns", "status"])
        columns.remember(job.team, actor, labels, targets)
        matched = ", ".join(f"{label or '(no name)'}: {used_as(target)}" for label, target in job.column_map)
        record(job, "bulk.columns", actor=actor, message=f"Columns matched ({matched})."[:1000])
        transaction.on_commit(lambda: tasks.enqueue_validation(job.pk))
    return True


def start(job, actor, *, run_in_worker=True):
    """Confirm a draft: it is queued, and a worker task is enqueued when the transaction commits.

    ``run_in_worker=False`` (the provision_bulk command) only queues it: the caller runs it.
    Returns False when the job was no longer a draft (a second click).
    """
    now = timezone.now()
    with transaction.atomic():
        job = locked(job)
        if job.status != JobStatus.DRAFT:
            return False
        if job.client is None or job.namespace is None:
            return False
        job.status = JobStatus.QUEUED
        job.confirmed_at = now
        job.confirmed_by = actor if getattr(actor, "pk", None) else None
        job.confirmed_by_name = display_name(actor)
        job.secrets_expire_at = now + SECRETS_LIFETIME
        job.save(
            update_fields=["status", "confirmed_at", "confirmed_by", "confirmed_by_name", "secrets_expire_at"]
        )
        sending = BulkRow.objects.filter(job=job, state=RowState.PENDING).count()
        record(
            job, "bulk.start", actor=actor, message=f"Confirmed: {sending} of {job.total_rows} rows to send."
        )
        if run_in_worker:
            transaction.on_commit(lambda: tasks.enqueue_run(job.pk))
        transaction.on_commit(lambda: tasks.schedule_purge(job.pk, job.secrets_expire_at))
    return True


def start_action(team, actor, data, *, run_in_worker=True):
    """Make and queue the job a confirmed ActionForm asks for (``data``: its cleaned data): the
    devices of its Selection are snapshotted into the job's rows now, so a device that matches
    later is not added. Returns (the job, or None when nothing was made; the Selection). Nothing
    is made when the selection cannot be acted on, or is no longer the set the confirmation
    page showed (its fingerprint): the page shows it again, as it is now.
    """
    now = timezone.now()
    with transaction.atomic():
        Team.objects.select_for_update().get(pk=team.pk)  # one confirmation in a team at a time
        chosen = selection.choose(team, data)
        if chosen.problem or chosen.fingerprint != data.get("fingerprint"):
            return None, chosen
        config, namespaces = chosen.connection, chosen.namespaces
        job = BulkJob.objects.create(
            team=team,
            action=chosen.action,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_by_name=display_name(actor),
            client=config,
            client_name=config.name,
            namespace_name=namespaces[0] if len(namespaces) == 1 else "",
            credentials_type="none",
            auth_scope="",
            concurrency=data.get("concurrency") or DEFAULT_CONCURRENCY,
            keep_policy=chosen.action == Action.DEPROVISION and bool(data.get("keep_policy")),
            keep_credentials=chosen.action == Action.DEPROVISION
            and config.is_bosch
            and bool(data.get("keep_credentials")),
            selection=chosen.words[:1000],
            left_out=chosen.left_out,
            source_job=chosen.source_job,
            status=JobStatus.QUEUED,
            total_rows=chosen.count,
            confirmed_at=now,
            confirmed_by=actor if getattr(actor, "pk", None) else None,
            confirmed_by_name=display_name(actor),
        )
        _snapshot(job, chosen.devices)
        left = sum(chosen.left_out.values())
        record(
            job,
            "bulk.start",
            actor=actor,
            message=f"Confirmed: {job.get_action_display().lower()} {chosen.count} devices through "
            f"“{config.name}”" + (f"; {left} chosen were left out." if left else "."),
        )
        if run_in_worker:
            transaction.on_commit(lambda: tasks.enqueue_run(job.pk))
    return job, chosen


def _snapshot(job, devices):
    """The job's rows, one per device of ``devices`` (in their order), every one to be sent."""
    batch = []
    values = devices.values_list("device_id", "created_attempt", "last_attempt", "created_at")
    for line, (device_id, created_attempt, last_attempt, created_at) in enumerate(
        values.iterator(chunk_size=SNAPSHOT_BATCH), start=1
    ):
        # A check compares with the attempt that created the device, else (never created) with
        # its last attempt, whose outcome is unknown or which left parts of it behind.
        checks = created_attempt if created_at is not None else last_attempt
        batch.append(BulkRow(job=job, line=line, state=RowState.PENDING, device_id=device_id, checks=checks))
        if len(batch) >= SNAPSHOT_BATCH:
            BulkRow.objects.bulk_create(batch)
            batch = []
    BulkRow.objects.bulk_create(batch)


def discard(job, actor):
    """Delete a draft (or a rejected upload, or one waiting for its columns to be matched) and
    its rows, their sealed passwords with them."""
    with transaction.atomic():
        job = locked(job)
        if job.status not in (JobStatus.DRAFT, JobStatus.REJECTED, JobStatus.MAPPING):
            return False
        what = "Upload" if job.status == JobStatus.MAPPING else f"Draft of {job.total_rows} rows"
        record(job, "bulk.discard", actor=actor, message=f"{what} discarded.")
        job.delete()
    return True


def cancel(job, actor):
    """Stop sending. Rows already in flight finish; the rest stay unsent.

    A job nobody is executing is cancelled at once; otherwise its executor
    finishes the rows in flight and marks it cancelled.
    """
    now = timezone.now()
    with transaction.atomic():
        job = locked(job)
        if not job.is_cancellable:
            return False
        if job.status == JobStatus.PAUSED or not lease.lease_is_live(job, now):
            job.status = JobStatus.CANCELLED
            job.finished_at = now
            job.pause_until = None
            job.summary = job.row_counts()
        else:
            job.status = JobStatus.CANCELLING
        job.cancel_requested_by = display_name(actor)
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
        job = locked(job)
        if job.status == JobStatus.PAUSED:
            job.status = JobStatus.QUEUED
            reason = job.paused_reason
            job.paused_reason = ""
            job.save(update_fields=["status", "paused_reason"])
            record(job, "bulk.resume", actor=actor, message=f"Resumed after: {reason}"[:1000])
        elif job.status in ACTIVE and not lease.lease_is_live(job, now):
            record(job, "bulk.resume", actor=actor, message="Resumed: the worker running it had stopped.")
        else:
            return False
        transaction.on_commit(lambda: tasks.enqueue_run(job.pk))
    return True


def retryable_unknown(job):
    """Unknown rows that can be sent again: their secret (if they need one) is still kept."""
    rows = BulkRow.objects.filter(job=job, state=RowState.UNKNOWN)
    if job.credentials_type == "none" or job.acts_on_devices:
        return rows
    return rows.exclude(secret_sealed="")


def retry_unknown(job, actor):
    """Send rows whose outcome is unknown again, as the operator's explicit choice.

    Bosch: a 409 for such a row then means the earlier attempt created it: it is recorded
    as "already exists", not as a conflict. Hono + Ditto and Ditto: the row resumes its
    unknown attempt, from the first step not confirmed. Returns (rows queued, rows that
    cannot be retried because their password is no longer kept).
    """
    with transaction.atomic():
        job = locked(job)
        if job.status not in (JobStatus.DONE, JobStatus.PAUSED):
            return 0, 0
        unknown = BulkRow.objects.filter(job=job, state=RowState.UNKNOWN).count()
        queued = retryable_unknown(job).update(
            state=RowState.PENDING, resend=True, done_at=None, resumes=F("correlation_id")
        )
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
            message=f"{queued} rows with an unknown outcome sent again ({retry_words(job)}).",
        )
        transaction.on_commit(lambda: tasks.enqueue_run(job.pk))
    return queued, unknown - queued


def retry_words(job):
    """What sending a row of unknown outcome again does, for ``job``'s provider and action."""
    multi_step = job.client is not None and not job.client.is_bosch
    if job.action == Action.DEPROVISION and multi_step:
        return "each continues from the first part not confirmed deleted; a part found gone counts as deleted"
    if job.action == Action.DEPROVISION:
        return "a 404 now means the earlier attempt deleted it: it is recorded as “already gone”"
    if multi_step:
        return (
            "each continues from the first step not confirmed; an “already exists” answer to a call "
            "that went out unanswered is that call's work"
        )
    return "a 409 now means it exists"
