"""The embedded DuckDB store: where it lives, its schema, and running the `sql/` files.

One workspace folder holds everything a region team's runs produce:

    <home>/store.duckdb          pseudonymised canonical tables, run registry
    <home>/vault/identity.duckdb person_id -> CPR (attached only to re-identify)
    <home>/vault/pseudonym.key   HMAC key (unless $FH_PSEUDONYM_KEY is set)
    <home>/output/<run_id>/      the lists and reports of each run
    <home>/DEMO_WORKSPACE        only in a workspace made by `fh-screening demo` (or for
                                 training/benchmarks on synthetic data): a demo key may
                                 be generated here, nowhere else
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.config import SQL_DIR

DEFAULT_HOME = Path(os.environ.get("FH_HOME", "workspace"))
# DuckDB's own default is 80 % of the machine's memory; a national run must leave room for
# the model's frames and other processes, so the store gets a bound and spills to disk
# (inside the workspace, owner-only) beyond it. Override with $FH_DUCKDB_MEMORY_LIMIT.
DEFAULT_MEMORY_LIMIT = "4GB"
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")


class StoreBusy(RuntimeError):
    """Another process holds the store (DuckDB allows one writer per file)."""


class StoreDamaged(RuntimeError):
    """The store file cannot be opened: damaged, truncated, or not a DuckDB 2.0 store."""

    def __init__(self, store_path: Path, exc: BaseException) -> None:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        super().__init__(
            f"the store {store_path} cannot be opened ({first}): it is damaged or not a "
            "DuckDB 2.0 store. Restore store.duckdb from the workspace's backup (with the "
            "vault/ folder of the same backup), or ingest the extracts again into a new "
            "workspace under the same pseudonym key; nothing was changed")


def _no_space(exc: BaseException) -> bool:
    return "no space left" in str(exc).lower()


class StoreFormatError(RuntimeError):
    """The store was made by an earlier version whose tables this code cannot read."""


@dataclass(frozen=True)
class Workspace:
    home: Path

    @property
    def store_path(self) -> Path:
        return self.home / "store.duckdb"

    @property
    def vault_path(self) -> Path:
        return self.home / "vault" / "identity.duckdb"

    @property
    def key_path(self) -> Path:
        return self.home / "vault" / "pseudonym.key"

    @property
    def output_dir(self) -> Path:
        return self.home / "output"

    @property
    def demo_marker(self) -> Path:
        return self.home / "DEMO_WORKSPACE"

    @property
    def is_demo(self) -> bool:
        """A workspace of synthetic data only, where a missing key may be generated."""
        return self.demo_marker.is_file()

    @property
    def is_staging(self) -> bool:
        """A region's staging copy (fh_screening.staging), whose vault starts empty."""
        return False


DEMO_MARKER_TEXT = (
    "This workspace holds synthetic data only (made by `fh-screening demo`, training or a\n"
    "benchmark). Its pseudonym key was generated for it. Never ingest real extracts here.\n")


class NotADemoWorkspace(RuntimeError):
    """The demo was pointed at a workspace that holds a real (non-demo) store."""


def mark_demo_workspace(ws: Workspace) -> None:
    """Mark a new workspace as a demo one (the only kind where a missing pseudonym key is
    generated). A workspace that already holds a store without the mark is refused: the
    demo would add synthetic people to it."""
    if ws.is_demo:
        return
    if ws.store_path.exists() or ws.vault_path.exists():
        raise NotADemoWorkspace(
            f"{ws.home} already holds a store that is not a demo workspace; run the demo "
            "with another --home (it would add synthetic people to that store)")
    ws.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    ws.demo_marker.write_text(DEMO_MARKER_TEXT)


@cache
def read_sql(name: str) -> str:
    """The text of `sql/<name>.sql`. Names are ours, never user input."""
    path = (SQL_DIR / f"{name}.sql").resolve()
    if SQL_DIR.resolve() not in path.parents:
        raise ValueError(f"SQL file outside sql/: {name}")
    return path.read_text(encoding="utf-8")


def split_statements(sql: str) -> list[str]:
    """Split a file into statements on ';' at line ends (our files keep ';' out of strings)."""
    body = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def _used_params(statement: str, params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Only the parameters a statement names (DuckDB refuses unused named parameters)."""
    used = {k: v for k, v in (params or {}).items() if re.search(rf"\${k}\b", statement)}
    return used or None


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None,
            ) -> None:
    """Run every statement of `sql/<name>.sql` with the parameters it uses."""
    for statement in split_statements(read_sql(name)):
        con.execute(statement, _used_params(statement, params))


def query_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None,
              ) -> duckdb.DuckDBPyRelation:
    """A single-statement `sql/<name>.sql` as a relation (for SELECT files)."""
    statement = read_sql(name)
    return con.sql(statement, params=_used_params(statement, params))


def connect(store_path: Path, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store, creating the schema on first use, and define the SQL macros."""
    store_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        con = duckdb.connect(str(store_path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusy(
                f"the store {store_path} is in use by another process; "
                "wait for that run to finish"
            ) from exc
        if store_path.exists() and not _no_space(exc):
            raise StoreDamaged(store_path, exc) from exc
        raise
    except duckdb.Error as exc:  # not a DuckDB file, a damaged block, a newer format
        raise StoreDamaged(store_path, exc) from exc
    _limit_memory(con, store_path.parent / "duckdb_tmp")
    _check_format(con, store_path)
    if not read_only:
        os.chmod(store_path, 0o600)
        run_sql(con, "schema/store")
    run_sql(con, "schema/macros")
    return con


def _check_format(con: duckdb.DuckDBPyConnection, store_path: Path) -> None:
    """Refuse a store whose pseudonyms are text (before integer person keys): its rows
    cannot be joined with new ones, and converting them would need the vault and key."""
    old = con.execute("select count(*) from duckdb_columns() where database_name = "
                      "current_database() and table_name = 'patients' and column_name = "
                      "'person_id' and data_type = 'VARCHAR'").fetchall()[0][0]
    if old:
        con.close()
        raise StoreFormatError(
            f"the store {store_path} was made by an earlier version (text pseudonyms); "
            "ingest the extracts again into a new workspace (docs/operations.md)")


def _limit_memory(con: duckdb.DuckDBPyConnection, spill_dir: Path) -> None:
    limit = os.environ.get("FH_DUCKDB_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT).strip()
    if not _MEMORY.match(limit):
        raise ValueError(f"FH_DUCKDB_MEMORY_LIMIT={limit!r}: expected a size such as 4GB")
    spill_dir.mkdir(exist_ok=True, mode=0o700)
    # SET takes no parameters; both values are checked or ours.
    con.execute(f"set memory_limit = '{limit}'")
    con.execute("set temp_directory = '" + str(spill_dir).replace("'", "''") + "'")
