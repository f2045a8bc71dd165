"""The Prefect flows under the session's test harness: a failing region does not stop the
others, and the failure is in the run's summary; retries only for transient errors."""

from __future__ import annotations

import json

import duckdb
import pytest

from fh_screening.config import SAMPLES_DIR
from fh_screening.ingest import IngestError
from fh_screening.store import StoreBusy, Workspace, connect
from flows.resilience import RETRY_DELAYS, is_transient, store_limit_name


@pytest.fixture(scope="module")
def partly_failed_run(prefect_harness, tmp_path_factory):
    """A national run where syddanmark's extract folder is missing."""
    from flows.screening import national_flow

    home = tmp_path_factory.mktemp("partial")
    extracts = tmp_path_factory.mktemp("extracts")
    (extracts / "midtjylland").symlink_to(SAMPLES_DIR / "midtjylland")
    state = national_flow(regions=["syddanmark", "midtjylland"], home=str(home),
                          extract_root=str(extracts), return_state=True)
    return Workspace(home), state


def test_a_failed_region_does_not_stop_the_others(partly_failed_run):
    ws, state = partly_failed_run
    assert state.is_failed()
    assert "1 region(s) failed (syddanmark)" in state.message
    out = ws.output_dir / "2026-06-30_national"
    summary = json.loads((out / "run_summary.json").read_text())
    assert summary["regions"] == ["midtjylland"]
    assert summary["failed_regions"]["syddanmark"].startswith(
        "IngestError: extract folder not found")
    assert sum(summary["outputs"]["referrals"].values()) > 0
    assert {p.stem[:3] for p in (out / "referrals").glob("*.csv")} == {"MID"}


def test_the_failure_is_in_the_summary_artifact(partly_failed_run):
    # Prefect's own client filters artifacts by flow run (this needs fastapi <= 0.150 on the
    # server side: docs/architecture.md, so it also guards that pin).
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    _, state = partly_failed_run
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    by_key = {a.key: a for a in found if a.key}
    # issue 21's yield report, and issue 22's progress of each ingest and the screening
    assert set(by_key) == {"screening-summary-national", "screening-reasons-national",
                           "screening-yield-national", "ingest-progress-midtjylland",
                           "ingest-progress-syddanmark", "screening-progress-national"}
    markdown = by_key["screening-summary-national"].data
    assert "## Regions that FAILED" in markdown
    assert "| syddanmark | IngestError: extract folder not found" in markdown


def test_runs_are_named_by_run_id_tasks_by_region_with_progress(partly_failed_run):
    """Issue 22: was a random flow-run name, `ingest-region-706`, and no progress."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    _, state = partly_failed_run
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(
            id=FlowRunFilterId(any_=[run_id])))
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    assert flow_run.name == "2026-06-30_national"  # renamed once the as-of date was known
    names = {t.name for t in tasks}
    assert {"ingest-midtjylland", "ingest-syddanmark"} <= names
    progress = {a.key: a.data for a in artifacts if a.type == "progress"}
    assert progress["ingest-progress-midtjylland"] == 100.0
    assert progress["screening-progress-national"] == 100.0
    assert progress["ingest-progress-syddanmark"] == 0.0  # its folder was missing


def test_the_run_registry_records_the_partial_run(partly_failed_run):
    ws, _ = partly_failed_run
    con = connect(ws.store_path, read_only=True)
    try:
        [(status, lineage)] = con.execute("select status, lineage from runs").fetchall()
    finally:
        con.close()
    assert status == "completed"
    assert {f["region"] for f in json.loads(lineage)["inputs"]} == {"midtjylland"}


@pytest.mark.parametrize(("exc", "transient"), [
    (StoreBusy("store in use"), True),
    (duckdb.IOException("could not set lock on file"), True),
    (OSError(5, "Input/output error"), True),
    (TimeoutError(), True),
    (FileNotFoundError("gone"), False),
    (PermissionError("denied"), False),
    (IngestError("extract folder not found"), False),
    (ValueError("bad value"), False),
    (None, False),
])
def test_only_transient_errors_are_retried(exc, transient):
    assert is_transient(exc) is transient


def test_retries_back_off_exponentially():
    assert RETRY_DELAYS(3) == [5, 10, 20]


def test_one_store_limit_per_workspace(tmp_path):
    assert store_limit_name(tmp_path) == store_limit_name(tmp_path / "." )
    assert store_limit_name(tmp_path / "a") != store_limit_name(tmp_path / "b")
    assert store_limit_name(tmp_path).startswith("fh-screening-store-")


def test_a_failed_regional_run_publishes_why(prefect_harness, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.screening import regional_flow

    state = regional_flow(region="syddanmark", home=str(tmp_path),
                          extract_dir=str(tmp_path / "missing"), return_state=True)
    assert state.is_failed()
    with pytest.raises(IngestError, match="extract folder not found"):
        state.result()
    with get_client(sync_client=True) as client:
        found = {a.key: a for a in client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
            if a.key}
    # the summary, and (issue 22) the ingest's progress, stopped at 0 of its files
    assert set(found) == {"screening-summary-syddanmark", "ingest-progress-syddanmark"}
    assert found["ingest-progress-syddanmark"].data == 0.0
    artifact = found["screening-summary-syddanmark"]
    assert "# fh-screening run for `syddanmark` FAILED" in artifact.data
    assert "| syddanmark | IngestError: extract folder not found" in artifact.data
    assert not (tmp_path / "output").exists()


def test_a_critical_validation_failure_is_explained_by_its_report():
    from prefect.states import Failed

    from fh_screening.validate import ExpectationOutcome, ValidationFailed, ValidationReport
    from flows.screening import _error_details, _error_text

    report = ValidationReport(table="lab_results", source="/x/lab.csv", rows=10, outcomes=[
        ExpectationOutcome(expectation="expect_column_values_to_not_be_null",
                           column="sampled_at", severity="critical", success=False,
                           unexpected_count=4, unexpected_percent=40.0,
                           why="every sample needs a date")])
    state = Failed(data=ValidationFailed(report))
    assert _error_text(state).startswith(
        "ValidationFailed: validation of table 'lab_results' from '/x/lab.csv' failed")
    details = _error_details(state)
    assert "expect_column_values_to_not_be_null" in details
    assert "every sample needs a date" in details
    assert _error_details(Failed(data=IngestError("no folder"))) is None
