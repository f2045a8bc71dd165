"""Retries under Prefect (issue 6): the project's retry options really retry a task run
after a transient error (a busy store, an I/O hiccup), never after bad input or a failed
critical expectation, and the real ingest task waits out a store held by another process.

The real delays are 5, 10 and 20 s; the tests override only `retry_delay_seconds` (0: an
immediate retry), so the number of retries, the jitter and the project's
`retry_condition_fn` are the ones the flows use. Attempts are counted inside the task and
by Prefect itself (`task_run.run_count`, as the task's state hooks see it, and as the API
records it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest
from prefect import flow, task

from fh_screening.config import SAMPLES_DIR
from fh_screening.ingest import IngestError
from fh_screening.store import StoreBusy, Workspace, connect
from fh_screening.validate import ExpectationOutcome, ValidationFailed, ValidationReport
from flows.resilience import RETRIES, RETRY_JITTER, RETRY_OPTIONS, retry_if_transient

NO_DELAY: dict[str, Any] = {"retry_delay_seconds": 0}


def _critical_failure() -> ValidationFailed:
    return ValidationFailed(ValidationReport(
        table="lab_results", source="/x/lab.csv", rows=10, outcomes=[ExpectationOutcome(
            expectation="expect_column_values_to_not_be_null", column="sampled_at",
            severity="critical", success=False, unexpected_count=4, unexpected_percent=40.0,
            why="every sample needs a date")]))


class Attempts:
    """A task body that fails with the given errors, one per attempt, then returns
    `value`; plus `on_running`/`on_failure` hooks recording what Prefect saw."""

    def __init__(self, errors: list[BaseException], value: Any = None):
        self.errors = list(errors)
        self.value = value
        self.calls = 0
        self.running: list[tuple[str, int]] = []  # (state name, task_run.run_count)
        self.final: list[tuple[str, int]] = []

    def body(self, x: int) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return x * 2 if self.value is None else self.value

    def on_running(self, task, task_run, state) -> None:
        self.running.append((state.name, task_run.run_count))

    def on_final(self, task, task_run, state) -> None:
        self.final.append((state.name, task_run.run_count))


def _project_task(attempts: Attempts, **overrides: Any):
    """A task with the flows' RETRY_OPTIONS (only the given options overridden)."""
    t = task(attempts.body, name="store-io", **RETRY_OPTIONS).with_options(
        on_running=[attempts.on_running], on_completion=[attempts.on_final],
        on_failure=[attempts.on_final], **overrides)
    assert t.retries == RETRIES == 3
    assert t.retry_condition_fn is retry_if_transient
    assert t.retry_jitter_factor == RETRY_JITTER
    return t


def _run_in_flow(t, arg: int = 21):
    @flow(name="resilience-test")
    def one_task_flow() -> int:
        return t(arg)

    return one_task_flow(return_state=True)


def _recorded_task_run(flow_state, timeout: float = 20.0):
    """The flow run's only task run as the Prefect API recorded it (task states reach the
    API as events, so wait until its final state has arrived)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_state.state_details.flow_run_id])))
            if len(runs) == 1 and runs[0].state and runs[0].state.is_final():
                return runs[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"task run not recorded as final: {runs}")
            time.sleep(0.2)


# --- (a) transient errors are retried ------------------------------------------------


@pytest.mark.parametrize("error", [
    StoreBusy("the store is in use by another process; wait for that run to finish"),
    duckdb.IOException('IO Error: Could not set lock on file "store.duckdb"'),
    OSError(5, "Input/output error"),
], ids=["StoreBusy", "duckdb.IOException", "OSError-EIO"])
def test_a_transient_error_is_retried_and_the_flow_completes(prefect_harness, error):
    attempts = Attempts([error])
    state = _run_in_flow(_project_task(attempts, **NO_DELAY))

    assert state.is_completed(), state.message
    assert state.result() == 42
    assert attempts.calls == 2
    assert attempts.running == [("Running", 1), ("Retrying", 2)]
    assert attempts.final == [("Completed", 2)]
    recorded = _recorded_task_run(state)
    assert recorded.state.name == "Completed"
    assert recorded.run_count == 2


def test_a_retry_after_a_delay_goes_through_awaiting_retry(prefect_harness):
    """The backoff path (AwaitingRetry, then Retrying at the scheduled time), with the
    project's jitter on a short delay instead of 5 s."""
    attempts = Attempts([StoreBusy("busy"), StoreBusy("still busy")])
    start = time.monotonic()
    state = _run_in_flow(_project_task(attempts, retry_delay_seconds=[0.2, 0.4]))
    elapsed = time.monotonic() - start

    assert state.is_completed(), state.message
    assert state.result() == 42
    assert attempts.calls == 3
    assert attempts.running == [("Running", 1), ("Retrying", 2), ("Retrying", 3)]
    # Prefect's jitter (clamped Poisson, factor 0.5) keeps each delay within about
    # 63 %..150 % of its nominal value: at least 0.126 + 0.252 s of waiting.
    assert elapsed >= 0.35


def test_transient_errors_are_retried_three_times_then_the_flow_fails(prefect_harness):
    attempts = Attempts([StoreBusy(f"busy {i}") for i in range(10)])
    state = _run_in_flow(_project_task(attempts, **NO_DELAY))

    assert state.is_failed()
    with pytest.raises(StoreBusy, match="busy 3"):
        state.result()
    assert attempts.calls == 1 + RETRIES == 4
    assert [n for _, n in attempts.running] == [1, 2, 3, 4]
    assert attempts.final == [("Failed", 4)]
    assert _recorded_task_run(state).run_count == 4


# --- (b) bad input is not retried ----------------------------------------------------


@pytest.mark.parametrize("error", [
    IngestError("extract folder not found: /x/syddanmark"),
    _critical_failure(),
    FileNotFoundError(2, "No such file or directory"),
    PermissionError(13, "Permission denied"),
    ValueError("could not parse value"),
], ids=["IngestError", "ValidationFailed", "FileNotFoundError", "PermissionError",
        "ValueError"])
def test_a_non_transient_error_fails_at_once(prefect_harness, error):
    # The unmodified options (5 s delays): a wrong retry would also show as a slow test.
    attempts = Attempts([error], value=0)
    state = _run_in_flow(_project_task(attempts))

    assert state.is_failed()
    with pytest.raises(type(error)):
        state.result()
    assert attempts.calls == 1
    assert attempts.running == [("Running", 1)]
    assert attempts.final == [("Failed", 1)]
    recorded = _recorded_task_run(state)
    assert recorded.state.name == "Failed"
    assert recorded.run_count == 1


def test_the_flow_tasks_carry_the_retry_options():
    from flows.screening import ingest_region_task, output_task, publish_task, screen_task

    for t in (ingest_region_task, screen_task, output_task, publish_task):
        assert t.retries == 3
        assert t.retry_delay_seconds == [5, 10, 20]
        assert t.retry_jitter_factor == 0.5
        assert t.retry_condition_fn is retry_if_transient


# --- (c) the real ingest task waits out a store held by another process ---------------

_HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])  # a write connection: DuckDB's lock on the file
print("held", flush=True)
sys.stdin.readline()
con.close()
"""


class StoreHolder:
    """Another process holding a write connection on a store until `release()`. (A
    connection in a thread of this process would not do: DuckDB shares one database
    instance per file within a process, so it never conflicts.)"""

    def __init__(self, store_path: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(store_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout.readline().strip() == "held"
        self.releases = 0

    def release(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.wait(timeout=30) == 0
            self.releases += 1

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def held_store(tmp_path):
    ws = Workspace(tmp_path / "home")
    connect(ws.store_path).close()  # an existing store, as another run left it
    holder = StoreHolder(ws.store_path)
    yield ws, holder
    holder.kill()


def test_the_ingest_task_waits_out_a_store_held_by_another_process(
        prefect_harness, held_store, monkeypatch):
    from flows import screening

    ws, holder = held_store
    with pytest.raises(StoreBusy, match="is in use by another process"):
        connect(ws.store_path)

    verdicts: list[tuple[str, bool]] = []
    running: list[tuple[str, int]] = []

    def project_condition(task, task_run, state) -> bool:  # the project's, observed
        verdict = retry_if_transient(task, task_run, state)
        verdicts.append((type(state.data).__name__, verdict))
        return verdict

    def release_after_first_failure(task, task_run, state) -> None:
        running.append((state.name, task_run.run_count))
        if state.name == "Retrying":
            holder.release()  # the other run finishes before the retry starts

    monkeypatch.setattr(screening, "ingest_region_task",
                        screening.ingest_region_task.with_options(
                            retry_delay_seconds=0, retry_condition_fn=project_condition,
                            on_running=[release_after_first_failure]))
    state = screening.regional_flow(region="midtjylland", home=str(ws.home),
                                    extract_dir=str(SAMPLES_DIR / "midtjylland"),
                                    return_state=True)

    assert state.is_completed(), state.message
    assert verdicts == [("StoreBusy", True)]
    assert running == [("Running", 1), ("Retrying", 2)]
    assert holder.releases == 1

    # The sample region was ingested whole, exactly once: every file of the manifest with
    # its checksum and row count, rows accepted or quarantined, none lost or doubled.
    result = state.result()
    manifest = {Path(k).name: v for k, v in json.loads(
        (SAMPLES_DIR / "manifest.json").read_text())["files"].items()
        if k.startswith("midtjylland/")}
    summary = json.loads((ws.output_dir / result["run_id"] / "run_summary.json").read_text())
    inputs = {Path(f["path"]).name: f for f in summary["lineage"]["inputs"]}
    assert set(inputs) == set(manifest) and len(manifest) == 7
    for name, f in inputs.items():
        assert (f["sha256"], f["rows_read"]) == (manifest[name]["sha256"],
                                                 manifest[name]["rows"]), name
        assert f["rows_accepted"] + f["rows_quarantined"] == f["rows_read"], name
    ingest = result["ingest"]["midtjylland"]
    assert ingest["files_ingested"] == 7 and ingest["files_skipped"] == 0
    assert ingest["rows_read"] == sum(f["rows"] for f in manifest.values())
    assert ingest["rows_accepted"] == sum(f["rows_accepted"] for f in inputs.values())
    assert ingest["rows_quarantined"] == sum(f["rows_quarantined"] for f in inputs.values())
    assert result["screened"] > 0

    con = connect(ws.store_path, read_only=True)
    try:
        for f in inputs.values():
            [(n,)] = con.execute(f"select count(*) from {f['table']} "  # noqa: S608
                                 "where region = 'midtjylland'").fetchall()
            assert n == f["rows_accepted"], f["table"]
        [(quarantined,)] = con.execute("select count(*) from quarantine").fetchall()
        assert quarantined == ingest["rows_quarantined"]
        [(runs,)] = con.execute("select count(*) from runs").fetchall()
        assert runs == 1
    finally:
        con.close()


# --- the store limit, created by two flows at once -------------------------------------


class _RacingClient:
    """A Prefect client whose first upsert loses the race: another flow created the
    limit between the upsert's read and its create (the server answered 409)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __enter__(self) -> _RacingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def upsert_global_concurrency_limit_by_name(self, name: str, limit: int) -> None:
        from prefect.exceptions import ObjectAlreadyExists

        self.calls.append((name, limit))
        if len(self.calls) == 1:
            raise ObjectAlreadyExists(http_exc=RuntimeError("409 Conflict"))


def test_a_store_limit_created_meanwhile_by_another_flow_is_used(monkeypatch, tmp_path):
    # seen in the served deployments' test: the regional and the national flow started
    # together and the national one failed with ObjectAlreadyExists before any work
    import flows.resilience as resilience

    client = _RacingClient()
    monkeypatch.setattr(resilience, "get_client", lambda sync_client: client)
    name = resilience.ensure_store_limit(tmp_path)
    assert name == resilience.store_limit_name(tmp_path)
    assert client.calls == [(name, 1), (name, 1)]  # the second upsert finds it, sets 1
