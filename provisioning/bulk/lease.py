"""Who runs a job: the lease, its heartbeat, and recovery after an executor died.

The lease. A job is run by at most one executor at a time. An executor takes the
lease (``lease_owner``, ``lease_expires_at``) in a locking transaction, renews it
every HEARTBEAT seconds and gives it up at the end. Another executor may take it
when it has expired (LEASE seconds without a heartbeat), or at once when its holder
ran on this host and that process is gone (a worker killed with kill -9 and started
again): an owner names its host (hostname and boot id), its process id and the
process's start time, so a new process that happens to get the same id is not
mistaken for the old one. An executor that finds its lease taken stops sending.

The same owner format names the django-tasks worker (its worker id), so the task
row a killed worker held can be told apart from one a live worker runs
(provisioning.bulk.tasks.fail_dead_tasks).

Recovery. Before an executor sends anything, ``recover`` settles the rows a dead
executor left ``sending``, from the audit log (each row's correlation id is the
attempt's):

- an outcome row exists: the row adopts it (created, conflict, failed, unknown);
- only the intent row exists: the request may have reached the provider, so the
  row is "unknown", and is sent again only when the operator asks for it;
- no intent row: it was never sent and goes back to ``pending``.

A Hono + Ditto or Ditto row (its intent's provider says so) is several calls, each
with a step row before and after it, and every call can be told apart: a create
answered "already" (Hono's 409, Ditto's 412) after a call that went out unanswered is
that call's work, and the credentials PUT replaces the set. So such a row whose
attempt has no outcome goes back to ``pending`` with ``resumes`` set: its next
attempt continues from the first step not confirmed (hono_ditto_service.resume),
and neither loses the device nor makes a part twice. An outcome found is adopted as
above, except a ``failed`` one (nothing definite: the provider busy, a token) which
is resumed the same way.

A row that reached ``created`` is never sent again.

A de-provisioning job's rows are read the same way from their ``device.deprovision`` rows,
except that a DELETE is sent at most once unless the operator asks: a row whose intent has no
outcome is "unknown" (sent again, a 404 then means "already gone"), unless it is a Hono +
Ditto or Ditto row none of whose calls had begun (no step row: nothing was sent), which goes
back to ``pending``. An outcome that left some parts deleted and the provider busy resumes from
the first part not confirmed. A check job's row whose ``device.check`` row (its correlation id)
was written adopts its finding; without one, nothing was recorded and it is read again.
"""

import logging
import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from provisioning.bulk.models import ACTIVE, Action, BulkJob, BulkRow, JobStatus, RowState, secret_to_keep
from provisioning.bulk.verdicts import CHECK_STATES, PLAN_STATES
from provisioning.models import AuditEvent

logger = logging.getLogger(__name__)

LEASE = 30  # seconds a lease lives without a heartbeat
MULTI_STEP = ("hono_ditto", "ditto")  # an intent's request["provider"] for a plan of several calls
HEARTBEAT = 2  # seconds between heartbeats


def boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "noboot"


HOST = f"{socket.gethostname()[:40]}~{boot_id()}"


def started(pid):
    """Process ``pid``'s start time (clock ticks since boot): None when the process is gone,
    "" when it runs but the start time cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        if Path("/proc/self/stat").exists():
            return None
        try:  # no /proc on this system: ask the kernel
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return ""
    except (OSError, IndexError):
        return ""
    if fields[0] == "Z":  # killed, not reaped yet by its parent: gone
        return None
    return fields[19]


def new_owner():
    """``host~boot/pid.start/random``: unique, and telling whether its process still runs."""
    pid = os.getpid()
    return f"{HOST}/{pid}.{started(pid) or ''}/{secrets.token_hex(4)}"


def owner_is_gone(owner):
    """True when ``owner`` ran on this host and its process is gone (on another host: False)."""
    host, _, rest = owner.partition("/")
    pid, _, start = rest.partition("/")[0].partition(".")
    if host != HOST or not pid.isdigit():
        return False
    now = started(int(pid))
    if now is None:
        return True
    return bool(start and now and now != start)  # the id now belongs to another process


def lease_is_live(job, now=None):
    """True when an executor holds the job's lease and may still be working on it."""
    now = now or timezone.now()
    if not job.lease_owner or job.lease_expires_at is None or job.lease_expires_at <= now:
        return False
    return not owner_is_gone(job.lease_owner)


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


def heartbeat(job, owner):
    """Renew the lease; False when it is no longer ours."""
    now = timezone.now()
    return bool(
        BulkJob.objects.filter(pk=job.pk, lease_owner=owner).update(
            lease_expires_at=now + timedelta(seconds=LEASE), heartbeat_at=now
        )
    )


def release(job, owner, **fields):
    """Give the lease up, setting ``fields`` on the job in the same statement; False if it was not ours."""
    released = {"lease_owner": "", "lease_expires_at": None, "pause_until": None}
    return bool(BulkJob.objects.filter(pk=job.pk, lease_owner=owner).update(**released, **fields))


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


IN_FLIGHT = "The worker stopped while this row was being sent: the outcome is unknown."


def recover(job):
    """Settle rows left ``sending`` by an executor that died; return how many became unknown."""
    rows = list(BulkRow.objects.filter(job=job, state=RowState.SENDING))
    if not rows:
        return 0
    cids = [row.correlation_id for row in rows if row.correlation_id]
    now = timezone.now()
    RECOVER[job.action](rows, cids, now)
    for row in rows:
        if row.state == RowState.PENDING:
            row.correlation_id = None
        row.secret_sealed = secret_to_keep(row.state, row.secret_origin, row.secret_sealed)
    fields = ["state", "http_status", "message", "done_at", "correlation_id", "resumes", "secret_sealed"]
    BulkRow.objects.bulk_update(rows, fields, batch_size=500)
    unknown = sum(1 for row in rows if row.state == RowState.UNKNOWN)
    if unknown:
        logger.warning("bulk job %s: %d rows were in flight when the last executor stopped", job.pk, unknown)
    return unknown


def _attempts(cids, action):
    """(outcome rows by correlation id, {correlation id: the intent's request["provider"]})."""
    outcomes = {
        event.correlation_id: event
        for event in AuditEvent.objects.filter(
            correlation_id__in=cids, phase=AuditEvent.Phase.OUTCOME, action=action
        ).only("correlation_id", "status", "http_status", "message")
    }
    intents = dict(
        AuditEvent.objects.filter(
            correlation_id__in=cids, phase=AuditEvent.Phase.INTENT, action=action
        ).values_list("correlation_id", "request__provider")
    )
    return outcomes, intents


def _adopt(row, found, state, now):
    row.state, row.http_status, row.message = state, found.http_status, found.message[:1000]
    row.done_at = None if state == RowState.PENDING else now


def _recover_provisioning(rows, cids, now):
    outcomes, intents = _attempts(cids, "device.provision")
    for row in rows:
        found = outcomes.get(row.correlation_id)
        if intents.get(row.correlation_id) in MULTI_STEP:
            resumed = found is None or found.status == "failed"
            if resumed:
                row.state, row.resumes = RowState.PENDING, row.correlation_id
            else:
                _adopt(row, found, PLAN_STATES.get(found.status, RowState.FAILED), now)
        elif found is not None:
            _adopt(row, found, adopted_state(found.status, found.http_status, row.resend), now)
        elif row.correlation_id in intents:
            row.state, row.done_at, row.message = RowState.UNKNOWN, now, IN_FLIGHT
        else:
            row.state = RowState.PENDING


def _recover_deprovisioning(rows, cids, now):
    outcomes, intents = _attempts(cids, "device.deprovision")
    stepped = set(
        AuditEvent.objects.filter(correlation_id__in=cids, action="device.step").values_list(
            "correlation_id", flat=True
        )
    )
    for row in rows:
        found = outcomes.get(row.correlation_id)
        multi_step = intents.get(row.correlation_id) in MULTI_STEP
        if found is not None and found.status == "deleted":
            gone = found.http_status == 404 and not multi_step
            _adopt(row, found, RowState.GONE if gone else RowState.DELETED, now)
        elif found is not None and found.status == "unknown":
            _adopt(row, found, RowState.UNKNOWN, now)
        elif found is not None and found.status == "failed":
            # Nothing reached the provider at the step that failed (a token, the provider busy):
            # sent again; the parts a multi-step attempt deleted before it are not deleted again.
            row.state, row.resumes = RowState.PENDING, row.correlation_id if multi_step else None
        elif found is not None:
            _adopt(row, found, RowState.FAILED, now)
        elif row.correlation_id not in intents or (multi_step and row.correlation_id not in stepped):
            row.state = RowState.PENDING  # nothing was sent
        else:
            row.state, row.done_at, row.message = RowState.UNKNOWN, now, IN_FLIGHT


def _recover_checks(rows, cids, now):
    recorded = {
        event.correlation_id: event
        for event in AuditEvent.objects.filter(correlation_id__in=cids, action="device.check").only(
            "correlation_id", "status", "message"
        )
    }
    for row in rows:
        found = recorded.get(row.correlation_id)
        if found is None:
            row.state = RowState.PENDING  # a read: made again, nothing was recorded
        else:
            row.state, row.message, row.done_at = (
                CHECK_STATES.get(found.status, RowState.FAILED),
                found.message[:1000],
                now,
            )


RECOVER = {
    Action.PROVISION: _recover_provisioning,
    Action.DEPROVISION: _recover_deprovisioning,
    Action.CHECK: _recover_checks,
}
