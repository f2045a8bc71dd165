"""Lineage of a screening run: what it read, under which configuration and code, and what
it wrote.

Recorded in the run registry (`runs.lineage`, JSON) and in `run_summary.json`, so that a
list a lipid clinic received can be traced back to the exact extract files (by checksum),
thresholds and dialects (by hash), code and model version. Nothing here is time-dependent
beyond what the store already recorded, so a re-run of the same inputs gives the same
lineage (the CLI test compares run summaries byte for byte).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.config import CONFIG_DIR, EXPECTATIONS_DIR, PROJECT_ROOT, SQL_DIR

# Everything that changes a run's result without changing the code's version number:
# thresholds, units and dialects, the expectation suites and the SQL transformations.
CONFIG_GLOBS: tuple[tuple[Path, str], ...] = (
    (CONFIG_DIR, "**/*.toml"),
    (CONFIG_DIR, "code_lists/*.csv"),  # code maps and drug lists change results too
    (EXPECTATIONS_DIR, "**/*.json"),
    (SQL_DIR, "**/*.sql"),
)


def config_files() -> list[Path]:
    """The files `config_hash` covers, in a fixed order."""
    found = {p for root, pattern in CONFIG_GLOBS for p in root.glob(pattern) if p.is_file()}
    return sorted(found, key=_relative)


def _relative(path: Path, root: Path = PROJECT_ROOT) -> str:
    """A configuration file's name in the hash: relative to the project, or, for a
    configuration folder outside it ($FH_CONFIG_DIR), as if it were the project's config/."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return "config/" + path.relative_to(CONFIG_DIR).as_posix()


def config_hash(files: list[Path] | None = None, root: Path = PROJECT_ROOT) -> str:
    """SHA-256 over the relative path and bytes of every configuration file.

    A git commit alone does not identify the configuration: a region team may edit a
    dialect or a threshold in place. The hash changes with any of them (and only then)."""
    digest = hashlib.sha256()
    for path in files if files is not None else config_files():
        rel = _relative(path, root)
        data = path.read_bytes()
        digest.update(f"{rel}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def input_files(con: duckdb.DuckDBPyConnection, regions: list[str]) -> list[dict[str, Any]]:
    """Every extract file the screened regions' data came from (the store accumulates
    extracts, so a run screens all of them, not only those it ingested itself)."""
    rows = con.execute(
        "select region, table_name, path, checksum, rows_read, rows_accepted, rows_quarantined, "
        "strftime(ingested_at, '%Y-%m-%dT%H:%M:%S') from ingested_files "
        "where region in (select unnest($regions)) order by region, table_name, path, checksum",
        {"regions": regions}).fetchall()
    keys = ("region", "table", "path", "sha256", "rows_read", "rows_accepted",
            "rows_quarantined", "ingested_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def model_version(con: duckdb.DuckDBPyConnection, regions: list[str]) -> str | None:
    """The risk model version behind `model_scores` for these regions (None until the
    model has scored them; several versions would mean a half-rescored store)."""
    found = [v for (v,) in con.execute(
        "select distinct model_version from model_scores where region in "
        "(select unnest($regions)) order by 1", {"regions": regions}).fetchall()]
    return ", ".join(found) if found else None


def build_lineage(con: duckdb.DuckDBPyConnection, *, run_dir: Path, regions: list[str],
                  code_version: str, output_files: list[str]) -> dict[str, Any]:
    """The lineage record of one run (JSON-serialisable, deterministic for equal inputs)."""
    return {
        "code_version": code_version,
        "config_hash": config_hash(),
        "model_version": model_version(con, regions),
        "inputs": input_files(con, regions),
        "output_dir": str(run_dir.resolve()),
        "outputs": sorted([*output_files, "run_summary.json"]),
    }
