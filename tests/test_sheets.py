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
