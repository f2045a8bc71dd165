"""The national flow on a Dask cluster through prefect-dask's DaskTaskRunner, at small
scale: the two sample regions staged on a LocalCluster of 2 worker processes, merged into
the store, and compared with the same run on the thread runner (same rows, quarantine and
lists, byte for byte); the stage tasks ran on the Dask workers, not in this process; the
temporary cluster's processes are gone afterwards; a re-run on an existing cluster
ingests nothing twice."""

from __future__ import annotations

import json

import psutil
import pytest

from fh_screening.config import SAMPLES_DIR, TABLES, list_regions
from fh_screening.store import Workspace
from tests.test_staging import fingerprint

REGIONS = list_regions()  # every shipped region (three since issue 22)
RUN_ID = "2026-06-30_national"


def _children() -> dict[int, psutil.Process]:
    return {p.pid: p for p in psutil.Process().children(recursive=True)}


@pytest.fixture(scope="module")
def threads_run(prefect_harness, tmp_path_factory):
    """The national flow on the sample on its thread runner (the reference)."""
    from flows.screening import national_flow

    home = tmp_path_factory.mktemp("threads")
    return Workspace(home), national_flow(home=str(home), extract_root=str(SAMPLES_DIR),
                                          runner="threads")


@pytest.fixture(scope="module")
def dask_run(threads_run, tmp_path_factory):
    """The same run on a temporary Dask LocalCluster (`[national] dask_workers` = 2 worker
    processes), in a workspace with the same pseudonym key ($FH_PSEUDONYM_KEY, so the
    same pseudonyms)."""
    from flows.screening import national_flow

    home = tmp_path_factory.mktemp("dask")
    before = _children()
    result = national_flow(home=str(home), extract_root=str(SAMPLES_DIR), runner="dask",
                           dask_address="")
    # The cluster is closed when the flow returns; give exiting processes a moment to go.
    # Python's multiprocessing resource tracker (one per process, started by the first
    # spawned child, ends with this process) is not part of the cluster.
    left = [p for pid, p in _children().items() if pid not in before
            and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())]
    _, alive = psutil.wait_procs(left, timeout=15)
    return Workspace(home), result, alive


@pytest.fixture(scope="module")
def runs(threads_run, dask_run):
    return (*threads_run, *dask_run)


def _summary(ws: Workspace) -> dict:
    return json.loads((ws.output_dir / RUN_ID / "run_summary.json").read_text())


def _files(ws: Workspace) -> dict[str, bytes]:
    folder = ws.output_dir / RUN_ID
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "run_summary.json"}


def _store(ws: Workspace) -> dict[str, tuple[int, int]]:
    """Per table: rows and the sum of the rows' hashes (tests/test_staging.fingerprint)."""
    return fingerprint(ws, [*TABLES, "quarantine", "vault.identity", "referral_history"])


def test_every_region_is_ingested_with_the_same_counts(runs):
    _, threads, _, dask, _ = runs
    assert dask["regions"] == threads["regions"] == REGIONS
    manifest = json.loads((SAMPLES_DIR / "manifest.json").read_text())
    for region in REGIONS:
        on_dask = dict(dask["ingest"][region])
        assert on_dask.pop("staged_on")["dask_worker"].startswith("tcp://127.0.0.1:")
        assert on_dask.pop("merged_from") == "staging"
        assert on_dask == threads["ingest"][region]
        assert on_dask["files_ingested"] == 7 and on_dask["files_skipped"] == 0
        assert on_dask["rows_accepted"] > 70_000
        # every injected anomaly of the sample, and nothing else, is quarantined
        injected = sum(a["count"] for a in manifest["regions"][region]["anomalies"])
        assert on_dask["rows_quarantined"] == injected > 100
        assert on_dask["rows_read"] == on_dask["rows_accepted"] + on_dask["rows_quarantined"]


def test_the_stores_hold_the_same_rows(runs):
    threads_ws, _, dask_ws, _, _ = runs
    on_threads, on_dask = _store(threads_ws), _store(dask_ws)
    assert {t: n for t, (n, _) in on_dask.items()} == {t: n for t, (n, _) in on_threads.items()}
    assert on_dask["lab_results"][0] > 100_000 and on_dask["vault.identity"][0] == 12000
    assert on_dask == on_threads  # the same rows, value for value


def test_the_same_referrals_and_lists_byte_for_byte(runs):
    threads_ws, threads, dask_ws, dask, _ = runs
    assert dask["outputs"]["referrals"] == threads["outputs"]["referrals"]
    assert sum(dask["outputs"]["referrals"].values()) > 0
    assert dask["screening"] == threads["screening"]
    files = _files(dask_ws)
    assert len(files) > 30 and files == _files(threads_ws)
    # run_summary.json: the same but for where the regions were staged and the workspace
    on_threads, on_dask = _summary(threads_ws), _summary(dask_ws)
    for region in REGIONS:
        assert on_dask["ingest"][region].pop("staged_on") == dask["ingest"][region]["staged_on"]
        assert on_dask["ingest"][region].pop("merged_from") == "staging"
    for summary, ws in ((on_threads, threads_ws), (on_dask, dask_ws)):
        assert summary["lineage"].pop("output_dir") == str(ws.output_dir / RUN_ID)
        for f in summary["lineage"]["inputs"]:
            f.pop("ingested_at")
        assert summary.pop("analysis_snapshot") == str(ws.home / "analysis" / "analysis.duckdb")
    # Regions staged on Dask workers do not keep their GX results (the staging folder goes;
    # docs/architecture.md), so that run has no Data Docs; the thread runner's has.
    assert on_dask.pop("data_docs") is None
    assert on_threads.pop("data_docs") == str(
        threads_ws.home.resolve() / "gx" / RUN_ID / "index.html")
    assert on_dask == on_threads


def test_the_stage_tasks_ran_on_two_dask_workers(runs):
    _, _, _, dask, _ = runs
    workers = {dask["ingest"][r]["staged_on"]["dask_worker"] for r in REGIONS}
    assert len(workers) == 2  # three regions over the two worker processes, in parallel


def test_the_temporary_cluster_and_the_staging_are_gone(runs):
    _, _, dask_ws, _, alive = runs
    assert alive == []  # no scheduler, nanny or worker process of the cluster is left
    assert list((dask_ws.home / "staging").iterdir()) == []  # staged CPR numbers removed


def test_a_rerun_on_an_existing_cluster_ingests_nothing_twice(runs, tmp_path):
    """The ingest half of a national run (stage on the cluster, merge) again, on a cluster
    given by its scheduler address, as `dask_address` does, with syddanmark's extract
    folder missing this time. Screening again would only repeat the comparison above, and
    this cluster's 2 workers are threads of this process (processes=False): worker
    processes were shown above, and would add ~20 s here."""
    from distributed import Client, LocalCluster, get_task_stream
    from prefect import flow

    from flows.screening import _ingest_on_dask

    _, _, dask_ws, _, _ = runs
    rows_before = _store(dask_ws)

    @flow(name="fh-screening-test-ingest-on-dask")
    def ingest_again(address: str) -> tuple:
        return _ingest_on_dask(str(dask_ws.home), {"midtjylland": None,
                                                   "syddanmark": str(tmp_path / "gone")},
                               address, 2)

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, \
            Client(cluster, set_as_default=False) as client:
        workers = set(client.scheduler_info()["workers"])
        with get_task_stream(client) as stream:
            ingested, failed, _ = ingest_again(cluster.scheduler_address)
        ran = [t["worker"] for t in stream.data if t["key"].startswith("stage_region_task")]
    assert len(workers) == 2 and len(ran) == 2 and set(ran) <= workers  # the scheduler's record
    # a region that fails on a worker does not stop the other
    assert failed == {"syddanmark": f"IngestError: extract folder not found: {tmp_path / 'gone'}"}
    [again] = ingested
    assert again["region"] == "midtjylland" and again["staged_on"]["dask_worker"] in workers
    assert (again["files_skipped"], again["files_ingested"], again["rows_accepted"]) == (7, 0, 0)
    assert _store(dask_ws) == rows_before  # no row added, replaced or lost
    assert list((dask_ws.home / "staging").iterdir()) == []


def test_the_runner_is_chosen_by_config_and_parameters():
    from flows.deployments import load_settings
    from flows.screening import dask_task_runner, national_flow

    national = load_settings()["national"]
    assert (national["runner"], national["dask_address"], national["dask_workers"]) == (
        "threads", "", 2)
    assert dask_task_runner("tcp://10.0.0.5:8786", 2).address == "tcp://10.0.0.5:8786"
    local = dask_task_runner("", 3)
    assert local.address is None
    assert local.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1,
                                    "processes": True, "dashboard_address": None}
    schema = national_flow.parameters.properties
    assert {"runner", "dask_address"} <= set(schema)


@pytest.mark.parametrize(("national", "error"), [
    ('runner = "ray"', "runner must be one of threads, dask, not 'ray'"),
    ("dask_workers = 0", "dask_workers must be at least 1"),
])
def test_bad_runner_settings_are_clear_errors(tmp_path, national, error):
    from fh_screening.config import ConfigError
    from flows.deployments import load_settings

    path = tmp_path / "deployments.toml"
    path.write_text('timezone = "Europe/Copenhagen"\n[regional]\ncron = "0 6 2 * *"\n'
                    f'[national]\ncron = "0 6 3 * *"\nmax_concurrent_regions = 2\n{national}\n')
    with pytest.raises(ConfigError, match=error):
        load_settings(path)


@pytest.mark.parametrize(("options", "runner", "address"), [
    ([], None, None),                                   # the configured runner
    (["--dask"], "dask", None),                         # Dask, the configured cluster
    (["--dask", "tcp://10.0.0.5:8786"], "dask", "tcp://10.0.0.5:8786"),
])
def test_the_cli_passes_the_dask_choice_to_the_national_flow(tmp_path, monkeypatch, options,
                                                            runner, address):
    import flows.screening
    from fh_screening import cli

    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setattr(flows.screening, "national_flow", lambda **kw: kw)
    args = cli.build_parser().parse_args(["--home", str(tmp_path), "run", *options])
    called = cli.cmd_run(args)
    assert (called["runner"], called["dask_address"]) == (runner, address)
    assert called["regions"] == REGIONS


def test_dask_cannot_run_without_prefect(tmp_path, capsys):
    from fh_screening import cli

    assert cli.main(["--home", str(tmp_path), "run", "--no-prefect", "--dask",
                     "--extract-root", str(tmp_path)]) == 3
    assert "cannot be combined with --no-prefect" in capsys.readouterr().err
    assert not (tmp_path / "store.duckdb").exists()
