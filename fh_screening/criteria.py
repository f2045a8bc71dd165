"""Run the screening rules in `sql/criteria/` over the store.

The rules themselves are SQL; this module only loads the thresholds (each with its
source, in `config/thresholds.toml`), hands them to the SQL as parameters and lookup
tables, and runs the files in order.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.config import CONFIG_DIR, SQL_DIR, load_thresholds
from fh_screening.store import run_sql

CRITERIA_DIR = SQL_DIR / "criteria"


def threshold_params(thresholds: dict[str, Any]) -> dict[str, Any]:
    """Each `{value, unit, source}` entry, and each list of plain values, as the SQL
    parameter `<section>_<key>`. Tables (drug doses, bands) become lookup tables instead."""
    params: dict[str, Any] = {}
    for section, entries in thresholds.items():
        for key, entry in entries.items():
            if isinstance(entry, dict) and "value" in entry:
                params[f"{section}_{key}"] = entry["value"]
            elif isinstance(entry, list) and all(isinstance(v, str | int | float) for v in entry):
                params[f"{section}_{key}"] = entry
    return params


def load_drug_tables(con: duckdb.DuckDBPyConnection, thresholds: dict[str, Any]) -> None:
    """The NICE dose table and per-drug defaults as lookup tables for the SQL."""
    drugs = thresholds["treatment"]["drugs"]
    con.execute("create or replace temp table drug_dose_reduction "
                "(atc_code varchar, strength_mg double, reduction double)")
    rows = [(atc, float(dose), float(r)) for atc, d in sorted(drugs.items())
            for dose, r in sorted(d["doses"].items())]
    if rows:
        con.executemany("insert into drug_dose_reduction values (?, ?, ?)", rows)
    con.execute("create or replace temp table drug_default_reduction "
                "(atc_code varchar, name varchar, reduction double)")
    con.executemany("insert into drug_default_reduction values (?, ?, ?)",
                    [(atc, d["name"], float(d["default"])) for atc, d in sorted(drugs.items())])


def run_criteria(con: duckdb.DuckDBPyConnection, *, as_of: date, regions: list[str],
                 config_dir: Path = CONFIG_DIR) -> int:
    """Build `screening_results` for the given regions as of a date; returns its row count."""
    thresholds = load_thresholds(config_dir)
    load_drug_tables(con, thresholds)
    params = {**threshold_params(thresholds), "as_of": as_of, "regions": sorted(regions)}
    for path in sorted(CRITERIA_DIR.glob("[0-9][0-9]_*.sql")):
        run_sql(con, f"criteria/{path.stem}", params)
    return con.execute("select count(*) from screening_results").fetchall()[0][0]
