"""The django-tasks entry points; ``manage.py worker`` (or ``db_worker``) runs them.

Arguments are job primary keys (JSON). Both tasks are safe to run twice: the
executor's lease lets one run a job at a time, and purging twice erases nothing more.
"""

import logging

from django_tasks import task

from provisioning.bulk import executor
from provisioning.bulk.models import BulkJob

logger = logging.getLogger(__name__)


@task()
def run_job(job_id):
    """Send the job's rows until it is done, cancelled, paused or the worker stops."""
    result = executor.run(job_id)
    logger.info("bulk job %s: %s", job_id, result)
    return result


@task()
def purge_job_secrets(job_id):
    """Erase the job's sealed passwords (run 24 hours after it was confirmed)."""
    from provisioning.bulk.jobs import purge_secrets

    job = BulkJob.objects.filter(pk=job_id).first()
    return purge_secrets(job) if job is not None else 0
