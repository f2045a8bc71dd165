"""Tabular outputs for clinicians: CSV and XLSX bytes from polars frames.

XLSX goes through polars' `write_excel` (xlsxwriter), the library made for it: a frozen
header, autofilter, column widths and one sheet per group. The workbook's creation date
is fixed to the run's as-of date, so a rerun writes the same bytes (xlsxwriter already
stamps the zip entries with a fixed date).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date, datetime
from multiprocessing import get_context
from pathlib import Path

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


# Above this many rows a run's workbooks are written by a second process while this one
# renders the HTML pages and GP reports: xlsxwriter is pure Python, about 10 us a cell, and
# a national cascade list has over a million cells. Below it a process start costs more.
BACKGROUND_ROWS = 20_000


class Workbooks:
    """The run's XLSX files: built in this process, or for a large run in one worker
    process (`spawn`: no copy of this process's DuckDB connection), and written by
    `finish` in submission order. The bytes are the same either way."""

    def __init__(self, rows: int, write: Callable[[Path, bytes], None]) -> None:
        self._write = write
        self._pool = (ProcessPoolExecutor(1, mp_context=get_context("spawn"))
                      if rows > BACKGROUND_ROWS else None)
        self._jobs: list[tuple[Path, Future[bytes] | bytes]] = []

    def add(self, path: Path, sheets: dict[str, pl.DataFrame], *, as_of: date,
            title: str) -> None:
        job = (self._pool.submit(xlsx_bytes, sheets, as_of=as_of, title=title) if self._pool
               else xlsx_bytes(sheets, as_of=as_of, title=title))
        self._jobs.append((path, job))

    def finish(self) -> None:
        try:
            for path, job in self._jobs:
                self._write(path, job.result() if isinstance(job, Future) else job)
        finally:
            self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
