"""benchmarks/criteria_ab.py times one criteria file against another version of it and
says which columns differ, so a faster file that changes a result is seen (issue 23)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from fh_screening.config import PROJECT_ROOT, SAMPLES_DIR
from fh_screening.pipeline import ingest_step, screen_step
from fh_screening.store import Workspace

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import criteria_ab  # noqa: E402

INDEX_LDL = PROJECT_ROOT / "sql" / "criteria" / "03_index_ldl.sql"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A benchmark-like size folder: the samples' full run in folder/workspace."""
    root = tmp_path_factory.mktemp("size")
    ws = Workspace(root / "workspace")
    for region in ("syddanmark", "midtjylland"):
        ingest_step(ws, region, SAMPLES_DIR / region, validate=False)
    screen_step(ws, ["syddanmark", "midtjylland"], date(2026, 6, 30))
    return root


def _differ_line(out: str) -> str:
    return next(line for line in out.splitlines() if "rows differ by column" in line)


@pytest.mark.parametrize("stem", ["03_index_ldl",        # one row per person
                                  "02_ldl_untreated"])   # one row per sample
def test_the_same_file_gives_the_same_rows(folder, tmp_path, capsys, stem):
    same = tmp_path / "same.sql"
    same.write_text((INDEX_LDL.parent / f"{stem}.sql").read_text(encoding="utf-8"),
                    encoding="utf-8")
    assert criteria_ab.main([str(folder), stem, str(same), "--pairs", "2"]) == 0
    out = capsys.readouterr().out
    assert _differ_line(out).endswith("rows differ by column: none")
    assert "per pair: median" in out
    assert not list(folder.glob("criteria-ab-*"))  # the copy of the store is removed


def test_a_version_that_changes_a_result_names_the_column(folder, tmp_path, capsys):
    # the estimate to 0.1 mmol/L instead of 0.001: index_untreated_ldl differs for most
    # people, and the columns computed from it (the interval is not) with it
    text = INDEX_LDL.read_text(encoding="utf-8")
    assert text.count("round(exp(e.mu), 3) as index_untreated_ldl") == 1
    coarse = tmp_path / "coarse.sql"
    coarse.write_text(text.replace("round(exp(e.mu), 3) as index_untreated_ldl",
                                   "round(exp(e.mu), 1) as index_untreated_ldl"),
                      encoding="utf-8")
    criteria_ab.main([str(folder), "03_index_ldl", str(coarse), "--pairs", "1"])
    line = _differ_line(capsys.readouterr().out)
    assert "index_untreated_ldl" in line and "untreated_ldl_low" not in line


def test_a_version_that_changes_samples_counts_the_rows(folder, tmp_path, capsys):
    # one row per sample: the rows that differ are counted (a sample's treatment reduction
    # halved changes every treated sample's estimate)
    text = (INDEX_LDL.parent / "02_ldl_untreated.sql").read_text(encoding="utf-8")
    old = "v.ldl / (1 - coalesce(c.reduction, 0)) as untreated_ldl"
    assert text.count(old) == 1
    changed = tmp_path / "changed.sql"
    changed.write_text(text.replace(old, "v.ldl / (1 - coalesce(c.reduction, 0) / 2) "
                                         "as untreated_ldl"), encoding="utf-8")
    criteria_ab.main([str(folder), "02_ldl_untreated", str(changed), "--pairs", "1"])
    line = _differ_line(capsys.readouterr().out)
    assert "rows (either side)" in line and not line.endswith("none")


def test_an_unknown_file_or_revision_is_refused_with_a_sentence(folder):
    with pytest.raises(SystemExit, match="neither a file nor a revision"):
        criteria_ab.main([str(folder), "03_index_ldl", "no-such-revision"])
    with pytest.raises(SystemExit, match="is not a criteria file"):
        criteria_ab.main([str(folder), "99_nothing", "HEAD"])
