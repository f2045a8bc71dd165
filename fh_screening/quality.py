"""Quality gates (issue 22): a delivered file whose quarantine rate is above the limits in
`config/quality.toml` (for the table, or for one analyte of a lab file) fails its region.

Why a gate and not only the quarantine: one misspelt analyte name under `[lab_codes]`
quarantines every LDL row but leaves the other lab rows, so the run used to finish with
different lists and exit 0. The gate refuses the file whole (nothing of it is stored, so
it is ingested again once fixed) with the likely cause in a sentence. The national flow
then screens the other regions, lists the failed one in the summary and ends Failed
(docs/operations.md, "Quality gates").
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from fh_screening.config import CONFIG_DIR, ConfigError, load_units
from fh_screening.store import query_sql


class QualityGateFailed(RuntimeError):
    """A file quarantined more rows than config/quality.toml allows: its region fails."""


@dataclass(frozen=True)
class QualityLimits:
    share_above: float
    analyte_share_above: float
    min_rows: int
    tables: dict[str, float] = field(default_factory=dict)

    def table_limit(self, table: str) -> float:
        return self.tables.get(table, self.share_above)


def load_quality(config_dir: Path = CONFIG_DIR) -> QualityLimits:
    path = config_dir / "quality.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))["quarantine"]
        limits = QualityLimits(
            share_above=float(raw["share_above"]["value"]),
            analyte_share_above=float(raw["analyte_share_above"]["value"]),
            min_rows=int(raw["min_rows"]["value"]),
            tables={t: float(v) for t, v in raw.get("tables", {}).items()})
    except (OSError, KeyError, TypeError, ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    for name, share in [("share_above", limits.share_above),
                        ("analyte_share_above", limits.analyte_share_above),
                        *limits.tables.items()]:
        if not 0 <= share <= 1:
            raise ConfigError(f"{path}: {name} must be a share between 0 and 1, not {share}")
    return limits


# (field, reason) -> the likely cause in words (ingest._likely_cause, bound to the file).
Cause = Callable[[str, str], str]


def check_file(con: duckdb.DuckDBPyConnection, *, table: str, name: str, region: str,
               rows: int, limits: QualityLimits, cause: Cause) -> None:
    """Raise QualityGateFailed when the temp view `checked` (the file's rows with their
    `_problem`) quarantines more than the limits: first per analyte of a lab file (the
    sharper message), then for the file as a whole."""
    where = f"config/regions/{region}.toml"
    if table == "lab_results":
        _check_analytes(con, name=name, region=region, limits=limits, cause=cause,
                        where=where)
    if rows < limits.min_rows:
        return
    quarantined, top_field, top_reason = query_sql(con, "ingest/quality_file").fetchall()[0]
    limit = limits.table_limit(table)
    if quarantined > limit * rows:
        raise QualityGateFailed(
            f"{name}: quality gate: {quarantined} of {rows} {table} rows "
            f"({100 * quarantined / rows:.0f} %) quarantined, above the limit of "
            f"{100 * limit:g} % (config/quality.toml); most often: {top_field}: {top_reason}. "
            f"Likely cause: {cause(top_field, top_reason)}. Region {region} fails and nothing "
            f"of this file was stored: fix the export or {where} and run again")


def _check_analytes(con: duckdb.DuckDBPyConnection, *, name: str, region: str,
                    limits: QualityLimits, cause: Cause, where: str) -> None:
    """One analyte mostly quarantined (an unknown analyte name, a new unit) fails the file
    even when the other analytes hide it in the file's total."""
    worst = query_sql(con, "ingest/quality_analytes",
                      {"min": limits.min_rows, "share": limits.analyte_share_above}).fetchall()
    if not worst:
        return
    analyte, n, bad, top_field, top_reason = worst[0]
    known = sorted(load_units())
    why = (f"'{analyte}' under [lab_codes] in {where} is not an analyte of "
           f"config/units.toml ({', '.join(known)}): check [lab_codes] (a misspelt name?)"
           if analyte not in known else cause(top_field, top_reason))
    raise QualityGateFailed(
        f"{name}: quality gate: {bad} of {n} {analyte} rows ({100 * bad / n:.0f} %) "
        f"quarantined, above the limit of {100 * limits.analyte_share_above:g} % for one "
        f"analyte (config/quality.toml); most often: {top_field}: {top_reason}. Likely "
        f"cause: {why}. Region {region} fails and nothing of this file was stored: fix "
        f"the export or {where} and run again")


# What a region without any row of an optional table loses, in the run summary's words.
OPTIONAL_TABLE_COST = {
    "practices": "no practices file: its patients have no lipid clinic, so their referrals "
                 "and cascade lists are grouped as 'unassigned', and GP reports carry no "
                 "practice name",
    "relations": "no family links: no cascade lists, and no relative's LDL or diagnosis "
                 "counts towards the family history (DLCN, Simon Broome, the model)",
    "genetic_tests": "no genetic tests: no index case from a positive test, no exclusion "
                     "of the already tested, and no DLCN points for DNA",
}


def missing_tables(con: duckdb.DuckDBPyConnection, regions: list[str]) -> dict[str, dict]:
    """Per region, the optional tables the store holds no row of, with what each costs
    (a region that sent relations last month is not missing them this month)."""
    out: dict[str, dict] = {}
    for region, *counts in query_sql(con, "accounting/optional_tables",
                                     {"regions": sorted(regions)}).fetchall():
        missing = {t: OPTIONAL_TABLE_COST[t]
                   for t, n in zip(OPTIONAL_TABLE_COST, counts, strict=True) if n == 0}
        if missing:
            out[region] = missing
    return out


def run_notes(result: dict) -> list[str]:
    """The sentences a data team must read beside the counts: regions that sent nothing
    new, and regions without an optional table (CLI summary and the Prefect artifact)."""
    notes = []
    for region in result["regions"]:
        if result["ingest"].get(region, {}).get("files_ingested", 1) == 0:
            notes.append(f"{region}: no new files (every file in its extract folder was "
                         "ingested before); screened on the data already stored")
        for cost in result.get("missing_tables", {}).get(region, {}).values():
            notes.append(f"{region}: {cost}")
    return notes
