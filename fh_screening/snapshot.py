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
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from fh_screening.store import Workspace, run_sql

# The oldest storage format DuckDB 2.0 still writes; every DuckDB from 1.0 on reads it.
SNAPSHOT_STORAGE_VERSION = "v1.0.0"


def snapshot_path(ws: Workspace) -> Path:
    return ws.home / "analysis" / "analysis.duckdb"


def publish_snapshot(con: duckdb.DuckDBPyConnection, ws: Workspace, run_id: str) -> Path:
    """Copy the pseudonymised tables of the store (`con`) into a new snapshot file and
    rename it over the current one; returns its path. Called after the run's outputs
    committed, by the store's one writer."""
    final = snapshot_path(ws)
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # A run killed while it wrote a snapshot left its temporary file: only the store's one
    # writer publishes, so any left now is stale.
    for stale in final.parent.glob(f".{final.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    # ATTACH takes no parameters; the path is ours (the workspace), quotes escaped.
    con.execute("attach '" + str(tmp).replace("'", "''") + "' as snap "
                f"(storage_version '{SNAPSHOT_STORAGE_VERSION}')")
    try:
        run_sql(con, "outputs/snapshot", {"run_id": run_id,
                                          "store_format": f"duckdb {duckdb.__version__}"})
    finally:
        con.execute("detach snap")
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)
    return final
