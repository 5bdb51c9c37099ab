"""Reading a bulk CSV: the template, the columns, and the dry run that stores a draft job.

The file
- UTF-8, with or without a byte-order mark. Anything else (UTF-16, an Excel
  workbook, bytes that are not UTF-8) is refused as a whole with a plain message.
- The delimiter is ``,`` or ``;``, whichever the header line holds more of
  (outside quotes); quoting follows the usual spreadsheet rules (RFC 4180).
- The first non-empty line names the columns: ``name`` (required), ``password``
  (empty: one is generated when the row is sent), ``auth_id``, ``enabled``
  (true/false, yes/no, 1/0; empty means true), ``via``, ``definition``, and one
  ``attr.<key>`` column per thing attribute (an empty cell adds nothing). Header
  names are matched without regard to case, spaces, ``_`` or ``-``; other columns
  are reported on the preview as ignored and their cells are never stored.
- Empty lines are skipped; line numbers are the file's own, so "line 12" is what a
  text editor shows.

Every row is validated by provisioning.device_form.DeviceForm, the class of the
single-device builder, with the job's client configuration and namespace passed
in, so a row costs no query. Then, in this order, a row is marked invalid (with
the form's reasons), duplicate-in-file (device id or auth id already on an
earlier line), already-provisioned-here (the audit log has a "created" outcome
for it and no later de-provisioning), or pending ("will create").

The upload is streamed: rows are validated one at a time and written in batches,
so memory holds one batch and the sets of ids seen, never the whole file.
A typed password is sealed (bound to job and line) before it is stored, and only
for rows that will be sent; ``cells`` keep the other values, for the failed-rows CSV.
"""

import codecs
import csv
import io
import itertools
import re

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max

from provisioning import ids
from provisioning.bulk.models import BulkJob, BulkRow, JobStatus, RowState, SecretOrigin, seal_secret
from provisioning.device_form import AUTH_SCOPE_DEFAULT, MAX_ATTRIBUTES, DeviceForm
from provisioning.models import AuditEvent

BATCH_ROWS = 2000
MAX_COLUMNS = 200
ATTR_PREFIX = "attr."
TEMPLATE_HEADER = [
    "name",
    "password",
    "auth_id",
    "enabled",
    "via",
    "definition",
    "attr.manufacturer",
    "attr.location",
]
TEMPLATE_ROWS = [
    ["sensor-0001", "", "", "true", "", "", "ACME", "Building 1, floor 3"],
    ["sensor-0002", "", "", "true", "", "", "ACME", "Building 1, floor 4"],
]
# Normalised header -> DeviceForm field.
KNOWN_COLUMNS = {
    "name": "name",
    "password": "password",
    "authid": "auth_id",
    "enabled": "enabled",
    "via": "via",
    "definition": "definition",
}
# How each DeviceForm field is named in messages about a row (the template's column names).
FIELD_COLUMNS = {
    "name": "name",
    "password": "password",
    "auth_id": "auth_id",
    "enabled": "enabled",
    "via": "via",
    "definition": "definition",
}
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
_ATTRIBUTE_ROW_RE = re.compile(r"^Attribute row (\d+): ")
# NUL cannot be stored (PostgreSQL text and JSON refuse it) nor sent: a row with one is invalid,
# and its cells are kept with this in its place.
NUL_STAND_IN = "\ufffd"


class UploadError(Exception):
    """The file as a whole cannot be used; ``message`` says why, in plain words."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def template_csv():
    """The downloadable template: the columns the device builder has, and two example rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerows(TEMPLATE_ROWS)
    return out.getvalue()


def column_key(header):
    """``"Auth ID"`` -> ``"authid"``; ``"attr.Room"`` -> ``"attr.Room"`` (attribute keys keep their case)."""
    text = header.strip()
    if text[: len(ATTR_PREFIX)].lower() == ATTR_PREFIX:
        return ATTR_PREFIX + text[len(ATTR_PREFIX) :].strip()
    return re.sub(r"[\s_-]+", "", text.lower())


class Layout:
    """Where each field is in a row, from the header. ``columns`` are the used headers, in file order."""

    def __init__(self, header):
        if len(header) > MAX_COLUMNS:
            raise UploadError(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are read.")
        self.fields = {}  # form field -> index in the file's row
        self.attributes = []  # (key, index in the file's row, header)
        self.columns = []  # used headers, in file order
        self.indexes = []  # their indexes in the file's row
        self.ignored = []
        self.width = len(header)
        seen = {}
        for index, raw in enumerate(header):
            raw = raw.replace("\x00", NUL_STAND_IN)
            key = column_key(raw)
            label = raw.strip()
            if not key:
                if label or any(cell.strip() for cell in header[index + 1 :]):
                    self.ignored.append(label or f"(column {index + 1} has no name)")
                continue
            if key in seen:
                raise UploadError(
                    f"The column “{label}” appears twice (columns {seen[key] + 1} and {index + 1})."
                )
            seen[key] = index
            if key.startswith(ATTR_PREFIX):
                attribute = key[len(ATTR_PREFIX) :]
                problem = ids.key_error(attribute, "attribute key")
                if problem:
                    raise UploadError(f"The column “{label}”: {problem}")
                self.attributes.append((attribute, index, label))
            elif key in KNOWN_COLUMNS:
                self.fields[KNOWN_COLUMNS[key]] = index
            else:
                self.ignored.append(label)
                continue
            self.columns.append(label)
            self.indexes.append(index)
        if "name" not in self.fields:
            raise UploadError(
                "The first line must name the columns, and one of them must be “name”. "
                "Download the template to see them all."
            )
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise UploadError(f"The file has {len(self.attributes)} attr. columns; at most {MAX_ATTRIBUTES}.")
        self.password_index = self.fields.get("password")

    @classmethod
    def for_job(cls, job):
        """The layout of a job's stored ``cells`` (job.columns, in order)."""
        return cls(job.columns)

    def stored_cells(self, cells):
        """The cells kept for a row: the used columns, the password left empty."""
        width = len(cells)
        kept = [cells[i] if i < width else "" for i in self.indexes]
        if self.password_index is not None:
            kept[self.indexes.index(self.password_index)] = ""
        return kept


class RowData(dict):
    """Form data for one row: a dict with ``getlist`` for the attribute rows, as DeviceForm reads them."""

    __slots__ = ("lists",)

    def getlist(self, key, default=None):
        return self.lists.get(key, [] if default is None else default)


def row_data(layout, cells, job_fields, *, password=None):
    """(RowData, problems) for the file's ``cells``; problems are column errors the form cannot see."""
    width = len(cells)
    fields = layout.fields
    data = RowData(job_fields)
    problems = []
    for field in ("name", "auth_id", "via", "definition"):
        index = fields.get(field)
        data[field] = cells[index] if index is not None and index < width else ""
    if password is not None:
        data["password"] = password
    else:
        index = layout.password_index
        data["password"] = cells[index] if index is not None and index < width else ""
    index = fields.get("enabled")
    enabled = ENABLED_VALUES.get(cells[index].strip().lower() if index is not None and index < width else "")
    if enabled is None:
        problems.append("enabled: use true or false (or leave it empty for true).")
    elif enabled:
        data["enabled"] = "on"
    keys, values, labels = [], [], []
    for key, index, label in layout.attributes:
        if index < width and cells[index] != "":
            keys.append(key)
            values.append(cells[index])
            labels.append(label)
    data.lists = {"attr_key": keys, "attr_value": values}
    return data, problems, labels


def job_fields(job):
    """The form fields that are the same for every row of ``job``."""
    return {
        "credentials_type": job.credentials_type,
        "policy_mode": "generated",
        "auth_scope": job.auth_scope or AUTH_SCOPE_DEFAULT,
        "features": "",
    }


def row_form(job, layout, cells, *, password=None, config=None, namespace=None):
    """The bound DeviceForm of a stored row (the executor builds the body from it at send time)."""
    data, problems, labels = row_data(layout, cells, job_fields(job), password=password)
    form = DeviceForm(data, team=job.team, config=config or job.client, namespace=namespace or job.namespace)
    return form, problems, labels


def form_problems(form, labels):
    """A row's errors as one line: ``name: Enter a device name. attr.floor: ...``."""
    parts = []
    for field, errors in form.errors.items():
        if field == "__all__":
            for error in errors:
                match = _ATTRIBUTE_ROW_RE.match(error)
                if match and 0 < int(match.group(1)) <= len(labels):
                    parts.append(f"{labels[int(match.group(1)) - 1]}: {error[match.end() :]}")
                else:
                    parts.append(error)
        else:
            parts.append(f"{FIELD_COLUMNS.get(field, field)}: {' '.join(errors)}")
    return " ".join(parts)


# --- reading the file ---------------------------------------------------------------------------


def _text_lines(binary):
    """The file as text lines (ends kept), after checking its encoding's byte-order mark."""
    head = binary.read(4)
    binary.seek(0)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        raise UploadError("The file is UTF-32 text. Save it as “CSV UTF-8” and upload it again.")
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UploadError("The file is UTF-16 text. Save it as “CSV UTF-8” and upload it again.")
    if head.startswith(b"PK\x03\x04"):
        raise UploadError("This looks like a spreadsheet workbook, not CSV. Export it as “CSV UTF-8” first.")
    # utf-8-sig drops a leading byte-order mark; newline="" hands line ends to the csv module.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def _delimiter(line):
    counts = {",": 0, ";": 0}
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return ";" if counts[";"] > counts[","] else ","


def read_records(binary):
    """(header, records): records yield (line number, cells) for every non-empty line.

    Raises UploadError for a file that cannot be read as a whole (encoding, a cell
    beyond the csv module's field limit, no header).
    """
    text = _text_lines(binary)
    skipped = 0
    try:
        first = text.readline()
        while first and not first.strip():
            skipped += 1
            first = text.readline()
    except UnicodeDecodeError:
        raise UploadError(_not_utf8(1)) from None
    if not first:
        raise UploadError("The file is empty. Download the template to see the columns.")
    reader = csv.reader(itertools.chain([first], text), delimiter=_delimiter(first))
    try:
        header = next(reader)
    except csv.Error as exc:
        raise UploadError(_csv_problem(exc, skipped + 1)) from None
    except UnicodeDecodeError:
        raise UploadError(_not_utf8(skipped + 1)) from None

    def records():
        previous = reader.line_num
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise UploadError(_csv_problem(exc, skipped + previous + 1)) from None
            except UnicodeDecodeError:
                raise UploadError(_not_utf8(skipped + previous + 1)) from None
            line = skipped + previous + 1
            previous = reader.line_num
            if any(cell.strip() for cell in cells):
                yield line, cells

    return header, records()


def _not_utf8(line):
    return (
        f"The file is not UTF-8 text (an invalid byte on or after line {line}). "
        "Save it as “CSV UTF-8” and upload it again."
    )


def _csv_problem(exc, line):
    text = str(exc)
    if "field larger than field limit" in text:
        return f"Line {line}: a cell is longer than {csv.field_size_limit():,} characters."
    return f"Line {line} cannot be read as CSV ({text})."


# --- the dry run ----------------------------------------------------------------------------------


def create_draft(
    *, team, actor, config, namespace, binary, file_name, credentials_type, auth_scope, concurrency
):
    """Validate an upload and store it as a draft job; return the job.

    Raises UploadError (and stores nothing) when the file as a whole is unusable
    or over the limits. Individual bad rows do not stop the upload: they are
    stored as invalid, with their reasons, for the preview.
    """
    limit = settings.BULK_MAX_UPLOAD_MB * 1024 * 1024
    binary.seek(0, io.SEEK_END)
    size = binary.tell()
    binary.seek(0)
    if size > limit:
        raise UploadError(
            f"The file is {size / 1024 / 1024:.1f} MB; uploads may be at most "
            f"{settings.BULK_MAX_UPLOAD_MB} MB. Split it into several files."
        )
    header, records = read_records(binary)
    layout = Layout(header)
    job = BulkJob.objects.create(
        team=team,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_by_name=getattr(actor, "username", "") or "",
        client=config,
        client_name=config.name,
        namespace=namespace,
        namespace_name=namespace.name,
        file_name=(file_name or "").replace("\x00", "")[:255],
        columns=layout.columns,
        ignored_columns=layout.ignored,
        credentials_type=credentials_type,
        auth_scope=auth_scope or AUTH_SCOPE_DEFAULT,
        concurrency=concurrency,
        status=JobStatus.VALIDATING,
    )
    try:
        total = _validate_rows(job, layout, records, config, namespace)
    except BaseException:
        BulkJob.objects.filter(pk=job.pk).delete()
        raise
    if total == 0:
        BulkJob.objects.filter(pk=job.pk).delete()
        raise UploadError("The file has a header line but no rows.")
    from provisioning.bulk.jobs import counts

    BulkJob.objects.filter(pk=job.pk).update(status=JobStatus.DRAFT, total_rows=total, summary=counts(job))
    job.refresh_from_db()
    return job


class _Row:
    """A row on its way to the database (plain attributes: building model instances cost more)."""

    __slots__ = (
        "cells",
        "device_id",
        "line",
        "message",
        "password",
        "secret_origin",
        "secret_sealed",
        "state",
    )

    def __init__(self, line, cells):
        self.line = line
        self.cells = cells
        self.state = RowState.PENDING
        self.device_id = ""
        self.message = ""
        self.password = ""
        self.secret_sealed = ""
        self.secret_origin = ""


def _validate_rows(job, layout, records, config, namespace):
    max_rows = settings.BULK_MAX_ROWS
    fields = job_fields(job)
    team = job.team
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
        data, problems, labels = row_data(layout, cells, fields)
        if nul:
            problems.append("The line holds a NUL character (shown as \ufffd), which cannot be sent.")
        form = DeviceForm(data, team=team, config=config, namespace=namespace)
        valid = form.is_valid()
        row = _Row(line, layout.stored_cells(cells))
        if len(cells) > layout.width and any(cell.strip() for cell in cells[layout.width :]):
            problems.append(f"This line has {len(cells)} cells, but the header names {layout.width} columns.")
        if not valid or problems:
            if not valid:
                problems.append(form_problems(form, labels))
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
                    row.password = form.cleaned_data["password"]
        batch.append(row)
        if len(batch) >= BATCH_ROWS:
            _store_batch(job, team, batch)
            batch = []
    if batch:
        _store_batch(job, team, batch)
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


def _store_batch(job, team, batch):
    existing = provisioned_here(team, [row.device_id for row in batch if row.state == RowState.PENDING])
    for row in batch:
        if row.state != RowState.PENDING:
            continue
        when = existing.get(row.device_id)
        if when is not None:
            row.state = RowState.PROVISIONED
            row.message = f"Created by this dashboard on {when:%Y-%m-%d %H:%M} UTC; it is skipped."
        elif row.password:
            row.secret_sealed = seal_secret(job.public_id, row.line, row.password)
            row.secret_origin = SecretOrigin.TYPED
        row.password = ""
    _insert_rows(job, batch)


INSERT_FIELDS = ("job", "line", "state", "device_id", "cells", "secret_sealed", "secret_origin", "message")


def _insert_rows(job, batch):
    """Store a batch without model instances (the ORM's per-value work took longer than
    validating the rows): COPY on PostgreSQL, one executemany of an INSERT elsewhere (SQLite
    runs in this process, so there is no round trip per row). The columns not named take
    their defaults."""
    meta = BulkRow._meta
    quote = connection.ops.quote_name
    cells_field = meta.get_field("cells")
    defaults = {"attempts": 0, "busy_retries": 0, "resend": False}
    names = [*INSERT_FIELDS, *defaults]
    table = quote(meta.db_table)
    columns = ", ".join(quote(meta.get_field(name).column) for name in names)
    tail = tuple(defaults.values())
    params = [
        (
            job.pk,
            row.line,
            row.state,
            row.device_id,
            cells_field.get_db_prep_save(row.cells, connection),
            row.secret_sealed,
            row.secret_origin,
            row.message,
            *tail,
        )
        for row in batch
    ]
    # Only quoted model names and placeholders are formatted into the SQL; values are parameters.
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(names))
            sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
            cursor.executemany(sql, params)
