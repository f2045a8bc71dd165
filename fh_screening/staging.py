"""Ingest regions in parallel: each into a staging store of its own, then merged.

DuckDB allows one writer per store file, so two regions cannot be ingested into the
workspace store at the same time. The expensive part of an ingest (reading and parsing the
files, pseudonymising the CPR numbers, validating) can instead write to a *staging store*
of the region's own, in another process or on another machine (a Dask worker, see
flows/screening.py and docs/operations.md), so regions ingest truly in parallel. Merging a
staged region into the workspace store is a short insert-select, done by the one writer.

1. `prepare_region` (the workspace store's writer): a *seed* store for the region with
   what ingest checks new rows against: the register of ingested files, every person
   (`patients`), the region's lab results and family links (`LOOKUPS`).
2. `stage_region` (anywhere the workspace folder is visible): a copy of the seed, then
   `pipeline.ingest_step` unchanged, pointed at that copy and a staging vault.
3. `merge_region` (the workspace store's writer): the rows of the files staged, into the
   workspace store.

The guarantees are those of a direct ingest:

- no double ingestion: the seed holds the file register, so files already in the store are
  skipped exactly as a direct ingest skips them; the merge skips any file another run
  ingested in the meantime (by checksum) and reports it as skipped;
- the same checks: duplicates, same-sample totals, unknown people and relation cycles are
  checked against the seeded rows, as a direct ingest checks the store; when the store
  changed since the seed for the people of the staged files (another region of the same
  run sent them, or another run), the staged verdicts may be stale, so the region is
  ingested directly into the store instead (`merge_region`), as on one machine;
- all or nothing: identities go to the vault first (an identity without store rows is
  harmless), then one transaction adds the region's rows, quarantine and file register,
  after checking that every merged file's rows balance; a crash leaves the store as it
  was, and a retried staging starts again from the seed;
- one writer per file: the seed has one writer (the prepare step), then each staging
  store one (its region's ingest); the workspace store is written only by the caller
  holding its writer slot.

A staging folder holds CPR numbers (its vault) until it is removed (`remove_staging`), so
it lives inside the workspace (mode 0700) and is removed once merged.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.accounting import check_store
from fh_screening.config import TABLES
from fh_screening.ingest import SNAPSHOT_KEYS, FileResult, IngestResult
from fh_screening.pipeline import Progress, ingest_step
from fh_screening.privacy import _sql_path, add_identities, open_vault
from fh_screening.store import Workspace, connect
from fh_screening.workspace_key import workspace_key

# What ingest reads from the store (sql/ingest/*.sql, ingest.py), copied into each seed:
# table -> True when only the staged region's rows are read, False for every region's.
# tests/test_staging.py checks the ingest SQL reads no other stored table, and reads a
# region-only table only with `region = $region`.
LOOKUPS = {"ingested_files": False, "patients": False, "lab_results": True,
           "prescriptions": True, "diagnoses": True, "genetic_tests": True,
           "relations": False}


@dataclass(frozen=True)
class StagingWorkspace(Workspace):
    """A staging folder as a workspace: its own store and vault, the workspace's key (a
    staging store with another key would give everyone other pseudonyms)."""

    key_home: Path = Path()

    @property
    def key_path(self) -> Path:
        return Workspace(self.key_home).key_path

    @property
    def demo_marker(self) -> Path:
        return Workspace(self.key_home).demo_marker

    @property
    def is_staging(self) -> bool:
        return True

    @property
    def seed_path(self) -> Path:
        return self.home / "seed.duckdb"


def staging_root(ws: Workspace, token: str) -> Path:
    """Where one run stages its regions (`token`: unique per run, e.g. its flow run id)."""
    if not token or any(c in token for c in "/\\") or token.startswith("."):
        raise ValueError(f"not a staging token: {token!r}")
    return ws.home / "staging" / token


def prepare_region(ws: Workspace, region: str, staging: Path) -> None:
    """Write the region's seed store at `staging` from the workspace store (call while
    holding the store's writer slot). Checks the pseudonym key against the store first
    (creating a demo key in a new demo workspace), so parallel stagings never race to
    create it and all stage under the store's own key."""
    con = connect(ws.store_path)
    try:
        workspace_key(ws, con)
    finally:
        con.close()
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True, mode=0o700)
    sws = StagingWorkspace(staging, key_home=ws.home)
    connect(sws.seed_path).close()  # the schema
    con = connect(ws.store_path)
    try:
        con.execute(f"attach '{_sql_path(sws.seed_path)}' as seed")
        for table, by_region in LOOKUPS.items():
            con.execute(f"insert into seed.{table} by name select * from {table}"
                        + (" where region = $region" if by_region else ""),
                        {"region": region} if by_region else None)
        con.execute("insert into seed.key_check select * from key_check")
        con.execute("detach seed")
    finally:
        con.close()


def stage_region(ws: Workspace, region: str, extract_dir: Path | None, staging: Path, *,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Ingest one region's new files into a copy of its seed at `staging` (the workspace
    store is not opened). Returns the ingest result plus the staging folder."""
    sws = StagingWorkspace(staging, key_home=ws.home)
    if not sws.seed_path.is_file():
        raise FileNotFoundError(f"no seed store for {region} at {sws.seed_path}")
    # Each attempt starts from the seed: a retry must not find files of a failed attempt.
    sws.store_path.unlink(missing_ok=True)
    shutil.rmtree(sws.vault_path.parent, ignore_errors=True)
    shutil.copyfile(sws.seed_path, sws.store_path)
    return {**ingest_step(sws, region, extract_dir, progress=progress),
            "staging": str(staging), "extract_dir": str(extract_dir) if extract_dir else None}


def merge_region(ws: Workspace, staged: dict[str, Any], *,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Merge a staged region into the workspace store (call while holding its writer
    slot). Returns the region's ingest result as a direct ingest would have reported it,
    with `merged_from`: "staging", or "direct ingest" when the store changed since the
    seed for the people of the staged files (then the region is ingested directly)."""
    region, sws = staged["region"], StagingWorkspace(Path(staged["staging"]), key_home=ws.home)
    files = [dict(f) for f in staged["files"]]
    new = [f["checksum"] for f in files if not f["skipped"]]
    con = connect(ws.store_path)
    try:
        if new:
            con.execute(f"attach '{_sql_path(sws.store_path)}' as staged (read_only)")
            already = {c for (c,) in con.execute(
                "select checksum from ingested_files where checksum in (select unnest(?))",
                [new]).fetchall()}
            for f in files:
                if f["checksum"] in already:  # another run ingested it since the seed
                    f.update(skipped=True, rows_read=0, rows_accepted=0, rows_quarantined=0,
                             reasons={}, validation=None)
            merging = [c for c in new if c not in already]
            if merging and (_supersedes(con, merging) or _stale(con, sws, region, merging)):
                con.close()
                direct = ingest_step(ws, region, _extract_dir(staged), progress=progress)
                return {**direct, "merged_from": "direct ingest"}
            if merging:
                _merge(con, ws, sws, region, merging)
    finally:
        con.close()
    totals = IngestResult(region, [FileResult(**f) for f in files]).totals()
    return {"region": region, **totals, "files": files, "merged_from": "staging"}


def _supersedes(con: duckdb.DuckDBPyConnection, checksums: list[str]) -> bool:
    """Do the staged files replace stored rows (a correction, or a file delivered again
    under its path)? Then they are ingested directly: superseding rows needs the store's
    own rows, which the seed holds only in part."""
    corrected = con.execute("select count(*) from staged.superseded_rows").fetchall()[0][0]
    resent = con.execute(
        "select count(*) from staged.ingested_files s join main.ingested_files m "
        "on m.path = s.path and m.table_name = s.table_name and m.superseded_by is null "
        "where s.checksum in (select unnest(?)) and s.table_name not in (select unnest(?))",
        [checksums, list(SNAPSHOT_KEYS)]).fetchall()[0][0]
    return bool(corrected or resent)


def _extract_dir(staged: dict[str, Any]) -> Path | None:
    return Path(staged["extract_dir"]) if staged.get("extract_dir") else None


def _stale(con: duckdb.DuckDBPyConnection, sws: StagingWorkspace, region: str,
           checksums: list[str]) -> bool:
    """Did the store change since the seed in rows the ingest of these files looked up
    (the seeded tables, for the people in the files)? Then its verdicts may be stale."""
    con.execute(f"attach '{_sql_path(sws.seed_path)}' as seed (read_only)")
    try:
        con.execute("create or replace temp table merging_paths as select path "
                    "from staged.ingested_files where checksum in (select unnest(?))",
                    [checksums])
        people = " union ".join(
            f"select {c} from staged.{t} where source_file in (select path from merging_paths)"
            for t, c in [(t, "person_id") for t in TABLES if t != "practices"]
            + [("relations", "relative_id"), ("quarantine", "person_id")])
        con.execute(f"create or replace temp table merging_people as {people}")
        for table, by_region in LOOKUPS.items():
            if table == "ingested_files":  # files: skipped by checksum above
                continue
            scope = ("where person_id in (select * from merging_people)"
                     + (" and region = $region" if by_region else ""))
            params = {"region": region} if by_region else None
            now, then = (f"select {_columns(con, table)} from {db}{table} {scope}"
                         for db in ("", "seed."))
            changed = con.execute(
                f"select count(*) from (({now} except all {then}) union all "
                f"({then} except all {now}))", params).fetchall()[0][0]
            if changed:
                return True
        return False
    finally:
        con.execute("detach database if exists seed")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> str:
    names = con.execute("select column_name from duckdb_columns() where database_name = "
                        "'staged' and schema_name = 'main' and table_name = ? "
                        "order by column_index", [table]).fetchall()
    return ", ".join(f'"{n}"' for (n,) in names)


def _merge(con: duckdb.DuckDBPyConnection, ws: Workspace, sws: StagingWorkspace, region: str,
           checksums: list[str]) -> None:
    if sws.vault_path.exists():
        # Identities first, as ingest does: DuckDB commits one database per transaction.
        # On a connection of their own: no CPR number in the store connection's buffers.
        with open_vault(ws.vault_path, read_only=False) as vault:
            vault.execute(f"attach '{_sql_path(sws.vault_path)}' as staged_vault (read_only)")
            add_identities(vault, "select person_id, cpr from staged_vault.identity")
    con.execute("create or replace temp table merging as select checksum, path "
                "from staged.ingested_files where checksum in (select unnest(?))", [checksums])
    of_merged = "source_file in (select path from merging)"
    con.execute("begin transaction")
    try:
        for table in TABLES:
            cols = _columns(con, table)
            rows = f"select {cols} from staged.{table} where {of_merged}"
            if table in LOOKUPS:
                # The seed's own rows are the store's: only what is not there yet is new
                # (a re-exported file keeps its path; its accepted rows are never equal to
                # stored ones, which the duplicate checks quarantine).
                rows += f" except all select {cols} from {table} where {of_merged}"
            con.execute(f"create or replace temp table merge_rows as {rows}")
            if table in SNAPSHOT_KEYS:  # a newer file replaces the rows for the same key
                match = " and ".join(f"t.{k} = s.{k}" for k in SNAPSHOT_KEYS[table])
                con.execute(f"delete from {table} t where exists "
                            f"(select 1 from merge_rows s where {match})")
            con.execute(f"insert into {table} by name select * from merge_rows")
        con.execute("insert into quarantine by name select * from staged.quarantine "
                    f"where {of_merged}")
        con.execute("insert into ingested_files by name select * from staged.ingested_files "
                    "where checksum in (select checksum from merging)")
        check_store(con, [region])  # every merged file's rows balance, or nothing commits
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.execute("drop table if exists merge_rows")


def remove_staging(path: Path) -> None:
    """Remove a run's staging folder (it holds CPR numbers in its vault). The empty
    `staging/` folder stays: another run may be creating its own in it."""
    shutil.rmtree(path, ignore_errors=True)
