"""Lineage: the config hash follows every configuration file, inputs come from the store's
record of ingested files, the model version from the model's scores."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fh_screening.config import CONFIG_DIR, EXPECTATIONS_DIR, SQL_DIR
from fh_screening.lineage import (
    build_lineage,
    config_files,
    config_hash,
    input_files,
    model_version,
)


def test_config_hash_covers_thresholds_dialects_suites_and_sql():
    files = config_files()
    assert CONFIG_DIR / "thresholds.toml" in files
    assert CONFIG_DIR / "regions" / "syddanmark.toml" in files
    assert EXPECTATIONS_DIR / "lab_results.json" in files
    assert SQL_DIR / "criteria" / "10_screening_results.sql" in files
    assert config_hash() == config_hash(files)  # stable, and the default is the full set


def test_config_hash_changes_with_content_and_with_names(tmp_path: Path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    before = config_hash([a, b], root=tmp_path)
    a.write_text("x = 2\n")
    edited = config_hash([a, b], root=tmp_path)
    a.write_text("x = 1\n")
    assert config_hash([a, b], root=tmp_path) == before
    assert edited != before
    renamed = tmp_path / "c.toml"
    a.rename(renamed)
    assert config_hash([b, renamed], root=tmp_path) != before
    assert len(before) == 64


def _file(con, region: str, path: str, checksum: str) -> None:
    con.execute("insert into ingested_files (checksum, path, region, table_name, rows_read, "
                "rows_accepted, rows_quarantined, ingested_at) "
                "values (?, ?, ?, 'patients', 10, 9, 1, ?)",
                [checksum, path, region, datetime(2026, 7, 1, 8, 30)])


def test_inputs_are_the_screened_regions_files(con):
    _file(con, "syddanmark", "/x/personer_2.csv", "b" * 64)
    _file(con, "syddanmark", "/x/personer_1.csv", "a" * 64)
    _file(con, "midtjylland", "/y/patients.parquet", "c" * 64)
    found = input_files(con, ["syddanmark"])
    assert [f["path"] for f in found] == ["/x/personer_1.csv", "/x/personer_2.csv"]
    assert found[0] == {"region": "syddanmark", "table": "patients", "path": "/x/personer_1.csv",
                        "sha256": "a" * 64, "rows_read": 10, "rows_accepted": 9,
                        "rows_quarantined": 1, "ingested_at": "2026-07-01T08:30:00"}
    assert len(input_files(con, ["syddanmark", "midtjylland"])) == 3


def test_model_version_comes_from_the_model_scores(con):
    assert model_version(con, ["syddanmark"]) is None
    con.execute("insert into model_scores (person_id, region, fh_probability, "
                "model_reason_features, priority_tier, refer, model_version, as_of) "
                "values (1, 'syddanmark', 0.2, [], null, false, 'fh-risk-1.0', ?)",
                [date(2026, 6, 30)])
    assert model_version(con, ["syddanmark"]) == "fh-risk-1.0"
    assert model_version(con, ["midtjylland"]) is None


def test_build_lineage_lists_outputs_and_summary(con, tmp_path: Path):
    _file(con, "syddanmark", "/x/personer_1.csv", "a" * 64)
    lineage = build_lineage(con, run_dir=tmp_path / "run", regions=["syddanmark"],
                            code_version="0.1.0+abc", output_files=["referrals/B.csv",
                                                                    "gp_reports/A.html"])
    assert lineage["outputs"] == ["gp_reports/A.html", "referrals/B.csv", "run_summary.json"]
    assert lineage["output_dir"] == str(tmp_path / "run")
    assert lineage["code_version"] == "0.1.0+abc"
    assert lineage["config_hash"] == config_hash()
    assert lineage["model_version"] is None
    assert [f["sha256"] for f in lineage["inputs"]] == ["a" * 64]
