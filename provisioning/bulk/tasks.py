"""The django-tasks side of bulk jobs: the tasks ``manage.py worker`` runs, enqueuing them,
and the task rows and jobs a dead worker left behind.

Arguments are job primary keys (JSON). Every task is safe to run twice: validation
does nothing to a job that is no longer validating, the executor's lease lets one
run a job at a time, and purging twice erases nothing more.

A dead worker. db_worker marks a task RUNNING when a worker claims it and never
looks at it again, so a worker killed with kill -9 (or lost with its host) leaves
its task RUNNING for ever, and the job it was running has nobody. ``sweep`` (run by
every worker when it starts and every few seconds after, see the ``worker``
command) finds both: a task whose worker id (provisioning.bulk.lease.new_owner)
names a process of this host that is gone is marked failed at once with the
model's own ``set_failed``; a job whose lease is dead gets a new task (its old
task, if still RUNNING, is marked failed: on another host once the lease expired).
"""

import logging
import threading
from contextvars import ContextVar
from datetime import timedelta

from django.utils import timezone
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from provisioning.bulk import credentials, executor, intake, lease
from provisioning.bulk.models import ACTIVE, BulkJob, JobStatus

logger = logging.getLogger(__name__)

# The stop event of the worker running the current task (the ``worker`` command sets it
# around each task it runs, and sets the event on SIGTERM); None outside a worker.
worker_stop = ContextVar("bulk_worker_stop", default=None)


class WorkerGone(Exception):
    """The reason recorded on a task whose worker died while running it."""


@task()
def validate_upload(job_id):
    """Read and check an uploaded file: the job becomes a draft, or is rejected with the reason."""
    job = BulkJob.objects.select_related("team", "client", "namespace").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.VALIDATING:
        return "gone"
    try:
        intake.validate(job)
    except intake.UploadError as exc:
        intake.reject(job, exc.message)
        return "rejected"
    return "draft"


@task()
def run_job(job_id):
    """Send the job's rows until it is done, cancelled, paused or the worker stops."""
    result = executor.run(job_id, stop=worker_stop.get() or threading.Event())
    if result in ("stopped", "again"):
        enqueue_run(job_id)  # the next worker to look (this one, or one started later) continues it
    logger.info("bulk job %s: %s", job_id, result)
    return result


@task()
def purge_job_secrets(job_id):
    """Erase the job's sealed passwords (run 24 hours after it was confirmed)."""
    job = BulkJob.objects.filter(pk=job_id).first()
    return credentials.purge_secrets(job) if job is not None else 0


def enqueue_run(job_pk):
    """Ask a worker to run the job (a new task); remember the task's id on the job."""
    result = run_job.enqueue(job_pk)
    BulkJob.objects.filter(pk=job_pk).update(task_id=str(result.id))
    return result


def enqueue_validation(job_pk):
    result = validate_upload.enqueue(job_pk)
    BulkJob.objects.filter(pk=job_pk).update(task_id=str(result.id))
    return result


def schedule_purge(job_pk, when):
    return purge_job_secrets.using(run_after=when).enqueue(job_pk)


def job_task(job):
    """The job's latest task row, or None."""
    if not job.task_id:
        return None
    return DBTaskResult.objects.filter(id=job.task_id).first()


def task_waiting(job):
    """True when the job's latest task waits for a worker."""
    found = job_task(job)
    return found is not None and found.status == "READY"


def fail_dead_tasks():
    """Mark failed the RUNNING tasks whose worker ran on this host and is gone; return their ids."""
    failed = []
    for found in DBTaskResult.objects.running():
        if found.worker_ids and lease.owner_is_gone(found.worker_ids[-1]):
            found.set_failed(
                WorkerGone(f"The worker {found.worker_ids[-1]} stopped while running this task.")
            )
            failed.append(str(found.id))
    return failed


def revive_stalled(now=None):
    """Enqueue a new task for every job that should be worked on but has nobody; return the job ids.

    A job that should be running whose lease is dead (its old task, if still RUNNING, is
    marked failed), and an upload whose validation task is gone.
    """
    now = now or timezone.now()
    revived = []
    for job in BulkJob.objects.filter(status__in=[*ACTIVE, JobStatus.VALIDATING]):
        found = job_task(job)
        if found is not None and found.status == "READY":
            continue  # waiting for a worker
        if job.status == JobStatus.VALIDATING:
            if found is None or found.status != "RUNNING":
                enqueue_validation(job.pk)
                revived.append(job.pk)
            continue
        if lease.lease_is_live(job, now):
            continue
        if found is not None and found.status == "RUNNING":
            if (found.started_at or now) > now - timedelta(seconds=lease.LEASE):
                continue  # a worker took the task a moment ago: its executor takes the lease next
            # Its worker ran elsewhere (one of this host would be failed already) and went quiet.
            found.set_failed(WorkerGone("The worker running this bulk job stopped."))
        elif job.heartbeat_at is None and job.confirmed_at and job.confirmed_at > now - timedelta(seconds=5):
            continue  # confirmed a moment ago: its task is being enqueued
        logger.info("bulk job %s has no live executor; enqueuing it again", job.pk)
        enqueue_run(job.pk)
        revived.append(job.pk)
    return revived


def sweep():
    """One round of recovery and clean-up (the worker runs it at start and every few seconds)."""
    dead = fail_dead_tasks()
    revived = revive_stalled()
    cleaned = credentials.purge_expired()
    if revived:
        logger.warning("Re-enqueued bulk jobs whose worker had stopped: %s", ", ".join(map(str, revived)))
    return {"dead_tasks": dead, "revived": revived, **cleaned}
