"""Files built in worker processes for large runs: the same bytes, in submission order."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from fh_screening.background import BACKGROUND_ROWS, BackgroundFiles
from fh_screening.sheets import xlsx_bytes


def test_workbooks_built_in_workers_are_the_same_bytes_in_order(tmp_path):
    sheets = {"high": pl.DataFrame({"cpr": ["010101-0101"], "ldl": [7.25]}),
              "standard": pl.DataFrame({"cpr": ["020202-0202"], "ldl": [5.5]})}
    day = date(2026, 6, 30)
    written: list[tuple[str, bytes]] = []
    for rows in (1, BACKGROUND_ROWS + 1):
        files = BackgroundFiles(rows, lambda path, data: written.append((path.name, data)))
        assert (files._pool is None) == (rows == 1)
        files.add(tmp_path / "a.xlsx", xlsx_bytes, sheets, as_of=day, title="A")
        files.add(tmp_path / "b.xlsx", xlsx_bytes, {"x": sheets["high"]}, as_of=day,
                  title="B")
        files.add(tmp_path / "c.txt", str.upper, "text")
        assert files.finish() == [tmp_path / "a.xlsx", tmp_path / "b.xlsx", tmp_path / "c.txt"]
    expected = [("a.xlsx", xlsx_bytes(sheets, as_of=day, title="A")),
                ("b.xlsx", xlsx_bytes({"x": sheets["high"]}, as_of=day, title="B")),
                ("c.txt", "TEXT")]
    assert written == expected * 2


def test_a_failing_job_fails_finish_and_writes_nothing_after_it(tmp_path):
    written: list[str] = []
    files = BackgroundFiles(BACKGROUND_ROWS + 1, lambda path, data: written.append(path.name))
    files.add(tmp_path / "ok.txt", str.upper, "a")
    files.add(tmp_path / "bad.txt", int, "not a number")
    files.add(tmp_path / "later.txt", str.upper, "b")
    with pytest.raises(ValueError, match="not a number"):
        files.finish()
    assert written == ["ok.txt"] and files._pool is None
