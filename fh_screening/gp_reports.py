"""GP reports: one self-contained HTML page per practice with only that practice's flagged
patients, each with an LDL history chart, the reasons in plain words and the next steps.

The SQL (`sql/outputs/gp_patients.sql`) returns facts and step codes; the words come from
the string catalogue of the chosen language (`fh_screening/locales/`), so one template
serves Danish and English. Pseudonyms are used only to attach each chart and never
reach the page. PDF is not produced: no PDF tool in the stack renders this reliably
(browsers print it to PDF on A4 from the print CSS).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import duckdb
import polars as pl
from jinja2 import Template

from fh_screening.background import BackgroundFiles
from fh_screening.charts import LdlPoint, ldl_history_svg
from fh_screening.html_tables import template_env
from fh_screening.i18n import Translator, model_reason_text, probability_text
from fh_screening.outputs import safe_file_name
from fh_screening.privacy import Reidentifier
from fh_screening.store import query_sql


def reason_texts(p: dict[str, Any], t: Translator) -> list[str]:
    """Why the patient was flagged, one plain sentence per rule set that fired, then the
    evidence behind the untreated-LDL estimate and the risk model's reasons (stored as
    data), in the report's language."""
    n = t.number
    texts = []
    if p["possible_homozygous"]:
        texts.append(t("reason.homozygous", ldl=n(p["max_measured_ldl"]),
                       limit=n(p["ldl_threshold_homozygous"], 0)))
    if p["ldl_rule_met"]:
        texts.append(t("reason.ldl_rule", ldl=n(p["untreated_ldl_estimate"]),
                       estimated=(t("reason.estimated") if p["ldl_evidence"] != "off treatment"
                                  else ""),
                       low=n(p["untreated_ldl_low"]), high=n(p["untreated_ldl_high"]),
                       age=p["age_at_index"], op="≥" if p["ldl_threshold_inclusive"] else ">",
                       threshold=n(p["ldl_threshold"])))
    if p["dlcn_met"]:
        texts.append(t("reason.dlcn", points=p["dlcn_points"],
                       category=t(f"reason.dlcn_{p['dlcn_category']}")))
    if p["simon_broome"]:
        texts.append(t("reason.simon_broome",
                       category=t(f"reason.simon_broome_{p['simon_broome']}")))
    if p["medped_met"]:
        texts.append(t("reason.medped", tc=n(p["medped_tc"]), age=p["medped_age"],
                       cutoff=n(p["medped_cutoff"])))
    if p["index_treated"]:
        texts.append(t("reason.treated", ldl=n(p["index_ldl"]), treatment=p["index_treatment"],
                       reduction=round(100 * p["index_treatment_reduction"]),
                       achieved=round(100 * p["effect_fraction"])))
    if p["observed_reduction"] is not None:
        texts.append(t("reason.own_response", observed=round(100 * p["observed_reduction"]),
                       nominal=round(100 * p["nominal_reduction"])))
    if p["set_aside_samples"]:
        texts.append(t("reason.set_aside", n=p["set_aside_samples"]))
    if p["index_ldl_method"] in ("friedewald", "sampson"):
        texts.append(t(f"reason.method_{p['index_ldl_method']}"))
    texts += [t("reason.model", reason=model_reason_text(r, t))
              for r in p["model_reasons"] or []]
    return texts


def exclusion_texts(p: dict[str, Any], t: Translator) -> list[str]:
    """Possible secondary causes found at every LDL sample (why not referred yet)."""
    n = t.number
    texts = []
    if p["high_tsh"]:
        texts.append(t("reason.high_tsh", value=n(p["max_tsh"])))
    if p["low_albumin"]:
        texts.append(t("reason.low_albumin", value=n(p["min_albumin"], 0)))
    if p["cholestasis"]:
        texts.append(t("reason.cholestasis", alp=n(p["max_alp"], 0),
                       bilirubin=n(p["max_bilirubin"], 0)))
    if p["very_high_triglycerides"]:
        texts.append(t("reason.very_high_triglycerides", value=n(p["max_triglycerides"])))
    if p["ldl_raising_drug"]:
        texts.append(t("reason.ldl_raising_drug", drugs=p["ldl_raising_drugs"]))
    return texts


def ldl_text(p: dict[str, Any], t: Translator) -> list[str]:
    """The LDL cell: the measured index value, the estimate with its interval and how it
    was made (off treatment, or on treatment with the drug), and the number of samples."""
    n = t.number
    off = p["ldl_evidence"] == "off treatment"
    lines = [t("gp.index_ldl", ldl=n(p["index_ldl"]), date=p["index_ldl_date"],
               basis=t("gp.basis_on") if p["index_treated"] else t("gp.basis_off"))]
    if p["index_treatment"]:
        lines.append(t("gp.on_treatment", treatment=p["index_treatment"]))
    low, high = n(p["untreated_ldl_low"]), n(p["untreated_ldl_high"])
    lines.append(t("gp.untreated_off", ldl=n(p["untreated_ldl_estimate"]), low=low, high=high,
                   n=p["off_treatment_samples"]) if off else
                 t("gp.untreated", ldl=n(p["untreated_ldl_estimate"]), low=low, high=high))
    lines.append(t("gp.samples", n=p["ldl_samples"]))
    return lines


def _charts(history: pl.DataFrame, thresholds: dict[str, float], t: Translator
            ) -> dict[str, str]:
    points: dict[str, list[LdlPoint]] = defaultdict(list)
    for row in history.iter_rows(named=True):
        points[row["person_id"]].append(LdlPoint(row["sampled_on"], row["ldl"],
                                                 row["untreated_ldl"], row["treated"]))
    labels = {"title": t("gp.chart_title"), "measured": t("gp.chart_measured"),
              "untreated": t("gp.chart_untreated"), "threshold": t("gp.chart_threshold"),
              "none": t("gp.chart_none")}
    return {pid: ldl_history_svg(points.get(pid, []), threshold=limit, labels=labels,
                                 decimal_comma=t.lang == "da")
            for pid, limit in thresholds.items()}


def practice_page(frame: pl.DataFrame, history: pl.DataFrame, lang: str, *,
                  practice: str | None, run_id: str, as_of: date, code_version: str) -> str:
    """One practice's report page: its flagged patients (`frame`) and their LDL samples
    (`history`). A module-level function of plain values, so a worker process can build
    it (background.py)."""
    t = Translator(lang)
    charts = _charts(history, dict(zip(frame["person_id"], frame["ldl_threshold"],
                                       strict=True)), t)
    patients = []
    for p in frame.iter_rows(named=True):
        # attributes, not dict keys: Jinja tries `getattr` first for `p.name`, and on a
        # dict that fails and raises for every field (17 a patient, 44,000 patients)
        patients.append(SimpleNamespace(**{
            **{k: v for k, v in p.items() if k != "person_id"},
            "sex_text": t(f"gp.sex_{p['sex']}") if p["sex"] in ("M", "F") else p["sex"],
            "ldl_lines": ldl_text(p, t),
            "probability": (probability_text(p["fh_probability"], p["fh_probability_low"],
                                             p["fh_probability_high"], t)
                            if p["fh_probability"] is not None else None),
            "chart": charts[p["person_id"]],
            "reason_texts": reason_texts(p, t),
            "exclusion_texts": exclusion_texts(p, t),
            "next_step_texts": [t(f"next.{s}") for s in p["next_steps"]],
            "change_text": t(f"gp.{p['report_change']}") if p["report_change"] else None,
            "clinic_text": (t("gp.with_clinic", date=p["referred_on"],
                              referral_id=p["referral_id"])
                            + (" " + t(f"gp.clinic_{p['clinic_finding']}",
                                       date=p["clinic_outcome_date"] or "")
                               if p["clinic_finding"] else "")
                            if p["referred_on"] else None),
        }))
    return _template().render(
        t=t, practice_name=patients[0].practice_name, gp_practice_id=practice,
        lipid_clinic_id=patients[0].lipid_clinic_id, run_id=run_id, as_of=as_of,
        code_version=code_version, patients=patients)


@cache
def _template() -> Template:
    return template_env().get_template("gp_report.html.j2")


def write_gp_reports(con: duckdb.DuckDBPyConnection, out: Path, params: dict[str, Any], *,
                     code_version: str, t: Translator, background: BackgroundFiles,
                     reidentify: Reidentifier) -> tuple[dict[str, int], list[str]]:
    """One page per practice with flagged patients, built by `background`."""
    gp = reidentify.add_cpr(query_sql(con, "outputs/gp_patients", params).pl(), "cpr",
                            "person_id")
    history = query_sql(con, "outputs/gp_ldl_history", params).pl().join(
        gp.select("person_id", "gp_practice_id"), on="person_id", how="inner",
        maintain_order="left")
    samples = {key[0]: part for key, part in
               history.partition_by("gp_practice_id", as_dict=True,
                                    include_key=False).items()}
    empty = history.clear().drop("gp_practice_id")
    record_report(con, gp, params)
    counts: dict[str, int] = {}
    files: list[str] = []
    for (practice,), frame in gp.group_by("gp_practice_id", maintain_order=True):
        name = f"gp_reports/{safe_file_name(practice or 'unassigned')}.html"
        background.add(out / name, practice_page, frame, samples.get(practice, empty), t.lang,
                       practice=practice, run_id=params["run_id"], as_of=params["as_of"],
                       code_version=code_version)
        counts[practice] = frame.height
        files.append(name)
    return counts, files


def record_report(con: duckdb.DuckDBPyConnection, gp: pl.DataFrame, params: dict[str, Any]
                  ) -> None:
    """What this run's reports showed, for the next report's new/changed marks (issue 21).
    A rerun of the run id replaces its own rows."""
    con.execute("delete from gp_report_history where run_id = ?", [params["run_id"]])
    if not gp.height:
        return
    con.register("gp_shown", gp.select("gp_practice_id", "person_id", "priority_tier", "refer",
                                       "untreated_ldl_estimate", "ldl_samples"))
    try:
        con.execute("insert into gp_report_history select $run_id, $as_of, gp_practice_id, "
                    "person_id, priority_tier, refer, untreated_ldl_estimate, ldl_samples, "
                    "null from gp_shown", {"run_id": params["run_id"], "as_of": params["as_of"]})
    finally:
        con.unregister("gp_shown")
