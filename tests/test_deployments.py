"""Deployments: one per configured region plus the national one, cron in Copenhagen time,
parameters with absolute paths; a bad schedule file is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from fh_screening.config import SAMPLES_DIR, ConfigError, list_regions
from flows.deployments import build_deployments, load_settings


def test_one_deployment_per_region_and_a_national_one(tmp_path):
    deployments = {d.name: d for d in build_deployments(tmp_path / "ws", SAMPLES_DIR)}
    assert set(deployments) == {*list_regions(), "national"}
    for name, d in deployments.items():
        [schedule] = d.schedules
        assert schedule.schedule.timezone == "Europe/Copenhagen"
        assert schedule.schedule.cron == ("0 6 3 * *" if name == "national" else "0 6 2 * *")
        assert d.parameters["home"] == str((tmp_path / "ws").resolve())
    assert deployments["syddanmark"].flow_name == "fh-screening-region"
    assert deployments["syddanmark"].entrypoint == "flows.screening.regional_flow"
    assert deployments["syddanmark"].parameters["extract_dir"] == str(
        (SAMPLES_DIR / "syddanmark").resolve())
    assert deployments["national"].parameters["extract_root"] == str(SAMPLES_DIR.resolve())


def test_national_concurrency_comes_from_the_config():
    from flows.screening import national_flow

    # (Prefect keeps the bound in a private attribute; no public accessor in 3.8.8)
    assert national_flow.task_runner._max_workers == load_settings()["national"][
        "max_concurrent_regions"] == 2


@pytest.mark.parametrize(("text", "error"), [
    ('timezone = "Europe/Copenhagen"\n[regional]\ncron = "0 6 2 * *"\n', "national"),
    ('timezone = "Europe/Copenhagen"\n[regional]\ncron = "61 6 2 * *"\n'
     '[national]\ncron = "0 6 3 * *"\nmax_concurrent_regions = 2\n', "61 6 2 * *"),
    ('timezone = "Europe/Kobenhavn"\n[regional]\ncron = "0 6 2 * *"\n'
     '[national]\ncron = "0 6 3 * *"\nmax_concurrent_regions = 2\n', "Kobenhavn"),
    ('timezone = "Europe/Copenhagen"\n[regional]\ncron = "0 6 2 * *"\n'
     '[national]\ncron = "0 6 3 * *"\nmax_concurrent_regions = 0\n', "at least 1"),
])
def test_bad_schedule_files_are_clear_errors(tmp_path: Path, text, error):
    path = tmp_path / "deployments.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=error) as info:
        load_settings(path)
    assert str(path) in str(info.value)
