"""Tabular outputs for clinicians: CSV and XLSX bytes from polars frames.

XLSX goes through xlsxwriter, the library made for it: each sheet is an Excel table
(banded style, a filter on every column) with a frozen header row and fitted column
widths, one sheet per group. The workbook's creation date is fixed to the run's as-of
date, so a rerun writes the same bytes (xlsxwriter already stamps the zip entries with a
fixed date).

The cells are written column by column with xlsxwriter's typed writers (write_string,
write_number, ...) rather than through polars' `write_excel`, which hands xlsxwriter
row tuples for its generic, type-sniffing `write`: a national cascade list is 1.5
million cells, and a 21,211-row clinic workbook of the 6M benchmark took 5.1 s of CPU
this way against 6.5 s (docs/scale.md). Only decimals (`#,##0.00`, as
`write_excel` had them) and dates (`yyyy-mm-dd`) carry a number format: a format on every
cell costs an attribute per cell in the sheet's XML, and text, integers and booleans read
the same in Excel's General format.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import polars as pl
from xlsxwriter import Workbook
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

# Widest column in characters; long free text (reasons) wraps in the cell instead.
MAX_WIDTH = 60
_EXCEL_SHEET_NAME_MAX = 31
# Rows below a list's last row that still carry the return columns' drop-downs.
VALIDATED_SPARE_ROWS = 20


def csv_text(frame: pl.DataFrame, lang: str = "en") -> str:
    """CSV with lists joined by '; ' (CSV has no list type), in the reader's convention.

    Danish (the default language of the lists): semicolon-separated with decimal commas,
    which is what Excel expects with Danish regional settings (it splits on ';' and reads
    '5,6' as a number); English: commas and decimal points. Both start with a UTF-8 byte
    order mark, without which Excel reads UTF-8 as Windows-1252 ('æ' becomes 'Ã¦')."""
    danish = lang == "da"
    return _flatten(frame).write_csv(include_bom=True, separator=";" if danish else ",",
                                     decimal_comma=danish)


def _flatten(frame: pl.DataFrame) -> pl.DataFrame:
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    return frame.with_columns(pl.col(c).list.join("; ") for c in lists) if lists else frame


def _widths(frame: pl.DataFrame) -> dict[str, int]:
    """Column widths from the longest value (or header), capped: autofit without the
    guesswork xlsxwriter's autofit does on fonts."""
    widths = {}
    for name in frame.columns:
        longest = frame[name].cast(pl.String).str.len_chars().max() or 0
        widths[name] = min(MAX_WIDTH, max(len(name), int(longest)) + 2) * 7
    return widths


def xlsx_bytes(sheets: dict[str, pl.DataFrame], *, as_of: date, title: str,
               validations: dict[str, dict[str, Any]] | None = None,
               comment: str | None = None) -> bytes:
    """One workbook, one sheet per entry (name -> rows), each with a frozen header row,
    filters on every column and fitted widths. Empty entries still get a sheet with the
    header, so a clinic sees that a tier was empty rather than missing.

    `validations`: per column title, an xlsxwriter data validation (a drop-down list, a
    whole number between, a date) set on the column's data rows, so what a clinic
    returns is one of the choices the ingest reads back (fh_screening/returns.py);
    `comment` goes on those columns' header cells (how to fill them in)."""
    buffer = io.BytesIO()
    workbook = Workbook(buffer, {"in_memory": True, "nan_inf_to_errors": True})
    created = datetime.combine(as_of, datetime.min.time())
    workbook.set_properties({"title": title, "created": created, "author": "fh-screening"})
    formats = _Formats(workbook)
    for number, (name, frame) in enumerate(sheets.items()):
        ws = workbook.add_worksheet(name[:_EXCEL_SHEET_NAME_MAX])
        flat = _flatten(frame)
        _write_sheet(ws, flat, formats, table_name=f"Frame{number}")
        for col, header in enumerate(flat.columns):
            rule = (validations or {}).get(header)
            if rule is not None:
                # every data row, and room below for rows a clinic adds by hand
                ws.data_validation(1, col, max(flat.height, 1) + VALIDATED_SPARE_ROWS, col,
                                   dict(rule))
                if comment:
                    ws.write_comment(0, col, comment, {"x_scale": 3, "y_scale": 2})
    workbook.close()
    return buffer.getvalue()


class _Formats:
    """The number formats of a workbook's decimal, date and timestamp columns."""

    def __init__(self, workbook: Workbook) -> None:
        self.decimal = workbook.add_format({"num_format": "#,##0.00"})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd;@"})
        self.datetime = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})


def _column_writer(ws: Worksheet, series: pl.Series, formats: _Formats
                   ) -> tuple[Callable[..., Any], list[Any], Format | None]:
    """The typed xlsxwriter method, the values and the format (if any) for one column."""
    dtype = series.dtype
    if dtype == pl.Boolean:
        return ws.write_boolean, series.to_list(), None
    if dtype.is_integer():
        return ws.write_number, series.to_list(), None
    if dtype.is_float():
        return ws.write_number, series.to_list(), formats.decimal
    if dtype == pl.Date:
        return ws.write_datetime, series.to_list(), formats.date
    if isinstance(dtype, pl.Datetime):
        return ws.write_datetime, series.dt.replace_time_zone(None).to_list(), formats.datetime
    return ws.write_string, series.cast(pl.String).to_list(), None


def _write_sheet(ws: Worksheet, frame: pl.DataFrame, formats: _Formats, *,
                 table_name: str) -> None:
    """The frame as an Excel table from A1: header, rows, widths, frozen first row."""
    writers = [_column_writer(ws, frame[name], formats) for name in frame.columns]
    last_row = max(frame.height, 1)  # an empty table still needs one (empty) data row
    ws.add_table(0, 0, last_row, frame.width - 1, {
        "name": table_name, "style": "Table Style Light 9", "autofilter": True,
        "columns": [{"header": name} for name in frame.columns]})
    for col, (write, values, fmt) in enumerate(writers):
        for row, value in enumerate(values, 1):
            if value is not None:  # a missing value is no cell at all
                write(row, col, value, fmt)
    for col, width in enumerate(_widths(frame).values()):
        ws.set_column_pixels(col, col, width)
    ws.freeze_panes(1, 0)
