"""What a data team reads about a run: the summary shown as a Prefect artifact.

Plain functions over a run's result (`pipeline.output_step`), its ingest results and the
store, so they can be tested without Prefect; `flows/` only publishes what they return.
Nothing here holds a CPR number: the store is pseudonymised, and person-level values
(reasons text with LDL values) are reduced to counts by rule before they are shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fh_screening.quality import run_notes
from fh_screening.store import Workspace, connect

TOP_N = 10


def flag_stats(ws: Workspace, regions: list[str]) -> dict[str, Any]:
    """People flagged per tier and rule set, per region, from the last screening."""
    con = connect(ws.store_path, read_only=True)
    try:
        tiers = con.execute(
            "select region, coalesce(tier, 'excluded') as tier, count(*) from screening_results "
            "where flagged and region in (select unnest($regions)) group by all order by all",
            {"regions": regions}).fetchall()
        rules = con.execute(
            "select region, rule, count(*) from screening_results, unnest(flagged_by) as t(rule) "
            "where flagged and region in (select unnest($regions)) group by all order by all",
            {"regions": regions}).fetchall()
    finally:
        con.close()
    out: dict[str, Any] = {r: {"tiers": {}, "rules": {}} for r in regions}
    for region, tier, n in tiers:
        out[region]["tiers"][tier] = n
    for region, rule, n in rules:
        out[region]["rules"][rule] = n
    return out


def failed_expectations(ingested: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Expectations that failed on files that were still ingested (warnings; a critical
    failure stops the region and is reported as its error instead)."""
    found = []
    for result in ingested:
        for f in result.get("files", []):
            for outcome in (f.get("validation") or {}).get("outcomes", []):
                if outcome["success"]:
                    continue
                found.append({
                    "region": result["region"], "file": Path(f["path"]).name,
                    "expectation": outcome["expectation"], "column": outcome["column"],
                    "severity": outcome["severity"],
                    "unexpected": outcome["unexpected_count"], "why": outcome["why"]})
    return found


def top_reasons(result: dict[str, Any], stats: dict[str, Any]) -> list[dict[str, Any]]:
    """One table of the most frequent reasons, of three kinds: why rows were quarantined,
    which rule sets flagged people, and why flagged people were not referred."""
    rows = []
    for region, ingest in result.get("ingest", {}).items():
        for reason, n in ingest.get("quarantine_reasons", {}).items():
            rows.append({"kind": "row quarantined", "region": region, "reason": reason,
                         "count": n})
    for region, s in stats.items():
        for rule, n in s["rules"].items():
            rows.append({"kind": "flagged by rule set", "region": region, "reason": rule,
                         "count": n})
    for reason, n in result.get("exclusions", {}).items():
        rows.append({"kind": "flagged, not referred", "region": "all", "reason": reason,
                     "count": n})
    rows.sort(key=lambda r: (r["kind"], -r["count"], r["region"], r["reason"]))
    kept: list[dict[str, Any]] = []
    for kind in dict.fromkeys(r["kind"] for r in rows):
        kept += [r for r in rows if r["kind"] == kind][:TOP_N]
    return kept


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def summary_markdown(result: dict[str, Any], stats: dict[str, Any] | None = None,
                     ingested: list[dict[str, Any]] | None = None,
                     failed_regions: dict[str, str] | None = None,
                     failure_details: dict[str, str] | None = None) -> str:
    """The run summary as markdown: per-region counts, tiers, quarantine reasons, failed
    expectations, failed regions, outputs and lineage."""
    stats = stats or {}
    lines = [f"# fh-screening run `{result['run_id']}`", "",
             f"Data up to **{result['as_of']}**, regions: {', '.join(result['regions'])}, "
             f"code {result['code_version']}, model {result.get('model_version')}.", "",
             "| region | files ingested | rows accepted | rows quarantined | screened | "
             "flagged | referred | high priority |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for region in result["regions"]:
        i = result["ingest"].get(region, {})
        s = result["screening"].get(region, {})
        lines.append(f"| {region} | {i.get('files_ingested', 0)} | {i.get('rows_accepted', 0)} "
                     f"| {i.get('rows_quarantined', 0)} | {s.get('screened', 0)} | "
                     f"{s.get('flagged', 0)} | {s.get('referral', 0)} | "
                     f"{s.get('high_priority', 0)} |")

    notes = run_notes(result)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]

    if failed_regions:
        lines += ["", "## Regions that FAILED (not screened in this run)", "",
                  "| region | error |", "|---|---|"]
        lines += [f"| {r} | {_cell(e)} |" for r, e in sorted(failed_regions.items())]
        for region, text in sorted((failure_details or {}).items()):
            lines += ["", f"### Why {region} failed", "", text.rstrip()]

    if stats:
        lines += ["", "## People flagged, by tier", "",
                  "| region | high | standard | excluded (not referred) |", "|---|---:|---:|---:|"]
        for region in result["regions"]:
            t = stats.get(region, {}).get("tiers", {})
            lines.append(f"| {region} | {t.get('high', 0)} | {t.get('standard', 0)} | "
                         f"{t.get('excluded', 0)} |")

    lines += drift_markdown(result.get("drift"))

    quarantine = [(region, reason, n) for region, i in result["ingest"].items()
                  for reason, n in i.get("quarantine_reasons", {}).items()]
    lines += ["", "## Rows quarantined, by reason", ""]
    if quarantine:
        lines += ["| region | reason | rows |", "|---|---|---:|"]
        quarantine.sort(key=lambda q: (q[0], -q[2], q[1]))
        for region in dict.fromkeys(q[0] for q in quarantine):
            mine = [q for q in quarantine if q[0] == region]
            lines += [f"| {r} | {_cell(reason)} | {n} |" for r, reason, n in mine[:TOP_N]]
            if len(mine) > TOP_N:
                rest = mine[TOP_N:]
                lines.append(f"| {region} | {len(rest)} other reason(s) | "
                             f"{sum(q[2] for q in rest)} |")
    else:
        lines.append("None in this run (files already ingested are skipped).")

    failed = failed_expectations(ingested or [])
    lines += ["", "## Expectations failed (warnings; critical failures stop a region)", ""]
    if failed:
        lines += ["| region | file | expectation | column | rows | why |",
                  "|---|---|---|---|---:|---|"]
        lines += [f"| {f['region']} | {_cell(f['file'])} | {f['expectation']} | "
                  f"{f['column'] or ''} | {f['unexpected'] if f['unexpected'] is not None else ''}"
                  f" | {_cell(f['why'])} |" for f in failed]
    else:
        lines.append("None.")

    outputs = result["outputs"]
    lineage = result.get("lineage", {})
    lines += ["", "## Outputs written", "",
              f"Folder `{lineage.get('output_dir', result['run_id'])}`: "
              f"{len(outputs['referrals'])} referral list(s) "
              f"({sum(outputs['referrals'].values())} patients), "
              f"{len(outputs['gp_reports'])} GP report(s) "
              f"({sum(outputs['gp_reports'].values())} patients), "
              f"{len(outputs['cascade'])} cascade list(s) "
              f"({sum(outputs['cascade'].values())} relatives), run_summary.json."]
    if result.get("data_docs"):
        lines += ["", f"Great Expectations Data Docs of this run: `{result['data_docs']}`."]
    if result.get("analysis_snapshot"):
        lines += ["", f"Snapshot for ad-hoc SQL: `{result['analysis_snapshot']}`."]
    if lineage:
        lines += ["", "## Lineage", "",
                  f"- code version: `{lineage['code_version']}`",
                  f"- config hash (config/, expectations/, sql/): `{lineage['config_hash'][:16]}`",
                  f"- model version: `{lineage['model_version'] or 'none (rules only)'}`",
                  f"- input files: {len(lineage['inputs'])}", "",
                  "| region | table | file | sha256 | rows |", "|---|---|---|---|---:|"]
        lines += [f"| {f['region']} | {f['table']} | {_cell(Path(f['path']).name)} | "
                  f"`{f['sha256'][:16]}` | {f['rows_read']} |" for f in lineage["inputs"]]
    return "\n".join(lines) + "\n"


def drift_markdown(drift: dict[str, Any] | None) -> list[str]:
    """The feature-drift section: the verdict, and the drifted features with their PSI
    (fh_screening/drift.py). Nothing for a summary written before drift checks."""
    if not drift:
        return []
    lines = ["", "## Feature drift against the model's training data", "",
             f"{'**Warning:** ' if drift['drifted'] else ''}{_cell(drift['message'])}."]
    if drift["drifted"]:
        lines += ["", "| feature | PSI |", "|---|---:|"]
        lines += [f"| {f} | {drift['psi'][f]:.3f} |" for f in drift["drifted"]]
    if drift.get("checked"):
        lines += ["", f"Threshold: {drift['source']}; {drift['rows']} people screened "
                      f"against {drift['training_rows']} in training."]
    return lines


def failure_markdown(scope: str, errors: dict[str, str],
                     details: dict[str, str] | None = None) -> str:
    """The summary of a run in which no region could be screened: each region's error,
    and the validation report where a critical expectation stopped it."""
    lines = [f"# fh-screening run for `{scope}` FAILED", "",
             "No region could be screened; nothing was written.", "",
             "| region | error |", "|---|---|"]
    lines += [f"| {r} | {_cell(e)} |" for r, e in sorted(errors.items())]
    for region, text in sorted((details or {}).items()):
        lines += ["", f"## {region}", "", text.rstrip()]
    return "\n".join(lines) + "\n"
