"""Analysts never block a run (issue 22, item 5): each run publishes the pseudonymised
tables as `<home>/analysis/analysis.duckdb`; a run succeeds while an analyst's process
holds a read-only connection on it, and that connection keeps the snapshot it opened."""

from __future__ import annotations

import struct
import subprocess
import sys

import duckdb

from fh_screening.config import SAMPLES_DIR
from fh_screening.pipeline import run_screening
from fh_screening.snapshot import SNAPSHOT_STORAGE_VERSION, snapshot_path
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
        tables = {t for (t,) in snap.execute("select table_name from duckdb_tables()")
                  .fetchall()}
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
    """Rows in the store but not the snapshot and back, per snapshot table (bag compare)."""
    import re

    from fh_screening.config import PROJECT_ROOT

    text = (PROJECT_ROOT / "sql" / "outputs" / "snapshot.sql").read_text()
    statements = dict(re.findall(r"create table snap\.(\w+) as\s+(select\b[^;]*?);", text))
    con = duckdb.connect()
    con.execute(f"attach '{ws.store_path}' as store (read_only)")
    con.execute(f"attach '{snapshot_path(ws)}' as snap (read_only)")
    try:
        out = {}
        for table, select in statements.items():
            if table == "snapshot_info":
                continue
            ours = select.replace(f"from {table}", f"from store.{table}")
            out[table] = con.execute(
                f"select (select count(*) from ({ours} except all select * from snap.{table})) "
                f"+ (select count(*) from (select * from snap.{table} except all {ours}))"
            ).fetchall()[0][0]
        return out
    finally:
        con.close()


def test_a_later_run_publishes_the_stores_content(output_runs):
    """After the second run of output_runs (a new lab file) every table of the snapshot
    holds exactly the store's rows (the quarantine without `raw`)."""
    diffs = _differences(output_runs.ws)
    assert len(diffs) == 20 and set(diffs.values()) == {0}, diffs
