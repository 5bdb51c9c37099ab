"""Reading a bulk CSV: the upload, the columns, and the dry run that turns it into a draft job.

Two steps. ``receive`` runs in the upload request: it checks what can be checked at
once (size, encoding mark, the header line, a first row), stores the file in the
database (BulkUpload) and creates the job in status ``validating`` (or, when the
operator is to match the header's columns to the fields first, ``mapping``: the
mapping step's choice, in ``job.column_map``, then lays out the rows). ``validate`` runs
in the worker (provisioning.bulk.tasks.validate_upload): it reads every row, stores
them in batches with the job's progress, and leaves a ``draft`` (the dry run the
operator confirms) or, when the file as a whole cannot be used, raises UploadError.

Every row is validated by provisioning.device_form.DeviceForm, the class of the
single-device builder, with the job's connection and namespace passed
in, so a row costs no query. Then, in this order, a row is marked invalid (with
the form's reasons), duplicate-in-file (device id or auth id already on an
earlier line), already-provisioned-here (the audit log has a "created" outcome
for it and no later de-provisioning), or pending ("will create").

Rows are validated one at a time and written in batches, so memory holds the file,
one batch and the sets of ids seen. A typed password is sealed (bound to job and
line) before it is stored, and only for rows that will be sent; ``cells`` keep the
other values, for the failed-rows CSV.
"""

import io
import re

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from provisioning import ids, template_use
from provisioning.bulk.columns import proposal
from provisioning.bulk.csvfile import (
    NUL_STAND_IN,
    Layout,
    UploadError,
    check_width,
    column_key,
    mismatch,
    read_records,
)
from provisioning.bulk.models import (
    BulkJob,
    BulkRow,
    BulkUpload,
    JobStatus,
    RowState,
    SecretOrigin,
    seal_secret,
)
from provisioning.device_form import AUTH_SCOPE_DEFAULT, DeviceForm
from provisioning.models import AuditEvent, display_name

BATCH_ROWS = 2000
ENABLED_VALUES = {
    "": True,
    "true": True,
    "yes": True,
    "y": True,
    "1": True,
    "on": True,
    "false": False,
    "no": False,
    "n": False,
    "0": False,
    "off": False,
}
ATTRIBUTE_ROW_RE = re.compile(r"^Attribute row (\d+): ")


class RowData(dict):
    """Form data for one row: a dict with ``getlist`` for the attribute rows, as DeviceForm reads them."""

    __slots__ = ("lists",)

    def getlist(self, key, default=None):
        return self.lists.get(key, [] if default is None else default)


def row_data(layout, cells, *, password=None, template=None):
    """(RowData, problems, attribute labels) for the file's ``cells``; problems are column
    errors the form cannot see.

    A field the file has no column for (or whose column was ignored) is not in the data at
    all, so what the file does not give stays told apart from an empty cell; ``enabled``
    alone is "on" then, as for an empty cell (a device is enabled unless the file says not).
    ``template``: the job's TemplateVersion, which fills what the cells do not give and
    refuses a cell that changes a value it fixes (template_use.fill_row).
    """
    width = len(cells)
    fields = layout.fields
    data = RowData()
    problems = []
    for field in ("name", "auth_id", "via", "definition", "password"):
        index = fields.get(field)
        if index is not None:
            data[field] = cells[index] if index < width else ""
    if password is not None:
        data["password"] = password
    index = fields.get("enabled")
    cell = cells[index].strip().lower() if index is not None and index < width else ""
    enabled = ENABLED_VALUES.get(cell)
    if enabled is None:
        problems.append(
            f"{column_words('enabled', layout.labels)}: use true or false (or leave it empty for "
            f"{'the template' if template is not None else 'true'})."
        )
    elif enabled and template is None:
        data["enabled"] = "on"
    keys, values, labels = [], [], []
    for key, index, label in layout.attributes:
        if index < width and cells[index] != "":
            keys.append(key)
            values.append(cells[index])
            labels.append(label)
    data.lists = {"attr_key": keys, "attr_value": values}
    if template is not None:
        problems += template_use.fill_row(data, template, enabled=enabled if cell else None, labels=labels)
    return data, problems, labels


class RowForm(DeviceForm):
    """The device builder's form for one CSV row of ``job``.

    What is the same for every row of a job (connection, namespace, credentials type,
    policy, authScope; no features, key or policy id, or the features and policy of the job's
    template) is not a field here but a fixed value from the job, which DeviceForm.clean puts
    in ``cleaned_data`` (the upload form checked those values once). Django copies a form's
    fields for every instance: this keeps the copy to the fields a row has, which halves what
    validating a row costs.
    """

    config = namespace = credentials_type = policy_mode = auth_scope = None
    features = psk_key = policy_id = secret_was_typed = generate_instead = None

    def __init__(self, data, *, job):
        super().__init__(data, team=job.team, config=job.client, namespace=job.namespace)
        self.fixed.update(
            credentials_type=job.credentials_type,
            policy_mode="generated",
            auth_scope=job.auth_scope or AUTH_SCOPE_DEFAULT,
            features={},
            psk_key="",
            policy_id="",
        )
        if job.template_version is not None:
            self.fixed.update(template_use.job_values(job.template_version))

    def clean(self):
        cleaned = super().clean()
        namespace, name = self.fixed["namespace"], cleaned.get("name") or ""
        if name.startswith(f"{namespace.name}:") and "name" not in self.errors:
            # A "Device ID" column read as the name may hold whole ids: namespace:name.
            self.add_error(
                "name",
                f"This is a whole device id: write only the part after “{namespace.name}:” "
                "(the job's namespace is put in front).",
            )
        config = self.fixed["config"]
        if not config.is_bosch and cleaned.get("credentials_type") == "none":
            # A Bosch job ignores these cells when it sends no credentials; a Hono + Ditto or Ditto
            # row says so, since the operator may have meant the devices to get them.
            words = (
                "A Ditto connection registers no credentials (Hono does): leave the cell empty."
                if not config.has_hono
                else "The job sends no credentials (Credentials: None): leave the cell empty, or "
                "upload the file again with Credentials: Password."
            )
            for field in ("password", "auth_id"):
                if (self.data.get(field) or "").strip() and field not in self.errors:
                    self.add_error(field, words)
        return cleaned


def row_form(job, layout, cells, *, password=None):
    """The bound RowForm of a stored row (the executor builds the body from it at send time)."""
    data, problems, labels = row_data(layout, cells, password=password, template=job.template_version)
    return RowForm(data, job=job), problems, labels


def column_words(field, names):
    """How a row's reason names ``field``: by the file's name for its column (``names``: field ->
    name), with the field after it when the two differ (``Serial (name)``)."""
    name = names.get(field) or field
    return name if column_key(name) == column_key(field) else f"{name} ({field})"


def form_problems(form, labels, names=None):
    """A row's errors as one line: ``name: Enter a device name. attr.floor: ...``; ``names`` are
    the file's names for the fields' columns (Layout.labels)."""
    parts = []
    for field, errors in form.errors.items():
        if field == "__all__":
            for error in errors:
                match = ATTRIBUTE_ROW_RE.match(error)
                if match and 0 < int(match.group(1)) <= len(labels):
                    parts.append(f"{labels[int(match.group(1)) - 1]}: {error[match.end() :]}")
                else:
                    parts.append(error)
        else:
            parts.append(f"{column_words(field, names or {})}: {' '.join(errors)}")
    return " ".join(parts)


# --- the upload request ---------------------------------------------------------------------------


def receive(
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
    may_map=False,
    template=None,
):
    """Store an upload as a job in status ``validating``; return the job.

    Only what costs no more than reading the first lines is checked here (size, encoding
    mark, header, a first row): the rows are validated by the worker (``validate``).
    With ``may_map`` (the upload page), a header that does not name the expected columns
    makes a job in status ``mapping`` instead, its ``column_map`` what the names say.
    Raises UploadError, and stores nothing, when the file is unusable as a whole.
    ``upload`` is a binary file object (Django's UploadedFile, or an open file); ``template``
    the TemplateVersion every row starts from, or None.
    """
    limit = settings.BULK_MAX_UPLOAD_MB * 1024 * 1024
    upload.seek(0, io.SEEK_END)
    size = upload.tell()
    upload.seek(0)
    if size > limit:
        raise UploadError(
            f"The file is {size / 1024 / 1024:.1f} MB; uploads may be at most "
            f"{settings.BULK_MAX_UPLOAD_MB} MB. Split it into several files."
        )
    data = upload.read()
    header, records = read_records(io.BytesIO(data))
    check_width(header)
    mapping = may_map and bool(mismatch(header))
    layout = None if mapping else Layout(header)
    if next(records, None) is None:
        raise UploadError("The file has a header line but no rows.")
    with transaction.atomic():
        job = BulkJob.objects.create(
            team=team,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_by_name=display_name(actor),
            client=config,
            client_name=config.name,
            namespace=namespace,
            namespace_name=namespace.name,
            file_name=(file_name or "").replace("\x00", "")[:255],
            columns=layout.columns if layout else [],
            ignored_columns=layout.ignored if layout else [],
            column_map=proposal(header) if mapping else [],
            credentials_type=credentials_type,
            auth_scope=auth_scope or AUTH_SCOPE_DEFAULT,
            concurrency=concurrency,
            template_version=template,
            status=JobStatus.MAPPING if mapping else JobStatus.VALIDATING,
            upload_size=size,
        )
        BulkUpload.objects.create(job=job, data=data)
    return job


# --- the dry run, in the worker ---------------------------------------------------------------------


def validate(job):
    """Read and validate the stored upload of a ``validating`` job; it becomes a draft.

    Raises UploadError when the file as a whole cannot be used (a byte that is not UTF-8,
    too many rows, ...): the rows stored so far are deleted first, so nothing is kept.
    Does nothing for a job that is no longer validating (a task run twice).
    """
    upload = BulkUpload.objects.filter(job=job, job__status=JobStatus.VALIDATING).first()
    if upload is None:
        return False
    if job.client is None or job.namespace is None:
        raise UploadError("The connection or the namespace was deleted while the file was checked.")
    BulkRow.objects.filter(job=job).delete()  # what a worker that died while validating left
    binary = io.BytesIO(upload.data)
    del upload
    try:
        header, records = read_records(binary)
        layout = Layout(header, [target for _, target in job.column_map] if job.column_map else None)
        total = store_rows(job, layout, records, binary)
        if total == 0:
            raise UploadError("The file has a header line but no rows.")
    except UploadError:
        BulkRow.objects.filter(job=job).delete()
        raise
    with transaction.atomic():
        BulkJob.objects.filter(pk=job.pk).update(
            status=JobStatus.DRAFT, total_rows=total, validated_bytes=job.upload_size
        )
        job.refresh_from_db()
        job.store_summary()
        BulkUpload.objects.filter(job=job).delete()
    return True


def store_rows(job, layout, records, binary):
    """Validate and store every record; the job's progress is written after each batch."""
    max_rows = settings.BULK_MAX_ROWS
    with_credentials = job.credentials_type == "hashed-password"
    seen_ids = {}
    seen_auth_ids = {}
    batch = []
    total = 0
    for line, cells in records:
        total += 1
        if total > max_rows:
            raise UploadError(f"The file has more than {max_rows:,} rows. Split it into several files.")
        nul = any("\x00" in cell for cell in cells)
        if nul:
            cells = [cell.replace("\x00", NUL_STAND_IN) for cell in cells]
        data, problems, labels = row_data(layout, cells, template=job.template_version)
        if nul:
            problems.append("The line holds a NUL character (shown as \ufffd), which cannot be sent.")
        form = RowForm(data, job=job)
        valid = form.is_valid()
        row = BulkRow(job=job, line=line, cells=layout.stored_cells(cells), state=RowState.PENDING)
        password = ""
        if len(cells) > layout.width and any(cell.strip() for cell in cells[layout.width :]):
            problems.append(f"This line has {len(cells)} cells, but the header names {layout.width} columns.")
        if not valid or problems:
            if not valid:
                problems.append(form_problems(form, labels, layout.labels))
            row.state = RowState.INVALID
            row.message = " ".join(problems)[:1000]
            if valid:
                row.device_id = form.device_id
        else:
            device_id = form.device_id
            row.device_id = device_id
            auth_id = (
                (form.cleaned_data["auth_id"] or ids.default_auth_id(device_id)) if with_credentials else None
            )
            if device_id in seen_ids:
                row.state = RowState.DUPLICATE
                row.message = f"The device id {device_id} is already on line {seen_ids[device_id]}."
            elif auth_id is not None and auth_id in seen_auth_ids:
                row.state = RowState.DUPLICATE
                row.message = f"The auth id {auth_id} is already used on line {seen_auth_ids[auth_id]}."
            else:
                seen_ids[device_id] = line
                if auth_id is not None:
                    seen_auth_ids[auth_id] = line
                if with_credentials:
                    password = form.cleaned_data["password"]
        batch.append((row, password))
        if len(batch) >= BATCH_ROWS:
            store_batch(job, batch, progress={"total_rows": total, "validated_bytes": binary.tell()})
            batch = []
    if batch:  # the reader has closed the file at its end
        store_batch(job, batch, progress={"total_rows": total, "validated_bytes": job.upload_size})
    return total


def provisioned_here(team, device_ids):
    """{device id: when} for ids this dashboard created in ``team`` and has not de-provisioned since."""
    if not device_ids:
        return {}
    created = dict(
        AuditEvent.objects.filter(
            team_id=team.pk,
            action="device.provision",
            phase=AuditEvent.Phase.OUTCOME,
            status="created",
            target__in=device_ids,
        )
        .values("target")
        .annotate(last=Max("created_at"))
        .values_list("target", "last")
    )
    if not created:
        return {}
    deleted = dict(
        AuditEvent.objects.filter(
            team_id=team.pk,
            action="device.deprovision",
            phase=AuditEvent.Phase.OUTCOME,
            status="deleted",
            target__in=list(created),
        )
        .values("target")
        .annotate(last=Max("created_at"))
        .values_list("target", "last")
    )
    return {
        target: when for target, when in created.items() if target not in deleted or deleted[target] < when
    }


def store_batch(job, batch, *, progress):
    """Mark the rows already provisioned here, seal typed passwords, insert the rows, and
    write the job's progress: one transaction. ``batch`` holds (row, typed password) pairs."""
    pending = [row.device_id for row, _ in batch if row.state == RowState.PENDING]
    existing = provisioned_here(job.team, pending)
    for row, password in batch:
        if row.state == RowState.PENDING:
            when = existing.get(row.device_id)
            if when is not None:
                row.state = RowState.PROVISIONED
                row.message = f"Created by this dashboard on {when:%Y-%m-%d %H:%M} UTC; it is skipped."
            elif password:
                row.secret_sealed = seal_secret(job.public_id, row.line, password)
                row.secret_origin = SecretOrigin.TYPED
    with transaction.atomic():
        BulkRow.objects.bulk_create([row for row, _ in batch], batch_size=BATCH_ROWS)
        BulkJob.objects.filter(pk=job.pk).update(**progress)


def reject(job, message):
    """The file as a whole cannot be used: the job keeps the reason, its rows and file go."""
    with transaction.atomic():
        BulkRow.objects.filter(job=job).delete()
        BulkUpload.objects.filter(job=job).delete()
        BulkJob.objects.filter(pk=job.pk, status=JobStatus.VALIDATING).update(
            status=JobStatus.REJECTED, upload_error=message[:1000], total_rows=0
        )


def create_draft(
    *,
    team,
    actor,
    config,
    namespace,
    binary,
    file_name,
    credentials_type,
    auth_scope,
    concurrency,
    template=None,
):
    """``receive`` then ``validate`` in this process (the provision_bulk command, tests).

    Raises UploadError and keeps nothing when the file cannot be used."""
    job = receive(
        team=team,
        actor=actor,
        config=config,
        namespace=namespace,
        upload=binary,
        file_name=file_name,
        credentials_type=credentials_type,
        auth_scope=auth_scope,
        concurrency=concurrency,
        template=template,
    )
    try:
        validate(job)
    except UploadError:
        job.delete()
        raise
    job.refresh_from_db()
    return job
