"""Run the screening rules in `sql/criteria/` over the store.

The rules themselves are SQL; this module only loads the thresholds (each with its
source, in `config/thresholds.toml`), hands them to the SQL as parameters and lookup
tables, and runs the files in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.config import CONFIG_DIR, SQL_DIR, load_codelist, load_thresholds, load_units
from fh_screening.stages import step
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


def load_drug_tables(con: duckdb.DuckDBPyConnection, thresholds: dict[str, Any],
                     config_dir: Path = CONFIG_DIR) -> None:
    """The NICE dose table, per-drug defaults and the drugs that raise LDL
    (config/code_lists/) as lookup tables for the SQL."""
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
    con.execute("create or replace temp table ldl_raising_drugs (atc_prefix varchar, name varchar)")
    con.executemany("insert into ldl_raising_drugs values (?, ?)",
                    [(r["atc_prefix"], r["name"]) for r in load_codelist("ldl_raising_drugs",
                                                                         config_dir)])


def load_band_tables(con: duckdb.DuckDBPyConnection, thresholds: dict[str, Any]) -> None:
    """Age-band tables: MEDPED cut-offs and the fallback LDL percentiles."""
    con.execute("create or replace temp table medped_bands (from_age integer, to_age integer, "
                "first double, second double, third double, general double)")
    con.executemany("insert into medped_bands values (?, ?, ?, ?, ?, ?)",
                    [(b["from_age"], b["to_age"], b["first"], b["second"], b["third"],
                      b["general"]) for b in thresholds["medped"]["bands"]])
    con.execute("create or replace temp table percentile_fallback "
                "(from_age integer, to_age integer, m double, f double)")
    con.executemany("insert into percentile_fallback values (?, ?, ?, ?)",
                    [(b["from_age"], b["to_age"], b["M"], b["F"])
                     for b in thresholds["percentiles"]["fallback"]["bands"]])


def unit_params(config_dir: Path = CONFIG_DIR) -> dict[str, float]:
    """mg/dL per mmol/L for the equations published in mg/dL (Sampson), from units.toml."""
    units = load_units(config_dir)
    return {"chol_mg_dl_per_mmol_l": 1 / units["total_chol"].convert["mg/dL"],
            "tg_mg_dl_per_mmol_l": 1 / units["triglycerides"].convert["mg/dL"]}


# What a criteria file builds (a scratch table for the people in scope) and the store
# table it is merged into: a full screening replaces the table, an incremental one
# replaces the rows of the people in scope.
PERSISTED = {
    "02_ldl_untreated": ("int_ldl_history", "ldl_history", "scope_a"),
    "03_index_ldl": ("int_index_ldl", "index_ldl", "scope_a"),
    "04_secondary_causes": ("int_secondary_causes", "secondary_causes", "scope_a"),
    "07_person_facts": ("int_person_facts", "person_facts", "scope_facts"),
    "10_screening_results": ("int_screening_results", "screening_results", "scope_b"),
}


@dataclass(frozen=True)
class Since:
    """The last screening an incremental one builds on: its as-of date and the newest
    ingest it saw (files ingested later hold the changes)."""

    as_of: date
    ingested_upto: datetime


def _merge(con: duckdb.DuckDBPyConnection, scratch: str, table: str, scope: str,
           full: bool) -> None:
    """Put a criteria file's rows (table `scratch`) into the store table. Afterwards
    `scratch` is a view of this screening's rows of `table`, for the files after it.
    A full screening renames the scratch table (no second copy of millions of rows)."""
    # Names are the constants of PERSISTED, never input.
    if full:
        con.execute(f"drop table if exists {table}")
        con.execute(f"alter table {scratch} rename to {table}")
        con.execute(f"create or replace temp view {scratch} as select * from {table}")  # noqa: S608
        return
    con.execute(f"delete from {table} where person_id in "  # noqa: S608
                f"(select person_id from {scope})")
    con.execute(f"insert into {table} by name select * from {scratch}")  # noqa: S608
    con.execute(f"drop table {scratch}")
    con.execute(f"create or replace temp view {scratch} as select * from {table} "  # noqa: S608
                f"where person_id in (select person_id from {scope})")


def _drop_scratch_views(con: duckdb.DuckDBPyConnection) -> None:
    """A second screening on one connection must not read the first one's views."""
    names = [scratch for scratch, _, _ in PERSISTED.values()]
    for (name,) in con.execute("select view_name from duckdb_views() where temporary and "
                               "view_name in (select unnest($n))", {"n": names}).fetchall():
        con.execute(f"drop view temp.{name}")


def prepare_criteria(con: duckdb.DuckDBPyConnection, *, as_of: date, regions: list[str],
                     config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Load the drug and band tables the criteria SQL joins and return its parameters:
    one place for what a screening and benchmarks/criteria_ab.py both need."""
    thresholds = load_thresholds(config_dir)
    load_drug_tables(con, thresholds, config_dir)
    load_band_tables(con, thresholds)
    return {**threshold_params(thresholds), **unit_params(config_dir), "as_of": as_of,
            "regions": sorted(regions)}


def run_criteria(con: duckdb.DuckDBPyConnection, *, as_of: date, regions: list[str],
                 config_dir: Path = CONFIG_DIR, since: Since | None = None) -> int:
    """Build `screening_results` for the given regions as of a date; returns its row count.

    With `since` (the last screening of the same regions under the same rules and model,
    not later than `as_of`) only the people whose data changed since, and the people whose
    results depend on theirs, are recomputed (sql/criteria/scope/); the result is the same
    as a full screening, which tests/test_incremental.py checks. The people recomputed
    are left in the temporary table `scope_b` for the model."""
    params = prepare_criteria(con, as_of=as_of, regions=regions, config_dir=config_dir)
    full = since is None
    _drop_scratch_views(con)
    if full:
        run_sql(con, "criteria/scope/everyone", params)
    else:
        run_sql(con, "criteria/scope/changed", {**params, "previous_as_of": since.as_of,
                                                "ingested_upto": since.ingested_upto})
    files = sorted(CRITERIA_DIR.glob("[0-9][0-9]_*.sql"))
    for done, path in enumerate(files, 1):
        run_sql(con, f"criteria/{path.stem}", params)
        step("criteria", done, len(files), path.stem)
        if path.stem == "07_person_facts" and not full:
            # before the new facts replace the old ones: whose changed decides who else
            # is rescored
            run_sql(con, "criteria/scope/affected", {**params,
                                                     "ingested_upto": since.ingested_upto})
        if path.stem in PERSISTED:
            _merge(con, *PERSISTED[path.stem], full=full)
    return con.execute("select count(*) from screening_results").fetchall()[0][0]
