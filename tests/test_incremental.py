"""A monthly (incremental) screening gives exactly what a full screening of the same store
gives: the same screening results, model scores and derived tables, and the same lists.

The month comes from the synthetic generator (`synth.split_at`): one population is
generated to the end of July and split into the extract as of 30 June and July's files.
Workspace A screens June, then ingests July and screens incrementally; workspace B does the
same June run, then ingests July and screens everyone again. Both use one pseudonym key.
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from fh_screening.config import load_region
from fh_screening.pipeline import ingest_step, output_step, screen_step, summarise_ingest
from fh_screening.store import Workspace, connect
from fh_screening.synth import generate_population, split_at, write_region

REGIONS = ["midtjylland", "syddanmark"]
JUNE, JULY = date(2026, 6, 30), date(2026, 7, 31)
TODAY = date(2026, 11, 30)
# Compared table by table, in a total order (DuckDB keeps no row order of its own).
TABLES = {
    "screening_results": "person_id",
    "model_scores": "person_id",
    "ldl_history": "person_id, sampled_at",
    "index_ldl": "person_id",
    "secondary_causes": "person_id",
    "person_facts": "person_id",
}


def _run(ws: Workspace, extracts: Path, as_of: date, run_id: str, *, full: bool = False):
    ingested = [ingest_step(ws, r, extracts / r, validate=False, today=TODAY) for r in REGIONS]
    summary = screen_step(ws, REGIONS, as_of, full=full)
    summary["ingest"] = summarise_ingest(ingested)
    return output_step(ws, run_id, as_of, REGIONS, summary)


def _tables(ws: Workspace) -> dict[str, list[tuple]]:
    con = connect(ws.store_path, read_only=True)
    try:
        return {t: con.execute(f"select * from {t} order by {key}").fetchall()
                for t, key in TABLES.items()}
    finally:
        con.close()


def _june_extracts(months: Path, home: Path) -> Path:
    """An extract folder holding June's files (hard links), per region."""
    extracts = home / "extracts"
    for region in REGIONS:
        (extracts / region).mkdir(parents=True)
        for path in (months / "june" / region).iterdir():
            os.link(path, extracts / region / path.name)
    return extracts


def _add_month(extracts: Path, month: Path) -> None:
    for region in REGIONS:
        for path in (month / region).iterdir():
            os.link(path, extracts / region / path.name)


def _grandmothers_diagnosis(base, month):
    """July also brings an FH diagnosis (E78.0) for a few grandmothers, so the month
    changes second-degree facts (Simon Broome's and MEDPED's family items) and an
    incremental screening must follow links two hops."""
    rel = base.relations.filter(pl.col("relation") == "mother")
    two = rel.join(rel, left_on="relative_cpr", right_on="cpr", suffix="_g")
    alive = base.patients.filter(pl.col("deceased_date").is_null())["cpr"]
    grandmothers = (two.filter(pl.col("relative_cpr_g").is_in(alive.implode()))
                    ["relative_cpr_g"].unique().sort().head(5))
    assert grandmothers.len() == 5
    extra = pl.DataFrame({"cpr": grandmothers, "icd10": ["E78.0"] * 5,
                          "diagnosed_at": [date(2026, 7, 15)] * 5},
                         schema=month.diagnoses.schema)
    return replace(month, diagnoses=pl.concat([month.diagnoses, extra]))


@pytest.fixture(scope="module")
def months(tmp_path_factory):
    root = tmp_path_factory.mktemp("months")
    for region in REGIONS:
        pop = generate_population(3000, 7, region, end=JULY)
        base, month = split_at(pop, JUNE)
        month = _grandmothers_diagnosis(base, month)
        write_region(base, load_region(region), root / "june" / region)
        write_region(month, load_region(region), root / "july" / region, anomalies=False)
    return root


@pytest.fixture(scope="module")
def runs(months, tmp_path_factory):
    """Workspace A (June full, July incremental) and B (June full, July full)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FH_PSEUDONYM_KEY", "cd" * 32)
    results = {}
    try:
        for name, full in (("A", False), ("B", True)):
            home = tmp_path_factory.mktemp(f"ws{name}")
            extracts = _june_extracts(months, home)
            ws = Workspace(home / "home")
            june = _run(ws, extracts, JUNE, "june")
            _add_month(extracts, months / "july")
            july = _run(ws, extracts, JULY, "july", full=full)
            results[name] = (ws, june, july)
    finally:
        mp.undo()
    return results


def test_the_month_changes_something(runs, months):
    ws, june, july = runs["A"]
    assert sum(f.stat().st_size > 0 for f in (months / "july" / REGIONS[0]).iterdir()) >= 4
    assert july["screened"] != june["screened"] or july["outputs"] != june["outputs"]


def test_incremental_screening_equals_a_full_one(runs):
    a, b = _tables(runs["A"][0]), _tables(runs["B"][0])
    for table in TABLES:
        assert len(a[table]) > 0, table
        assert a[table] == b[table], table


def test_incremental_lists_equal_the_full_ones_byte_for_byte(runs):
    (wa, _, ja), (wb, _, jb) = runs["A"], runs["B"]
    assert ja["outputs"]["files"] == jb["outputs"]["files"]
    for name in ja["outputs"]["files"]:
        assert (wa.output_dir / "july" / name).read_bytes() == \
            (wb.output_dir / "july" / name).read_bytes(), name
    # June's referrals are not repeated in July (referral_history); the GP reports hold
    # everyone flagged now, the cascade every confirmed family (no relative is named
    # before an index patient's consent comes back, so the lists compared are families).
    assert sum(ja["outputs"]["gp_reports"].values()) > 20
    assert sum(ja["outputs"]["families"].values()) > 10


def test_the_monthly_screening_recomputes_a_minority(months, tmp_path, monkeypatch, caplog):
    """Run again on a copy of the June store: the log says how many were recomputed."""
    monkeypatch.setenv("FH_PSEUDONYM_KEY", "cd" * 32)
    extracts = _june_extracts(months, tmp_path)
    ws = Workspace(tmp_path / "home")
    _run(ws, extracts, JUNE, "june")
    _add_month(extracts, months / "july")
    with caplog.at_level(logging.INFO, logger="fh_screening.pipeline"):
        _run(ws, extracts, JULY, "july")
    (message,) = [r.getMessage() for r in caplog.records
                  if r.getMessage().startswith("screening: incremental")]
    recomputed, total = (int(x.replace(",", "")) for x in
                         message.split(": incremental, ")[1].split(" people")[0].split(" of "))
    assert 0 < recomputed < total / 2
    # and a rerun of the same month recomputes nobody
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fh_screening.pipeline"):
        screen_step(ws, REGIONS, JULY)
    assert [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("screening: incremental, 0 of ")]
