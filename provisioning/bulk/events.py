"""The audit rows about a job itself ("bulk.*"), and who a job's rows are sent on behalf of.

Rows sent to the provider get their audit rows from provisioning.services, like a
single Send; these are the job's own: uploaded, started, cancelled, finished, and so on.
"""

from types import SimpleNamespace

from provisioning import audit


def record(job, action, *, actor, status="ok", message=""):
    """One audit row about ``job`` (not about a device); it names the job's template version."""
    return audit.record(
        action,
        actor=actor,
        team=job.team,
        config=job.client,
        status=status,
        target=f"bulk job {job.pk}: {job.file_name}"[:300],
        message=message,
        template=job.template_version,
    )


def job_actor(job):
    """Who the rows' audit entries name: the person who confirmed the job (or uploaded it)."""
    if job.confirmed_by_id:
        return job.confirmed_by
    if job.created_by_id:
        return job.created_by
    return SimpleNamespace(pk=None, username=job.confirmed_by_name or job.created_by_name)
