"""Lipid-clinic referral lists: CSV, XLSX (one sheet per priority tier) and an HTML
triage page per clinic, deduplicated against earlier runs.

Who is listed, in which order, and whether a person already referred comes back
('re-referral') is decided in `sql/outputs/referral_list.sql` with the rule in
`config/thresholds.toml` ([referral] rerefer_ldl_rise_at_least). This module writes the
files and records what was sent in `referral_history`, which the next run reads.

Each listed patient gets a stable referral id (fh_screening/identifiers.py) and empty
return columns with drop-down choices that the clinic fills in and sends back
(fh_screening/returns.py). The lists follow the run's language (Danish by default;
fh_screening/lists.py): column titles, coded values and the reasons, worded from the
same structured facts as the GP report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from fh_screening.background import BackgroundFiles
from fh_screening.gp_reports import exclusion_texts
from fh_screening.html_tables import Col, render_table_page
from fh_screening.i18n import Translator, model_reason_text, probability_text
from fh_screening.identifiers import with_codes
from fh_screening.lists import (
    REFERRAL_RETURNS,
    clinic,
    localise,
    localise_values,
    validations,
    with_return_columns,
)
from fh_screening.outputs import safe_file_name, write_private
from fh_screening.privacy import Reidentifier
from fh_screening.sheets import csv_text, xlsx_bytes
from fh_screening.store import query_sql

INTERNAL_COLUMNS = ("person_id", "index_id", "relative_id", "lipid_clinic_id",
                    "model_reasons", "listed", "waiting_since")
TIER_ORDER = ("urgent", "high", "standard")
# The backlog file says who waits and why, for the clinic's planning: no CPR number or
# other identifier, only what ranks them.
BACKLOG_COLUMNS = ("rank", "priority", "status", "fh_probability_text", "age", "sex",
                   "gp_practice_id", "untreated_ldl_estimate", "untreated_ldl_range",
                   "dlcn_points", "waiting_since")
# The referral id first: it is what a returned row is matched by.
LEADING_COLUMNS = ("referral_id",)

# The triage page shows the list in fewer, denser columns than the CSV/XLSX
# (labels: the catalogue's `col.<name>`).
TRIAGE_COLUMNS = [
    Col("rank", "rank"),
    Col("priority", "priority"),
    Col("status", "status", detail=("status_reason",)),
    Col("fh_probability", "fh_probability", detail=("fh_probability_text",)),
    Col("cpr", "cpr", detail=("age_sex", "referral_id"), nowrap=True),
    Col("gp_practice_id", "gp_practice_id", detail=("practice_name",)),
    Col("untreated_ldl_estimate", "untreated_ldl_estimate",
        detail=("untreated_ldl_range", "ldl_evidence", "measured")),
    Col("dlcn_points", "dlcn_points", detail=("dlcn_category", "dlcn_parts")),
    Col("simon_broome", "simon_broome"),
    Col("medped", "medped"),
    Col("reasons", "reasons", wide=True),
    Col("exclusions_checked", "exclusions_checked", wide=True),
    Col("relatives_known", "relatives_known"),
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


def with_reason_text(frame: pl.DataFrame, t: Translator,
                     facts: pl.DataFrame | None = None) -> pl.DataFrame:
    """`reasons` as one text in the reader's language, '; '-separated: from the
    structured facts of each person (`facts`: sql/outputs/gp_patients.sql, the same
    sentences as the GP report) where given, else the rules' reasons (English, from the
    SQL) and the model's in words."""
    worded: dict[int, str] = {}
    if facts is not None and facts.height:
        from fh_screening.gp_reports import reason_texts

        worded = {p["person_id"]: "; ".join(reason_texts(p, t))
                  for p in facts.iter_rows(named=True)}
    texts = [worded.get(pid) or "; ".join(
        [*(rules or []), *(t("reason.model", reason=model_reason_text(r, t)) for r in model or [])])
        for pid, rules, model in zip(frame["person_id"].to_list(), frame["reasons"].to_list(),
                                     frame["model_reasons"].to_list(), strict=True)]
    return frame.with_columns(pl.Series("reasons", texts, dtype=pl.String))


# Facts the SQL gives for the worded columns below; not written to the lists themselves.
FACT_COLUMNS = (
    "prev_ldl", "prev_sent_at", "prev_run_id", "untreated_ldl_low", "untreated_ldl_high",
    "dlcn_ldl_points", "dlcn_own_history_points", "dlcn_family_points", "dlcn_dna_points",
    "exclusions", "index_tsh", "index_albumin", "index_alp", "index_bilirubin",
    "index_triglycerides", "genetic_tested", "genetic_positive", "known_fh", "high_tsh",
    "max_tsh", "low_albumin", "min_albumin", "cholestasis", "max_alp", "max_bilirubin",
    "very_high_triglycerides", "max_triglycerides", "ldl_raising_drug", "ldl_raising_drugs",
    "first_degree_relatives", "second_degree_relatives", "fdr_known_fh", "sdr_known_fh",
)


def status_text(p: dict[str, Any], t: Translator) -> str:
    """Why a person is on this run's list: new, or why they come back."""
    if p["status_reason"] == "new":
        return t("lists.status_new")
    when = {"date": p["prev_sent_at"], "run": p["prev_run_id"]}
    if p["status_reason"] == "ldl_rose":
        ldl = p["untreated_ldl_estimate"]
        return t("lists.status_ldl_rose", ldl=t.number(ldl), prev=t.number(p["prev_ldl"]),
                 rise=t.number(ldl - p["prev_ldl"]), **when)
    return t("lists.status_tier_rose", tier=t(f"value.priority_{p['priority']}"), **when)


def exclusions_checked_text(p: dict[str, Any], t: Translator, window_days: int) -> str:
    """The secondary causes found, or the values near the index sample that rule them out."""
    if p["exclusions"]:
        found = [*exclusion_texts(p, t),
                 *([t("lists.exclusion_known_fh")] if p["known_fh"] else []),
                 *([t("lists.exclusion_genetic_positive")] if p["genetic_positive"] else [])]
        return t("lists.exclusions_found", found="; ".join(found))

    def measured(value: float | None, unit: str, digits: int) -> str:
        return (t("lists.not_measured") if value is None
                else f"{t.number(value, digits)} {unit}")

    return t("lists.exclusions_none", days=window_days,
             tsh=measured(p["index_tsh"], "mIU/L", 1),
             albumin=measured(p["index_albumin"], "g/L", 0),
             alp=measured(p["index_alp"], "U/L", 0),
             bilirubin=measured(p["index_bilirubin"], "µmol/L", 0),
             triglycerides=measured(p["index_triglycerides"], "mmol/L", 1),
             test=t("lists.genetic_test_negative") if p["genetic_tested"]
             else t("lists.genetic_test_not_done"))


def relatives_text(p: dict[str, Any], t: Translator) -> str:
    known = ("lists.relatives_fdr_known" if p["fdr_known_fh"] else
             "lists.relatives_sdr_known" if p["sdr_known_fh"] else "lists.relatives_none_known")
    return t("lists.relatives_known", first=p["first_degree_relatives"],
             second=p["second_degree_relatives"], known=t(known))


def with_worded_facts(frame: pl.DataFrame, t: Translator, window_days: int) -> pl.DataFrame:
    """The list's sentence columns (status reason, untreated-LDL range, DLCN parts, Simon
    Broome, MEDPED, secondary causes checked, relatives) in the reader's language, from
    the facts the SQL returns (FACT_COLUMNS, dropped here): the SQL writes no prose."""
    n = t.number
    words: dict[str, list[str]] = {c: [] for c in (
        "status_reason", "untreated_ldl_range", "dlcn_parts", "simon_broome", "medped",
        "exclusions_checked", "relatives_known")}
    for p in frame.iter_rows(named=True):
        words["status_reason"].append(status_text(p, t))
        words["untreated_ldl_range"].append(t("lists.ldl_range", low=n(p["untreated_ldl_low"]),
                                              high=n(p["untreated_ldl_high"])))
        dna = p["dlcn_dna_points"]
        words["dlcn_parts"].append(t("lists.dlcn_parts", ldl=p["dlcn_ldl_points"],
                                     own=p["dlcn_own_history_points"],
                                     family=p["dlcn_family_points"],
                                     dna=t("lists.not_tested") if dna is None else dna))
        words["simon_broome"].append(t(f"reason.simon_broome_{p['simon_broome']}")
                                     if p["simon_broome"] else t("lists.not_met"))
        words["medped"].append(t("lists.met") if p["medped"] else t("lists.not_met"))
        words["exclusions_checked"].append(exclusions_checked_text(p, t, window_days))
        words["relatives_known"].append(relatives_text(p, t))
    return frame.with_columns(pl.Series(c, v, dtype=pl.String)
                              for c, v in words.items()).drop(FACT_COLUMNS)


def with_probability_text(frame: pl.DataFrame, t: Translator) -> pl.DataFrame:
    """The probability in words with its range ("12 % (4 % to 20 %)", never "0 %")."""
    texts = [probability_text(p, lo, hi, t) for p, lo, hi in zip(
        frame["fh_probability"].to_list(), frame["fh_probability_low"].to_list(),
        frame["fh_probability_high"].to_list(), strict=True)]
    return frame.with_columns(pl.Series("fh_probability_text", texts, dtype=pl.String))


def tier_sheets(frame: pl.DataFrame, t: Translator | None = None) -> dict[str, pl.DataFrame]:
    """One sheet per priority tier, urgent first; every known tier gets a sheet (named in
    the reader's language when `t` is given)."""
    present = [t for t in frame["priority"].unique().to_list() if t not in TIER_ORDER]
    name = (lambda tier: t(f"value.priority_{tier}")) if t else (lambda tier: tier)
    return {name(tier) if tier in TIER_ORDER else tier: frame.filter(pl.col("priority") == tier)
            for tier in [*TIER_ORDER, *sorted(p for p in present if p is not None)]}


def write_referrals(con: duckdb.DuckDBPyConnection, out: Path, params: dict[str, Any], *,
                    code_version: str, background: BackgroundFiles,
                    reidentify: Reidentifier, t: Translator | None = None) -> ReferralOutput:
    run_id, as_of = params["run_id"], params["as_of"]
    t = t or Translator()
    facts = query_sql(con, "outputs/gp_patients", params).pl()
    candidates = with_worded_facts(with_probability_text(with_reason_text(
        query_sql(con, "outputs/referral_list", params).pl(), t, facts), t), t,
        params["secondary_causes_window_days"])
    referrals = with_codes(con, candidates.filter(pl.col("listed")), "referral",
                           person="person_id", scope="lipid_clinic_id", column="referral_id",
                           run_id=run_id, as_of=as_of)
    referrals = reidentify.add_cpr(referrals, "cpr", "person_id")
    referrals = referrals.select(*LEADING_COLUMNS,
                                 pl.exclude(*LEADING_COLUMNS))
    waiting = candidates.filter(~pl.col("listed"))
    result = ReferralOutput({}, int((referrals["status"] == "re-referral").sum()), [])
    for (clinic_id,), frame in waiting.group_by("lipid_clinic_id", maintain_order=True):
        stem = f"referrals/backlog/{safe_file_name(clinic_id or 'unassigned')}"
        write_private(out / f"{stem}.csv",
                      csv_text(localise(frame.select(BACKLOG_COLUMNS), t), t.lang))
        result.backlog[clinic_id] = frame.height
        result.files.append(f"{stem}.csv")
    fields = REFERRAL_RETURNS
    for (clinic_id,), frame in referrals.group_by("lipid_clinic_id", maintain_order=True):
        # A patient of a practice the practices file does not list has no clinic
        # (issue 20: the None key broke the run summary with a TypeError).
        clinic_id = clinic_id or "unassigned"
        where = clinic(clinic_id)
        rows = with_return_columns(public(frame), fields)
        stem = f"referrals/{safe_file_name(clinic_id)}"
        title = t("lists.referrals_title", clinic=where.name)
        write_private(out / f"{stem}.csv", csv_text(localise(rows, t), t.lang))
        background.add(out / f"{stem}.xlsx", xlsx_bytes,
                       {k: localise(v, t) for k, v in tier_sheets(rows, t).items()},
                       as_of=as_of, title=title, validations=validations(t, fields),
                       comment=t("returns.help"))
        new = int((rows["status"] == "new").sum())
        triage = localise_values(rows, t).with_columns(
            pl.Series("age_sex", [t("gp.age_sex", age=a, sex=t(f"gp.sex_{s}")
                                    if s in ("M", "F") else s)
                                  for a, s in zip(rows["age"], rows["sex"], strict=True)],
                      dtype=pl.String),
            pl.Series("measured", [t("gp.index_ldl", ldl=t.number(v), date=d,
                                     basis=t("gp.basis_on") if tr else t("gp.basis_off"))
                                   for v, d, tr in zip(rows["index_ldl"], rows["index_ldl_date"],
                                                       rows["index_treatment"], strict=True)],
                      dtype=pl.String))
        # Until the risk model has scored anyone, an empty probability column is noise.
        shown = [Col(c.name, t(f"col.{c.label}"), c.detail, c.link, c.wide, c.nowrap)
                 for c in TRIAGE_COLUMNS if c.name != "fh_probability"
                 or triage["fh_probability"].null_count() < triage.height]
        write_private(out / f"{stem}.html", render_table_page(
            triage, shown, title=title,
            meta=[where.contact(t), t("lists.meta_run", run_id=run_id, as_of=as_of),
                  t("lists.meta_referrals", n=rows.height, new=new, re=rows.height - new)],
            note=t("lists.referrals_note", rise=t.number(
                params["referral_rerefer_ldl_rise_at_least"]), version=code_version)
            + " " + t("returns.help"),
            filter_columns=("priority", "status", "sex", "gp_practice_id", "dlcn_category"),
            highlight=("priority", t("value.priority_urgent"), t("value.priority_high")), t=t))
        result.per_clinic[clinic_id] = frame.height
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
    sent = referrals.select(
        "person_id", "priority", "untreated_ldl_estimate", "referral_id", "lipid_clinic_id",
        "gp_practice_id", pl.col("flagged_by").str.split(", ").alias("flagged_by"))
    con.register("referrals_sent", sent)
    try:
        con.execute("insert into referral_history by name select person_id, $run_id as run_id, "
                    "priority as tier, untreated_ldl_estimate as index_ldl, $as_of as sent_at, "
                    "referral_id, lipid_clinic_id, gp_practice_id, flagged_by "
                    "from referrals_sent", {"run_id": run_id, "as_of": as_of})
    finally:
        con.unregister("referrals_sent")
