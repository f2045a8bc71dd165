"""Lipid-clinic referral lists: CSV, XLSX (one sheet per priority tier) and an HTML
triage page per clinic, deduplicated against earlier runs.

Who is listed, in which order, and whether a person already referred comes back
('re-referral') is decided in `sql/outputs/referral_list.sql` with the rule in
`config/thresholds.toml` ([referral] rerefer_ldl_rise_at_least). This module writes the
files and records what was sent in `referral_history`, which the next run reads.

The lists are in English (their headings and the rules' reasons are); the risk model's
reasons, stored as data, are worded from the English catalogue (`fh_screening/i18n.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from fh_screening.background import BackgroundFiles
from fh_screening.html_tables import Col, render_table_page
from fh_screening.i18n import Translator, model_reason_text, probability_text
from fh_screening.outputs import safe_file_name, write_private
from fh_screening.privacy import Reidentifier
from fh_screening.sheets import csv_text, xlsx_bytes
from fh_screening.store import query_sql

INTERNAL_COLUMNS = ("person_id", "index_id", "relative_id", "lipid_clinic_id",
                    "model_reasons", "listed", "waiting_since")
LIST_LANGUAGE = "en"
TIER_ORDER = ("urgent", "high", "standard")
# The backlog file says who waits and why, for the clinic's planning: no CPR number or
# other identifier, only what ranks them.
BACKLOG_COLUMNS = ("rank", "priority", "status", "fh_probability_text", "age", "sex",
                   "gp_practice_id", "untreated_ldl_estimate", "untreated_ldl_range",
                   "dlcn_points", "waiting_since")

# The triage page shows the list in fewer, denser columns than the CSV/XLSX.
TRIAGE_COLUMNS = [
    Col("rank", "rank"),
    Col("priority", "priority"),
    Col("status", "status", detail=("status_reason",)),
    Col("fh_probability", "FH probability", detail=("fh_probability_text",)),
    Col("cpr", "CPR", detail=("age_sex",), nowrap=True),
    Col("gp_practice_id", "GP practice", detail=("practice_name",)),
    Col("untreated_ldl_estimate", "untreated LDL",
        detail=("untreated_ldl_range", "ldl_evidence", "measured")),
    Col("dlcn_points", "DLCN", detail=("dlcn_category", "dlcn_parts")),
    Col("simon_broome", "Simon Broome"),
    Col("medped", "MEDPED"),
    Col("reasons", "reasons", wide=True),
    Col("exclusions_checked", "exclusions checked", wide=True),
    Col("relatives_known", "relatives"),
]


@dataclass
class ReferralOutput:
    per_clinic: dict[str, int]
    re_referrals: int
    files: list[str]
    backlog: dict[str, int] = field(default_factory=dict)


def public(frame: pl.DataFrame) -> pl.DataFrame:
    """What a clinician's file may hold: no pseudonyms or other internal keys."""
    return frame.drop([c for c in INTERNAL_COLUMNS if c in frame.columns])


def with_reason_text(frame: pl.DataFrame, t: Translator) -> pl.DataFrame:
    """`reasons` as one text: the rules' reasons, then the model's in words
    ("risk model: ..."), separated by '; '."""
    texts = ["; ".join([*(rules or []),
                        *(t("reason.model", reason=model_reason_text(r, t)) for r in model or [])])
             for rules, model in zip(frame["reasons"].to_list(),
                                     frame["model_reasons"].to_list(), strict=True)]
    return frame.with_columns(pl.Series("reasons", texts, dtype=pl.String))


def with_probability_text(frame: pl.DataFrame, t: Translator) -> pl.DataFrame:
    """The probability in words with its range ("12 % (4 % to 20 %)", never "0 %")."""
    texts = [probability_text(p, lo, hi, t) for p, lo, hi in zip(
        frame["fh_probability"].to_list(), frame["fh_probability_low"].to_list(),
        frame["fh_probability_high"].to_list(), strict=True)]
    return frame.with_columns(pl.Series("fh_probability_text", texts, dtype=pl.String))


def tier_sheets(frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """One sheet per priority tier, high first; every known tier gets a sheet."""
    present = [t for t in frame["priority"].unique().to_list() if t not in TIER_ORDER]
    return {tier: frame.filter(pl.col("priority") == tier)
            for tier in [*TIER_ORDER, *sorted(p for p in present if p is not None)]}


def write_referrals(con: duckdb.DuckDBPyConnection, out: Path, params: dict[str, Any], *,
                    code_version: str, background: BackgroundFiles,
                    reidentify: Reidentifier) -> ReferralOutput:
    run_id, as_of = params["run_id"], params["as_of"]
    t = Translator(LIST_LANGUAGE)
    candidates = with_probability_text(with_reason_text(
        reidentify.add_cpr(query_sql(con, "outputs/referral_list", params).pl(), "cpr",
                           "person_id"), t), t)
    referrals = candidates.filter(pl.col("listed"))
    waiting = candidates.filter(~pl.col("listed"))
    result = ReferralOutput({}, int((referrals["status"] == "re-referral").sum()), [])
    for (clinic,), frame in waiting.group_by("lipid_clinic_id", maintain_order=True):
        stem = f"referrals/backlog/{safe_file_name(clinic or 'unassigned')}"
        write_private(out / f"{stem}.csv", csv_text(frame.select(BACKLOG_COLUMNS)))
        result.backlog[clinic] = frame.height
        result.files.append(f"{stem}.csv")
    for (clinic,), frame in referrals.group_by("lipid_clinic_id", maintain_order=True):
        # A patient of a practice the practices file does not list has no clinic
        # (issue 20: the None key broke the run summary with a TypeError).
        clinic = clinic or "unassigned"
        rows = public(frame)
        stem = f"referrals/{safe_file_name(clinic)}"
        title = f"FH referrals for lipid clinic {clinic}"
        write_private(out / f"{stem}.csv", csv_text(rows))
        background.add(out / f"{stem}.xlsx", xlsx_bytes, tier_sheets(rows), as_of=as_of,
                       title=title)
        new = int((rows["status"] == "new").sum())
        triage = rows.with_columns(
            pl.format("{} y, {}", "age", "sex").alias("age_sex"),
            pl.format("measured {} on {}, {}, {} sample(s)", "index_ldl", "index_ldl_date",
                      pl.col("index_treatment").fill_null("untreated"), "ldl_samples")
            .alias("measured"))
        # Until the risk model has scored anyone, an empty probability column is noise.
        shown = [c for c in TRIAGE_COLUMNS if c.name != "fh_probability"
                 or triage["fh_probability"].null_count() < triage.height]
        write_private(out / f"{stem}.html", render_table_page(
            triage, shown, title=title,
            meta=[f"screening run {run_id}", f"data up to {as_of}",
                  f"{rows.height} patient(s): {new} new, {rows.height - new} re-referral(s)"],
            note=("Ranked by priority tier (urgent: possible homozygous FH), then people "
                  "waiting from an earlier run, then model probability (where scored), then "
                  "untreated LDL; the clinic's capacity per run decides how many are listed, "
                  "the rest wait in the backlog (a separate file without identifiers). "
                  "People referred by an earlier run are listed again only "
                  "when their untreated LDL rose by at least "
                  f"{params['referral_rerefer_ldl_rise_at_least']} mmol/L or their tier rose. "
                  f"fh-screening {code_version}; a flag is a prompt for review, not a "
                  "diagnosis."),
            filter_columns=("priority", "status", "sex", "gp_practice_id", "dlcn_category"),
            highlight=("priority", "urgent", "high")))
        result.per_clinic[clinic] = frame.height
        result.files += [f"{stem}.csv", f"{stem}.xlsx", f"{stem}.html"]
    record_history(con, referrals, run_id=run_id, as_of=as_of)
    record_backlog(con, waiting, run_id=run_id, as_of=as_of)
    return result


def record_backlog(con: duckdb.DuckDBPyConnection, waiting: pl.DataFrame, *, run_id: str,
                   as_of: Any) -> None:
    """Remember who waits beyond their clinic's capacity, ranked, and since when: the
    next run lists them first within their tier. A rerun replaces its own rows."""
    con.execute("delete from referral_backlog where run_id = ?", [run_id])
    if not waiting.height:
        return
    con.register("referrals_waiting", waiting.select(
        "person_id", "lipid_clinic_id", "priority", "rank", "waiting_since"))
    try:
        con.execute("insert into referral_backlog select person_id, $run_id, lipid_clinic_id, "
                    "priority, rank, waiting_since, $as_of from referrals_waiting",
                    {"run_id": run_id, "as_of": as_of})
    finally:
        con.unregister("referrals_waiting")


def record_history(con: duckdb.DuckDBPyConnection, referrals: pl.DataFrame, *, run_id: str,
                   as_of: Any) -> None:
    """Remember who this run sent, with tier and untreated LDL, for the next run's
    deduplication. A rerun of the same run id replaces its own rows."""
    con.execute("delete from referral_history where run_id = ?", [run_id])
    if not referrals.height:
        return
    sent = referrals.select("person_id", "priority", "untreated_ldl_estimate")
    con.register("referrals_sent", sent)
    try:
        con.execute("insert into referral_history select person_id, $run_id, priority, "
                    "untreated_ldl_estimate, $as_of from referrals_sent",
                    {"run_id": run_id, "as_of": as_of})
    finally:
        con.unregister("referrals_sent")
