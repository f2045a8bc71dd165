"""Staging (fh_screening/staging.py) without Prefect or Dask: a region staged into its own
store and merged gives the workspace store exactly what a direct ingest gives, also for a
monthly file checked against rows stored by earlier runs (known people, duplicates of
stored rows); files are merged once; a seed holds everything the ingest SQL reads."""

from __future__ import annotations

import re
import shutil
from datetime import datetime

import polars as pl
import pytest

from fh_screening import pipeline, staging
from fh_screening.config import PROJECT_ROOT, SAMPLES_DIR, SQL_DIR
from fh_screening.store import Workspace, connect

REGION = "midtjylland"


STORE_TABLES = ("practices", "patients", "lab_results", "prescriptions", "diagnoses",
                "relations", "genetic_tests", "quarantine", "vault.identity")


def fingerprint(ws: Workspace, tables: tuple[str, ...] | list[str] = STORE_TABLES
                ) -> dict[str, tuple[int, int]]:
    """Per table: rows, and the sum of the rows' hashes (order-free, counts duplicates);
    `ingested_files` without its times."""
    sources = {t: t for t in tables}
    sources["ingested_files"] = "(select * exclude (ingested_at) from ingested_files)"
    con = connect(ws.store_path, read_only=True)
    try:
        con.execute(f"attach '{ws.vault_path}' as vault (read_only)")
        return {name: tuple(con.execute(
            f"select count(*), coalesce(sum(hash(r)::hugeint), 0) from {source} r").fetchall()[0])
            for name, source in sources.items()}
    finally:
        con.close()


def stage_and_merge(ws: Workspace, extract_dir, token: str) -> dict:
    root = staging.staging_root(ws, token)
    staging.prepare_region(ws, REGION, root / REGION)
    staged = staging.stage_region(ws, REGION, extract_dir, root / REGION)
    merged = staging.merge_region(ws, staged)
    staging.remove_staging(root)
    return merged


def summary(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("files", "staging", "merged_from")} | {
        "reasons": [f["reasons"] for f in result["files"]]}


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two workspaces with the same store after the June extracts (ingested directly),
    then a July extract: ingested directly into one, staged and merged into the other."""
    root = tmp_path_factory.mktemp("staging")
    extracts = root / "extracts"
    shutil.copytree(SAMPLES_DIR / REGION, extracts)
    direct, staged = Workspace(root / "direct"), Workspace(root / "staged")
    pipeline.ingest_step(direct, REGION, extracts)
    shutil.copytree(direct.home, staged.home)
    june = fingerprint(direct)

    labs = pl.read_parquet(extracts / "lab_results_20260630.parquet")
    known = labs.row(0, named=True)
    pl.DataFrame({  # a new LDL for a known person; a repeat of a stored row
        "patient_cpr": [known["patient_cpr"], known["patient_cpr"]],
        "collected_at": [datetime(2026, 7, 20, 8, 15), known["collected_at"]],
        "test_code": ["18262-6", known["test_code"]],
        "value": [7.6, known["value"]],
        "unit": ["mmol/L", known["unit"]],
    }).write_parquet(extracts / "lab_results_20260731.parquet")
    pl.read_parquet(extracts / "relatives_20260630.parquet").head(1).write_parquet(
        extracts / "relatives_20260731.parquet")  # a family link already stored
    july_direct = pipeline.ingest_step(direct, REGION, extracts)
    july_staged = stage_and_merge(staged, extracts, "july")
    again = stage_and_merge(staged, extracts, "again")
    return direct, staged, june, july_direct, july_staged, again


def test_a_staged_monthly_file_is_checked_against_the_stored_rows(stores):
    direct, staged, june, july_direct, july_staged, _ = stores
    assert summary(july_staged) == summary(july_direct)
    assert july_staged["merged_from"] == "staging"
    assert (july_staged["files_ingested"], july_staged["files_skipped"]) == (2, 7)
    # the known person's new LDL is accepted; the repeats of stored rows are quarantined
    assert (july_staged["rows_accepted"], july_staged["rows_quarantined"]) == (1, 2)
    reasons = [f["reasons"] for f in july_staged["files"] if not f["skipped"]]
    assert all(set(r) == {"duplicate of an earlier row"} for r in reasons), reasons
    assert fingerprint(staged) == fingerprint(direct) != june


def test_staging_again_merges_nothing(stores):
    direct, staged, _, _, _, again = stores
    assert (again["files_ingested"], again["files_skipped"], again["rows_read"]) == (0, 9, 0)
    assert fingerprint(staged) == fingerprint(direct)
    assert list((staged.home / "staging").iterdir()) == []


def test_a_file_another_run_ingested_meanwhile_is_skipped_at_the_merge(stores, tmp_path):
    _, staged_ws, _, _, _, _ = stores
    ws = Workspace(tmp_path / "ws")
    shutil.copytree(staged_ws.home, ws.home)
    extracts = tmp_path / "extracts"
    extracts.mkdir()
    known = pl.read_parquet(SAMPLES_DIR / REGION / "lab_results_20260630.parquet").row(
        5, named=True)
    pl.DataFrame({"patient_cpr": [known["patient_cpr"]],
                  "collected_at": [datetime(2026, 8, 3, 9, 0)], "test_code": ["18262-6"],
                  "value": [5.1], "unit": ["mmol/L"]}).write_parquet(
        extracts / "lab_results_20260831.parquet")
    root = staging.staging_root(ws, "race")
    staging.prepare_region(ws, REGION, root / REGION)
    staged = staging.stage_region(ws, REGION, extracts, root / REGION)
    assert (staged["files_ingested"], staged["rows_accepted"]) == (1, 1)
    # another run ingests the same file while this one was staging it
    assert pipeline.ingest_step(ws, REGION, extracts)["rows_accepted"] == 1
    after_other_run = fingerprint(ws)
    merged = staging.merge_region(ws, staged)
    assert (merged["files_ingested"], merged["files_skipped"], merged["rows_accepted"]) == (
        0, 1, 0)
    assert fingerprint(ws) == after_other_run  # the row is stored once


def test_a_region_whose_people_changed_since_the_seed_is_ingested_directly(stores, tmp_path):
    """Another region (or run) changed a person of the staged file after the seed: here a
    newer patients file records a death before the staged lab sample. The staged verdict
    (accepted) is stale; the merge ingests the region directly, as one machine would."""
    direct_ws, staged_ws, _, _, _, _ = stores
    ws, reference = Workspace(tmp_path / "ws"), Workspace(tmp_path / "reference")
    shutil.copytree(staged_ws.home, ws.home)
    shutil.copytree(staged_ws.home, reference.home)
    patients = pl.read_parquet(SAMPLES_DIR / REGION / "patients_20260630.parquet")
    person = patients.row(0, named=True)
    labs, deaths = tmp_path / "labs", tmp_path / "deaths"
    labs.mkdir()
    deaths.mkdir()
    pl.DataFrame({"patient_cpr": [person["patient_cpr"]],
                  "collected_at": [datetime(2026, 8, 3, 9, 0)], "test_code": ["18262-6"],
                  "value": [5.1], "unit": ["mmol/L"]}).write_parquet(
        labs / "lab_results_20260831.parquet")
    patients.head(1).with_columns(date_of_death=pl.lit(datetime(2026, 8, 1).date())).write_parquet(
        deaths / "patients_20260801.parquet")
    root = staging.staging_root(ws, "stale")
    staging.prepare_region(ws, REGION, root / REGION)
    staged = staging.stage_region(ws, REGION, labs, root / REGION)
    assert (staged["rows_accepted"], staged["rows_quarantined"]) == (1, 0)  # not yet dead
    pipeline.ingest_step(ws, REGION, deaths)  # the other run, while this one staged
    merged = staging.merge_region(ws, staged)
    assert merged["merged_from"] == "direct ingest"
    assert (merged["rows_accepted"], merged["rows_quarantined"]) == (0, 1)
    assert merged["files"][0]["reasons"] == {"sample date after death": 1}
    pipeline.ingest_step(reference, REGION, deaths)
    pipeline.ingest_step(reference, REGION, labs)
    assert fingerprint(ws) == fingerprint(reference)


def test_every_stored_table_the_ingest_reads_is_in_the_seed():
    schema = (SQL_DIR / "schema" / "store.sql").read_text()
    stored = set(re.findall(r"create table if not exists (\w+)", schema))
    code = "\n".join(p.read_text() for p in [*sorted((SQL_DIR / "ingest").glob("*.sql")),
                                             PROJECT_ROOT / "fh_screening" / "ingest.py"])
    reads = [(m.group(1), code[m.end():m.end() + 120])
             for m in re.finditer(r"\b(?<!delete )(?:from|join)\s+(\w+)", code, re.I)
             if m.group(1) in stored]
    read = {t for t, _ in reads}
    assert read and read <= set(staging.LOOKUPS), read - set(staging.LOOKUPS)
    # a table seeded with the staged region's rows only is read only for that region
    for table, after in reads:
        if staging.LOOKUPS[table]:
            assert "region = $region" in after, (table, after)


def test_a_staged_correction_is_ingested_directly_and_supersedes_once(stores, tmp_path):
    """Issue 20: a later lab file correcting a stored value supersedes the stored row
    (superseded_rows). That needs the store's own rows, so the merge ingests such a
    region directly; the result equals a direct ingest of the same file."""
    _, staged_ws, _, _, _, _ = stores
    ws, reference = Workspace(tmp_path / "ws"), Workspace(tmp_path / "reference")
    shutil.copytree(staged_ws.home, ws.home)
    shutil.copytree(staged_ws.home, reference.home)
    first = pl.read_parquet(SAMPLES_DIR / REGION / "lab_results_20260630.parquet").head(1)
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    first.with_columns(pl.col("value") + 0.5).write_parquet(
        corrected / "lab_results_20260715.parquet")
    root = staging.staging_root(ws, "correction")
    staging.prepare_region(ws, REGION, root / REGION)
    staged = staging.stage_region(ws, REGION, corrected, root / REGION)
    merged = staging.merge_region(ws, staged)
    staging.remove_staging(root)
    assert merged["merged_from"] == "direct ingest"
    assert (merged["rows_accepted"], merged["rows_superseded"]) == (1, 1)
    pipeline.ingest_step(reference, REGION, corrected)
    assert fingerprint(ws) == fingerprint(reference)
    con = connect(ws.store_path, read_only=True)
    try:
        assert con.execute("select reason from superseded_rows").fetchall() == [
            ("corrected by a later delivery",)]
    finally:
        con.close()
