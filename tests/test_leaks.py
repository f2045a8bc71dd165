"""No identifier outside the vault and the clinician lists (issue 20, item 6): a real run
(the CLI through Prefect, in its own process) over an extract built to leak: CPR numbers
in an unmapped column, in the value, code and time columns, in a practice name and in a
file name, then a file without its header row. Every output but the clinicians' lists,
the store file's bytes, the Prefect database and the captured output are scanned."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY_HEX
from tests.data.bad_inputs.make_corpus import (
    CHILD,
    GRANDMA,
    LATE,
    MAN,
    SYD_BASE,
    WOMAN,
    base_files,
)
from tests.test_security import files_under, readable_bytes

# CPR numbers of people who are no patient: they must appear nowhere at all.
STRANGERS = ("241170-2221", "020304-1118", "121212-1212", "300599-2340", "010203-1234")
PATIENTS = (MAN, WOMAN, CHILD, GRANDMA, LATE)
LISTS = ("referrals", "gp_reports", "cascade")


def needles(cprs: tuple[str, ...]) -> set[bytes]:
    return {v.encode() for c in cprs for v in (c, c.replace("-", ""))}


def found(data: bytes, cprs: tuple[str, ...]) -> set[bytes]:
    return {n for n in needles(cprs) if n in data}


def leaky_extract(folder: Path) -> Path:
    folder.mkdir(parents=True)
    files = {name: data.decode("latin-1") for name, data in base_files("syddanmark").items()}
    requisitioner, in_value, in_code, in_time, in_name = STRANGERS
    lab_lines = SYD_BASE["laboratoriesvar.csv"].splitlines()
    files["laboratoriesvar.csv"] = "\n".join(
        [lab_lines[0] + ";rekvirent_cpr"] + [f"{line};{requisitioner}" for line in lab_lines[1:]]
        + [f"{WOMAN};04-03-2024 09:00;NPU01568;{in_value};mmol/L;{requisitioner}",
           f"{WOMAN};04-03-2024 09:00;{in_code};3,1;mmol/L;{requisitioner}",
           f"{WOMAN};{in_time};NPU01568;3,2;mmol/L;{requisitioner}"]) + "\n"
    files["praksis.csv"] += f"SYD0003;Lægerne {in_name};SYD-LK1\n"
    # a per-patient file, named by the patient's CPR number
    files[f"laboratoriesvar_{WOMAN}.csv"] = (
        "cpr;proevetidspunkt;analysekode;resultat;enhed;rekvirent_cpr\n"
        f"{WOMAN};05-03-2024 09:00;NPU01568;3,7;mmol/L;{requisitioner}\n")
    for name, text in files.items():
        (folder / name).write_bytes(text.encode("latin-1"))
    return folder


def run(home: Path, extracts: Path, prefect_home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "FH_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1",
               GX_ANALYTICS_ENABLED="false", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
               PREFECT_HOME=str(prefect_home), PREFECT_LOGGING_LEVEL="DEBUG",
               FH_PSEUDONYM_KEY=TEST_KEY_HEX)
    return subprocess.run(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(home), "-v", "run",
         "--regions", "syddanmark", "--extract-root", str(extracts), "--run-id", "leak"],
        env=env, capture_output=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def leaky_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    extracts = root / "extracts"
    leaky_extract(extracts / "syddanmark")
    first = run(root / "home", extracts, root / "prefect")
    # the next delivery: a diagnoses file without its header row (first line: a patient)
    (extracts / "syddanmark" / "diagnoser_2.csv").write_bytes(
        f"{MAN};DI219;01-01-2021\n{WOMAN};DE780;01-01-2022\n".encode("latin-1"))
    second = run(root / "home", extracts, root / "prefect")
    return root, first, second


def test_a_run_over_an_extract_built_to_leak_leaks_no_cpr_number(leaky_runs):
    root, first, second = leaky_runs
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.returncode != 0  # the header-less file stops the region ...
    assert b"is the header row missing?" in second.stderr  # ... with a sentence
    home = root / "home"
    everyone = PATIENTS + STRANGERS
    outside_lists = [p for p in files_under(home) if "vault" not in p.parts
                     and not set(LISTS) & set(p.parts)]
    assert home / "store.duckdb" in outside_lists
    assert any(p.name == "run_summary.json" for p in outside_lists)
    for path in outside_lists:
        assert not found(readable_bytes(path), everyone), path
    prefect = files_under(root / "prefect")
    assert b"laboratoriesvar_" in b"".join(p.read_bytes() for p in prefect)  # logs kept
    for path in prefect:
        assert not found(path.read_bytes(), everyone), path
    for proc in (first, second):
        assert not found(proc.stdout + proc.stderr, everyone)
    # strangers are not even in the clinicians' lists or the vault
    for path in files_under(home):
        assert not found(readable_bytes(path), STRANGERS), path


def test_the_scan_sees_what_is_there(leaky_runs):
    """Positive controls: the lists name patients, the vault holds them, and the store
    knows the per-patient file, under a token instead of the number."""
    root, _, _ = leaky_runs
    home = root / "home"
    lists = [p for p in files_under(home / "output" / "leak") if set(LISTS) & set(p.parts)]
    assert lists and any(found(readable_bytes(p), PATIENTS) for p in lists)
    assert found((home / "vault" / "identity.duckdb").read_bytes(), PATIENTS)
    import duckdb

    con = duckdb.connect(str(home / "store.duckdb"), read_only=True)
    try:
        paths = [p for (p,) in con.execute("select path from ingested_files").fetchall()]
        raws = [r for (r,) in con.execute("select raw from quarantine").fetchall()]
    finally:
        con.close()
    assert any(re.search(r"laboratoriesvar_<cpr-[0-9a-f]{10}>\.csv$", p) for p in paths)
    assert len(raws) >= 3  # the rows with numbers in the wrong columns are quarantined


def test_the_analysts_snapshot_and_gx_results_hold_no_cpr_number(leaky_runs):
    """Issue 22: the snapshot analysts query and the run's GX results are under the home,
    so the byte scan above covers them; DuckDB compresses strings, so every text value of
    the snapshot is also read back through SQL and scanned."""
    import duckdb

    root, _, _ = leaky_runs
    home = root / "home"
    snapshot = home / "analysis" / "analysis.duckdb"
    docs = home / "gx" / "leak"
    scanned = files_under(home)
    assert snapshot in scanned and docs / "index.html" in scanned
    # the snapshot's tables are Parquet parts beside it (compressed: hence the SQL read-back)
    assert any(p.suffix == ".parquet" and p.parent.name == "parts" for p in scanned)
    assert list((docs / "results" / "syddanmark").glob("*.json"))
    con = duckdb.connect(str(snapshot), read_only=True)
    try:
        columns = con.execute("select table_name, column_name from duckdb_columns() "
                              "where data_type ilike '%varchar%' and not internal").fetchall()
        values = [v for t, c in columns for (v,) in con.execute(
            f'select distinct "{c}"::varchar from "{t}" where "{c}" is not null').fetchall()]
    finally:
        con.close()
    text = "\n".join(values).encode()
    tables = {t for t, _ in columns}  # the views over the parts included
    assert len(tables) > 20 and {"lab_results", "quarantine", "patients"} <= tables
    assert b"laboratoriesvar_" in text  # the scan sees file labels  # the scan sees file labels
    assert not found(text, PATIENTS + STRANGERS)
