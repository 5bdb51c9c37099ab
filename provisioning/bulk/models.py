"""A bulk job and its rows: a CSV upload to provision, or an action on devices that exist.

A job has an ``action``: ``provision`` (a CSV upload, the statuses below from
``validating``), or ``deprovision`` / ``check`` (devices chosen on the Devices page,
provisioning.bulk.selection): those are confirmed on their own page, so they are made
``queued`` with their rows already snapshotted, and run like any job.

A job moves through these statuses::

    (mapping ->) validating -> draft -> queued -> running -> done
                      |           \\                 |  \\-> cancelling -> cancelled
                      v            (discarded)       \\-> paused (needs the operator) -> queued ...
                   rejected (the file as a whole cannot be used: ``upload_error`` says why)

``mapping``: the file's header does not name the columns this dashboard reads (a vendor's
spreadsheet), so the file waits (BulkUpload) while the operator matches its columns to the
fields (``column_map``; provisioning.bulk.columns remembers the choice per team and header).

``validating``: the upload request stored the file (BulkUpload) and answered; the worker
reads and checks it (provisioning.bulk.intake.validate), then deletes the stored bytes.
``draft`` is the dry run: every row is stored with what would happen to it, and
nothing is sent until the operator confirms. ``done`` jobs go back to ``queued``
when the operator retries rows whose outcome is unknown.

A row's ``state`` is the single truth of where it is (see RowState). A row is only
ever sent from ``pending``; it is claimed (``sending``, with its correlation id
stored) before the audit intent row is written, so after a crash the audit log
tells whether it was sent (provisioning.bulk.lease.recover).

Secrets: a typed password is sealed into ``secret_sealed`` (provisioning.crypto,
bound to the job and line), a generated one is sealed there when the row is
claimed. Neither is ever stored in plain text, logged or rendered; both are erased
when no longer needed, at the one-time credentials download, or at
``secrets_expire_at`` at the latest.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Count
from django.utils import timezone

from provisioning import crypto
from provisioning.models import Connection, Namespace, Team, TemplateVersion


class JobStatus(models.TextChoices):
    MAPPING = "mapping", "Waiting for its columns to be matched"
    VALIDATING = "validating", "Validating the upload"
    REJECTED = "rejected", "File not accepted"
    DRAFT = "draft", "Waiting for confirmation"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    CANCELLING = "cancelling", "Cancelling"
    CANCELLED = "cancelled", "Cancelled"
    DONE = "done", "Finished"


# Statuses in which an executor should be working on the job.
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING)
FINISHED = (JobStatus.DONE, JobStatus.CANCELLED)
CANCELLABLE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.PAUSED)
# Statuses a job is shown in the job list with (a job being validated is not a job yet).
LISTED = (
    JobStatus.DRAFT,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
    JobStatus.PAUSED,
    JobStatus.CANCELLING,
    JobStatus.CANCELLED,
    JobStatus.DONE,
)


class Action(models.TextChoices):
    PROVISION = "provision", "Provision"
    DEPROVISION = "deprovision", "De-provision"
    CHECK = "check", "Check at provider"


class RowState(models.TextChoices):
    # Decided by the dry run; these rows are never sent.
    INVALID = "invalid", "Invalid"
    DUPLICATE = "duplicate", "Duplicate in file"
    PROVISIONED = "provisioned", "Already provisioned here"
    # The life of a row that is sent.
    PENDING = "pending", "Will create"
    SENDING = "sending", "Sending"
    CREATED = "created", "Created"
    CONFLICT = "conflict", "Conflict"
    EXISTS = "exists", "Already exists"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"
    # A de-provisioning row's ends.
    DELETED = "deleted", "De-provisioned"
    GONE = "gone", "Already gone"
    # A check's findings (provisioning.drift: each part present as sent, missing, or different).
    PRESENT = "present", "Present as sent"
    DIFFERENT = "different", "Different"
    PARTIAL = "partial", "Partly there"
    MISSING = "missing", "Missing"


SKIPPED_STATES = (RowState.INVALID, RowState.DUPLICATE, RowState.PROVISIONED)
FINAL_STATES = (
    RowState.CREATED,
    RowState.CONFLICT,
    RowState.EXISTS,
    RowState.FAILED,
    RowState.UNKNOWN,
    RowState.DELETED,
    RowState.GONE,
    RowState.PRESENT,
    RowState.DIFFERENT,
    RowState.PARTIAL,
    RowState.MISSING,
)
# The states a job's counts show, in order, for each action (others are shown when not zero).
SHOWN_STATES = {
    Action.PROVISION: (RowState.CREATED, RowState.CONFLICT, RowState.FAILED, RowState.UNKNOWN),
    Action.DEPROVISION: (RowState.DELETED, RowState.GONE, RowState.FAILED, RowState.UNKNOWN),
    Action.CHECK: (RowState.PRESENT, RowState.DIFFERENT, RowState.MISSING, RowState.FAILED),
}
# Rows the failed-rows CSV holds: everything that did not end up existing at the provider.
PROBLEM_STATES = (RowState.INVALID, RowState.DUPLICATE, RowState.CONFLICT, RowState.FAILED, RowState.UNKNOWN)


class SecretOrigin(models.TextChoices):
    NONE = "", "None"
    TYPED = "typed", "Typed in the CSV"
    GENERATED = "generated", "Generated"


class BulkJob(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="bulk_jobs")
    action = models.CharField(max_length=12, choices=Action.choices, default=Action.PROVISION)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    # Kept when the connection or namespace is deleted, so the job's page still reads well.
    client = models.ForeignKey(Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    client_name = models.CharField(max_length=100)
    namespace = models.ForeignKey(
        Namespace, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    namespace_name = models.CharField(max_length=254)
    file_name = models.CharField(max_length=255, blank=True)
    # While validating: the upload's size and how far the worker has read it (the progress bar).
    upload_size = models.PositiveBigIntegerField(default=0)
    validated_bytes = models.PositiveBigIntegerField(default=0)
    # Status "rejected": why the file as a whole could not be used.
    upload_error = models.CharField(max_length=1000, blank=True)
    # The columns of the file that are used, in file order; every row's ``cells`` follow them.
    columns = models.JSONField(default=list)
    ignored_columns = models.JSONField(default=list)
    # A file whose columns the operator matched (status "mapping" and after): [the file's column,
    # what it is used as] for each column of its header, in file order. What it is used as is a
    # field ("name", "password", ...), "attr.<key>", or "" (ignored); while the job is "mapping",
    # what the header names by itself. Empty for a file read by its header's names.
    column_map = models.JSONField(default=list, blank=True)
    credentials_type = models.CharField(max_length=20, default="hashed-password")
    auth_scope = models.CharField(max_length=40, default="__default__")
    concurrency = models.PositiveSmallIntegerField(default=4)
    # The template version the rows start from (bulk.intake fills what a row does not give, and
    # refuses a cell that changes a fixed value), or None. Its rows are sent with this version
    # even if the template is edited meanwhile. RESTRICT: a version a job may still send with is
    # never deleted with its template (only with the team, which takes the job along).
    template_version = models.ForeignKey(
        TemplateVersion, on_delete=models.RESTRICT, null=True, blank=True, related_name="bulk_jobs"
    )
    # A de-provisioning job's options, as a single de-provision offers them for the provider.
    keep_policy = models.BooleanField(default=False)
    keep_credentials = models.BooleanField(default=False)
    # An action job: what the operator chose (in words), and the devices chosen that were left
    # out, {reason: count}; "de-provision what this job created" names the job.
    selection = models.CharField(max_length=1000, blank=True)
    left_out = models.JSONField(default=dict, blank=True)
    source_job = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.VALIDATING)
    total_rows = models.PositiveIntegerField(default=0)
    # {row state: count} as of the last time the job stopped (draft, finished, paused), for the
    # job list; a running job is counted live.
    summary = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The person who confirmed the job: the actor of its rows' audit entries.
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    confirmed_by_name = models.CharField(max_length=150, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.CharField(max_length=150, blank=True)

    # The executor's lease (provisioning.bulk.lease): who runs the job, until when.
    lease_owner = models.CharField(max_length=120, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # The provider asked us to wait (429/503 with Retry-After): nothing is sent before this.
    pause_until = models.DateTimeField(null=True, blank=True)
    throttled = models.PositiveIntegerField(default=0)
    # Why the job stopped and waits for the operator (status "paused").
    paused_reason = models.CharField(max_length=500, blank=True)

    secrets_expire_at = models.DateTimeField(null=True, blank=True)
    secrets_erased_at = models.DateTimeField(null=True, blank=True)
    credentials_downloaded_at = models.DateTimeField(null=True, blank=True)
    credentials_downloaded_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["team", "-created_at"], name="bulk_job_team_time"),
            models.Index(fields=["status"], name="bulk_job_status"),
        ]

    def __str__(self):
        return f"Bulk job {self.pk} ({self.title})"

    @property
    def title(self):
        """What the job is, in a few words: its file's name, or its action."""
        if self.action == Action.PROVISION:
            return self.file_name or "upload"
        return self.get_action_display()

    @property
    def acts_on_devices(self):
        """True for a de-provisioning or checking job (rows chosen on the Devices page)."""
        return self.action != Action.PROVISION

    @property
    def is_active(self):
        return self.status in ACTIVE

    @property
    def is_finished(self):
        return self.status in FINISHED

    @property
    def is_cancellable(self):
        return self.status in CANCELLABLE

    @property
    def matched_columns(self):
        """[(the file's column, what it was used as, in words)] of a job whose columns were matched."""
        if self.status == JobStatus.MAPPING:
            return []
        return [(label or "(no name)", used_as(target)) for label, target in self.column_map]

    def row_counts(self):
        """{state: number of rows} with every state present (0 when none)."""
        found = dict(self.rows.values_list("state").annotate(n=Count("id")).order_by())
        return {state: found.get(state, 0) for state in RowState.values}

    def store_summary(self):
        """Store the row counts on the job (``summary``, read by the job list) and return them."""
        self.summary = self.row_counts()
        BulkJob.objects.filter(pk=self.pk).update(summary=self.summary)
        return self.summary


class ColumnMapping(models.Model):
    """How a team matched the columns of a header to fields, offered again for the same header.

    ``signature`` is provisioning.bulk.columns.header_signature (the header's names in order,
    without regard to case, spaces, ``_`` or ``-``); ``targets`` hold what each column is used
    as, as in BulkJob.column_map. The names themselves are not kept: nothing reads them, and a
    file whose first line was data, not names, would have left a device's values here.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="column_mappings")
    signature = models.CharField(max_length=64)
    targets = models.JSONField(default=list)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "signature"], name="bulk_column_mapping_unique")
        ]

    def __str__(self):
        return f"Column mapping of team {self.team_id} ({len(self.targets)} columns)"


class BulkUpload(models.Model):
    """The uploaded file, from the upload request until the worker has validated it (and, for a
    file whose columns need matching, while the operator matches them).

    The bytes live in the database because it is the one place every process shares:
    the web worker that took the upload and the job worker that reads it may run on
    different hosts (several gunicorns and workers on PostgreSQL), and nothing else
    (a media folder, say) is shared by default. The row is deleted when validation ends.
    """

    job = models.OneToOneField(BulkJob, on_delete=models.CASCADE, related_name="upload")
    data = models.BinaryField()

    def __str__(self):
        return f"Upload of bulk job {self.job_id}"


class BulkRow(models.Model):
    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="rows")
    line = models.PositiveIntegerField(help_text="The line of the CSV file on which the row starts.")
    state = models.CharField(max_length=12, choices=RowState.choices)
    device_id = models.CharField(max_length=300, blank=True)
    # The row's cells for job.columns; the password cell is always empty (see secret_sealed).
    cells = models.JSONField(default=list)
    secret_sealed = models.TextField(blank=True)
    secret_origin = models.CharField(max_length=10, choices=SecretOrigin.choices, blank=True)
    message = models.CharField(max_length=1000, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    correlation_id = models.UUIDField(null=True, blank=True)
    # Hono + Ditto and Ditto rows: the earlier attempt the next send continues (from its first
    # step not confirmed; hono_ditto_service.resume). Set when an attempt stopped with steps made
    # or maybe made (a busy provider, a pause, a worker that died, an unknown outcome sent again).
    resumes = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Unavailable (429/503) answers in a row; the row fails after verdicts.MAX_BUSY_RETRIES.
    busy_retries = models.PositiveSmallIntegerField(default=0)
    # Chosen by the operator to be sent again after an unknown outcome: a 409 then means "exists".
    resend = models.BooleanField(default=False)
    # A check row: the provisioning attempt whose intent the device is compared with.
    checks = models.UUIDField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["line"]
        constraints = [models.UniqueConstraint(fields=["job", "line"], name="bulk_row_line_unique")]
        indexes = [
            models.Index(fields=["job", "state", "line"], name="bulk_row_job_state_line"),
            models.Index(fields=["job", "done_at"], name="bulk_row_job_done"),
        ]

    def __str__(self):
        return f"line {self.line}: {self.device_id or '(invalid)'} ({self.state})"


def used_as(target):
    """What a column with ``target`` (a field, ``attr.<key>`` or "") is used as, in words."""
    if not target:
        return "ignored"
    if target.startswith("attr."):
        return f"attribute {target[len('attr.') :]}"
    return target


def locked(job):
    """``job``'s row again, locked until the transaction ends (a state change reads it this way)."""
    return BulkJob.objects.select_for_update(of=("self",)).select_related("team", "client").get(pk=job.pk)


def secret_aad(job_public_id, line):
    """Associated data binding a sealed device secret to one row of one job."""
    return f"bulkrow:{job_public_id}:{line}:secret"


def seal_secret(job_public_id, line, secret):
    return crypto.seal(secret, secret_aad(job_public_id, line))


def open_secret(job_public_id, line, sealed):
    return crypto.open_sealed(sealed, secret_aad(job_public_id, line))


def secret_to_keep(state, origin, sealed):
    """What a row's ``secret_sealed`` becomes once it reaches ``state``.

    A row that may be sent again (pending, unknown) keeps it; a created row keeps a
    generated one for the one-time credentials download; every other row drops it.
    """
    if state in (RowState.UNKNOWN, RowState.PENDING):
        return sealed
    if state in (RowState.CREATED, RowState.EXISTS) and origin == SecretOrigin.GENERATED:
        return sealed
    return ""
