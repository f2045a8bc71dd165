"""benchmarks/national.py's meters: CPU seconds go to the stage that spent them, and the
pipeline's processes are compared with the peer script's in CPU as in wall time (issue 23)."""

from __future__ import annotations

import sys
import time

from fh_screening.config import PROJECT_ROOT
from fh_screening.stages import listening, stage

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import national  # noqa: E402


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_seconds_are_the_innermost_stages_own():
    with national.StageMeter() as meter, listening(meter), stage("ingest"):
        time.sleep(0.3)           # waiting: wall time, no CPU
        with stage("validate"):
            _burn(0.4)            # working: CPU of the inner stage only
    assert meter.seconds["ingest"] >= 0.28 and meter.seconds["validate"] >= 0.38
    assert meter.cpu["validate"] >= 0.38
    # the sleep costs next to nothing; the margin leaves room for another thread of the
    # test process using CPU meanwhile (it adds to both stages alike)
    assert meter.cpu["ingest"] < meter.cpu["validate"] - 0.2


def test_compare_gives_the_cpu_ratio_when_both_sides_have_it():
    def run(wall: float, cpu: float, stages: dict[str, float]) -> dict:
        return {"wall_seconds": wall, "process_seconds": wall + 1,
                "process_cpu_seconds": cpu,
                "stages": {s: {"seconds": v} for s, v in stages.items()}}

    ours = [run(50.0, 100.0, {"ingest": 20, "validate": 2, "criteria": 10, "model": 8,
                              "outputs": 10})]
    peer = [{**run(16.0, 20.0, {}), "stages": {"read": 7.0, "compute": 9.0, "write": 0.1}}]
    rows = national.compare(ours, peer)
    assert rows["process_cpu_seconds"] == {"pipeline_seconds": 100.0, "peer_seconds": 20.0,
                                           "ratio": 5.0}
    assert rows["read"]["ratio"] == round(22 / 7, 2)
    del peer[0]["process_cpu_seconds"]  # an older report: no CPU row, the rest as before
    assert "process_cpu_seconds" not in national.compare(ours, peer)
