"""Reading a bulk CSV file: its encoding, its delimiter, its header, its records.

The file
- UTF-8, with or without a byte-order mark. Anything else (UTF-16, an Excel
  workbook, bytes that are not UTF-8) is refused as a whole with a plain message;
  for bytes that are not UTF-8 it names the first line that holds one, and the
  encoding it looks like (Windows-1252, what Excel writes for "CSV (Comma delimited)").
- The delimiter is ``,``, ``;`` or a tab, whichever the header line holds most of
  (outside quotes); quoting follows the usual spreadsheet rules (RFC 4180), strictly:
  a quote that is never closed, or text after a closing quote, is named with its line.
- The first non-empty line names the columns: ``name`` (required), ``password``
  (empty: one is generated when the row is sent), ``auth_id``, ``enabled``
  (true/false, yes/no, 1/0; empty means true), ``via``, ``definition``, and one
  ``attr.<key>`` column per thing attribute (an empty cell adds nothing). Header
  names are matched without regard to case, spaces, ``_`` or ``-`` (``Device ID``
  and ``device name`` are ``name`` too). A header this does not fit (a vendor's
  own column names) is matched to the fields by the operator on the upload page
  (provisioning.bulk.columns): the Layout then follows those ``targets``. Without
  them (the provision_bulk command), other columns are reported on the preview as
  ignored; the cells of an ignored column are never stored.
- Empty lines are skipped; line numbers are the file's own, so "line 12" is what a
  text editor shows.

A file that cannot be read as a whole raises UploadError with the reason in plain words.
"""

import codecs
import csv
import io
import itertools
import re

from provisioning import ids
from provisioning.device_form import MAX_ATTRIBUTES

MAX_COLUMNS = 200
ATTR_PREFIX = "attr."
# The DeviceForm fields a column can hold, besides attributes ("attr.<key>").
FIELDS = ("name", "password", "auth_id", "enabled", "via", "definition")
# Normalised header -> DeviceForm field.
KNOWN_COLUMNS = {
    "name": "name",
    "devicename": "name",
    "deviceid": "name",
    "password": "password",
    "devicepassword": "password",
    "authid": "auth_id",
    "enabled": "enabled",
    "via": "via",
    "definition": "definition",
}
# NUL cannot be stored (PostgreSQL text and JSON refuse it) nor sent: a row with one is invalid,
# and its cells are kept with this in its place.
NUL_STAND_IN = "\ufffd"


class UploadError(Exception):
    """The file as a whole cannot be used; ``message`` says why, in plain words."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class HeaderError(UploadError):
    """The header does not say which column is which field (no name column, one field twice,
    an attribute key that cannot be): the operator can match the columns instead."""


def column_key(header):
    """``"Auth ID"`` -> ``"authid"``; ``"attr.Room"`` -> ``"attr.Room"`` (attribute keys keep their case)."""
    text = header.strip()
    if text[: len(ATTR_PREFIX)].lower() == ATTR_PREFIX:
        return ATTR_PREFIX + text[len(ATTR_PREFIX) :].strip()
    return re.sub(r"[\s_-]+", "", text.lower())


def recognise(header):
    """What each column of ``header`` is by its name alone: a field, ``attr.<key>``, or "" (unknown)."""
    targets = []
    for raw in header:
        key = column_key(raw.replace("\x00", NUL_STAND_IN))
        targets.append(key if key.startswith(ATTR_PREFIX) else KNOWN_COLUMNS.get(key, ""))
    return targets


def check_width(header):
    if len(header) > MAX_COLUMNS:
        raise UploadError(f"The file has {len(header)} columns; at most {MAX_COLUMNS} are read.")


class Layout:
    """Where each field is in a row. ``columns`` are the used columns' names, in file order.

    Without ``targets`` the header's names say which column is which field (``columns`` are
    those names). With ``targets`` (the operator's matching: for each column of the file, a
    field, ``attr.<key>`` or "" to ignore it) the names do not matter, and ``columns`` are the
    fields' own names (``name``, ``attr.Model``), so ``Layout(job.columns)`` reads stored cells.
    """

    def __init__(self, header, targets=None):
        check_width(header)
        self.fields = {}  # form field -> index in the file's row
        self.labels = {}  # form field -> the file's name for its column
        self.attributes = []  # (key, index in the file's row, header)
        self.columns = []  # used columns, in file order
        self.indexes = []  # their indexes in the file's row
        self.ignored = []
        self.width = len(header)
        matched = targets is not None
        if not matched:
            targets = recognise(header)
        seen = {}
        for index, raw in enumerate(header):
            label = raw.replace("\x00", NUL_STAND_IN).strip()
            target = targets[index] if index < len(targets) else ""
            if not target:
                if label or any(cell.strip() for cell in header[index + 1 :]):
                    self.ignored.append(label or f"(column {index + 1} has no name)")
                continue
            if target in seen:
                first, first_label = seen[target]
                if column_key(first_label) == column_key(label):
                    raise HeaderError(
                        f"The column “{label}” appears twice (columns {first + 1} and {index + 1})."
                    )
                raise HeaderError(
                    f"The columns “{first_label}” and “{label}” (columns {first + 1} and "
                    f"{index + 1}) are both {target}."
                )
            seen[target] = index, label
            if target.startswith(ATTR_PREFIX):
                attribute = target[len(ATTR_PREFIX) :]
                problem = ids.key_error(attribute, "attribute key")
                if problem:
                    raise HeaderError(f"The column “{label}”: {problem}")
                self.attributes.append((attribute, index, label))
            elif target in FIELDS:
                self.fields[target] = index
                self.labels[target] = label
            else:
                raise HeaderError(f"The column “{label}” cannot be used as “{target}”.")
            self.columns.append(target if matched else label)
            self.indexes.append(index)
        if "name" not in self.fields:
            raise HeaderError(
                "The first line must name the columns, and one of them must be “name”. "
                "Download the template to see them all."
            )
        if len(self.attributes) > MAX_ATTRIBUTES:
            raise HeaderError(f"The file has {len(self.attributes)} attr. columns; at most {MAX_ATTRIBUTES}.")
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


def mismatch(header):
    """Why the operator should match ``header``'s columns to fields, in words; "" when the
    header reads as it is."""
    targets = recognise(header)
    reasons = []
    labels = [raw.replace("\x00", NUL_STAND_IN).strip() for raw in header]
    unknown = [label for label, target in zip(labels, targets, strict=True) if label and not target]
    if unknown:
        reasons.append(f"Not known here: {', '.join(f'“{label}”' for label in dict.fromkeys(unknown))}.")
    last = max((index for index, label in enumerate(labels) if label), default=-1)
    reasons.extend(f"Column {index + 1} has no name." for index in range(last) if not labels[index])
    if "name" not in targets:
        reasons.append("No column is called name (the device name).")
    else:
        try:
            Layout(header)
        except HeaderError as exc:
            reasons.append(exc.message)
    return " ".join(reasons)


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


DELIMITERS = (",", ";", "\t")


def delimiter(line):
    """The delimiter the header ``line`` holds most of, outside quotes (a comma on a tie)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(counts, key=lambda d: (counts[d], d == ","))


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
        raise UploadError(_not_utf8(binary)) from None
    if not first:
        raise UploadError("The file is empty. Download the template to see the columns.")
    # strict: a quote left open, or text after a closing quote, is an error, not a cell that
    # silently swallows the lines after it.
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter(first), strict=True)
    try:
        header = next(reader)
    except csv.Error as exc:
        raise UploadError(_csv_problem(exc, skipped + 1)) from None
    except UnicodeDecodeError:
        raise UploadError(_not_utf8(binary)) from None

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
                raise UploadError(_not_utf8(binary)) from None
            line = skipped + previous + 1
            previous = reader.line_num
            if any(cell.strip() for cell in cells):
                yield line, cells

    return header, records()


def _is_utf8(raw):
    try:
        raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _not_utf8(binary):
    """Which line holds the first byte that is not UTF-8, and what the file looks like instead.

    Read again from the start, a line at a time: the text reader decodes ahead in chunks,
    so where it fails is not where the byte is. Only the line number is named, never the
    byte: the line may hold a password.
    """
    binary.seek(0)
    number, raw = next(
        ((number, raw) for number, raw in enumerate(binary, start=1) if not _is_utf8(raw)), (1, b"")
    )
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError:
        encoding = "another encoding"
    else:
        encoding = "Windows-1252 (Latin-1), what Excel writes for “CSV (Comma delimited)”"
    return (
        f"The file is not UTF-8 text: line {number} is written in {encoding}. "
        "Save it as “CSV UTF-8” and upload it again."
    )


def _csv_problem(exc, line):
    text = str(exc)
    if "field larger than field limit" in text:
        return f"Line {line}: a cell is longer than {csv.field_size_limit():,} characters."
    if "unexpected end of data" in text:
        return (
            f'Line {line}: a quote (") opens a cell that is never closed, so every line after it would '
            'be read into that cell. Close the quote, and write a quote inside a cell as two ("").'
        )
    if "expected after" in text:
        return (
            f"Line {line}: a cell goes on after its closing quote (or a quote opened here closes on a "
            'later line). Put the whole cell in quotes, and write a quote inside it as two ("").'
        )
    return f"Line {line} cannot be read as CSV ({text})."
