"""Shared fixtures. Environment for GX and Prefect is set before either is imported."""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
# Every test run supplies its pseudonym key as production does (a missing key is refused
# outside a demo workspace); tests of key handling remove or replace it themselves.
TEST_KEY_HEX = bytes(range(32)).hex()
os.environ["FH_PSEUDONYM_KEY"] = TEST_KEY_HEX

import shutil  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from fh_screening.privacy import PseudonymKey  # noqa: E402
from fh_screening.store import Workspace, connect  # noqa: E402

TEST_KEY = PseudonymKey(bytes.fromhex(TEST_KEY_HEX))


@pytest.fixture
def key() -> PseudonymKey:
    return TEST_KEY


@pytest.fixture
def con(tmp_path: Path):
    connection = connect(tmp_path / "store.duckdb")
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One temporary Prefect API for the whole session (it takes ~15 s to start)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield


# Two consecutive screening runs on a copy of the sample data, shared by the output tests
# (tests/test_referrals.py, test_gp_reports.py, test_cascade.py, test_browser.py):
# r1 on the shipped extracts as of 2026-06-30; r2 as of 2026-07-31 after a new July lab
# extract for Midtjylland that raises one referred patient's LDL clearly (at most 6.4
# before, now 7.6 untreated: the pooled estimate rises 5.83 -> 6.23 and the model's
# probability to the high tier, a re-referral) and another's slightly (6.5 -> 7.0: not
# listed again).
RAISED_CLEARLY = ("040188-0313", 7.6)
RAISED_SLIGHTLY = ("081270-1379", 7.0)
REGIONS = ["midtjylland", "syddanmark"]


@dataclass
class OutputRuns:
    ws: Workspace
    first: dict
    second: dict

    def folder(self, run_id: str) -> Path:
        return self.ws.output_dir / run_id


@pytest.fixture(scope="session")
def output_runs(tmp_path_factory) -> OutputRuns:
    import polars as pl

    from fh_screening.config import SAMPLES_DIR
    from fh_screening.pipeline import run_screening

    root = tmp_path_factory.mktemp("output-runs")
    extracts = root / "extracts"
    shutil.copytree(SAMPLES_DIR, extracts,
                    ignore=shutil.ignore_patterns("truth.csv", "manifest.json"))
    ws = Workspace(root / "home")
    first = run_screening(ws, REGIONS, extract_root=extracts, run_id="r1")
    pl.DataFrame({
        "patient_cpr": [RAISED_CLEARLY[0], RAISED_SLIGHTLY[0]],
        "collected_at": [datetime(2026, 7, 20, 8, 15), datetime(2026, 7, 21, 9, 40)],
        "test_code": ["18262-6", "18262-6"],  # LDL by assay (LOINC), as in the region's files
        "value": [RAISED_CLEARLY[1], RAISED_SLIGHTLY[1]],
        "unit": ["mmol/L", "mmol/L"],
    }).write_parquet(extracts / "midtjylland" / "lab_results_20260731.parquet")
    second = run_screening(ws, REGIONS, extract_root=extracts, run_id="r2",
                           as_of=date(2026, 7, 31))
    return OutputRuns(ws, first, second)
