"""The screening run as plain steps: ingest (with validation), criteria, outputs.

Each step opens the store, does one job and closes it, so the same steps run from the CLI,
from Prefect tasks (flows/) or from a test. Nothing here knows about Prefect.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fh_screening import __version__
from fh_screening.accounting import check_ingest_results, check_store
from fh_screening.config import (
    PROJECT_ROOT,
    SAMPLES_DIR,
    check_configuration,
    check_region_name,
    load_region,
    load_thresholds,
)
from fh_screening.criteria import Since, run_criteria, threshold_params
from fh_screening.data_docs import build_run_docs, keep_result
from fh_screening.faults import checkpoint
from fh_screening.i18n import DEFAULT_LANGUAGE, catalogue
from fh_screening.ingest import ingest_region
from fh_screening.lineage import build_lineage, config_hash
from fh_screening.model import (
    LoadedModel,
    build_features,
    feature_matrix,
    score_run,
    start_loading,
)
from fh_screening.outputs import atomic_run_dir, check_run_id, write_private
from fh_screening.privacy import Reidentifier, redact_cpr
from fh_screening.quality import missing_tables
from fh_screening.reports import write_reports
from fh_screening.snapshot import PartsAhead, publish_snapshot, snapshot_path
from fh_screening.stages import stage, step
from fh_screening.store import Workspace, connect
from fh_screening.workspace_key import workspace_key

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

# Validation reads at most this many accepted rows per file (a fixed-seed sample above it):
# full-row checks would dominate national runs (STACK.md); ingest's SQL checks see every row.
# GX is the second line, against systematic problems (a unit or code mapped wrongly for a
# whole analyte or lab): a problem in 1 row in 10,000 is in a 50,000-row sample with
# probability 1 - e^-5 (99.3 %), in 1 in 1,000 with 1 - e^-50. 200,000 rows cost 3 s more
# per national monthly run and about 4x the GX time per lab file (docs/scale.md).
VALIDATION_SAMPLE_ROWS = 50_000


def code_version() -> str:
    """Package version plus the git commit when run from a checkout (recorded per run)."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT,
                             capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        return f"{__version__}+{sha}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def default_extract_dir(region: str) -> Path:
    return SAMPLES_DIR / check_region_name(region)


def _validator_for(ws: Workspace, region: str) -> Callable[..., Callable[[], dict[str, Any]]]:
    """The per-file validator of a region's ingest: GX on the accepted rows (a critical
    failure stops the region), keeping GX's result for the run's Data Docs. It reads the
    sample and returns the verdict: GX runs on a thread of its own while the ingest inserts
    the file's rows, which commit only after the verdict (ingest.Validator). The stage
    "validate" is the time the ingest spends on it: the read and the wait."""
    def validator(con, table: str, source: str, rows: int) -> Callable[[], dict[str, Any]]:
        from fh_screening.validate import read_rows, require_valid, start_validation

        with stage("validate"):
            sample = read_rows(con, table, relation="accepted",
                               sample_rows=VALIDATION_SAMPLE_ROWS, known_rows=rows)
        running = start_validation(sample, source=source)

        def verdict() -> dict[str, Any]:
            with stage("validate"):
                report = running.result()
            keep_result(ws.home, region, source, report.gx_result)
            require_valid(report)
            return report.to_dict()

        return verdict

    return validator


def ingest_step(ws: Workspace, region: str, extract_dir: Path | None = None, *,
                validate: bool = True, today: date | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
    """Ingest one region's new extract files; each file is validated before it commits."""
    dialect = load_region(region)
    with stage("ingest"):
        con = connect(ws.store_path)
        try:
            key = workspace_key(ws, con)  # the store's own key, or a clear refusal
            if validate:
                from fh_screening.validate import start_prewarm

                start_prewarm()
            result = ingest_region(
                con, dialect, extract_dir or default_extract_dir(region), key,
                vault_path=ws.vault_path, today=today, progress=progress,
                validator=_validator_for(ws, region) if validate else None)
        finally:
            con.close()
    return {"region": region, **result.totals(),
            "files": [asdict(f) for f in result.files]}


def returns_step(ws: Workspace, root: Path | None = None, *, validate: bool = True,
                 today: date | None = None) -> dict[str, Any]:
    """Read the lipid clinics' new returns (`<home>/returns/<clinic>/`, or `root`) into the
    store before screening, so this run's cascade, reports and yield see them
    (fh_screening/returns.py)."""
    from fh_screening.returns import ingest_returns, returns_root

    with stage("ingest"):
        con = connect(ws.store_path)
        try:
            key = workspace_key(ws, con)
            return ingest_returns(con, key, root or returns_root(ws.home), today=today,
                                  validate=validate)
        finally:
            con.close()


def latest_sample_date(ws: Workspace, regions: list[str]) -> date:
    """Default as-of date: the last lab sample in the screened regions (reproducible,
    unlike today's date)."""
    con = connect(ws.store_path)
    try:
        found = con.execute(
            "select max(cast(sampled_at as date)) from lab_results where region in "
            "(select unnest($regions))", {"regions": regions}).fetchall()[0][0]
    finally:
        con.close()
    if found is None:
        raise NothingToScreen(_no_lab_results(ws, regions))
    return found


class NothingToScreen(RuntimeError):
    """No lab result of the regions is in the store (none sent, or every one quarantined)."""


def _no_lab_results(ws: Workspace, regions: list[str]) -> str:
    """Why there is nothing to screen, in a sentence: no lab file yet, or every row of
    the lab files quarantined (with the main reasons)."""
    con = connect(ws.store_path, read_only=True)
    try:
        files, rows = con.execute(
            "select count(*), coalesce(sum(rows_read), 0) from ingested_files where "
            "table_name = 'lab_results' and region in (select unnest($r))",
            {"r": regions}).fetchall()[0]
        reasons = con.execute(
            "select reason, count(*) from quarantine where table_name = 'lab_results' and "
            "region in (select unnest($r)) group by 1 order by 2 desc, 1 limit 3",
            {"r": regions}).fetchall()
    finally:
        con.close()
    scope = ", ".join(regions)
    if not files:
        return (f"no lab results to screen for {scope}: no lab file has been ingested (check "
                "the extract folder and the dialect's [files] pattern)")
    why = "; ".join(f"{n} x {reason}" for reason, n in reasons)
    return (f"no lab results to screen for {scope}: all {rows} rows of its {files} lab "
            f"file(s) were quarantined ({why}). Fix the export or the dialect and deliver "
            "the files again; the quarantine table and run summary name every row")


def rules_hash() -> str:
    """What screening results depend on besides the data: configuration, expectations and
    SQL (lineage.config_hash) and the code that feeds the SQL its parameters."""
    digest = hashlib.sha256(config_hash().encode())
    for module in ("criteria.py", "model.py"):
        digest.update((PROJECT_ROOT / "fh_screening" / module).read_bytes())
    return digest.hexdigest()


def previous_screening(con, regions: list[str], as_of: date, rules: str,
                       model_version: str) -> Since | None:
    """The last screening when an incremental one may build on it: the same regions,
    rules and model, not after `as_of`, and a store that has its tables."""
    rows = con.execute("select regions, as_of, rules_hash, model_version, ingested_upto "
                       "from screening_state").fetchall()
    tables = {t for (t,) in con.execute(
        "select table_name from duckdb_tables() where not temporary").fetchall()}
    if len(rows) != 1 or not {"index_ldl", "secondary_causes", "person_facts",
                              "ldl_history", "screening_results"} <= tables:
        return None
    previous_regions, previous_as_of, previous_rules, previous_model, upto = rows[0]
    if (json.loads(previous_regions) != sorted(regions) or previous_rules != rules
            or previous_model != model_version or previous_as_of > as_of):
        return None
    return Since(as_of=previous_as_of, ingested_upto=upto)


def screen_step(ws: Workspace, regions: list[str], as_of: date,
                model: str | None = None, *, full: bool = False) -> dict[str, Any]:
    """Apply the rules, then score everyone with the risk model (a model folder, or the
    repository's current model when None); returns the counts for the run summary.

    The model's files are checked before anything is computed, so a missing or
    incompatible model fails the run at once (ModelError) instead of falling back to the
    rules silently; it loads in the background while the criteria run (model.start_loading).
    After a screening of the same regions, rules and model, only the people whose data
    changed since (and their families) are recomputed, unless `full` (docs/scale.md)."""
    with stage("model"):
        pending = start_loading(model)
    con = connect(ws.store_path)
    try:
        with stage("criteria"):
            check_store(con, regions)  # no row lost or doubled since ingest, or no run
            rules = rules_hash()
            since = None if full else previous_screening(con, regions, as_of, rules,
                                                         pending.version)
            upto = con.execute("select max(ingested_at) from ingested_files").fetchall()[0][0]
            # One transaction from here to the new screening_state: a crash leaves the
            # previous screening whole (so the next one may still build on it), and the
            # criteria's scratch tables, dropped before the commit, are never written to
            # the store's log (docs/scale.md). On an error, closing the connection below
            # rolls it back.
            con.execute("begin transaction")
            con.execute("delete from screening_state")
            screened = run_criteria(con, as_of=as_of, regions=regions, since=since)
            recomputed, people = con.execute(
                "select (select count(*) from scope_b), count(*) from patients "
                "where region in (select unnest($r))", {"r": regions}).fetchall()[0]
            log.info("screening: %s, %s of %s people recomputed",
                     "full" if since is None else "incremental", f"{recomputed:,}",
                     f"{people:,}")
        with stage("model"):
            loaded = pending.result()
            score_run(con, loaded, as_of=as_of, regions=regions,
                      params=threshold_params(load_thresholds()))
            step("model", 1, 1, f"scored with {loaded.version}")
            con.execute("insert into screening_state values (?, ?, ?, ?, ?)",
                        [json.dumps(sorted(regions)), as_of, rules, loaded.version, upto])
            checkpoint("screen.before_commit")
            con.execute("commit")
            drifted = feature_drift(con, loaded, rescored_everyone=since is None)
        rows = con.execute(
            "select s.region, count(*), count(*) filter (where s.flagged), "
            "count(*) filter (where m.refer), "
            "count(*) filter (where m.priority_tier = 'high'), "
            "count(*) filter (where s.flagged and not s.referral), "
            "count(*) filter (where m.refer and not s.flagged) "
            "from screening_results s join model_scores m using (person_id) "
            "group by s.region order by s.region").fetchall()
        missing = missing_tables(con, regions)
        exclusions = con.execute(
            "select split_part(e, ':', 1) as why, count(*) from screening_results, "
            "unnest(exclusions) as t(e) where flagged group by 1 order by 1").fetchall()
    finally:
        con.close()
    per_region = {r: {"screened": s, "flagged": f, "referral": ref, "high_priority": h,
                      "flagged_but_excluded": x, "added_by_model": m}
                  for r, s, f, ref, h, x, m in rows}
    if drifted["drifted"]:
        log.warning("%s", drifted["message"])
    return {"as_of": as_of.isoformat(), "screened": screened, "screening": per_region,
            "exclusions": dict(exclusions), "model_version": loaded.version,
            "missing_tables": missing, "drift": drifted}


# An incremental run compares a fixed sample of the screened population, not everyone:
# building the features of everyone made the monthly run's drift check grow with the
# population (O(6M) for a month's 0.5M new results: docs/scale.md). 200,000 people give
# each decile bin a share known to about +-0.0007 (binomial SE), a PSI error far below
# the 0.25 threshold. Smaller populations are compared whole, as a full run does.
DRIFT_SAMPLE_PEOPLE = 200_000


def feature_drift(con, model: LoadedModel, *, rescored_everyone: bool,
                  sample_people: int = DRIFT_SAMPLE_PEOPLE) -> dict[str, Any]:
    """The screened population's features against the model's training distribution
    (fh_screening/drift.py), after the screening committed. A full run reuses the
    features it scored for everyone; an incremental one builds them for everyone when
    at most `sample_people` are screened, else for a sample of about that size drawn by a
    hash of the pseudonym (the same people every run, so months compare like with like;
    not the recomputed people, who are the changed ones, not a sample)."""
    from fh_screening import drift

    if not model.card.get(drift.CARD_KEY):
        return drift.check(np.empty((0, 0)), [], model.card)
    sampled_from = None
    if not rescored_everyone:
        screened = con.execute("select count(*) from screening_results").fetchall()[0][0]
        every = max(-(-screened // sample_people), 1)  # 1: everyone
        sampled_from = screened if every > 1 else None
        con.execute("drop view if exists temp.int_screening_results")  # the scope's
        con.execute("create temp table int_screening_results as select * from "
                    "screening_results where hash(person_id, 'drift') % $k = 0", {"k": every})
        build_features(con)
        con.execute("drop table temp.int_screening_results")
    features = con.sql("select * from model_features").pl()
    result = drift.check(feature_matrix(features, model.features), model.features, model.card)
    if sampled_from is not None and result["checked"]:
        result["sampled_from"] = sampled_from
        result["message"] += (f" (a fixed sample of {result['rows']:,} of the "
                              f"{sampled_from:,} screened)")
    return result


class RunIdTaken(ValueError):
    """A run id already names a run of other regions: reusing it would replace that run's
    lists and referral history (issue 20)."""


def run_owner(con, run_id: str) -> list[str] | None:
    """The regions a run id belongs to (those its run was asked for), or None if new."""
    rows = con.execute("select params from runs where run_id = ?", [run_id]).fetchall()
    if not rows:
        return None
    params = json.loads(rows[0][0] or "{}")
    return sorted(params.get("requested") or params.get("regions") or [])


def check_run_scope(con, run_id: str, requested: list[str]) -> None:
    """A run id belongs to one set of regions: a rerun for the same regions replaces its
    outputs (runs are safe to repeat), a run of other regions is refused."""
    owner = run_owner(con, run_id)
    if owner is not None and owner != sorted(requested):
        raise RunIdTaken(
            f"run id {run_id!r} belongs to the run of {', '.join(owner)}; a run of "
            f"{', '.join(sorted(requested))} under it would replace that run's lists and "
            "referral history. Nothing was written: choose another --run-id")


def check_run_id_free(ws: Workspace, run_id: str | None, requested: list[str]) -> None:
    """`check_run_scope` before any work, when the run id is given and the store exists
    (the output step checks again, in its transaction)."""
    if run_id is None or not ws.store_path.exists():
        return
    con = connect(ws.store_path, read_only=True)
    try:
        check_run_scope(con, run_id, requested)
    finally:
        con.close()


def output_step(ws: Workspace, run_id: str, as_of: date, regions: list[str],
                summary: dict[str, Any], language: str = DEFAULT_LANGUAGE,
                requested: list[str] | None = None) -> dict[str, Any]:
    """Write the run's lists and summary atomically and record the run. `language`: of
    the GP reports and family letters (a catalogue in fh_screening/locales/).
    `requested`: the regions the run was asked for (default `regions`; a national run
    whose regions partly failed screens fewer), which own the run id."""
    check_run_id(run_id)
    with stage("outputs"):
        return _write_outputs(ws, run_id, as_of, regions, summary, language,
                              sorted(requested or regions))


def _write_outputs(ws: Workspace, run_id: str, as_of: date, regions: list[str],
                   summary: dict[str, Any], language: str,
                   requested: list[str]) -> dict[str, Any]:
    version = code_version()
    con = connect(ws.store_path)
    reidentify = ahead = None
    try:
        check_run_scope(con, run_id, requested)
        reidentify = Reidentifier(ws.vault_path)  # its own connection, not the store's
        ahead = PartsAhead(con, ws)  # the analysts' snapshot, written while the lists are
        con.execute("begin transaction")
        try:
            with atomic_run_dir(ws.output_dir, run_id) as tmp:
                step("outputs", 0, OUTPUT_STEPS, "lists")
                counts = write_reports(con, tmp, run_id=run_id, as_of=as_of,
                                       code_version=version, reidentify=reidentify,
                                       language=language)
                step("outputs", 1, OUTPUT_STEPS, "referral, GP and cascade lists")
                counts.files += write_yield(con, tmp, run_id=run_id, as_of=as_of)
                step("outputs", 2, OUTPUT_STEPS, "yield report")
                yield_totals = json.loads((tmp / "yield" / "yield.json").read_text())["totals"]
                outputs = {"referrals": counts.referrals, "re_referrals": counts.re_referrals,
                           "backlog": counts.backlog,
                           "clinics": clinic_yield(con, regions, as_of, counts),
                           "gp_reports": counts.gp_reports, "cascade": counts.cascade,
                           "families": counts.families,
                           "pending_confirmation": counts.pending_confirmation,
                           "family_letters": counts.family_letters, "language": language,
                           "yield": yield_totals, "files": sorted(counts.files)}
                lineage = build_lineage(con, run_dir=ws.output_dir / run_id, regions=regions,
                                        code_version=version, output_files=counts.files)
                docs, docs_error = _data_docs(ws, run_id, as_of, summary)
                step("outputs", 3, OUTPUT_STEPS, "GX Data Docs")
                full = {"run_id": run_id, "as_of": as_of.isoformat(), "regions": regions,
                        "code_version": version, **summary, "outputs": outputs,
                        "lineage": lineage, "analysis_snapshot": str(snapshot_path(ws)),
                        "data_docs": str(docs) if docs else None,
                        **({"data_docs_error": docs_error} if docs_error else {})}
                write_private(tmp / "run_summary.json",
                              json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
            # A kill from here to the commit leaves a complete folder without its registry
            # row; the rerun of the run id rewrites both (tests/test_crash_safety.py).
            checkpoint("output.renamed")
            con.execute("delete from runs where run_id = ?", [run_id])
            con.execute(
                "insert into runs values (?, ?, ?, ?, ?, ?, ?, 'completed', ?, ?, ?, ?)",
                [run_id, "national" if len(regions) > 1 else regions[0], as_of,
                 json.dumps({"regions": regions, "requested": requested}), version,
                 summary.get("model_version"),
                 json.dumps(outputs, sort_keys=True), datetime.now(), datetime.now(),
                 str(ws.output_dir / run_id), json.dumps(lineage, sort_keys=True)])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        step("outputs", 4, OUTPUT_STEPS, "run summary, registry")
        # The analysts' copy of this committed state (they never open the store itself).
        ahead.finish()
        ahead = None
        publish_snapshot(con, ws, run_id)
        step("outputs", 5, OUTPUT_STEPS, "analysts' snapshot")
    finally:
        if ahead is not None:
            ahead.finish(cancel=True)
        if reidentify is not None:
            reidentify.__exit__()
        con.close()
    return full


def _data_docs(ws: Workspace, run_id: str, as_of: date,
               summary: dict[str, Any]) -> tuple[Path | None, str | None]:
    """The run's GX Data Docs (fh_screening/data_docs.py), or why there are none: the
    files were validated before they committed, so a page that cannot be rendered must
    not hold back the lists; the summary says so instead."""
    validated = {r: i.get("validated_files", []) for r, i in summary.get("ingest", {}).items()}
    try:
        return build_run_docs(ws.home, run_id, as_of, validated), None
    except Exception as exc:  # GX's renderer: anything it raises is reported, not fatal
        why = redact_cpr(f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        log.warning("GX Data Docs of run %s not built: %s", run_id, why)
        return None, why


# Steps of the output stage reported to a progress listener (fh_screening/stages.py).
OUTPUT_STEPS = 5


def write_yield(con, out: Path, *, run_id: str, as_of: date) -> list[str]:
    """The run's yield report from the clinics' returns (fh_screening/yield_report.py)."""
    from fh_screening import yield_report

    report = yield_report.build(con, run_id=run_id, as_of=as_of)
    write_private(out / "yield" / "yield.json", yield_report.report_json(report))
    write_private(out / "yield" / "yield.html", yield_report.report_html(report))
    return ["yield/yield.json", "yield/yield.html"]


def clinic_yield(con, regions: list[str], as_of: date, counts: Any) -> dict[str, Any]:
    """Per lipid clinic: listed, waiting in the backlog, the adults it serves (alive, 18 or
    older on the as-of date, in the screened regions) and listed per 100,000 of them."""
    adults = dict(con.execute(
        "select coalesce(pr.lipid_clinic_id, 'unassigned'), count(*) from patients p "
        "left join practices pr on pr.gp_practice_id = p.gp_practice_id "
        "and pr.region = p.region where p.region in (select unnest($r)) "
        "and (p.deceased_date is null or p.deceased_date > $d) "
        "and date_sub('year', p.birth_date, $d) >= 18 group by 1",
        {"r": regions, "d": as_of}).fetchall())
    out = {}
    for clinic in sorted(set(counts.referrals) | set(counts.backlog)):
        listed, served = counts.referrals.get(clinic, 0), adults.get(clinic or "unassigned", 0)
        out[clinic or "unassigned"] = {
            "listed": listed, "backlog": counts.backlog.get(clinic, 0), "adults": served,
            "listed_per_100k_adults": round(1e5 * listed / served, 1) if served else None}
    return out


def run_screening(ws: Workspace, regions: list[str], *, extract_root: Path | None = None,
                  as_of: date | None = None, run_id: str | None = None,
                  model: str | None = None, progress: Progress | None = None,
                  language: str = DEFAULT_LANGUAGE, full: bool = False,
                  returns: Path | None = None) -> dict[str, Any]:
    """The whole run without Prefect (CLI `fh-screening run --no-prefect`, tests);
    `returns`: the clinics' returns folder (default `<home>/returns`)."""
    for region in regions:
        check_region_name(region)
    check_configuration(regions)  # every file, before the first region is ingested
    if run_id is not None:
        check_run_id(run_id)
    check_run_id_free(ws, run_id, regions)  # before any work: a run id owns its regions
    catalogue(language)  # an unknown language fails before any work is done
    start_loading(model)  # and so does a missing or incompatible model (it loads meanwhile)
    ingested = [ingest_step(ws, r, (extract_root / r) if extract_root else None,
                            progress=progress) for r in regions]
    returned = returns_step(ws, returns)
    as_of = as_of or latest_sample_date(ws, regions)
    summary = screen_step(ws, regions, as_of, model, full=full)
    summary["ingest"] = summarise_ingest(ingested)
    summary["returns"] = returned
    return output_step(ws, run_id or default_run_id(as_of, regions), as_of, regions, summary,
                       language)


def summarise_ingest(ingested: list[dict[str, Any]]) -> dict[str, Any]:
    """Per region: file and row totals, and quarantined rows by reason. Raises
    AccountingError when the rows do not balance: such a run must not publish."""
    check_ingest_results(ingested)
    summary = {}
    for result in ingested:
        reasons: dict[str, int] = {}
        for f in result["files"]:
            for reason, n in f["reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + n
        summary[result["region"]] = {
            **{k: v for k, v in result.items() if k not in ("files", "region")},
            "quarantine_reasons": dict(sorted(reasons.items())),
            "validated_files": [f["path"] for f in result["files"] if f.get("validation")],
        }
    return summary


def default_run_id(as_of: date, regions: list[str]) -> str:
    scope = "national" if len(regions) > 1 else regions[0]
    return f"{as_of.isoformat()}_{scope}"
