"""The generated passwords of a job: held sealed, downloaded once, erased after 24 hours at the latest.

``secrets_expire_at`` is 24 hours after the job was confirmed. At that time (a
deferred task, the worker's sweep, or whichever page looks first) every sealed
secret of the job is erased, typed and generated; the one-time credentials
download erases the generated ones earlier. Abandoned drafts and uploads are
dropped by the same sweep (``purge_expired``).
"""

import csv
import io
import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from provisioning import crypto, ids
from provisioning.bulk.csvfile import Layout
from provisioning.bulk.events import record
from provisioning.bulk.models import (
    FINISHED,
    BulkJob,
    BulkRow,
    JobStatus,
    RowState,
    SecretOrigin,
    locked,
    open_secret,
)
from provisioning.models import display_name

logger = logging.getLogger(__name__)

SECRETS_LIFETIME = timedelta(hours=24)
DRAFT_LIFETIME = timedelta(hours=24)  # drafts and rejected uploads nobody looked at again
# Uploads waiting for a worker, or for the operator to match their columns: the file (with any
# typed passwords) is in the database until then, so not for long.
VALIDATING_LIFETIME = timedelta(hours=1)

# Rows whose generated password may be a device's: created, existing after an unknown attempt,
# or unknown. (A conflict's or a failure's password was never set anywhere.)
CREDENTIAL_STATES = (RowState.CREATED, RowState.EXISTS, RowState.UNKNOWN)
CREDENTIAL_COLUMNS = ["line", "device_id", "auth_id", "password", "status", "note"]
NOTES = {
    RowState.CREATED: "",
    RowState.EXISTS: "Already existed after an attempt whose outcome was unknown: "
    "this password is the one that attempt sent.",
    RowState.UNKNOWN: "Outcome unknown: if the device exists, this is probably its password.",
}


def credential_rows(job):
    return BulkRow.objects.filter(
        job=job, secret_origin=SecretOrigin.GENERATED, state__in=CREDENTIAL_STATES
    ).exclude(secret_sealed="")


def retry_ended_by_download(job):
    """How many rows of unknown outcome could no longer be sent again after the download: it
    erases their generated passwords, and a row is only sent again with the password it was sent
    with (a typed password stays until the 24 hours are over)."""
    return credential_rows(job).filter(state=RowState.UNKNOWN).count()


def credentials_available(job, now=None):
    now = now or timezone.now()
    if job.credentials_downloaded_at or job.secrets_erased_at:
        return False
    if job.secrets_expire_at and job.secrets_expire_at <= now:
        return False
    return credential_rows(job).exists()


def take_credentials(job, actor):
    """The one-time credentials file (CSV text) of generated passwords, or None if gone.

    Only for finished jobs. The generated secrets are erased in the same
    transaction, so of two concurrent downloads exactly one gets the file.
    """
    now = timezone.now()
    with transaction.atomic():
        job = locked(job)
        if job.status not in FINISHED or not credentials_available(job, now):
            return None
        auth_index = Layout.for_job(job).fields.get("auth_id")  # stored cells follow job.columns
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CREDENTIAL_COLUMNS)
        rows = (
            credential_rows(job)
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
            typed_auth_id = cells[auth_index].strip() if auth_index is not None else ""
            auth_id = typed_auth_id or ids.default_auth_id(device_id)
            writer.writerow([line, device_id, auth_id, secret, RowState(state).label, NOTES[state]])
            written += 1
        BulkRow.objects.filter(job=job, secret_origin=SecretOrigin.GENERATED).update(secret_sealed="")
        job.credentials_downloaded_at = now
        job.credentials_downloaded_by = display_name(actor)
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
        job = locked(job)
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
    old = BulkJob.objects.filter(
        status__in=[JobStatus.DRAFT, JobStatus.REJECTED], created_at__lt=now - DRAFT_LIFETIME
    )
    uploads = BulkJob.objects.filter(
        status__in=[JobStatus.VALIDATING, JobStatus.MAPPING], created_at__lt=now - VALIDATING_LIFETIME
    )
    dropped = old.delete()[1].get("bulk.BulkJob", 0) + uploads.delete()[1].get("bulk.BulkJob", 0)
    return {"purged": purged, "dropped": dropped}


def ensure_fresh(job):
    """Apply an expiry the sweep has not reached yet (called by the pages)."""
    if job.secrets_expire_at and not job.secrets_erased_at and job.secrets_expire_at <= timezone.now():
        purge_secrets(job)
        job.refresh_from_db()
    return job
