"""Prefect flows: one regional flow and a national flow over all configured regions.

Thin by design: each task calls one `fh_screening.pipeline` step, so the same code runs
from the CLI and the tests without Prefect. Prefect adds retries, run history, logs and
the summary artifact shown in its UI.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from fh_screening import pipeline
from fh_screening.config import list_regions
from fh_screening.i18n import DEFAULT_LANGUAGE
from fh_screening.store import DEFAULT_HOME, Workspace


@task(retries=2, retry_delay_seconds=[2, 10], name="ingest-region")
def ingest_region_task(home: str, region: str, extract_dir: str | None) -> dict[str, Any]:
    return pipeline.ingest_step(Workspace(Path(home)), region,
                                Path(extract_dir) if extract_dir else None,
                                progress=get_run_logger().info)


@task(name="screen")
def screen_task(home: str, regions: list[str], as_of: date | None,
                model: str | None = None) -> dict[str, Any]:
    ws = Workspace(Path(home))
    return pipeline.screen_step(ws, regions, as_of or pipeline.latest_sample_date(ws, regions),
                                model)


@task(retries=2, retry_delay_seconds=[2, 10], name="write-outputs")
def output_task(home: str, run_id: str | None, regions: list[str],
                summary: dict[str, Any], language: str) -> dict[str, Any]:
    as_of = date.fromisoformat(summary["as_of"])
    return pipeline.output_step(Workspace(Path(home)),
                                run_id or pipeline.default_run_id(as_of, regions),
                                as_of, regions, summary, language)


def _screen_and_publish(home: str, regions: list[str], ingested: list[dict[str, Any]],
                        as_of: date | None, run_id: str | None,
                        model: str | None, language: str) -> dict[str, Any]:
    summary = screen_task(home, regions, as_of, model)
    summary["ingest"] = pipeline.summarise_ingest(ingested)
    result = output_task(home, run_id, regions, summary, language)
    create_markdown_artifact(key="screening-summary", markdown=summary_markdown(result),
                             description=f"fh-screening run {result['run_id']}")
    return result


@flow(name="fh-screening-region", log_prints=True)
def regional_flow(region: str, home: str = str(DEFAULT_HOME), extract_dir: str | None = None,
                  as_of: date | None = None, run_id: str | None = None,
                  model: str | None = None,
                  language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Ingest, screen and write the lists for one region (`model`: a model folder, or
    None for the repository's current model)."""
    ingested = [ingest_region_task(home, region, extract_dir)]
    return _screen_and_publish(home, [region], ingested, as_of, run_id, model, language)


@flow(name="fh-screening-national", log_prints=True)
def national_flow(regions: list[str] | None = None, home: str = str(DEFAULT_HOME),
                  extract_root: str | None = None, as_of: date | None = None,
                  run_id: str | None = None, model: str | None = None,
                  language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """Ingest every region (one at a time: one writer per DuckDB store), then screen them
    together and write one run folder with every lipid clinic's and practice's lists."""
    regions = sorted(regions or list_regions())
    ingested = [
        ingest_region_task(home, r, str(Path(extract_root) / r) if extract_root else None)
        for r in regions
    ]
    return _screen_and_publish(home, regions, ingested, as_of, run_id, model, language)


def summary_markdown(result: dict[str, Any]) -> str:
    """The run summary as the markdown artifact shown in the Prefect UI."""
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
    outputs = result["outputs"]
    lines += ["", f"Outputs: {len(outputs['referrals'])} referral list(s), "
              f"{len(outputs['gp_reports'])} GP report(s), {len(outputs['cascade'])} "
              "cascade list(s)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    national_flow()
