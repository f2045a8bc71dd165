"""Operations that look like Prefect and Great Expectations (issue 22, item 6), without a
Prefect server: `--version`, help on a bare `fh-screening`, documented exit codes, the
Prefect UI setting `serve` derives and checks, the terminal progress line, and the GX
results and Data Docs kept per run. (Flow- and task-run names and the progress artifacts
are checked under the Prefect harness, tests/test_flows.py.)"""

from __future__ import annotations

import json
import re

import pytest

from fh_screening import cli
from fh_screening.config import PROJECT_ROOT, SAMPLES_DIR


def test_version_and_a_bare_command_print_and_exit_0(capsys):
    """Was: both were argparse errors (exit 2)."""
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert re.fullmatch(r"fh-screening \d+\.\d+\.\d+(\+[0-9a-f]+)?\n", capsys.readouterr().out)
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: fh-screening") and "exit codes:" in out


def test_exit_codes_are_documented_alike_and_distinct_from_usage_errors():
    help_codes = dict(re.findall(r"^  (\d)  (.+)$", cli.EXIT_CODES_HELP, re.M))
    assert sorted(help_codes) == ["0", "2", "3", "4", "5"]
    assert "usage" in help_codes["2"]
    readme = (PROJECT_ROOT / "README.md").read_text()
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| (\d) \|", section, re.M) == ["0", "2", "3", "4", "5"]
    assert (cli.EXIT_OK, cli.EXIT_USAGE, cli.EXIT_REFUSED, cli.EXIT_REGION_FAILED,
            cli.EXIT_STORE) == (0, 2, 3, 4, 5)


def test_the_ui_setting_follows_the_api_port():
    ui, settings = cli.ui_settings("http://127.0.0.1:4321/api/")
    assert ui == "http://127.0.0.1:4321"
    assert settings == {"PREFECT_UI_URL": "http://127.0.0.1:4321",
                        "PREFECT_SERVER_UI_API_URL": "http://127.0.0.1:4321/api"}
    seen = []

    def server_on_default(url):
        seen.append(url)
        return {"api_url": "http://127.0.0.1:4200/api"}

    warning = cli.check_server_ui("http://127.0.0.1:4321/api", fetch=server_on_default)
    assert seen == ["http://127.0.0.1:4321/ui-settings"]
    assert "calls the API at http://127.0.0.1:4200/api" in warning
    assert "PREFECT_SERVER_UI_API_URL=http://127.0.0.1:4321/api" in warning
    assert cli.check_server_ui("http://127.0.0.1:4321/api",
                               fetch=lambda url: {"api_url": "http://127.0.0.1:4321/api"}) is None


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    # A relative home, as the demo's `workspace`: GX's site builder refused one
    # ("base_directory must be an absolute path") and the demo had no Data Docs.
    home = tmp_path_factory.mktemp("ops-home")
    argv = ["--home", home.name, "run", "--no-prefect", "--regions", "syddanmark",
            "--extract-root", str(SAMPLES_DIR), "--run-id", "ops"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(home.parent)
        yield home, argv


def test_progress_line_and_gx_data_docs_per_run(one_run, capsys):
    home, argv = one_run
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    progress = [line for line in captured.err.splitlines() if line.startswith("progress [")]
    stages = [re.search(r"\] (\w+) (\d+)/(\d+)", line).groups() for line in progress]
    assert [s for s, _, _ in stages if s == "ingest"] == ["ingest"] * 7
    assert ("model", "1", "1") in stages and ("outputs", "5", "5") in stages
    criteria = [(d, t) for s, d, t in stages if s == "criteria"]
    assert criteria and criteria[-1][0] == criteria[-1][1]
    summary = json.loads((home / "output" / "ops" / "run_summary.json").read_text())
    index = home / "gx" / "ops" / "index.html"
    assert summary["data_docs"] == str(index) and index.is_file()
    assert f"GX Data Docs: {index}" in captured.out
    results = sorted((home / "gx" / "ops" / "results" / "syddanmark").glob("*.json"))
    assert len(results) == 7 == len(summary["ingest"]["syddanmark"]["validated_files"])
    pages = list((home / "gx" / "ops" / "validations").rglob("*.html"))
    assert len(pages) == 7 and "lab_results" in {p.parts[-4] for p in pages}
    kept = json.loads(results[0].read_text())["result"]
    assert kept["success"] is True and "partial_unexpected_list" not in json.dumps(kept)
    # a rerun validates nothing new: the run's Data Docs stay, and the summary links them
    assert cli.main(argv) == 0
    again = json.loads((home / "output" / "ops" / "run_summary.json").read_text())
    assert again["data_docs"] == str(index) and index.is_file()


def test_data_docs_that_cannot_be_rendered_do_not_hold_back_the_lists(tmp_path, monkeypatch):
    from datetime import date

    from fh_screening import data_docs, pipeline
    from fh_screening.store import Workspace

    def broken(*args, **kwargs):
        raise RuntimeError("renderer broke on 010203-1234")

    monkeypatch.setattr(data_docs, "_render", broken)
    data_docs.keep_result(tmp_path, "syddanmark", "a.csv", {"success": True})
    docs, why = pipeline._data_docs(Workspace(tmp_path), "r", date(2026, 6, 30),
                                    {"ingest": {"syddanmark": {"validated_files": ["a.csv"]}}})
    assert docs is None and why == "RuntimeError: renderer broke on <cpr>"
    assert not (tmp_path / "gx" / "r").exists() and not (tmp_path / "gx" / ".r.tmp").exists()

