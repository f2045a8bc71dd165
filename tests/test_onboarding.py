"""A region in a dialect the project never saw, onboarded by configuration and code lists
alone (docs/onboarding.md): tests/data/onboarding/ holds its region file, its two code
lists (the EHR's drug codes -> ATC with strength, SNOMED CT -> ICD-10) and a delivery
with LOINC codes in mg/dL, timestamps in UTC ("Z") and with an offset, and no family
links. The run goes through the command line with $FH_CONFIG_DIR pointing at a copy of
the shipped configuration plus those files: no code knows the region."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import pytest

from fh_screening.config import CONFIG_DIR, PROJECT_ROOT
from fh_screening.store import connect

FIXTURE = Path(__file__).parent / "data" / "onboarding"
MAN, WOMAN, TREATED = "010190-1235", "150285-4562", "200670-2344"


def onboarding_config(folder: Path) -> Path:
    """The shipped configuration with the new region's file and code lists added."""
    shutil.copytree(CONFIG_DIR, folder)
    for path in (FIXTURE / "regions").glob("*.toml"):
        shutil.copy(path, folder / "regions" / path.name)
    for path in (FIXTURE / "code_lists").glob("*.csv"):
        shutil.copy(path, folder / "code_lists" / path.name)
    return folder


@pytest.fixture(scope="module")
def onboarded(tmp_path_factory):
    root = tmp_path_factory.mktemp("onboarding")
    env = {**os.environ, "FH_CONFIG_DIR": str(onboarding_config(root / "config"))}
    home = root / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(home), "run", "--no-prefect",
         "--regions", "ehr-export", "--extract-root", str(FIXTURE / "extract"),
         "--run-id", "onboarding"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return home, json.loads((home / "output" / "onboarding" / "run_summary.json").read_text())


def test_the_new_dialect_is_ingested_with_its_codes_units_and_time_zones(onboarded):
    home, summary = onboarded
    ingest = summary["ingest"]["ehr-export"]
    assert (ingest["files_ingested"], ingest["rows_accepted"], ingest["rows_quarantined"]) == (
        5, 16, 4)
    assert ingest["quarantine_reasons"] == {
        "not a timestamp in the format %Y-%m-%dT%H:%M:%S%z": 1,  # no offset: which zone?
        "unknown lab code 72166-2": 1,  # smoking status, not a lab value
        "not an ATC code": 1,  # metformin: not in the drug code list
        "not an ICD-10 code in dotted style": 1,  # sinusitis: not in the SNOMED list
    }
    con = connect(home / "store.duckdb", read_only=True)
    try:
        ldl = dict(con.execute("select sampled_at, round(value, 3) from lab_results "
                               "where analyte = 'ldl'").fetchall())
        drugs = con.execute("select atc_code, strength_mg, start_date from prescriptions"
                            ).fetchall()
        diagnoses = con.execute("select icd10, diagnosed_at from diagnoses").fetchall()
        relations = con.execute("select count(*) from relations").fetchall()[0][0]
    finally:
        con.close()
    # 250, 112, 165 mg/dL x 0.02586 (config/units.toml); UTC summer +2 h, winter +1 h,
    # +01:00 kept as it is (Danish winter time)
    assert ldl == {datetime(2024, 7, 1, 8, 15): 6.465, datetime(2024, 1, 10, 8, 0): 2.896,
                   datetime(2024, 3, 5, 9, 30): 4.267}
    assert drugs == [("C10AA05", 40.0, date(2023, 6, 1))]  # EHR-ATOR-40 by the code list
    assert diagnoses == [("I25.1", date(2022, 11, 2))]  # SNOMED 53741008 by the code list
    assert relations == 0


def test_the_new_region_is_screened_and_listed(onboarded):
    home, summary = onboarded
    assert summary["screening"]["ehr-export"]["screened"] == 3
    assert summary["screening"]["ehr-export"]["referral"] == 2
    listed = (home / "output" / "onboarding" / "referrals" / "EHR-LK1.csv").read_text(
        encoding="utf-8-sig")
    assert MAN in listed  # untreated LDL 6.5 mmol/L at 34
    assert TREATED in listed  # 4.3 on atorvastatin 40 mg: about 7.0 untreated, CHD at 52
    assert WOMAN not in listed
    assert summary["outputs"]["cascade"] == {}  # no family links delivered


def test_check_shows_what_the_code_lists_make_of_each_code(tmp_path):
    env = {**os.environ, "FH_CONFIG_DIR": str(onboarding_config(tmp_path / "config"))}
    proc = subprocess.run(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(tmp_path / "home"), "check",
         "--region", "ehr-export", "--extract-dir", str(FIXTURE / "extract" / "ehr-export")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "    EHR-ATOR-40                1  -> C10AA05 40 mg" in out
    assert "    EHR-METF-500               1  -> not in the code list: quarantined" in out
    assert "    53741008                   1  -> I25.1" in out
    assert "    18262-6       ldl            mg/dL              3  accepted" in out
    assert "total: 5 file(s), 20 rows read, 4 would be quarantined" in out
    assert not (tmp_path / "home").exists()
