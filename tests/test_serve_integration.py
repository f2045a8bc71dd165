"""Operations end to end on a real Prefect server: `prefect server start` on loopback,
`fh-screening serve` in its own process, runs triggered through the REST API as the UI or
`prefect deployment run` would, then the outputs, the registry's lineage and the summary
artifacts checked. Both processes are stopped whatever happens.

A regional and the national deployment are triggered at the same time: they run in two
processes on one workspace, so this also checks that the store lock (a Prefect global
concurrency limit) queues them rather than letting them collide in DuckDB.

The test talks to the server through Prefect's own client, as the CLI and the served runs
do: it retries the 503s a busy SQLite-backed server answers (seen on a fresh machine while
`serve` registered its deployments).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from fh_screening.config import SAMPLES_DIR, list_regions
from fh_screening.store import connect

CPR = re.compile(r"\b\d{6}-?\d{4}\b")
BIN = Path(sys.executable).parent
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """The test process's environment without its Prefect settings (the session's test
    harness), plus the stack's required ones (STACK.md)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), PREFECT_SERVER_ANALYTICS_ENABLED="false",
               DO_NOT_TRACK="1", GX_ANALYTICS_ENABLED="false", **extra)
    return env


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as fh:
        return subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group (serve's flow-run children too), then SIGKILL."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_for(what: str, check, proc: subprocess.Popen, log: Path, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what}: process exited ({proc.returncode}):\n"
                        f"{log.read_text(errors='replace')[-3000:]}")
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what}: not within {timeout} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("prefect-server")
    api = f"http://127.0.0.1:{free_port()}/api"
    port = api.rsplit(":", 1)[1].split("/")[0]
    log = tmp / "server.log"
    # On any port but 4200 the UI needs to be told where its API is (docs/operations.md).
    proc = start([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                  "--port", port], clean_env(tmp / "home", PREFECT_SERVER_UI_API_URL=api),
                 log)
    try:
        wait_for("prefect server", lambda: httpx.get(f"{api}/health", timeout=5)
                 .status_code == 200, proc, log, timeout=120)
        yield api, tmp
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def served(server, tmp_path_factory) -> Iterator[tuple[str, Path, subprocess.Popen, Path]]:
    api, _ = server
    tmp = tmp_path_factory.mktemp("serve")
    home, log = tmp / "workspace", tmp / "serve.log"
    proc = start([sys.executable, "-m", "fh_screening.cli", "--home", str(home), "serve",
                  "--extract-root", str(SAMPLES_DIR)],
                 clean_env(tmp / "prefect", PREFECT_API_URL=api), log)
    try:
        wait_for("deployments served", lambda: httpx.get(
            f"{api}/deployments/name/fh-screening-national/national", timeout=5)
            .status_code == 200, proc, log, timeout=120)
        yield api, home, proc, log
    finally:
        stop(proc)


def client(api: str):
    """Prefect's client for this server (not the session's test harness)."""
    from prefect.client.orchestration import SyncPrefectClient

    return SyncPrefectClient(api)


def deployment(api: str, name: str) -> dict:
    with client(api) as c:
        return c.read_deployment_by_name(name).model_dump(mode="json")


def trigger(api: str, name: str, parameters: dict) -> str:
    with client(api) as c:
        found = c.read_deployment_by_name(name)
        return str(c.create_flow_run_from_deployment(found.id, parameters=parameters).id)


def final_state(api: str, flow_run_id: str) -> dict | None:
    with client(api) as c:
        state = c.read_flow_run(UUID(flow_run_id)).state
    return state.model_dump(mode="json") if state and state.type.value in FINAL else None


@pytest.fixture(scope="module")
def runs(served):
    api, home, proc, log = served
    ids = {"regional": trigger(api, "fh-screening-region/midtjylland",
                               {"run_id": "it-midtjylland"}),
           "national": trigger(api, "fh-screening-national/national", {"run_id": "it-national"})}
    states = {kind: wait_for(f"{kind} flow run", lambda r=run_id: final_state(api, r),
                             proc, log, timeout=300)
              for kind, run_id in ids.items()}
    return api, home, ids, states, log


def test_deployments_have_cron_schedules_in_copenhagen_time(served):
    api = served[0]
    for name, cron in (("fh-screening-region/midtjylland", "0 6 2 * *"),
                       ("fh-screening-region/syddanmark", "0 6 2 * *"),
                       ("fh-screening-national/national", "0 6 3 * *")):
        found = deployment(api, name)
        [schedule] = [s["schedule"] for s in found["schedules"]]
        assert schedule["cron"] == cron and schedule["timezone"] == "Europe/Copenhagen"
    params = deployment(api, "fh-screening-region/syddanmark")["parameters"]
    assert params["region"] == "syddanmark"
    assert params["extract_dir"] == str((SAMPLES_DIR / "syddanmark").resolve())


def test_triggered_runs_complete_with_their_outputs(runs):
    _, home, _, states, log = runs
    assert {k: s["type"] for k, s in states.items()} == {
        "regional": "COMPLETED", "national": "COMPLETED"}, log.read_text()[-3000:]
    regional = json.loads((home / "output" / "it-midtjylland" / "run_summary.json").read_text())
    national = json.loads((home / "output" / "it-national" / "run_summary.json").read_text())
    assert regional["regions"] == ["midtjylland"]
    assert national["regions"] == list_regions()  # every shipped region
    # whichever ran first ingested midtjylland; the other skipped all its files
    ingested = [s["ingest"]["midtjylland"]["files_ingested"] for s in (regional, national)]
    assert sorted(ingested) == [0, 7]
    assert national["ingest"]["syddanmark"]["files_ingested"] == 7
    assert all(n > 0 for n in national["outputs"]["referrals"].values())


def test_registry_rows_carry_lineage(runs):
    _, home, _, _, _ = runs
    con = connect(home / "store.duckdb", read_only=True)
    try:
        rows = dict(con.execute("select run_id, lineage from runs where status = 'completed'")
                    .fetchall())
    finally:
        con.close()
    lineage = json.loads(rows["it-national"])
    assert {(f["region"], f["table"]) for f in lineage["inputs"]} >= {
        ("syddanmark", "lab_results"), ("midtjylland", "patients")}
    assert len(lineage["inputs"]) == 7 * len(list_regions()) and all(len(f["sha256"]) == 64
                                                for f in lineage["inputs"])
    assert len(lineage["config_hash"]) == 64
    assert lineage["output_dir"] == str(home.resolve() / "output" / "it-national")
    assert "run_summary.json" in lineage["outputs"]
    assert len(json.loads(rows["it-midtjylland"])["inputs"]) == 7


def artifacts(api: str, flow_run_id: str) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with client(api) as c:
        found = c.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(flow_run_id)])))
    return {a.key: a for a in found if a.key}


def test_each_run_publishes_its_summary_artifact(runs):
    api, _, ids, _, _ = runs
    for kind, key, run_id in (("regional", "screening-summary-midtjylland", "it-midtjylland"),
                              ("national", "screening-summary-national", "it-national")):
        markdown = artifacts(api, ids[kind])[key].data
        assert f"fh-screening run `{run_id}`" in markdown
        for section in ("## People flagged, by tier", "## Rows quarantined, by reason",
                        "## Expectations failed", "## Outputs written", "## Lineage"):
            assert section in markdown
        assert not CPR.search(markdown)
    table = artifacts(api, ids["national"])["screening-reasons-national"].data
    rows = json.loads(table) if isinstance(table, str) else table
    assert {r["kind"] for r in rows} >= {"row quarantined", "flagged by rule set"}


def test_serve_names_the_ui_and_checks_it_calls_this_api(server, served):
    """Issue 22: the UI on a free port works with the documented setting, and serve
    prints the UI's address without the warning it gives when the UI would be blank."""
    api, _ = server
    _, _, _, log = served
    ui = api.removesuffix("/api")
    assert httpx.get(f"{ui}/ui-settings", timeout=10).json()["api_url"] == api
    text = log.read_text(errors="replace")
    assert f"fh-screening serve: Prefect UI at {ui}" in text
    assert "calls the API at" not in text
