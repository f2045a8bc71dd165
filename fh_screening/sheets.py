"""Tabular outputs for clinicians: CSV and XLSX bytes from polars frames.

XLSX goes through polars' `write_excel` (xlsxwriter), the library made for it: a frozen
header, autofilter, column widths and one sheet per group. The workbook's creation date
is fixed to the run's as-of date, so a rerun writes the same bytes (xlsxwriter already
stamps the zip entries with a fixed date).
"""

from __future__ import annotations

import io
from datetime import date, datetime

import polars as pl
from xlsxwriter import Workbook

# Widest column in characters; long free text (reasons) wraps in the cell instead.
MAX_WIDTH = 60
_EXCEL_SHEET_NAME_MAX = 31


def csv_text(frame: pl.DataFrame) -> str:
    """CSV with lists joined by '; ' (CSV has no list type)."""
    return _flatten(frame).write_csv()


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


def xlsx_bytes(sheets: dict[str, pl.DataFrame], *, as_of: date, title: str) -> bytes:
    """One workbook, one sheet per entry (name -> rows), each with a frozen header row,
    filters on every column and fitted widths. Empty entries still get a sheet with the
    header, so a clinic sees that a tier was empty rather than missing."""
    buffer = io.BytesIO()
    workbook = Workbook(buffer, {"in_memory": True})
    created = datetime.combine(as_of, datetime.min.time())
    workbook.set_properties({"title": title, "created": created, "author": "fh-screening"})
    for name, frame in sheets.items():
        flat = _flatten(frame)
        flat.write_excel(workbook, worksheet=name[:_EXCEL_SHEET_NAME_MAX], autofilter=True,
                         freeze_panes=(1, 0), column_widths=_widths(flat), float_precision=2,
                         table_style="Table Style Light 9", include_header=True)
    workbook.close()
    return buffer.getvalue()
