"""Matching a file's columns to fields: the proposal, the examples, and the team's remembered choices.

A header that does not name the columns this dashboard reads (csvfile.mismatch) gets a
mapping step on the upload page: for every column of the file, what it is used as (a
field, ``attr.<key>``, or "" to ignore it). Its first proposal is what the header's
names say by themselves (csvfile.recognise); once the operator has matched a header,
the team's choice for it (ColumnMapping, keyed by ``header_signature``) is proposed
instead the next time the same header is uploaded.

The examples shown beside each column come from the first rows of the stored file. A
column whose name says it holds secrets, or that is matched to ``password``, shows its
examples masked (forms.ColumnsForm decides, since the choice may change on the page).
"""

import hashlib
import io
import itertools
import re

from django.utils import timezone

from provisioning.bulk.csvfile import NUL_STAND_IN, UploadError, read_records, recognise
from provisioning.bulk.models import BulkUpload, ColumnMapping
from provisioning.models import display_name

EXAMPLES = 3  # values shown per column, the first non-empty ones of the first EXAMPLE_ROWS rows
EXAMPLE_ROWS = 20
EXAMPLE_LENGTH = 40
NAME_LENGTH = 256
# A column whose normalised name holds one of these shows no example values.
SECRET_WORDS = ("pass", "pwd", "secret", "psk", "key", "token", "pin", "credential")


def normalised(name):
    return re.sub(r"[\s_-]+", "", name.replace("\x00", "").strip().lower())


def header_signature(labels):
    """The same for two headers whose names differ only in case, spaces, ``_`` or ``-``."""
    names = [normalised(label) for label in labels]
    while names and not names[-1]:
        names.pop()
    return hashlib.sha256("\x1f".join(names).encode()).hexdigest()


def proposal(header):
    """[the column's name, what its name says it is] for each column of ``header``; columns
    past the last named one are left out (their cells are never read). A name is kept to its
    first NAME_LENGTH characters: it is shown and remembered, never used to find the column."""
    pairs = [
        [raw.replace("\x00", NUL_STAND_IN).strip()[:NAME_LENGTH], target]
        for raw, target in zip(header, recognise(header), strict=True)
    ]
    while pairs and not pairs[-1][0]:
        pairs.pop()
    return pairs


def looks_secret(label):
    name = normalised(label)
    return any(word in name for word in SECRET_WORDS)


def remembered(team, labels):
    """The team's ColumnMapping for this header, or None."""
    return ColumnMapping.objects.filter(team=team, signature=header_signature(labels)).first()


def remember(team, actor, labels, targets):
    """Keep ``targets`` as the team's choice for this header (replacing an earlier one)."""
    ColumnMapping.objects.update_or_create(
        team=team,
        signature=header_signature(labels),
        defaults={
            "targets": list(targets),
            "updated_at": timezone.now(),
            "updated_by_name": display_name(actor),
        },
    )


def proposed_targets(team, column_map):
    """(targets, the remembered ColumnMapping or None) to prefill the mapping step of a job
    whose ``column_map`` is the header's own proposal."""
    labels = [label for label, _ in column_map]
    found = remembered(team, labels)
    if found is None:
        return [target for _, target in column_map], None
    targets = [target if isinstance(target, str) else "" for target in found.targets]
    return (targets + [""] * len(labels))[: len(labels)], found


def examples(job, width):
    """The first few values of each of the first ``width`` columns of the job's stored file, as
    lists (a long value is shortened); fewer when the file cannot be read that far."""
    data = BulkUpload.objects.filter(job=job).values_list("data", flat=True).first()
    found = [[] for _ in range(width)]
    if data is None:
        return found
    try:
        _, records = read_records(io.BytesIO(bytes(data)))
        for _, cells in itertools.islice(records, EXAMPLE_ROWS):
            for index in range(min(width, len(cells))):
                value = cells[index].replace("\x00", NUL_STAND_IN).strip()
                if value:
                    found[index].append(shorten(value))
            if all(len(values) >= EXAMPLES for values in found):
                break
    except UploadError:
        pass  # the worker names what is wrong, with its line, once the columns are matched
    return [values[:EXAMPLES] for values in found]


def shorten(value):
    value = " ".join(value.split())
    return value if len(value) <= EXAMPLE_LENGTH else value[: EXAMPLE_LENGTH - 1] + "…"
