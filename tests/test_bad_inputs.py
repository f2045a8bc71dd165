"""The bad-input corpus (tests/data/bad_inputs/): every kind of broken extract is refused
whole with an error naming the file and what is wrong, or its bad rows are quarantined
with file, row, field and reason; either way every accepted row is exactly what the clean
extract gives, and every file's rows balance (read = accepted + quarantined)."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path

import pytest

from fh_screening.config import TABLES, load_region
from fh_screening.ingest import IngestError, ingest_region
from fh_screening.store import connect
from tests.conftest import TEST_KEY
from tests.data.bad_inputs.make_corpus import CORPUS_DIR, KINDS, Kind, assemble, base_files, corpus

TODAY = date(2026, 11, 25)


def ingest(con, region: str, folder: Path, tmp_path: Path, **overrides):
    dialect = dataclasses.replace(load_region(region), **overrides)
    return ingest_region(con, dialect, folder, TEST_KEY, vault_path=tmp_path / "vault.duckdb",
                         today=TODAY)


def accepted_rows(con) -> dict[str, list[tuple]]:
    """Every stored row, without where it came from (file path and row number)."""
    return {t: con.execute(f"select * exclude (source_file, row_number) from {t} order by all"
                           ).fetchall() for t in TABLES}


def write_base(region: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in base_files(region).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="module")
def baselines(tmp_path_factory) -> dict[str, dict[str, list[tuple]]]:
    """What the clean extracts give; each must ingest without a single quarantined row."""
    out = {}
    for region in ("syddanmark", "midtjylland"):
        tmp = tmp_path_factory.mktemp(f"base-{region}")
        con = connect(tmp / "store.duckdb")
        try:
            result = ingest(con, region, write_base(region, tmp / "extract"), tmp)
            assert result.totals()["rows_quarantined"] == 0
            assert con.execute("select count(*) from quarantine").fetchall() == [(0,)]
            out[region] = accepted_rows(con)
            assert all(out[region][t] for t in TABLES), "every base table has rows"
        finally:
            con.close()
    return out


def test_the_corpus_has_at_least_25_kinds_and_is_what_make_corpus_writes():
    assert len(KINDS) >= 25
    on_disk = {str(p.relative_to(CORPUS_DIR)): p.read_bytes()
               for p in sorted(CORPUS_DIR.rglob("*"))
               if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert on_disk == corpus()


def _quarantine(con) -> list[tuple]:
    return con.execute("select source_file, row_number, field, reason from quarantine "
                       "order by all").fetchall()


def _check_accounting(con) -> None:
    for path, read, accepted, quarantined in con.execute(
            "select path, rows_read, rows_accepted, rows_quarantined from ingested_files"
    ).fetchall():
        stored = con.execute("select count(*) from quarantine where source_file = ?",
                             [path]).fetchall()[0][0]
        assert read == accepted + quarantined and stored == quarantined, path


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_bad_input_is_refused_or_quarantined_and_accepted_rows_do_not_change(
        kind: Kind, tmp_path, baselines):
    folder = assemble(kind, tmp_path / kind.name)
    con = connect(tmp_path / "store.duckdb")
    try:
        if kind.refused:
            bad = str(folder / kind.refused_file)
            with pytest.raises(IngestError) as caught:
                ingest(con, kind.region, folder, tmp_path, **kind.dialect_overrides)
            message = str(caught.value)
            assert message.startswith(f"{bad}:"), message  # names the file
            assert re.search(kind.refused, message), message  # and what is wrong with it
            assert con.execute("select count(*) from ingested_files where path = ?",
                               [bad]).fetchall() == [(0,)]
            assert con.execute("select count(*) from quarantine where source_file = ?",
                               [bad]).fetchall() == [(0,)]
            for table in TABLES:
                assert con.execute(f"select count(*) from {table} where source_file = ?",
                                   [bad]).fetchall() == [(0,)]
            # Nothing half-written: the clean extract then gives exactly the clean result.
            ingest(con, kind.region, write_base(kind.region, tmp_path / "fixed"), tmp_path)
        else:
            result = ingest(con, kind.region, folder, tmp_path, **kind.dialect_overrides)
            assert sorted(Path(f.path).name for f in result.files if f.skipped) == sorted(
                kind.skipped)
            got = [(Path(f).name, r, fld, why) for f, r, fld, why in _quarantine(con)]
            assert len(got) == len(kind.quarantined), got
            for (file, row, fld, why), want in zip(got, sorted(
                    kind.quarantined, key=lambda q: (q.file, q.row)), strict=True):
                assert (file, row) == (want.file, want.row), got
                assert why.startswith(want.reason), (why, want.reason)
                if want.field is not None:
                    assert fld == want.field, (fld, want)
        _check_accounting(con)
        assert accepted_rows(con) == baselines[kind.region]
    finally:
        con.close()


def test_the_kinds_cover_the_issue_list():
    """The bad inputs issue 8 names, each present in the corpus."""
    names = {k.name for k in KINDS}
    required = {
        "wrong_delimiter", "decimal_point_in_comma_file", "utf8_bom_in_latin1_region",
        "latin1_in_utf8_region", "mg_dl_in_mmol_column", "negative_value", "ldl_above_total",
        "sentinel_99999", "missing_required_column", "extra_column", "empty_file",
        "header_only", "truncated_last_line", "duplicate_row", "duplicate_file",
        "cpr_bad_date", "cpr_wrong_length", "cpr_letters", "sample_in_future",
        "sample_before_birth", "unknown_lab_code", "relation_cycle_two", "own_parent",
        "syd_file_in_parquet_region", "other_regions_layout"}
    assert required <= names, required - names


def test_a_refused_file_stops_only_itself_and_the_files_after_it(tmp_path):
    """Files are committed one by one: a refused file leaves the earlier ones in place and
    the later ones for the next run (which then ingests them once)."""
    kind = next(k for k in KINDS if k.name == "missing_required_column")
    folder = assemble(kind, tmp_path / "x")
    con = connect(tmp_path / "store.duckdb")
    try:
        with pytest.raises(IngestError):
            ingest(con, kind.region, folder, tmp_path)
        done = {Path(p).name for (p,) in con.execute("select path from ingested_files"
                                                     ).fetchall()}
        assert done == {"praksis.csv", "personer.csv"}  # tables before lab_results
        fixed = write_base(kind.region, tmp_path / "fixed")
        result = ingest(con, kind.region, fixed, tmp_path)
        assert [Path(f.path).name for f in result.files if f.skipped] == ["praksis.csv",
                                                                           "personer.csv"]
        assert result.totals()["files_ingested"] == 5
    finally:
        con.close()
