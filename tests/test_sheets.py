"""CSV and XLSX bytes."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import polars as pl

from fh_screening.sheets import csv_text, xlsx_bytes

FRAME = pl.DataFrame({"rank": [1, 2], "cpr": ["010101-1234", "020202-2345"],
                      "reasons": [["a", "b"], ["c"]], "ldl": [8.734, None]})


def test_csv_joins_lists():
    assert csv_text(FRAME).splitlines() == [
        "rank,cpr,reasons,ldl", "1,010101-1234,a; b,8.734", "2,020202-2345,c,"]


def test_xlsx_is_reproducible_with_one_sheet_each_and_a_frozen_filtered_header():
    first = xlsx_bytes({"high": FRAME, "standard": FRAME.head(0)}, as_of=date(2026, 6, 30),
                       title="t")
    again = xlsx_bytes({"high": FRAME, "standard": FRAME.head(0)}, as_of=date(2026, 6, 30),
                       title="t")
    assert first == again
    with zipfile.ZipFile(io.BytesIO(first)) as xlsx:
        assert re.findall(r'<sheet name="([^"]+)"', xlsx.read("xl/workbook.xml").decode()) \
            == ["high", "standard"]
        sheet = xlsx.read("xl/worksheets/sheet1.xml").decode()
        assert 'ySplit="1"' in sheet and 'state="frozen"' in sheet
        assert '<col min="2" max="2" width="13"' in sheet  # 11 characters + margin
        assert "<autoFilter" in xlsx.read("xl/tables/table1.xml").decode()
        assert "2026-06-30T00:00:00Z" in xlsx.read("docProps/core.xml").decode()
        assert "a; b" in xlsx.read("xl/sharedStrings.xml").decode()


def test_workbooks_in_a_second_process_are_the_same_bytes_in_order(tmp_path):
    """Large runs build their XLSX files in a worker process; the files must not differ."""
    from fh_screening.sheets import BACKGROUND_ROWS, Workbooks

    sheets = {"high": pl.DataFrame({"cpr": ["010101-0101"], "ldl": [7.25]}),
              "standard": pl.DataFrame({"cpr": ["020202-0202"], "ldl": [5.5]})}
    written: list[tuple[str, bytes]] = []
    for rows in (1, BACKGROUND_ROWS + 1):
        books = Workbooks(rows, lambda path, data: written.append((path.name, data)))
        assert (books._pool is None) == (rows == 1)
        books.add(tmp_path / "a.xlsx", sheets, as_of=date(2026, 6, 30), title="A")
        books.add(tmp_path / "b.xlsx", {"x": sheets["high"]}, as_of=date(2026, 6, 30),
                  title="B")
        books.finish()
    expected = [("a.xlsx", xlsx_bytes(sheets, as_of=date(2026, 6, 30), title="A")),
                ("b.xlsx", xlsx_bytes({"x": sheets["high"]}, as_of=date(2026, 6, 30),
                                      title="B"))]
    assert written == expected * 2
