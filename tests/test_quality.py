"""Quality gates (issue 22, item 2): a file that quarantines more than config/quality.toml
allows, for its table or for one analyte, fails its region with the likely cause and
stores nothing of it; a region with no new files and a region without an optional table
are said so in the run summary and the CLI's output."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from fh_screening import cli, pipeline
from fh_screening.config import SAMPLES_DIR, load_region
from fh_screening.ingest import ingest_region
from fh_screening.quality import OPTIONAL_TABLE_COST, QualityGateFailed, load_quality
from fh_screening.store import Workspace, connect


def ingest_with(tmp_path: Path, key, lab_codes: dict[str, str]) -> tuple[Exception, list]:
    """Ingest the Syddanmark sample under a dialect with other [lab_codes]; the error and
    the lab files then stored."""
    dialect = dataclasses.replace(load_region("syddanmark"), lab_codes=lab_codes)
    ws = Workspace(tmp_path / "home")
    con = connect(ws.store_path)
    try:
        with pytest.raises(QualityGateFailed) as failed:
            ingest_region(con, dialect, SAMPLES_DIR / "syddanmark", key,
                          vault_path=ws.vault_path)
        stored = con.execute("select count(*), (select count(*) from ingested_files where "
                             "table_name = 'lab_results') from lab_results").fetchall()
    finally:
        con.close()
    return failed.value, stored


def test_a_misspelt_analyte_name_fails_the_region_and_names_lab_codes(tmp_path, key):
    """Was: every LDL row quarantined ('unit mmol/L not accepted for LDL'), exit 0."""
    codes = {c: ("LDL" if a == "ldl" else a) for c, a in load_region("syddanmark")
             .lab_codes.items()}
    error, stored = ingest_with(tmp_path, key, codes)
    text = str(error)
    assert "quality gate:" in text and " LDL rows (100 %) quarantined" in text
    assert ("'LDL' under [lab_codes] in config/regions/syddanmark.toml is not an analyte "
            "of config/units.toml") in text
    assert "Region syddanmark fails and nothing of this file was stored" in text
    assert stored == [(0, 0)]


def test_an_unmapped_ldl_code_fails_the_file_gate_and_names_lab_codes(tmp_path, key):
    """The LDL code misspelt as a key: its rows become unknown codes (no analyte), which
    the file's share catches."""
    codes = {c: a for c, a in load_region("syddanmark").lab_codes.items() if a != "ldl"}
    codes["NPU1568"] = "ldl"
    error, stored = ingest_with(tmp_path, key, codes)
    text = str(error)
    share = load_quality().share_above
    assert f"above the limit of {100 * share:g} % (config/quality.toml)" in text
    assert "most often: source_code: unknown lab code NPU01568" in text
    assert "check [lab_codes]" in text and "config/regions/syddanmark.toml" in text
    assert stored == [(0, 0)]


def test_the_cli_exits_4_on_a_quality_gate(tmp_path, monkeypatch, capsys):
    real = load_region("syddanmark")
    bad = dataclasses.replace(real, lab_codes={c: a.upper() for c, a in real.lab_codes.items()})
    monkeypatch.setattr(pipeline, "load_region", lambda name: bad)
    code = cli.main(["--home", str(tmp_path), "run", "--no-prefect", "--regions",
                     "syddanmark", "--extract-root", str(SAMPLES_DIR)])
    err = capsys.readouterr().err
    assert code == 4 and "quality gate:" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def sparse_runs(tmp_path_factory):
    """Syddanmark without practices, relations and genetic tests, run twice (the second
    time nothing is new), through the CLI."""
    root = tmp_path_factory.mktemp("sparse")
    extract = root / "extracts" / "syddanmark"
    shutil.copytree(SAMPLES_DIR / "syddanmark", extract)
    for pattern in ("praksis*", "slaegtskab*", "gentest*"):
        for path in extract.glob(pattern):
            path.unlink()
    argv = ["--home", str(root / "home"), "run", "--no-prefect", "--regions", "syddanmark",
            "--extract-root", str(root / "extracts")]
    return root, argv


def test_missing_optional_tables_and_no_new_files_are_stated(sparse_runs, capsys):
    root, argv = sparse_runs
    assert cli.main([*argv, "--run-id", "first"]) == 0
    out = capsys.readouterr().out
    for cost in OPTIONAL_TABLE_COST.values():
        assert f"syddanmark: {cost}" in out
    assert "no new files" not in out
    assert cli.main([*argv, "--run-id", "second"]) == 0
    out = capsys.readouterr().out
    assert "syddanmark: no new files (every file in its extract folder was ingested " \
           "before)" in out
    data = json.loads((root / "home" / "output" / "second" / "run_summary.json").read_text())
    assert sorted(data["missing_tables"]["syddanmark"]) == ["genetic_tests", "practices",
                                                            "relations"]
    assert data["ingest"]["syddanmark"]["files_ingested"] == 0
