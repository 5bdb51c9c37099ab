"""CSV files that operators open in spreadsheets (history and device exports, bulk results)."""

import csv


def safe_cell(value):
    """Neutralise spreadsheet formulas: a cell starting with = + - @ tab or CR gets a leading quote."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


class _Line:
    """A file-like object for csv.writer that hands back what was written."""

    def write(self, value):
        return value


def csv_lines(columns, records):
    """The CSV text of ``records`` (dicts with ``columns``), a header line first, line by line
    (for a streamed response), each cell made safe for spreadsheets."""
    writer = csv.writer(_Line())
    yield writer.writerow(columns)
    for record in records:
        yield writer.writerow([safe_cell(record[c]) for c in columns])
