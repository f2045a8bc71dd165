"""The yield report of a run (issue 21): what the referrals found, from the clinics' returns.

This is the pilot evaluation a national strategy asks for: how many referrals were sent
and answered, the positive predictive value (PPV) per clinic, practice, priority tier and
rule set, the backlog, new diagnoses among relatives per index case, the time from
referral to outcome, and referrals sent per new diagnosis. Each run writes it as JSON and
a self-contained HTML page (`yield/` in the run folder, with plots over every run so
far); the Prefect flow publishes its headline as an artifact.

Definitions (docs/outputs.md, "Yield report"):
- a referral counts once, under the run, clinic, practice, tier and rule sets it was
  first sent with (a re-referral keeps its referral id);
- answered: the clinic returned anything for it; its finding is the latest return's:
  confirmed (FH confirmed clinically, or a positive genetic test), negative (not FH, a
  secondary cause, or a negative test without a clinical diagnosis), else open (seen
  without a result yet, declined, not reached, an uncertain test);
- PPV = confirmed / (confirmed + negative): open and unanswered referrals are left out,
  not counted as negative (a referral not yet seen says nothing about the list);
- new diagnoses = referrals confirmed + relatives confirmed; referrals per new diagnosis
  = referrals sent / new diagnoses;
- time to outcome: days from the referral being sent to the outcome date of its return
  (median and 90th percentile, over answered referrals with a date).
"""

from __future__ import annotations

import base64
import io
import json
from datetime import date
from typing import Any

import duckdb
import polars as pl

from fh_screening.html_tables import template_env
from fh_screening.store import query_sql


def _ppv(confirmed: int, negative: int) -> float | None:
    return round(confirmed / (confirmed + negative), 3) if confirmed + negative else None


def _group(frame: pl.DataFrame, by: str) -> list[dict[str, Any]]:
    """Sent, answered, confirmed, negative, open and PPV per value of `by`."""
    if not frame.height:
        return []
    table = frame.group_by(by).agg(
        pl.len().alias("sent"), pl.col("answered").sum().alias("answered"),
        (pl.col("finding") == "confirmed").sum().alias("confirmed"),
        (pl.col("finding") == "negative").sum().alias("negative"),
        (pl.col("finding") == "open").sum().alias("open")).sort(by, nulls_last=True)
    return [{**r, "ppv": _ppv(r["confirmed"], r["negative"])} for r in table.to_dicts()]


def build(con: duckdb.DuckDBPyConnection, *, run_id: str, as_of: date) -> dict[str, Any]:
    """The report's numbers, from the store (after this run's referrals were recorded)."""
    referrals = query_sql(con, "outputs/yield_referrals", {"as_of": as_of}).pl()
    relatives = query_sql(con, "outputs/yield_relatives", {}).pl()
    backlog = con.execute("select count(*) from referral_backlog where run_id = ?",
                          [run_id]).fetchall()[0][0]
    runs = con.execute("select run_id, min(sent_at) from referral_history "
                       "where referral_id is not null and sent_at <= ? group by 1 "
                       "order by 2, 1", [as_of]).fetchall()
    confirmed = int((referrals["finding"] == "confirmed").sum())
    negative = int((referrals["finding"] == "negative").sum())
    relatives_confirmed = int((relatives["finding"] == "confirmed").sum())
    families_tested = relatives.filter(pl.col("finding") != "open")["family_id"].n_unique()
    days = referrals["days_to_outcome"].drop_nulls()
    new_diagnoses = confirmed + relatives_confirmed
    by_run = {r["run_id"]: r for r in _group(referrals, "run_id")}
    rule_sets = referrals.explode("flagged_by").rename({"flagged_by": "rule_set"})
    return {
        "run_id": run_id, "as_of": as_of.isoformat(),
        "totals": {
            "referrals_sent": referrals.height,
            "sent_this_run": int((referrals["run_id"] == run_id).sum()),
            "answered": int(referrals["answered"].sum()),
            "confirmed": confirmed, "negative": negative,
            "open": int((referrals["finding"] == "open").sum()),
            "unanswered": int((~referrals["answered"]).sum()),
            "ppv": _ppv(confirmed, negative),
            "backlog": backlog,
            "relatives_answered": relatives.height,
            "relatives_confirmed": relatives_confirmed,
            "index_cases_with_relatives_answered": families_tested,
            "new_diagnoses_among_relatives_per_index_case":
                round(relatives_confirmed / families_tested, 2) if families_tested else None,
            "new_diagnoses": new_diagnoses,
            "referrals_per_new_diagnosis":
                round(referrals.height / new_diagnoses, 2) if new_diagnoses else None,
            "days_to_outcome_median": float(days.median()) if days.len() else None,
            "days_to_outcome_p90": float(days.quantile(0.9, "nearest")) if days.len() else None,
        },
        "by_run": [{"run_id": r, "first_sent": str(d), **{k: v for k, v in by_run.get(
            r, {"sent": 0, "answered": 0, "confirmed": 0, "negative": 0, "open": 0,
                "ppv": None}).items() if k != "run_id"}} for r, d in runs],
        "by_clinic": _group(referrals, "lipid_clinic_id"),
        "by_practice": _group(referrals, "gp_practice_id"),
        "by_tier": _group(referrals, "tier"),
        "by_rule_set": _group(rule_sets, "rule_set"),
    }


def plots_png(report: dict[str, Any]) -> bytes:
    """Sent and answered referrals per run, and each run's PPV from the returns so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["by_run"]
    names = [r["run_id"] for r in runs]
    x = list(range(len(runs)))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    left.bar([i - 0.2 for i in x], [r["sent"] for r in runs], width=0.4, label="sent")
    left.bar([i + 0.2 for i in x], [r["answered"] for r in runs], width=0.4, label="answered")
    left.set_title("Referrals per run")
    left.legend()
    ppv = [r["ppv"] if r["ppv"] is not None else float("nan") for r in runs]
    right.plot(x, ppv, marker="o")
    right.set_ylim(0, 1)
    right.set_title("PPV of each run's referrals (returns so far)")
    for axis in (left, right):
        axis.set_xticks(x, names, rotation=20, fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str) + "\n"


def report_html(report: dict[str, Any]) -> str:
    png = base64.b64encode(plots_png(report)).decode()
    return template_env().get_template("yield_report.html.j2").render(
        report=report, plot=png,
        groups=[("run", "by_run", "run_id"), ("lipid clinic", "by_clinic", "lipid_clinic_id"),
                ("priority tier", "by_tier", "tier"), ("rule set", "by_rule_set", "rule_set"),
                ("GP practice", "by_practice", "gp_practice_id")])


def markdown(report: dict[str, Any]) -> str:
    """The headline for the run's Prefect artifact."""
    t = report["totals"]
    lines = [f"## Yield (clinic returns) up to run {report['run_id']}", "",
             "| referrals sent | answered | confirmed | not FH | open | PPV | backlog | "
             "relatives confirmed | per index case | referrals per new diagnosis | "
             "median days to outcome |", "|" + "---:|" * 11,
             f"| {t['referrals_sent']} | {t['answered']} | {t['confirmed']} | {t['negative']} "
             f"| {t['open']} | {t['ppv'] if t['ppv'] is not None else '-'} | {t['backlog']} "
             f"| {t['relatives_confirmed']} | "
             f"{t['new_diagnoses_among_relatives_per_index_case'] or '-'} | "
             f"{t['referrals_per_new_diagnosis'] or '-'} | "
             f"{t['days_to_outcome_median'] if t['days_to_outcome_median'] is not None else '-'} |",
             "", "| run | sent | answered | confirmed | not FH | PPV |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['run_id']} | {r['sent']} | {r['answered']} | {r['confirmed']} | "
              f"{r['negative']} | {r['ppv'] if r['ppv'] is not None else '-'} |"
              for r in report["by_run"]]
    return "\n".join(lines) + "\n"
