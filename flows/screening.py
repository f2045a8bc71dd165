"""Prefect flows: one regional flow and a national flow over all configured regions.

Thin by design: each task calls one `fh_screening.pipeline` step, so the same code runs
from the CLI and the tests without Prefect. Prefect adds retries (transient errors only,
with backoff), a bounded fan-out over regions, run history, logs and the artifacts shown
in its UI (`fh_screening.run_report` writes their content).

Re-running a run id is idempotent and a crashed run can simply be run again: files are
ingested once (by checksum), outputs appear atomically, and the referral history is keyed
by run id (docs/operations.md).

A national run ingests its regions on threads of this machine (the default), or with
`runner="dask"` on the workers of a Dask cluster through prefect-dask's `DaskTaskRunner`:
each region is staged into a store of its own there, in parallel, then merged into the
workspace store one region at a time (`fh_screening.staging`; docs/operations.md, "When
you outgrow one machine").
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_client, get_run_logger, task
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.futures import wait
from prefect.runtime import flow_run, task_run
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from fh_screening import pipeline, run_report, staging, yield_report
from fh_screening.config import check_configuration, list_regions
from fh_screening.i18n import DEFAULT_LANGUAGE
from fh_screening.model import start_loading
from fh_screening.stages import reporting_steps
from fh_screening.store import DEFAULT_HOME, Workspace
from flows.deployments import national_settings
from flows.resilience import RETRY_OPTIONS, ensure_store_limit, store_writer

Runner = Literal["threads", "dask"]


class RegionsFailed(RuntimeError):
    """Some regions failed; the others were screened and their outputs written."""


def flow_run_name() -> str:
    """A flow run is named by its run id (`run_id`, else `<as_of>_<scope>` as the output
    folder will be, `latest_<scope>` until the as-of date is known; the name is then set
    to the run id, `_name_run`), so the UI's run list reads like the output folders."""
    params = flow_run.parameters
    if params.get("run_id"):
        return str(params["run_id"])
    scope = params.get("region") or "national"
    as_of = params.get("as_of")
    return f"{as_of.isoformat() if hasattr(as_of, 'isoformat') else as_of or 'latest'}_{scope}"


def _name_run(run_id: str) -> None:
    """Rename this flow run to its run id once known (the default id needs the as-of
    date, which comes from the data)."""
    if flow_run.id and flow_run.name != run_id:
        with get_client(sync_client=True) as client:
            client.update_flow_run(flow_run.id, name=run_id)


def _region_task_name(prefix: str) -> Any:
    """Task runs named by region (`ingest-syddanmark`), not `ingest-region-706`."""
    def name() -> str:
        params = task_run.parameters
        region = params.get("region") or (params.get("staged") or {}).get("region", "")
        return f"{prefix}-{region}"
    return name


# Share of the screening progress bar each stage fills (criteria dominate at scale).
SCREENING_SPANS = {"criteria": (0.0, 60.0), "model": (60.0, 75.0), "outputs": (75.0, 100.0)}


@contextmanager
def progress_artifact(key: str, description: str,
                      spans: dict[str, tuple[float, float]] | None = None) -> Iterator[None]:
    """A Prefect progress artifact (the flow run's Artifacts tab) fed by the pipeline's
    steps (`fh_screening.stages.step`): percent done and the last step in its
    description; 100 % only when the block completes."""
    artifact = create_progress_artifact(progress=0.0, key=key, description=description)

    def listener(stage_name: str, done: int, total: int, what: str) -> None:
        low, high = (spans or {}).get(stage_name, (0.0, 100.0))
        percent = low + (high - low) * done / max(total, 1)
        update_progress_artifact(artifact, progress=min(percent, 99.9),
                                 description=f"{description}: {stage_name} {done}/{total} "
                                             f"({what})")

    with reporting_steps(listener):
        yield
    update_progress_artifact(artifact, progress=100.0, description=f"{description}: done")


@task(name="ingest-region", task_run_name=_region_task_name("ingest"), **RETRY_OPTIONS)
def ingest_region_task(home: str, region: str, extract_dir: str | None) -> dict[str, Any]:
    with store_writer(home), progress_artifact(f"ingest-progress-{region}",
                                               f"ingest of {region}"):
        return pipeline.ingest_step(Workspace(Path(home)), region,
                                    Path(extract_dir) if extract_dir else None,
                                    progress=get_run_logger().info)


@task(name="seed-staging", **RETRY_OPTIONS)
def seed_task(home: str, regions: list[str], staging_root: str) -> None:
    """Each region's seed store: what its ingest checks against, copied from the store."""
    with store_writer(home):
        for region in regions:
            staging.prepare_region(Workspace(Path(home)), region, Path(staging_root) / region)


@task(name="stage-region", task_run_name=_region_task_name("stage"), **RETRY_OPTIONS)
def stage_region_task(home: str, region: str, extract_dir: str | None,
                      staging_dir: str) -> dict[str, Any]:
    """Ingest a region into its own staging store: runs on a Dask worker, in parallel with
    the other regions, without touching the workspace store."""
    result = staging.stage_region(Workspace(Path(home)), region,
                                  Path(extract_dir) if extract_dir else None, Path(staging_dir),
                                  progress=get_run_logger().info)
    where = _dask_worker()
    get_run_logger().info(f"{region} staged on Dask worker {where['dask_worker']} "
                          f"({where['host']})")
    return {**result, "staged_on": where}


@task(name="merge-region", task_run_name=_region_task_name("merge"), **RETRY_OPTIONS)
def merge_region_task(home: str, staged: dict[str, Any]) -> dict[str, Any]:
    logger = get_run_logger()
    with store_writer(home):
        merged = staging.merge_region(Workspace(Path(home)), staged, progress=logger.info)
    if merged["merged_from"] != "staging":
        logger.warning(f"{staged['region']}: the store changed for the people of its files "
                       "since staging began; ingested directly instead")
    return {**merged, "staged_on": staged["staged_on"]}


@task(name="ingest-returns", **RETRY_OPTIONS)
def returns_task(home: str) -> dict[str, Any]:
    """The lipid clinics' returned workbooks (<home>/returns/<clinic>/), issue 21."""
    return pipeline.returns_step(Workspace(Path(home)))


@task(name="screen", **RETRY_OPTIONS)
def screen_task(home: str, regions: list[str], as_of: date | None,
                model: str | None = None, full: bool = False) -> dict[str, Any]:
    ws = Workspace(Path(home))
    return pipeline.screen_step(ws, regions, as_of or pipeline.latest_sample_date(ws, regions),
                                model, full=full)


@task(name="write-outputs", **RETRY_OPTIONS)
def output_task(home: str, run_id: str | None, regions: list[str],
                summary: dict[str, Any], language: str,
                requested: list[str] | None = None) -> dict[str, Any]:
    as_of = date.fromisoformat(summary["as_of"])
    return pipeline.output_step(Workspace(Path(home)),
                                run_id or pipeline.default_run_id(as_of, regions),
                                as_of, regions, summary, language, requested)


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
    yield_json = Path(result["lineage"]["output_dir"]) / "yield" / "yield.json"
    if yield_json.is_file():
        create_markdown_artifact(
            key=f"screening-yield-{scope}",
            markdown=yield_report.markdown(json.loads(yield_json.read_text())),
            description=f"yield from the clinics' returns, fh-screening run {result['run_id']}")
    create_table_artifact(key=f"screening-reasons-{scope}",
                          table=run_report.top_reasons(result, stats),
                          description=f"top reasons, fh-screening run {result['run_id']}")
    return key


def _screen_and_publish(home: str, regions: list[str], ingested: list[dict[str, Any]],
                        as_of: date | None, run_id: str | None,
                        model: str | None, language: str,
                        failed: dict[str, str] | None = None,
                        failure_details: dict[str, str] | None = None,
                        full: bool = False) -> dict[str, Any]:
    """Screen, write and publish while holding the store: `screening_results` is one table,
    so another run's screening must not slip in between this run's screening and outputs."""
    failed = failed or {}
    requested = sorted([*regions, *failed])
    scope = "national" if len(requested) > 1 else requested[0]
    with store_writer(home), progress_artifact(f"screening-progress-{scope}",
                                               f"screening of {', '.join(regions)}",
                                               SCREENING_SPANS):
        # A run id given for other regions is refused before the screening replaces
        # anything (output_task checks again, in its transaction).
        pipeline.check_run_id_free(Workspace(Path(home)), run_id, requested)
        returned = returns_task(home)
        summary = screen_task(home, regions, as_of, model, full)
        summary["ingest"] = pipeline.summarise_ingest(ingested)
        summary["returns"] = returned
        if failed:
            summary["failed_regions"] = failed
        # The run id names what was asked for: a national run stays "national" even when
        # only some of its regions could be screened.
        run_id = run_id or pipeline.default_run_id(date.fromisoformat(summary["as_of"]),
                                                   requested)
        _name_run(run_id)
        result = output_task(home, run_id, regions, summary, language, requested)
        publish_task(home, result, ingested, failed, failure_details or {})
    return result


def _failures(states: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """Each failed region's error (one line) and validation report, if any."""
    return ({r: _error_text(s) for r, s in states.items()},
            {r: d for r, s in states.items() if (d := _error_details(s))})


def _fail(scope: str, errors: dict[str, str], details: dict[str, str]) -> RegionsFailed:
    """Publish why every region failed (the summary artifact of a failed run) and return
    the exception that fails the flow run."""
    create_markdown_artifact(key=f"screening-summary-{scope}",
                             markdown=run_report.failure_markdown(scope, errors, details),
                             description=f"fh-screening run for {scope}: failed")
    return RegionsFailed("; ".join(f"{r}: {e}" for r, e in sorted(errors.items())))


@flow(name="fh-screening-region", flow_run_name=flow_run_name, log_prints=True)
def regional_flow(region: str, home: str = str(DEFAULT_HOME), extract_dir: str | None = None,
                  as_of: date | None = None, run_id: str | None = None,
                  model: str | None = None,
                  language: str = DEFAULT_LANGUAGE, full: bool = False) -> dict[str, Any]:
    """Ingest, screen and write the lists for one region (`model`: a model folder, or
    None for the repository's current model; `full`: screen everyone again, not only
    what changed since the last screening)."""
    ensure_store_limit(home)
    start_loading(model)  # checked now, loaded while the region ingests
    state = ingest_region_task(home, region, extract_dir, return_state=True)
    if not state.is_completed():
        _fail(region, *_failures({region: state}))
        state.result()  # raises the region's own error (the CLI reports it by type)
    return _screen_and_publish(home, [region], [state.result()], as_of, run_id, model,
                               language, full=full)


@flow(name="fh-screening-stage-regions", log_prints=True)
def stage_regions_flow(home: str, extract_dirs: dict[str, str | None],
                       staging_root: str) -> dict[str, dict[str, Any]]:
    """Stage every region at once on the flow's task runner (a `DaskTaskRunner`, set by
    the national flow). Returns per region {"result": ...} or {"error", "details"}."""
    seed_task(home, list(extract_dirs), staging_root)
    futures = {r: stage_region_task.submit(home, r, d, str(Path(staging_root) / r))
               for r, d in extract_dirs.items()}
    wait(list(futures.values()))
    outcomes = {}
    for region, future in futures.items():
        if future.state.is_completed():
            outcomes[region] = {"result": future.result()}
        else:
            errors, details = _failures({region: future.state})
            outcomes[region] = {"error": errors[region], "details": details.get(region)}
    return outcomes


def dask_task_runner(address: str, workers: int) -> TaskRunner:
    """prefect-dask's runner: on the scheduler at `address`, or ("") on a temporary
    LocalCluster of `workers` processes (one task each) that closes with the stage flow."""
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


def _ingest_on_threads(home: str, extract_dirs: dict[str, str | None]) -> tuple[
        list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """Each region's ingest on the flow's thread pool, straight into the store (they queue
    on the store's writer slot)."""
    futures = {r: ingest_region_task.submit(home, r, d) for r, d in extract_dirs.items()}
    wait(list(futures.values()))
    ingested = [f.result() for f in futures.values() if f.state.is_completed()]
    return ingested, *_failures({r: f.state for r, f in futures.items()
                                 if not f.state.is_completed()})


def _ingest_on_dask(home: str, extract_dirs: dict[str, str | None], address: str,
                    workers: int) -> tuple[list[dict[str, Any]], dict[str, str],
                                           dict[str, str]]:
    """Stage every region in parallel on Dask workers, then merge them into the store one
    at a time (the one writer), in region order. The staging folders are removed after."""
    root = staging.staging_root(Workspace(Path(home)), f"run-{flow_run.id}")
    try:
        outcomes = stage_regions_flow.with_options(
            task_runner=dask_task_runner(address, workers))(home, extract_dirs, str(root))
        ingested, failed, details = [], {}, {}
        for region, outcome in sorted(outcomes.items()):
            if "error" in outcome:
                failed[region] = outcome["error"]
                if outcome["details"]:
                    details[region] = outcome["details"]
                continue
            state = merge_region_task(home, outcome["result"], return_state=True)
            if state.is_completed():
                ingested.append(state.result())
            else:
                errors, more = _failures({region: state})
                failed.update(errors)
                details.update(more)
    finally:
        staging.remove_staging(root)
    return ingested, failed, details


@flow(name="fh-screening-national", flow_run_name=flow_run_name, log_prints=True,
      task_runner=ThreadPoolTaskRunner(max_workers=national_settings()["max_concurrent_regions"]))
def national_flow(regions: list[str] | None = None, home: str = str(DEFAULT_HOME),
                  extract_root: str | None = None, as_of: date | None = None,
                  run_id: str | None = None, model: str | None = None,
                  language: str = DEFAULT_LANGUAGE, runner: Runner | None = None,
                  dask_address: str | None = None, full: bool = False) -> dict[str, Any]:
    """Ingest every region, then screen the regions that succeeded together and write one
    run folder with every lipid clinic's and practice's lists. A failed region does not
    stop the others: the run writes their outputs, reports the failure and then fails.

    `runner` (default: `[national] runner` in config/deployments.toml): "threads" ingests
    on this machine (at most `max_concurrent_regions` at once; store writes one at a
    time); "dask" stages the regions in parallel on a Dask cluster, at `dask_address` (a
    scheduler address; "" = a temporary local cluster; default: `[national]
    dask_address`), and merges them into the store one at a time. `full`: screen everyone
    again, not only what changed since the last screening (docs/scale.md)."""
    settings = national_settings()
    runner = runner or settings["runner"]
    regions = sorted(regions or list_regions())
    # A served deployment starts here, not in the CLI: every configuration file is
    # checked before the first region is ingested (issue 22), the same check as `run`.
    check_configuration(regions)
    start_loading(model)  # a missing or altered model fails now; it loads while regions ingest
    ensure_store_limit(home)
    extract_dirs = {r: str(Path(extract_root) / r) if extract_root else None for r in regions}
    if runner == "dask":
        ingested, failed, details = _ingest_on_dask(
            home, extract_dirs, settings["dask_address"] if dask_address is None
            else dask_address, settings["dask_workers"])
    else:
        ingested, failed, details = _ingest_on_threads(home, extract_dirs)
    if not ingested:
        raise _fail("national", failed, details)
    done = [r["region"] for r in ingested]
    result = _screen_and_publish(home, done, ingested, as_of, run_id, model, language,
                                 failed, details, full=full)
    if failed:
        raise RegionsFailed(
            f"{len(failed)} region(s) failed ({', '.join(sorted(failed))}); outputs for "
            f"{', '.join(done)} were written to run {result['run_id']}")
    return result


def _dask_worker() -> dict[str, str | None]:
    """The Dask worker (address) and host this task runs on; None outside Dask."""
    from distributed import get_worker

    try:
        address = get_worker().address
    except ValueError:
        address = None
    return {"dask_worker": address, "host": socket.gethostname()}


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
