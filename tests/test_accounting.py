"""Row accounting: rows read = accepted + quarantined for every file, checked on the store
and on the run summary; a run that does not balance fails before it publishes anything."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from fh_screening.accounting import (
    AccountingError,
    check_ingest_results,
    check_store,
    duplicate_people,
    store_imbalances,
)
from fh_screening.pipeline import ingest_step, run_screening
from fh_screening.store import Workspace, connect
from tests.data.bad_inputs.make_corpus import KINDS, assemble, base_files


def _extract_root(tmp_path: Path, kind_name: str | None = None) -> Path:
    root = tmp_path / "extracts"
    folder = root / "syddanmark"
    if kind_name:
        assemble(next(k for k in KINDS if k.name == kind_name), folder)
    else:
        folder.mkdir(parents=True)
        for name, data in base_files("syddanmark").items():
            (folder / name).write_bytes(data)
    return root


@pytest.fixture
def ingested(tmp_path, monkeypatch):
    monkeypatch.setenv("FH_PSEUDONYM_KEY", "ab" * 32)
    ws = Workspace(tmp_path / "home")
    root = _extract_root(tmp_path, "duplicate_row")  # 10 lab rows: 9 accepted, 1 quarantined
    result = ingest_step(ws, "syddanmark", root / "syddanmark", validate=False)
    return ws, root, result


def test_a_clean_store_balances_and_counts_are_stored(ingested):
    ws, _, result = ingested
    labs = next(f for f in result["files"] if f["table"] == "lab_results")
    assert (labs["rows_read"], labs["rows_accepted"], labs["rows_quarantined"]) == (10, 9, 1)
    con = connect(ws.store_path)
    try:
        assert store_imbalances(con, ["syddanmark"]) == []
        assert con.execute("select rows_read, rows_accepted, rows_quarantined from "
                           "ingested_files where table_name = 'lab_results'").fetchall() == [
            (10, 9, 1)]
    finally:
        con.close()


@pytest.mark.parametrize("tamper, stored, quarantined", [
    ("delete from lab_results where row_number = 4", 8, 1),  # an accepted row lost
    ("delete from quarantine", 9, 0),  # a quarantined row lost
    ("insert into lab_results select * from lab_results where row_number = 1", 10, 1),
])
def test_lost_or_doubled_rows_fail_the_check_naming_the_file(ingested, tamper, stored,
                                                              quarantined):
    ws, _, _ = ingested
    con = connect(ws.store_path)
    try:
        con.execute(tamper)
        problems = store_imbalances(con, ["syddanmark"])
        assert [(Path(p["path"]).name, p["stored"], p["quarantine_rows"]) for p in problems] == [
            ("laboratoriesvar.csv", stored, quarantined)]
        with pytest.raises(AccountingError, match=r"laboratoriesvar\.csv \(lab_results\): "
                                                  r"read 10, accepted 9"):
            check_store(con, ["syddanmark"])
    finally:
        con.close()


def test_a_person_with_two_patients_rows_fails_the_check(ingested):
    """patients has no primary key (too slow at national size); uniqueness is checked on
    the store instead. The tampering keeps the file's row count, so only this check sees
    it."""
    ws, _, _ = ingested
    con = connect(ws.store_path)
    try:
        first, second = (r[0] for r in con.execute(
            "select person_id from patients order by row_number limit 2").fetchall())
        con.execute("delete from patients where person_id = ?", [second])
        con.execute("insert into patients select * from patients where person_id = ?", [first])
        assert store_imbalances(con, ["syddanmark"]) == []
        assert duplicate_people(con) == 1
        with pytest.raises(AccountingError, match="1 people have more than one row"):
            check_store(con, ["syddanmark"])
    finally:
        con.close()


def test_a_summary_that_does_not_balance_is_refused(ingested):
    _, _, result = ingested
    check_ingest_results([result])  # balances as ingested
    broken = copy.deepcopy(result)
    labs = next(f for f in broken["files"] if f["table"] == "lab_results")
    labs["rows_accepted"] -= 1
    with pytest.raises(AccountingError, match=r"laboratoriesvar\.csv: read 10, accepted 8"):
        check_ingest_results([broken])
    region_off = copy.deepcopy(result)
    region_off["rows_quarantined"] += 1
    with pytest.raises(AccountingError, match="syddanmark: read"):
        check_ingest_results([region_off])


def test_a_run_on_a_store_that_does_not_balance_fails_and_publishes_nothing(ingested):
    ws, root, _ = ingested
    first = run_screening(ws, ["syddanmark"], extract_root=root, run_id="r1")
    assert first["ingest"]["syddanmark"]["rows_read"] == 0  # all skipped: ingested before
    assert (ws.output_dir / "r1" / "run_summary.json").exists()
    con = connect(ws.store_path)
    con.execute("delete from lab_results where row_number = 4")
    con.close()
    with pytest.raises(AccountingError, match="laboratoriesvar.csv"):
        run_screening(ws, ["syddanmark"], extract_root=root, run_id="r2")
    assert sorted(p.name for p in ws.output_dir.iterdir()) == ["r1"]
