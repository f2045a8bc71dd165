"""Shared fixtures. Environment for GX and Prefect is set before either is imported."""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
os.environ.pop("FH_PSEUDONYM_KEY", None)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from fh_screening.privacy import PseudonymKey  # noqa: E402
from fh_screening.store import connect  # noqa: E402

TEST_KEY = PseudonymKey(bytes(range(32)))


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
