"""Re-running and resuming runs (issue 6): a run id run twice changes nothing, and a run
that crashed part-way can be run again without double ingestion or duplicate referrals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fh_screening import ingest, pipeline
from fh_screening.store import Workspace, connect

REGION = ["midtjylland"]  # the Parquet sample: the faster of the two


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run_summary.json"}


def store_counts(ws: Workspace, run_id: str) -> dict[str, int]:
    con = connect(ws.store_path, read_only=True)
    try:
        one = lambda sql, *p: con.execute(sql, list(p)).fetchall()[0][0]  # noqa: E731
        return {
            "history": one("select count(*) from referral_history where run_id = ?", run_id),
            "history_people": one("select count(distinct person_id) from referral_history"),
            "history_rows": one("select count(*) from referral_history"),
            "runs": one("select count(*) from runs where run_id = ?", run_id),
            "files": one("select count(*) from ingested_files"),
            "lab_rows": one("select count(*) from lab_results"),
            "lab_distinct": one("select count(distinct (source_file, row_number)) "
                                "from lab_results"),
            "patients": one("select count(*) from patients"),
        }
    finally:
        con.close()


def referred(result: dict) -> int:
    return sum(result["outputs"]["referrals"].values())


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    ws = Workspace(tmp_path_factory.mktemp("rerun"))
    result = pipeline.run_screening(ws, REGION, run_id="r1")
    return ws, result, snapshot(ws.output_dir / "r1"), store_counts(ws, "r1")


def test_rerunning_a_run_id_changes_nothing(first_run):
    ws, result, files, counts = first_run
    assert referred(result) > 0 and counts["history"] == referred(result)
    again = pipeline.run_screening(ws, REGION, run_id="r1")
    assert referred(again) == referred(result)
    assert snapshot(ws.output_dir / "r1") == files
    assert store_counts(ws, "r1") == counts
    assert again["ingest"]["midtjylland"]["files_ingested"] == 0
    con = connect(ws.store_path, read_only=True)
    try:
        lineage = json.loads(con.execute("select lineage from runs where run_id = 'r1'")
                             .fetchall()[0][0])
    finally:
        con.close()
    assert lineage == again["lineage"] == result["lineage"]


def test_a_later_run_does_not_refer_the_same_people_again(first_run):
    ws, result, _, _ = first_run
    later = pipeline.run_screening(ws, REGION, run_id="r2")
    assert referred(later) == 0
    assert store_counts(ws, "r2")["history"] == 0


def test_crash_while_writing_outputs_then_resume(first_run, tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    real = pipeline.write_reports

    def crash_after_writing(*args, **kwargs):
        real(*args, **kwargs)  # lists written and referral history inserted ...
        raise OSError("disk full")  # ... then it fails before the commit

    monkeypatch.setattr(pipeline, "write_reports", crash_after_writing)
    with pytest.raises(OSError, match="disk full"):
        pipeline.run_screening(ws, REGION, run_id="m1")
    out = ws.output_dir
    assert not (out / "m1").exists() and not list(out.glob(".m1*"))  # nothing half-written
    crashed = store_counts(ws, "m1")
    assert crashed["history"] == 0 and crashed["runs"] == 0 and crashed["files"] == 7

    monkeypatch.setattr(pipeline, "write_reports", real)
    resumed = pipeline.run_screening(ws, REGION, run_id="m1")
    assert resumed["ingest"]["midtjylland"]["files_ingested"] == 0
    assert referred(resumed) == referred(first_run[1])  # as if it had never crashed
    counts = store_counts(ws, "m1")
    assert counts["history"] == counts["history_people"] == referred(resumed)
    assert counts["runs"] == 1


def test_crash_during_ingest_then_resume(tmp_path, monkeypatch):
    ws = Workspace(tmp_path)
    real, calls = ingest.ingest_file, []

    def crash_on_third_file(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("connection to the extract share lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest, "ingest_file", crash_on_third_file)
    with pytest.raises(OSError):
        pipeline.run_screening(ws, REGION, run_id="c1")
    assert store_counts(ws, "c1")["files"] == 2  # the first two files committed, alone
    assert not (ws.output_dir / "c1").exists()

    monkeypatch.setattr(ingest, "ingest_file", real)
    result = pipeline.run_screening(ws, REGION, run_id="c1")
    assert result["ingest"]["midtjylland"]["files_skipped"] == 2
    assert result["ingest"]["midtjylland"]["files_ingested"] == 5
    counts = store_counts(ws, "c1")
    assert counts["files"] == 7
    assert counts["lab_rows"] == counts["lab_distinct"] > 50_000  # no row twice
    assert counts["history"] == referred(result) > 0


def test_a_run_id_belongs_to_one_set_of_regions(first_run, tmp_path):
    """Issue 20: the same --run-id for another region's run replaced the first region's
    lists and referral history. Now it is refused before anything is done, and the first
    run stays as it was; the same regions may still rerun it."""
    ws, result, files, counts = first_run
    with pytest.raises(pipeline.RunIdTaken, match=r"'r1' belongs to the run of midtjylland"):
        pipeline.run_screening(ws, ["syddanmark"], run_id="r1")
    with pytest.raises(pipeline.RunIdTaken):  # a national run under it too
        pipeline.run_screening(ws, ["midtjylland", "syddanmark"], run_id="r1")
    assert snapshot(ws.output_dir / "r1") == files
    assert store_counts(ws, "r1") == counts
    con = connect(ws.store_path, read_only=True)
    try:  # refused before ingest: the other region's files were not even read
        assert con.execute("select count(*) from ingested_files where region = 'syddanmark'"
                           ).fetchall() == [(0,)]
    finally:
        con.close()
    # the output step refuses it as well (a flow that reached it with another scope)
    with pytest.raises(pipeline.RunIdTaken):
        pipeline.output_step(ws, "r1", result_as_of(result), ["syddanmark"], {})
    assert snapshot(ws.output_dir / "r1") == files


def result_as_of(result: dict):
    from datetime import date

    return date.fromisoformat(result["as_of"])


def test_a_file_failing_validation_after_its_insert_leaves_nothing_and_gx_ran_aside(
        tmp_path, monkeypatch):
    """GX runs on its own thread while the file's rows are inserted; the commit waits for
    the verdict, so a critical failure rolls the insert back (issue 23)."""
    import threading

    from fh_screening import validate
    from fh_screening.config import SAMPLES_DIR

    real = validate._run_suite
    threads: dict[str, str] = {}

    def lab_results_fail(table, df, suites_dir):
        threads[table] = threading.current_thread().name
        outcomes = real(table, df, suites_dir)
        if table == "lab_results":
            outcomes[0] = validate.ExpectationOutcome(
                expectation="expect_column_values_to_be_between", column="value",
                severity="critical", success=False, unexpected_count=3,
                unexpected_percent=0.1, why="a test's failure")
        return outcomes

    monkeypatch.setattr(validate, "_run_suite", lab_results_fail)
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(validate.ValidationFailed, match="lab_results"):
        pipeline.ingest_step(ws, "midtjylland", SAMPLES_DIR / "midtjylland")
    assert threads["patients"].startswith("fh-validate")
    assert threads["lab_results"].startswith("fh-validate")
    con = connect(ws.store_path, read_only=True)
    try:
        tables = {t for (t,) in con.execute("select table_name from ingested_files").fetchall()}
        assert "patients" in tables and "lab_results" not in tables
        assert con.execute("select count(*) from lab_results").fetchall() == [(0,)]
        assert con.execute("select count(*) from quarantine where table_name = 'lab_results'"
                           ).fetchall() == [(0,)]
        assert con.execute("select count(*) from patients").fetchall()[0][0] > 1000
    finally:
        con.close()
