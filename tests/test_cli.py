"""The CLI without Prefect on the sample data: reruns are byte-identical, files are not
ingested twice, and nothing that looks like a CPR number is printed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fh_screening.config import SAMPLES_DIR, list_regions

CPR = re.compile(r"\b\d{6}-?\d{4}\b")
SAMPLES = ("--extract-root", str(SAMPLES_DIR))


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false"}
    return subprocess.run(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(home), "-v", *args],
        capture_output=True, text=True, env=env, timeout=900, check=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    first = run_cli(home, "run", "--no-prefect", *SAMPLES)
    out = home / "output" / "2026-06-30_national"
    files_first = snapshot(out)
    second = run_cli(home, "run", "--no-prefect", *SAMPLES)
    return home, first, second, files_first, snapshot(out)


def test_run_succeeds_and_rerun_is_byte_identical(two_runs):
    _, first, second, files_first, files_second = two_runs
    assert first.returncode == 0, first.stderr[-2000:]
    assert second.returncode == 0, second.stderr[-2000:]
    summary_first = json.loads(files_first.pop("run_summary.json"))
    summary_second = json.loads(files_second.pop("run_summary.json"))
    assert len(files_first) > 30 and files_first == files_second  # every list, byte for byte
    # the summary differs only in what this run ingested (nothing, the second time)
    assert summary_first.pop("ingest") != summary_second.pop("ingest")
    assert summary_first == summary_second


def test_rerun_skips_every_file(two_runs):
    home, _, second, _, _ = two_runs
    summary = json.loads((home / "output" / "2026-06-30_national" / "run_summary.json")
                         .read_text())
    assert summary["ingest"]["syddanmark"]["files_skipped"] == 7
    assert summary["ingest"]["syddanmark"]["files_ingested"] == 0
    assert second.stdout.count("already ingested, skipped") == 7 * len(list_regions())


def test_no_cpr_number_is_printed_or_logged(two_runs):
    _, first, second, _, _ = two_runs
    for proc in (first, second):
        assert not CPR.search(proc.stdout), CPR.search(proc.stdout)
        assert not CPR.search(proc.stderr), CPR.search(proc.stderr)


def test_bad_arguments_are_clear_errors(tmp_path):
    proc = run_cli(tmp_path, "run", "--no-prefect", "--regions", "../etc", *SAMPLES)
    assert proc.returncode == 3
    assert "invalid region name '../etc'" in proc.stderr
    proc = run_cli(tmp_path, "run", "--no-prefect", "--run-id", "../x", *SAMPLES)
    assert proc.returncode == 3 and "invalid run id" in proc.stderr


def test_unknown_output_language_is_refused_before_any_work(tmp_path):
    proc = run_cli(tmp_path, "run", "--no-prefect", "--language", "fr", *SAMPLES)
    assert proc.returncode == 2 and "invalid choice: 'fr'" in proc.stderr
    assert not (tmp_path / "store.duckdb").exists()


def test_missing_model_is_a_clear_error_before_any_work(tmp_path):
    proc = run_cli(tmp_path, "run", "--no-prefect", "--model", str(tmp_path / "no-model"), *SAMPLES)
    assert proc.returncode == 3
    assert f"no model folder at {tmp_path / 'no-model'}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "store.duckdb").exists() and not (tmp_path / "output").exists()


def test_serve_without_a_prefect_server_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(GX_ANALYTICS_ENABLED="false", PREFECT_HOME=str(tmp_path / "prefect"))
    proc = subprocess.run(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(tmp_path), "serve",
         *SAMPLES],
        capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 3
    assert "serve needs a Prefect server" in proc.stderr and "PREFECT_API_URL" in proc.stderr


def test_run_full_reaches_the_screening(tmp_path, monkeypatch):
    """`run --full` asks for a full screening; without it the pipeline decides."""
    import fh_screening.pipeline as pipeline
    from fh_screening.cli import main
    from fh_screening.config import ConfigError

    seen = []

    def fake(*args, **kwargs):
        seen.append(kwargs["full"])
        raise ConfigError("stop here")

    monkeypatch.setattr(pipeline, "run_screening", fake)
    for extra in (["--full"], []):
        assert main(["--home", str(tmp_path), "run", "--no-prefect", *SAMPLES, *extra]) == 3
    assert seen == [True, False]


@pytest.mark.parametrize("command", ["run", "serve"])
def test_run_and_serve_need_an_explicit_home_and_extract_root(tmp_path, monkeypatch, capsys,
                                                              command):
    """Was: both fell back to ./workspace and the synthetic data_samples/ (issue 22)."""
    from fh_screening.cli import main

    monkeypatch.delenv("FH_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main([command, "--extract-root", str(tmp_path)])
    assert stop.value.code == 2
    assert f"{command} needs --home (or $FH_HOME)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["--home", str(tmp_path / "home"), command])
    assert stop.value.code == 2
    assert f"{command} needs --extract-root" in capsys.readouterr().err
    assert not (tmp_path / "home").exists() and not (tmp_path / "workspace").exists()


def test_a_run_without_a_pseudonym_key_is_refused_and_makes_none(tmp_path, monkeypatch,
                                                                  capsys):
    from fh_screening.cli import main

    monkeypatch.delenv("FH_PSEUDONYM_KEY")
    code = main(["--home", str(tmp_path), "run", "--no-prefect", *SAMPLES])
    assert code == 3
    assert "no pseudonym key for the workspace" in capsys.readouterr().err
    assert not (tmp_path / "vault" / "pseudonym.key").exists()


def test_make_clean_keeps_the_key_the_vault_and_the_referral_history(tmp_path):
    """Was: `rm -rf workspace` (issue 22)."""
    from fh_screening.config import PROJECT_ROOT

    kept = [tmp_path / "workspace" / p for p in
            ("vault/pseudonym.key", "vault/identity.duckdb", "store.duckdb")]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    (tmp_path / ".pytest_cache").mkdir()
    proc = subprocess.run(["make", "-f", str(PROJECT_ROOT / "Makefile"), "clean"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert [p.exists() for p in kept] == [True, True, True]
    assert not (tmp_path / ".pytest_cache").exists()
