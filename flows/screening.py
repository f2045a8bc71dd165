"""Prefect flows: one regional flow and a national flow over all configured regions.

Thin by design: each task calls one `fh_screening.pipeline` step, so the same code runs
from the CLI and the tests without Prefect. Prefect adds retries (transient errors only,
with backoff), a bounded fan-out over regions, run history, logs and the artifacts shown
in its UI (`fh_screening.run_report` writes their content).

Re-running a run id is idempotent and a crashed run can simply be run again: files are
ingested once (by checksum), outputs appear atomically, and the referral history is keyed
by run id (docs/operations.md).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import wait
from prefect.task_runners import ThreadPoolTaskRunner

from fh_screening import pipeline, run_report
from fh_screening.config import list_regions
from fh_screening.i18n import DEFAULT_LANGUAGE
from fh_screening.store import DEFAULT_HOME, Workspace
from flows.deployments import national_settings
from flows.resilience import RETRY_OPTIONS, ensure_store_limit, store_writer


class RegionsFailed(RuntimeError):
    """Some regions failed; the others were screened and their outputs written."""


@task(name="ingest-region", **RETRY_OPTIONS)
def ingest_region_task(home: str, region: str, extract_dir: str | None) -> dict[str, Any]:
    with store_writer(home):
        return pipeline.ingest_step(Workspace(Path(home)), region,
                                    Path(extract_dir) if extract_dir else None,
                                    progress=get_run_logger().info)


@task(name="screen", **RETRY_OPTIONS)
def screen_task(home: str, regions: list[str], as_of: date | None,
                model: str | None = None) -> dict[str, Any]:
    ws = Workspace(Path(home))
    return pipeline.screen_step(ws, regions, as_of or pipeline.latest_sample_date(ws, regions),
                                model)


@task(name="write-outputs", **RETRY_OPTIONS)
def output_task(home: str, run_id: str | None, regions: list[str],
                summary: dict[str, Any], language: str) -> dict[str, Any]:
    as_of = date.fromisoformat(summary["as_of"])
    return pipeline.output_step(Workspace(Path(home)),
                                run_id or pipeline.default_run_id(as_of, regions),
                                as_of, regions, summary, language)


@task(name="publish-summary", **RETRY_OPTIONS)
def publish_task(home: str, result: dict[str, Any], ingested: list[dict[str, Any]],
                 failed: dict[str, str], failure_details: dict[str, str]) -> str:
    """The run's markdown summary and its table of top reasons, as Prefect artifacts."""
    stats = run_report.flag_stats(Workspace(Path(home)), result["regions"])
    scope = "national" if len(result["regions"]) + len(failed) > 1 else result["regions"][0]
    key = f"screening-summary-{scope}"
    create_markdown_artifact(
        key=key, markdown=run_report.summary_markdown(result, stats, ingested, failed,
                                                      failure_details),
        description=f"fh-screening run {result['run_id']}")
    create_table_artifact(key=f"screening-reasons-{scope}",
                          table=run_report.top_reasons(result, stats),
                          description=f"top reasons, fh-screening run {result['run_id']}")
    return key


def _screen_and_publish(home: str, regions: list[str], ingested: list[dict[str, Any]],
                        as_of: date | None, run_id: str | None,
                        model: str | None, language: str,
                        failed: dict[str, str] | None = None,
                        failure_details: dict[str, str] | None = None) -> dict[str, Any]:
    """Screen, write and publish while holding the store: `screening_results` is one table,
    so another run's screening must not slip in between this run's screening and outputs."""
    failed = failed or {}
    with store_writer(home):
        summary = screen_task(home, regions, as_of, model)
        summary["ingest"] = pipeline.summarise_ingest(ingested)
        if failed:
            summary["failed_regions"] = failed
        # The run id names what was asked for: a national run stays "national" even when
        # only some of its regions could be screened.
        run_id = run_id or pipeline.default_run_id(date.fromisoformat(summary["as_of"]),
                                                   sorted([*regions, *failed]))
        result = output_task(home, run_id, regions, summary, language)
        publish_task(home, result, ingested, failed, failure_details or {})
    return result


def _fail(scope: str, states: dict[str, Any]) -> RegionsFailed:
    """Publish why every region failed (the summary artifact of a failed run) and return
    the exception that fails the flow run."""
    errors = {r: _error_text(s) for r, s in states.items()}
    details = {r: d for r, s in states.items() if (d := _error_details(s))}
    create_markdown_artifact(key=f"screening-summary-{scope}",
                             markdown=run_report.failure_markdown(scope, errors, details),
                             description=f"fh-screening run for {scope}: failed")
    return RegionsFailed("; ".join(f"{r}: {e}" for r, e in sorted(errors.items())))


@flow(name="fh-screening-region", log_prints=True)
def regional_flow(region: str, home: str = str(DEFAULT_HOME), extract_dir: str | None = None,
                  as_of: date | None = None, run_id: str | None = None,
                  model: str | None = None,
                  language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Ingest, screen and write the lists for one region (`model`: a model folder, or
    None for the repository's current model)."""
    ensure_store_limit(home)
    state = ingest_region_task(home, region, extract_dir, return_state=True)
    if not state.is_completed():
        _fail(region, {region: state})
        state.result()  # raises the region's own error (the CLI reports it by type)
    return _screen_and_publish(home, [region], [state.result()], as_of, run_id, model,
                               language)


@flow(name="fh-screening-national", log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=national_settings()["max_concurrent_regions"]))
def national_flow(regions: list[str] | None = None, home: str = str(DEFAULT_HOME),
                  extract_root: str | None = None, as_of: date | None = None,
                  run_id: str | None = None, model: str | None = None,
                  language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Ingest every region (fanned out, at most `max_concurrent_regions` at once; store
    writes one at a time), then screen the regions that succeeded together and write one
    run folder with every lipid clinic's and practice's lists. A failed region does not
    stop the others: the run writes their outputs, reports the failure and then fails."""
    regions = sorted(regions or list_regions())
    ensure_store_limit(home)
    futures = {
        r: ingest_region_task.submit(home, r, str(Path(extract_root) / r) if extract_root
                                     else None)
        for r in regions
    }
    wait(list(futures.values()))
    ingested, failed_states = [], {}
    for region, future in futures.items():
        if future.state.is_completed():
            ingested.append(future.result())
        else:
            failed_states[region] = future.state
    if not ingested:
        raise _fail("national", failed_states)
    failed = {r: _error_text(s) for r, s in failed_states.items()}
    details = {r: d for r, s in failed_states.items() if (d := _error_details(s))}
    done = [r["region"] for r in ingested]
    result = _screen_and_publish(home, done, ingested, as_of, run_id, model, language,
                                 failed, details)
    if failed:
        raise RegionsFailed(
            f"{len(failed)} region(s) failed ({', '.join(sorted(failed))}); outputs for "
            f"{', '.join(done)} were written to run {result['run_id']}")
    return result


def _error_text(state: Any) -> str:
    """The failure of a task run as one line (its exception, else the state's message)."""
    try:
        state.result()
    except Exception as exc:  # the region's error, shown in the summary artifact
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return state.message or state.name


def _error_details(state: Any) -> str | None:
    """The validation report (markdown) when a critical expectation stopped the region."""
    try:
        state.result()
    except Exception as exc:
        report = getattr(exc, "report", None)
        return report.to_markdown() if report is not None else None
    return None


if __name__ == "__main__":
    national_flow()
