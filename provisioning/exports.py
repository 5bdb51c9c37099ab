"""Cells of the CSV files that operators open in spreadsheets (history exports, bulk results)."""


def safe_cell(value):
    """Neutralise spreadsheet formulas: a cell starting with = + - @ tab or CR gets a leading quote."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text
