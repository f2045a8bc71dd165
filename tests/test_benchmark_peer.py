"""The peer baseline (benchmarks/peer_pandas.py) runs on the sample extracts and finds
mostly the people the pipeline's rules flag, so the benchmark's comparison stays one of
like with like (issue 23)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl

from fh_screening.config import PROJECT_ROOT, SAMPLES_DIR
from fh_screening.pipeline import ingest_step, screen_step
from fh_screening.privacy import Reidentifier
from fh_screening.store import Workspace, connect

REGIONS = ["syddanmark", "midtjylland"]
AS_OF = date(2026, 6, 30)


def _pipeline_flagged(tmp_path: Path) -> dict[str, set[str]]:
    ws = Workspace(tmp_path / "home")
    for region in REGIONS:
        ingest_step(ws, region, SAMPLES_DIR / region, validate=False)
    screen_step(ws, REGIONS, AS_OF)
    con = connect(ws.store_path, read_only=True)
    try:
        flagged = con.sql("select person_id, list_contains(flagged_by, 'ldl_age_band') as age, "
                          "list_contains(flagged_by, 'dlcn') as dlcn "
                          "from screening_results where flagged").pl()
    finally:
        con.close()
    with Reidentifier(ws.vault_path) as names:
        flagged = names.add_cpr(flagged, "cpr", "person_id")
    return {"age_band": set(flagged.filter(pl.col("age"))["cpr"]),
            "dlcn": set(flagged.filter(pl.col("dlcn"))["cpr"])}


def test_peer_script_runs_and_flags_the_pipelines_people(tmp_path: Path) -> None:
    out = tmp_path / "peer"
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "peer_pandas.py"), str(SAMPLES_DIR),
         str(out), "--as-of", AS_OF.isoformat()],
        capture_output=True, text=True, check=True, timeout=120)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report["stages"]) == {"read", "compute", "write"}
    # the same screened population as the pipeline (patients alive with an LDL value:
    # 2,734 + 2,736 in the README's demo; the pipeline quarantines one more row)
    assert 5400 <= report["screened"] <= 5500
    assert report["referred"] > 0 and report["cascade_relatives"] > 0

    peer: dict[str, set[str]] = {"age_band": set(), "dlcn": set()}
    for path in (out / "gp_reports").glob("*.csv"):
        with path.open() as fh:
            for row in csv.DictReader(fh):
                for rule, column in (("age_band", "ldl_rule"), ("dlcn", "dlcn_rule")):
                    if row[column] == "True":
                        peer[rule].add(row["cpr"])
    referrals = list((out / "referrals").glob("*.csv"))
    assert sum(len(p.read_text().splitlines()) - 1 for p in referrals) == report["referred"]

    pipeline = _pipeline_flagged(tmp_path)
    # On the samples (measured): the pipeline's age-band rule flags 22 people, the peer's
    # 49 with 21 of the 22 among them; DLCN > 5: 7 and 13, all 7 among them. The peer's
    # index LDL is the highest single estimate, the pipeline's an evidence-weighted one of
    # all samples (docs/criteria.md), so the peer flags more near the thresholds.
    for rule, at_least in (("age_band", 20), ("dlcn", 5)):
        found = pipeline[rule]
        assert len(found) >= at_least, rule
        assert len(found & peer[rule]) >= 0.9 * len(found), rule
        assert len(found) <= len(peer[rule]) <= 3 * len(found), rule
