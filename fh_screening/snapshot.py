"""The analysts' snapshot: after each run, the pseudonymised tables for ad-hoc SQL, opened
as one DuckDB file, `<home>/analysis/analysis.duckdb`.

Why a snapshot: DuckDB lets no other process open a store file while one writes it, and
an analyst's read-only connection on `store.duckdb` blocks the next run's writer (issue
22). The snapshot file is written beside the current one and renamed over it, so a
connection holding the previous snapshot never meets a lock, and the next connection sees
the new run. The file is in DuckDB's v1.0.0 storage format, which the DuckDB CLI on PyPI
(`duckdb-cli`, 1.x) and Python's `duckdb` (1.x and 2.x) both open; the store itself is in
2.0's format. What is published: `sql/outputs/snapshot.sql`.

Why Parquet parts (issue 23): copying every table each run cost O(store), 80-100 s at 6M
people whatever the month's size. Now each table's rows are Parquet files under
`analysis/parts/`, one per source file where the table has a `source_file` column, named by
a fingerprint of their content (row count and a sum of row hashes, with the column types).
A part whose fingerprint is already on disk is reused, so a monthly run writes its new
files' rows and the recomputed tables, not the 55M lab results again. The snapshot file
holds one view per table over its parts (absolute paths), `snapshot_info` and
`snapshot_parts`. Parts are written to a temporary name and renamed, so a part that exists
is whole. The parts of the current and the previous snapshot are kept (a connection opened
before this run keeps reading); older ones are deleted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from pathlib import Path

import duckdb

from fh_screening.store import Workspace, run_sql

# The oldest storage format DuckDB 2.0 still writes; every DuckDB from 1.0 on reads it.
log = logging.getLogger(__name__)

SNAPSHOT_STORAGE_VERSION = "v1.0.0"
VIEW_PREFIX = "snapshot_"
# Parquet has no 128-bit integer (DuckDB would write a DOUBLE); the parts keep such
# columns exactly as DECIMAL(38,0) and the snapshot's views cast them back.
_PARQUET_STAND_IN = {"HUGEINT": "DECIMAL(38,0)"}


def snapshot_path(ws: Workspace) -> Path:
    return ws.home / "analysis" / "analysis.duckdb"


def _quoted(text: str) -> str:
    """An SQL string literal (COPY and ATTACH take no parameters; paths are ours)."""
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _published(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables sql/outputs/snapshot.sql publishes, from its temporary views."""
    run_sql(con, "outputs/snapshot")
    return [name[len(VIEW_PREFIX):] for (name,) in con.execute(
        "select view_name from duckdb_views() where temporary and starts_with(view_name, ?) "
        "order by view_name", [VIEW_PREFIX]).fetchall()]


def _fingerprints(con: duckdb.DuckDBPyConnection, view: str, columns: list[tuple[str, str]],
                  ) -> list[tuple[str | None, int, str]]:
    """(source file or None, rows, content hash) per part of a view: one scan, no copy.
    The hash is the sum of every row's hash, so it does not depend on row order."""
    names = [c for c, _ in columns]
    key = _ident("source_file") if "source_file" in names else "null::varchar"
    query = (f"select {key} as part_key, count(*), "  # noqa: S608 (our names, quoted)
             f"sum(hash({', '.join(map(_ident, names))}))::varchar "
             f"from {view} group by all order by all")
    rows = con.execute(query).fetchall()
    return rows or [(None, 0, "0")]


def _write_part(con: duckdb.DuckDBPyConnection, view: str, columns: list[tuple[str, str]],
                key: str | None, keyed: bool, path: Path) -> None:
    """Write one part under a temporary name, then rename: a part on disk is whole."""
    select = ", ".join(
        f"{_ident(c)}::{_PARQUET_STAND_IN[t]} as {_ident(c)}" if t in _PARQUET_STAND_IN
        else _ident(c) for c, t in columns)
    value = "null" if key is None else _quoted(key)
    where = f" where source_file is not distinct from {value}" if keyed else ""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    con.execute(f"copy (select {select} from {view}{where}) to {_quoted(str(tmp))} "  # noqa: S608
                "(format parquet)")  # (our view and columns, quoted; the key a quoted literal)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _write_parts(con: duckdb.DuckDBPyConnection, table: str, parts_dir: Path,
                 ) -> tuple[list[tuple[str, int, bool]], str]:
    """The parts of one table (file name, rows, reused) and the view over them."""
    view = VIEW_PREFIX + table
    columns = [(c, t) for c, t, *_ in con.execute(f"describe {view}").fetchall()]
    keyed = any(c == "source_file" for c, _ in columns)
    signature = json.dumps(columns)
    parts = []
    for key, rows, content in _fingerprints(con, view, columns):
        name = hashlib.sha256(
            json.dumps([table, signature, key, rows, content]).encode()).hexdigest()[:32]
        path = parts_dir / f"{name}.parquet"
        reused = path.exists()
        if not reused:
            _write_part(con, view, columns, key, keyed, path)
        parts.append((path.name, rows, reused))
    files = ", ".join(_quoted(str(parts_dir / name)) for name, _, _ in parts)
    cast = ", ".join(f"{_ident(c)}::{t} as {_ident(c)}" for c, t in columns)
    view_sql = (f"create view snap.{_ident(table)} as "  # noqa: S608 (our names, quoted)
                f"select {cast} from read_parquet([{files}])")
    return parts, view_sql


def _parts_dir(ws: Workspace, *, clean: bool) -> Path:
    """The parts' folder; `clean`: without the temporary files a killed run left (only
    the store's one writer publishes, so any left when it starts are stale)."""
    final = snapshot_path(ws)
    parts_dir = final.parent / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if clean:
        for stale in [*final.parent.glob(f".{final.name}.*.tmp"), *parts_dir.glob(".*.tmp")]:
            stale.unlink(missing_ok=True)
    return parts_dir


class PartsAhead:
    """The parts of the tables the screening committed, written on a cursor of their own
    while the output step builds the lists (issue 23).

    Why: the output step is mostly Python (workbooks, pages, charts) and the snapshot's
    Parquet writes are DuckDB's, with the GIL released; written after the outputs, they
    were a serial 6 s at 1M people. The cursor's reads see the committed store, not the
    output step's open transaction, so what it writes is what `publish_snapshot` will
    find by fingerprint and reuse; a table the output step then changes (referral and
    report history, runs: small) gets a new part there, and the part written ahead for
    it is deleted with the other unused ones. A failure here costs only the time: it is
    logged and `publish_snapshot` writes what is missing itself."""

    def __init__(self, con: duckdb.DuckDBPyConnection, ws: Workspace) -> None:
        self._cursor = con.cursor()
        self._parts_dir = _parts_dir(ws, clean=True)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, name="fh-snapshot-parts",
                                        daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            self._cursor.execute("set session preserve_insertion_order = false")
            for table in _published(self._cursor):
                _write_parts(self._cursor, table, self._parts_dir)
        except BaseException as exc:  # reported by finish(); the publish writes them
            self.error = exc

    def finish(self, *, cancel: bool = False) -> None:
        """Wait for the writes (`cancel`: interrupt them first, the run failed)."""
        if cancel:
            self._cursor.interrupt()
        self._thread.join()
        self._cursor.close()
        for tmp in self._parts_dir.glob(f".*.{os.getpid()}.tmp"):  # an interrupted COPY's
            tmp.unlink(missing_ok=True)
        if self.error is not None and not cancel:
            log.warning("snapshot parts not written ahead (%s); the publish writes them",
                        type(self.error).__name__)


def publish_snapshot(con: duckdb.DuckDBPyConnection, ws: Workspace, run_id: str) -> Path:
    """Publish the pseudonymised tables of the store (`con`) as the new snapshot and
    rename it over the current one; returns its path. Called after the run's outputs
    committed, by the store's one writer (after `PartsAhead.finish`, when it wrote ahead)."""
    final = snapshot_path(ws)
    parts_dir = _parts_dir(ws, clean=True)
    manifest = parts_dir / "manifest.json"
    previous = set(json.loads(manifest.read_text())["parts"]) if manifest.exists() else set()

    # Row order means nothing in a snapshot; keeping it made the Parquet writes serial
    # (lab results at 6M: 98 s in order, about 7 s per source file without). Set for
    # this connection only (a plain SET is the database's, every cursor's).
    (order,) = con.execute("select current_setting('preserve_insertion_order')").fetchone()
    con.execute("set session preserve_insertion_order = false")
    try:
        listing, views = [], []
        for table in _published(con):
            parts, view = _write_parts(con, table, parts_dir)
            # reused: from the previous snapshot (a part written ahead by this run is new)
            listing += [(table, name, rows, name in previous) for name, rows, _ in parts]
            views.append(view)
    finally:
        con.execute(f"set session preserve_insertion_order = {'true' if order else 'false'}")

    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    con.execute("create or replace temp table snapshot_part_list (table_name varchar, "
                "part_file varchar, row_count bigint, reused boolean)")
    con.executemany("insert into snapshot_part_list values (?, ?, ?, ?)", listing)
    con.execute(f"attach {_quoted(str(tmp))} as snap "
                f"(storage_version '{SNAPSHOT_STORAGE_VERSION}')")
    try:
        for view in views:
            con.execute(view)
        run_sql(con, "outputs/snapshot_info", {"run_id": run_id,
                                               "store_format": f"duckdb {duckdb.__version__}"})
    finally:
        con.execute("detach snap")
        con.execute("drop table snapshot_part_list")
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)

    current = sorted({name for _, name, _, _ in listing})
    _write_manifest(manifest, run_id, current)
    keep = previous | set(current) | {manifest.name}
    for part in parts_dir.iterdir():
        if part.name not in keep:
            part.unlink(missing_ok=True)
    return final


def _write_manifest(manifest: Path, run_id: str, parts: list[str]) -> None:
    tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "parts": parts}, indent=1))
    os.chmod(tmp, 0o600)
    os.replace(tmp, manifest)
