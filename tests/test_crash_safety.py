"""Crash safety: the pipeline is SIGKILLed at named points during ingest and output writing
(fh_screening/faults.py) and at seeded random moments, restarted each time, and checked:
the store balances and holds no row twice, no file is ingested twice, no partial output
folder is visible, and after the last restart everything equals an uninterrupted run.
Two runs started at once on one store: the second refuses cleanly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from fh_screening.accounting import store_imbalances
from fh_screening.config import TABLES
from fh_screening.pipeline import run_screening
from fh_screening.privacy import VAULT_ALIAS, attach_vault_read_only
from fh_screening.store import Workspace, connect
from fh_screening.synth import write_samples

KEY = "cd" * 32
RUN_ID = "crash-test"
REGIONS = ["midtjylland", "syddanmark"]
# Each run of the chain dies at its point and the next run restarts from what it left.
# Order matters: the last three need a complete folder of an earlier attempt in place.
NAMED_CRASHES = [
    "ingest.before_commit@3",   # midtjylland's 3rd file: transaction open
    "ingest.vault_written@2",   # identities in the vault, rows not stored
    "ingest.after_commit@4",    # syddanmark's 4th file committed, 5th not started
    "screen.before_commit",     # everyone screened and scored, nothing committed
    "output.file_written@5",    # half the lists written into the hidden folder
    "output.before_rename",     # all written, not in place
    "output.renamed",           # in place, run registry not committed
    "output.replaced_old",      # previous folder moved aside, new one not yet in place
    "output.file_written@2",    # a rerun dies early while a complete folder exists
]
RANDOM_KILLS = 3  # SIGKILL after a seeded random delay, wherever the run is then
SEED = 20261125


def cli(home: Path, extract_root: Path, fault: str | None = None,
        *options: str) -> subprocess.Popen:
    env = {**os.environ, "FH_PSEUDONYM_KEY": KEY, "GX_ANALYTICS_ENABLED": "false"}
    env.pop("FH_FAULT", None)
    if fault:
        env["FH_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(home), "run", "--no-prefect",
         "--regions", *REGIONS, "--extract-root", str(extract_root), "--run-id", RUN_ID,
         *options],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def extracts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("extracts")
    write_samples(root, people_per_region=400, seed=11, regions=tuple(REGIONS))
    return root


def store_state(ws: Workspace) -> dict[str, list[tuple]]:
    """Everything a run leaves in the store, minus wall-clock times and the home path."""
    con = connect(ws.store_path, read_only=True)
    try:
        state = {t: con.execute(f"select * from {t} order by all").fetchall()
                 for t in (*TABLES, "quarantine", "referral_history", "screening_results")}
        state["ingested_files"] = con.execute(
            "select * exclude (ingested_at) from ingested_files order by all").fetchall()
        state["runs"] = con.execute("select run_id, scope, as_of, counts, status from runs "
                                    "order by all").fetchall()
        return state
    finally:
        con.close()


def output_state(ws: Workspace) -> dict[str, bytes]:
    folder = ws.output_dir / RUN_ID
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
             if p.is_file()}
    summary = json.loads(files.pop("run_summary.json"))
    summary.pop("ingest")  # what this particular run ingested (the rest was before a crash)
    # where this workspace keeps its snapshot and Data Docs: inside each run's own home
    for key in ("analysis_snapshot", "data_docs"):
        path = summary.pop(key, None)
        assert path is None or path.startswith(str(folder.parents[1].resolve())), (key, path)
    # Lineage: the same input files, checksums and row counts, but ingested at other times
    # (across the crashes) into another workspace folder than the reference run's.
    lineage = summary["lineage"]
    assert lineage.pop("output_dir") == str(folder.resolve())
    for source in lineage["inputs"]:
        assert source.pop("ingested_at")
    files["run_summary.json"] = json.dumps(summary, sort_keys=True).encode()
    return files


@pytest.fixture(scope="module")
def reference(extracts, tmp_path_factory):
    """An uninterrupted run (same extracts, same key) to compare the crashed ones with."""
    ws = Workspace(tmp_path_factory.mktemp("reference"))
    old = os.environ.get("FH_PSEUDONYM_KEY")
    os.environ["FH_PSEUDONYM_KEY"] = KEY
    try:
        run_screening(ws, REGIONS, extract_root=extracts, run_id=RUN_ID)
    finally:
        if old is None:
            os.environ.pop("FH_PSEUDONYM_KEY")
        else:
            os.environ["FH_PSEUDONYM_KEY"] = old
    return store_state(ws), output_state(ws)


def check_consistent(ws: Workspace, reference_files: set[str]) -> None:
    """What must hold after any crash, before the restart."""
    con = connect(ws.store_path, read_only=True)
    try:
        assert store_imbalances(con, REGIONS) == []
        for table in (*TABLES, "quarantine"):
            total, distinct = con.execute(
                f"select count(*), count(distinct (source_file, row_number)) from {table}"
            ).fetchall()[0]
            assert total == distinct, f"a row stored twice in {table}"
        files, paths = con.execute("select count(*), count(distinct path) from ingested_files"
                                   ).fetchall()[0]
        assert files == paths, "a file ingested twice"
        attach_vault_read_only(con, ws.vault_path)
        missing = con.execute(f"select count(*) from patients p where not exists (select 1 "
                              f"from {VAULT_ALIAS}.identity v where v.person_id = p.person_id)"
                              ).fetchall()[0][0]
        assert missing == 0, "a stored person without an identity in the vault"
        assert con.execute("select count(*) from runs where status <> 'completed'"
                           ).fetchall() == [(0,)]
    finally:
        con.close()
    if ws.output_dir.exists():
        visible = [p.name for p in ws.output_dir.iterdir() if not p.name.startswith(".")]
        assert visible in ([], [RUN_ID])
        if visible:  # a visible folder is always a whole one
            folder = ws.output_dir / RUN_ID
            assert {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()
                    } == reference_files


def test_killed_at_every_point_then_restarted_loses_and_doubles_nothing(
        extracts, reference, tmp_path):
    ref_store, ref_outputs = reference
    ws = Workspace(tmp_path / "home")
    survived = []
    for fault in NAMED_CRASHES:
        proc = cli(ws.home, extracts, fault)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL, f"{fault} was never reached: {err[-800:]}"
        check_consistent(ws, set(ref_outputs))
        survived.append(fault)
    rng = random.Random(SEED)
    for _ in range(RANDOM_KILLS):
        proc = cli(ws.home, extracts)
        time.sleep(rng.uniform(0.3, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=300)
        if proc.returncode == -signal.SIGKILL:
            survived.append("random")
        check_consistent(ws, set(ref_outputs))
    proc = cli(ws.home, extracts)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    check_consistent(ws, set(ref_outputs))
    assert [p.name for p in ws.output_dir.iterdir()] == [RUN_ID]  # no hidden leftovers
    assert store_state(ws) == ref_store  # nothing lost, nothing twice
    assert output_state(ws) == ref_outputs  # every list byte for byte
    print(f"crash points survived: {len(survived)} ({', '.join(survived)})")
    assert len(survived) >= len(NAMED_CRASHES)


def test_two_runs_on_one_store_the_second_refuses_cleanly(extracts, reference, tmp_path):
    ref_store, _ = reference
    ws = Workspace(tmp_path / "home")
    first = cli(ws.home, extracts, "ingest.before_commit@2:stop")  # holds the store, paused
    try:
        _, status = os.waitpid(first.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status)
        second = cli(ws.home, extracts)
        out, err = second.communicate(timeout=300)
        assert second.returncode == 5
        assert f"the store {ws.store_path} is in use by another process" in err
        assert "Traceback" not in err and out == ""
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    assert store_state(ws) == ref_store


def test_a_screening_killed_before_its_commit_leaves_the_previous_one_whole(
        extracts, reference, tmp_path):
    """Criteria and model run in one transaction (pipeline.screen_step): a kill after every
    result was rewritten leaves the last screening's results and its state row, so the
    next run can still build on it."""
    ref_store, _ = reference
    ws = Workspace(tmp_path / "home")
    proc = cli(ws.home, extracts)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]

    def screening(ws: Workspace) -> dict[str, list[tuple]]:
        con = connect(ws.store_path, read_only=True)
        try:
            return {t: con.execute(f"select * from {t} order by all").fetchall()
                    for t in ("screening_state", "screening_results", "model_scores",
                              "index_ldl", "ldl_history", "person_facts")}
        finally:
            con.close()

    before = screening(ws)
    assert len(before["screening_state"]) == 1
    assert before["screening_results"] == ref_store["screening_results"]
    # A later as-of date changes every row's as_of and the state row, if they commit.
    later = before["screening_state"][0][1] + timedelta(days=40)
    proc = cli(ws.home, extracts, "screen.before_commit", "--full", "--as-of", str(later))
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, f"never reached the commit: {err[-800:]}"
    assert screening(ws) == before
