"""The analysts' snapshot: after each run, the pseudonymised tables in their own DuckDB
file, `<home>/analysis/analysis.duckdb`, for ad-hoc SQL.

Why: DuckDB lets no other process open a store file while one writes it, and an
analyst's read-only connection on `store.duckdb` blocks the next run's writer (issue 22).
The snapshot is a separate file, written beside the current one and renamed over it, so
a connection holding the previous snapshot never meets a lock: it keeps reading the file
it opened (POSIX keeps a renamed-over file alive while open), and the next connection
sees the new run. The file is written in DuckDB's v1.0.0 storage format, which the
DuckDB CLI on PyPI (`duckdb-cli`, 1.x) and Python's `duckdb` (1.x and 2.x) both open;
the store itself is in 2.0's format. What is copied: `sql/outputs/snapshot.sql`.

A run after the first refreshes a copy of the previous snapshot instead of copying every
table again: the event tables that ingest only appends to (lab results, prescriptions,
diagnoses, genetic tests, family links) get the rows of the files ingested since, and the
other tables are recreated. Copying 9M lab results was 6.3 s of the 12 s snapshot at 1M
people, every monthly run, growing with the store (docs/scale.md). A table falls back to
a whole copy when rows may have left it since (a correction or a re-sent file: ingest's
`_supersede` is the only way rows leave these tables), when its columns changed, or when
its row count does not match the store's after the append; any doubt about the previous
file makes a fresh snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from pathlib import Path

import duckdb

from fh_screening.config import PROJECT_ROOT
from fh_screening.store import Workspace, run_sql

log = logging.getLogger(__name__)

# The oldest storage format DuckDB 2.0 still writes; every DuckDB from 1.0 on reads it.
SNAPSHOT_STORAGE_VERSION = "v1.0.0"
SNAPSHOT_SQL = PROJECT_ROOT / "sql" / "outputs" / "snapshot.sql"
# Rows leave these tables only through ingest's `_supersede` (corrections, re-sent files),
# which records them in `superseded_rows`; otherwise a file's rows are appended.
APPEND_ONLY = ("lab_results", "prescriptions", "diagnoses", "genetic_tests", "relations")
_STATEMENT = re.compile(r"create table snap\.(\w+) as\s+(select\b.*?);", re.S | re.I)


def snapshot_path(ws: Workspace) -> Path:
    return ws.home / "analysis" / "analysis.duckdb"


def snapshot_statements() -> dict[str, str]:
    """Table name -> its `select` in sql/outputs/snapshot.sql, in the file's order."""
    text = "\n".join(line.split("--", 1)[0] for line in SNAPSHOT_SQL.read_text().splitlines())
    return {name: " ".join(select.split()) for name, select in _STATEMENT.findall(text)}


def publish_snapshot(con: duckdb.DuckDBPyConnection, ws: Workspace, run_id: str) -> Path:
    """Write the pseudonymised tables of the store (`con`) into a new snapshot file and
    rename it over the current one; returns its path. Called after the run's outputs
    committed, by the store's one writer."""
    final = snapshot_path(ws)
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A run killed while it wrote a snapshot left its temporary file: only the store's one
    # writer publishes, so any left now is stale.
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    params = {"run_id": run_id, "store_format": f"duckdb {duckdb.__version__}"}
    refreshed = final.is_file() and _refresh(con, final, tmp, params)
    if not refreshed:
        tmp.unlink(missing_ok=True)
        _attach(con, tmp)
        try:
            run_sql(con, "outputs/snapshot", params)
        finally:
            con.execute("detach snap")
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)
    return final


def _attach(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    # ATTACH takes no parameters; the path is ours (the workspace), quotes escaped.
    con.execute("attach '" + str(path).replace("'", "''") + "' as snap "
                f"(storage_version '{SNAPSHOT_STORAGE_VERSION}')")


def _columns(con: duckdb.DuckDBPyConnection, database: str, table: str) -> list[tuple]:
    return con.execute(
        "select column_name, data_type from duckdb_columns() where database_name = $d "
        "and schema_name = 'main' and table_name = $t order by column_index",
        {"d": database, "t": table}).fetchall()


def _refresh(con: duckdb.DuckDBPyConnection, previous: Path, tmp: Path,
             params: dict) -> bool:
    """Bring a copy of the previous snapshot up to the store's state in `tmp`; False
    (and nothing to keep in `tmp`) when the previous file cannot be built on."""
    shutil.copyfile(previous, tmp)
    try:
        _attach(con, tmp)
    except duckdb.Error as exc:
        log.info("analysts' snapshot: previous file not usable (%s); writing it whole", exc)
        return False
    try:
        store_db = con.execute("select current_database()").fetchall()[0][0]
        (before,) = con.execute("select superseded_rows from snap.snapshot_info").fetchall()[0]
        (now,) = con.execute("select count(*) from superseded_rows").fetchall()[0]
        con.execute(
            "create or replace temp table snapshot_new_files as select f.path, f.table_name, "
            "exists (select 1 from snap.ingested_files o where o.path = f.path "
            "and o.table_name = f.table_name) as resent "
            "from ingested_files f anti join snap.ingested_files o using (checksum)")
        statements = snapshot_statements()
        con.execute("begin transaction")
        for table, select in statements.items():
            if table == "snapshot_info":
                continue
            appended = (table in APPEND_ONLY and before == now
                        and _columns(con, "snap", table) == _columns(con, store_db, table)
                        and _append(con, table, select))
            if not appended:
                con.execute(f"drop table if exists snap.{table}")
                con.execute(f"create table snap.{table} as {select}")
        con.execute("drop table snap.snapshot_info")
        con.execute(f"create table snap.snapshot_info as {statements['snapshot_info']}",
                    params)
        con.execute("commit")
    except duckdb.Error as exc:
        log.info("analysts' snapshot: could not refresh the previous one (%s); writing it "
                 "whole", exc)
        with contextlib.suppress(duckdb.Error):  # none when it failed before it began
            con.execute("rollback")
        return False
    finally:
        con.execute("drop table if exists temp.snapshot_new_files")
        con.execute("detach snap")
    return True


def _append(con: duckdb.DuckDBPyConnection, table: str, select: str) -> bool:
    """Append the rows of the files ingested since the previous snapshot; False when the
    table must be copied whole instead (a file re-sent, or the counts disagree)."""
    if con.execute("select count(*) from snapshot_new_files where table_name = $t "
                   "and resent", {"t": table}).fetchall()[0][0]:
        return False
    # table and select come from sql/outputs/snapshot.sql, not from input
    con.execute(f"insert into snap.{table} {select} where source_file in (select path "  # noqa: S608
                "from snapshot_new_files where table_name = $t)", {"t": table})
    (ours, theirs) = con.execute(f"select (select count(*) from snap.{table}), "  # noqa: S608
                                 f"(select count(*) from {table})").fetchall()[0]
    return ours == theirs
