"""How well the rules find carriers, measured against a synthetic truth table.

Only synthetic data have a truth table (who really carries FH); this is how the rule
sets are compared and how the numbers in the docs and issue notes are produced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from fh_screening.privacy import PseudonymKey

RULES = ("ldl_age_band", "dlcn", "simon_broome", "medped")


def load_truth(path: Path, key: PseudonymKey) -> pl.DataFrame:
    """The truth table keyed by the run's pseudonyms (the CPR column is dropped)."""
    truth = pl.read_csv(path, schema_overrides={"cpr": pl.String})
    return truth.with_columns(
        pl.col("cpr").map_elements(key.pseudonym, return_dtype=pl.Int64).alias("person_id")
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


def model_performance(con: duckdb.DuckDBPyConnection, truth: pl.DataFrame,
                      capacities: tuple[int, ...] = (50, 100, 200)) -> dict[str, Any]:
    """The run's model scores against the truth: ROC AUC, average precision and Brier
    score over everyone screened, and the capacity table (model_eval.RANKINGS) over the
    referable people, per 100,000 adults alive in the screened regions on the as-of date."""
    from fh_screening import model_eval
    from fh_screening.world_eval import RESULT_COLUMNS

    frame = con.sql(RESULT_COLUMNS).pl()
    frame = frame.join(truth.select("person_id", "fh_carrier"), on="person_id", how="left",
                       maintain_order="left").with_columns(pl.col("fh_carrier").fill_null(False))
    adults = con.execute(
        "select count(*) from patients p where p.region in "
        "(select distinct region from screening_results) and (p.deceased_date is null or "
        "p.deceased_date > (select max(as_of) from screening_results)) and "
        "date_sub('year', p.birth_date, (select max(as_of) from screening_results)) >= 18"
    ).fetchall()[0][0]
    referable = frame.filter(pl.col("referable")).sort("person_id")
    return {
        "adults": adults,
        "scores": model_eval.scores(frame["fh_carrier"].to_numpy().astype(int),
                                    frame["probability"].to_numpy()),
        "capacity": model_eval.capacity_table(referable, adults, capacities,
                                              outcome="fh_carrier"),
    }
