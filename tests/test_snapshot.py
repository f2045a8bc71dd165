"""Analysts never block a run (issue 22, item 5): each run publishes the pseudonymised
tables as `<home>/analysis/analysis.duckdb`; a run succeeds while an analyst's process
holds a read-only connection on it, and that connection keeps the snapshot it opened."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys

import duckdb

from fh_screening.config import SAMPLES_DIR
from fh_screening.pipeline import run_screening
from fh_screening.snapshot import (
    SNAPSHOT_STORAGE_VERSION,
    PartsAhead,
    publish_snapshot,
    snapshot_path,
)
from fh_screening.store import Workspace, connect

ANALYST = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
query = "select run_id, (select count(*) from lab_results) from snapshot_info"
print(*con.execute(query).fetchone(), flush=True)
sys.stdin.readline()                      # hold the connection until told
print(*con.execute(query).fetchone(), flush=True)
"""


def storage_format(path) -> int:
    """The storage format number in a DuckDB file's header (after 'DUCK' at byte 8)."""
    head = path.read_bytes()[:20]
    assert head[8:12] == b"DUCK"
    return struct.unpack("<Q", head[12:20])[0]


def test_a_run_succeeds_while_an_analyst_reads_the_snapshot(tmp_path):
    """Was: no snapshot; an analyst on store.duckdb made the next run fail (locked)."""
    ws = Workspace(tmp_path / "home")
    first = run_screening(ws, ["syddanmark"], extract_root=SAMPLES_DIR, run_id="r1")
    path = snapshot_path(ws)
    assert first["analysis_snapshot"] == str(path)
    analyst = subprocess.Popen([sys.executable, "-c", ANALYST, str(path)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        run_id, labs = analyst.stdout.readline().split()
        assert run_id == "r1" and int(labs) > 50_000
        # a snapshot left half-written by a killed run, then the next run, while the
        # analyst's read-only connection is open
        (path.parent / ".analysis.duckdb.99999.tmp").write_bytes(b"half")
        second = run_screening(ws, ["syddanmark"], extract_root=SAMPLES_DIR, run_id="r2")
        assert second["run_id"] == "r2"
        out, _ = analyst.communicate("\n", timeout=60)
    finally:
        analyst.kill()
    assert out.split() == ["r1", labs]  # the analyst kept the snapshot they opened
    snap = duckdb.connect(str(path), read_only=True)
    store = connect(ws.store_path, read_only=True)
    try:
        assert snap.execute("select run_id from snapshot_info").fetchall() == [("r2",)]
        for table in ("patients", "lab_results", "screening_results", "model_scores",
                      "referral_history", "runs"):
            assert snap.execute(f"select count(*) from {table}").fetchall() == \
                store.execute(f"select count(*) from {table}").fetchall(), table
        columns = {c for (c,) in snap.execute(
            "select column_name from duckdb_columns() where table_name = 'quarantine'"
        ).fetchall()}
        assert "raw" not in columns and "reason" in columns
        tables = {t for (t,) in snap.execute(
            "select table_name from duckdb_tables() union all "
            "select view_name from duckdb_views() where not internal").fetchall()}
        assert {"lab_results", "quarantine", "snapshot_info", "snapshot_parts"} <= tables
        assert "key_check" not in tables and "superseded_rows" not in tables
    finally:
        snap.close()
        store.close()
    # the snapshot's header carries storage format 64 (DuckDB v1.0.0, which the 1.x CLI
    # on PyPI reads); the store's does not
    assert SNAPSHOT_STORAGE_VERSION == "v1.0.0"
    assert storage_format(path) == 64 and storage_format(ws.store_path) != 64
    assert not list(path.parent.glob(".*.tmp"))  # nothing half-written left behind


def _differences(ws: Workspace) -> dict[str, int]:
    """Rows in the store but not the snapshot and back, per published table (bag compare),
    the store side read through sql/outputs/snapshot.sql's own views."""
    from fh_screening.store import run_sql

    con = connect(ws.store_path, read_only=True)
    con.execute(f"attach '{snapshot_path(ws)}' as snap (read_only)")
    try:
        run_sql(con, "outputs/snapshot")
        views = [v for (v,) in con.execute(
            "select view_name from duckdb_views() where temporary "
            "and starts_with(view_name, 'snapshot_')").fetchall()]
        out = {}
        for view in views:
            table = view.removeprefix("snapshot_")
            out[table] = con.execute(
                f"select (select count(*) from (from {view} except all from snap.{table})) "
                f"+ (select count(*) from (from snap.{table} except all from {view}))"
            ).fetchall()[0][0]
        return out
    finally:
        con.close()


def test_a_later_run_publishes_the_stores_content(output_runs):
    """After the second run of output_runs (a new lab file) every table of the snapshot
    holds exactly the store's rows (the quarantine without `raw`), with the store's types."""
    diffs = _differences(output_runs.ws)
    assert len(diffs) == 20 and set(diffs.values()) == {0}, diffs
    snap = duckdb.connect(str(snapshot_path(output_runs.ws)), read_only=True)
    store = connect(output_runs.ws.store_path, read_only=True)
    try:
        types = "select column_name, data_type from duckdb_columns() where table_name = ? " \
                "order by column_index"
        for table in ("index_ldl", "screening_results", "lab_results"):  # HUGEINT, lists
            assert snap.execute(types, [table]).fetchall() == \
                store.execute(types, [table]).fetchall(), table
    finally:
        snap.close()
        store.close()


def test_a_monthly_run_writes_only_the_parts_that_changed(output_runs):
    """The second run of output_runs added one small lab file: the parts of the first
    run's lab files were reused (the same files on disk), only the new file's part and
    the recomputed tables were written; the first run's parts no longer used are kept
    for a connection opened before the second run, and nothing temporary is left."""
    path = snapshot_path(output_runs.ws)
    snap = duckdb.connect(str(path), read_only=True)
    try:
        labs = snap.execute(
            "select p.reused, p.row_count, p.part_file from snapshot_parts p "
            "where table_name = 'lab_results' order by row_count").fetchall()
        parts = snap.execute("select part_file, reused from snapshot_parts").fetchall()
    finally:
        snap.close()
    # the new file (two LDL results) is the only lab part written; the rest were reused
    assert labs[0][:2] == (False, 2) and all(reused for reused, _, _ in labs[1:])
    assert len(labs) >= 3 and sum(rows for _, rows, _ in labs) > 50_000
    assert any(not reused for _, reused in parts) and any(reused for _, reused in parts)
    folder = path.parent / "parts"
    on_disk = {p.name for p in folder.iterdir()}
    assert {name for name, _ in parts} < on_disk  # plus the first run's, and the manifest
    assert "manifest.json" in on_disk and not list(folder.glob(".*.tmp"))


def test_parts_written_ahead_are_the_ones_the_publish_uses(output_runs, tmp_path):
    """The output step writes the snapshot's parts on a cursor of their own while it
    builds the lists (snapshot.PartsAhead): the publish after it finds every part on disk
    (the store did not change in between) and writes none, and the listing still says
    which parts came from the previous snapshot. Cancelled, it leaves nothing temporary."""
    home = tmp_path / "home"
    shutil.copytree(output_runs.ws.home, home)
    ws = Workspace(home)
    folder = snapshot_path(ws).parent / "parts"
    for part in folder.glob("*.parquet"):  # as before a first run: nothing to reuse
        part.unlink()
    (folder / "manifest.json").unlink()
    con = connect(ws.store_path)
    try:
        ahead = PartsAhead(con, ws)
        ahead.finish()
        assert ahead.error is None
        written = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.parquet")}
        publish_snapshot(con, ws, "r3")
        cancelled = PartsAhead(con, ws)
        cancelled.finish(cancel=True)
    finally:
        con.close()
    snap = duckdb.connect(str(snapshot_path(ws)), read_only=True)
    try:
        listed = snap.execute("select part_file, reused from snapshot_parts").fetchall()
        labs = snap.execute("select count(*) from lab_results").fetchall()[0][0]
    finally:
        snap.close()
    assert len(listed) > 20 and {name for name, _ in listed} == set(written)
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.parquet")} == written
    assert not any(reused for _, reused in listed)  # none was in a previous snapshot
    assert labs > 50_000 and not list(folder.glob(".*.tmp"))
