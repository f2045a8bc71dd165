"""How well the rules find carriers, measured against a synthetic truth table.

Only synthetic data have a truth table (who really carries FH); this is how the rule
sets are compared and how the numbers in the docs and issue notes are produced.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from fh_screening.privacy import PseudonymKey

RULES = ("ldl_age_band", "dlcn", "simon_broome", "medped")


def load_truth(path: Path, key: PseudonymKey) -> pl.DataFrame:
    """The truth table keyed by the run's pseudonyms (the CPR column is dropped)."""
    truth = pl.read_csv(path, schema_overrides={"cpr": pl.String})
    return truth.with_columns(
        pl.col("cpr").map_elements(key.pseudonym, return_dtype=pl.String).alias("person_id")
    ).drop("cpr")


def rule_performance(con: duckdb.DuckDBPyConnection, truth: pl.DataFrame) -> pl.DataFrame:
    """Per rule set (and for `flagged`, the union used): people flagged, carriers found,
    sensitivity among screened carriers, PPV, and flagged per 100,000 screened adults."""
    results = con.sql(
        "select person_id, age_at_index, flagged, referral, ldl_rule_met, "
        "dlcn_points > 5 as dlcn_fired, simon_broome is not null as sb_fired, medped_met "
        "from screening_results").pl()
    joined = results.join(truth.select("person_id", "fh_carrier"), on="person_id", how="inner")
    adults = joined.filter(pl.col("age_at_index") >= 18).height
    carriers = int(joined["fh_carrier"].sum())
    rows = []
    for name, column in (("ldl_age_band", "ldl_rule_met"), ("dlcn > 5", "dlcn_fired"),
                         ("simon_broome", "sb_fired"), ("medped", "medped_met"),
                         ("flagged (union)", "flagged"), ("referred", "referral")):
        hit = joined.filter(pl.col(column))
        found = int(hit["fh_carrier"].sum())
        rows.append({
            "rule": name, "flagged": hit.height, "carriers_found": found,
            "screened_carriers": carriers,
            "sensitivity": round(found / carriers, 3) if carriers else None,
            "ppv": round(found / hit.height, 3) if hit.height else None,
            "flagged_per_100k_adults": round(1e5 * hit.height / adults, 1) if adults else None,
        })
    return pl.DataFrame(rows)
