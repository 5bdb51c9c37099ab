"""The CSV files the bulk pages offer: the template to fill in, and the rows that were not created."""

import csv
import io

from provisioning.bulk.models import PROBLEM_STATES, BulkRow, JobStatus, RowState, SecretOrigin
from provisioning.exports import safe_cell

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


def template_csv():
    """The downloadable template: the columns the device builder has, and two example rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerows(TEMPLATE_ROWS)
    return out.getvalue()


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
    # A job on devices (de-provision, check) has no file: its rows are the devices' ids.
    writer.writerow(["device_id", "error"] if job.acts_on_devices else [*job.columns, "error"])
    yield out.getvalue()
    rows = (
        BulkRow.objects.filter(job=job, state__in=states)
        .order_by("line")
        .values_list("line", "state", "cells", "message", "http_status", "secret_origin", "device_id")
    )
    for line, state, cells, message, http_status, origin, device_id in rows.iterator(chunk_size=2000):
        if job.acts_on_devices:
            cells = [device_id]
        out.seek(0)
        out.truncate()
        label = RowState(state).label if state != RowState.PENDING else "Not sent (cancelled)"
        status = f", HTTP {http_status}" if http_status else ""
        note = f"Line {line} ({label}{status}): {message}".rstrip(": ")
        if origin == SecretOrigin.TYPED:
            note += " The typed password is not kept: enter it again, or leave it empty to generate one."
        writer.writerow([*(safe_cell(cell) for cell in cells), note])
        yield out.getvalue()
