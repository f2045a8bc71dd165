"""A synthetic region pair over four monthly runs with clinics that answer (issue 21),
shared by tests/test_loop_e2e.py and the README's yield figures."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from fh_screening import clinic_sim
from fh_screening.config import load_region
from fh_screening.pipeline import run_screening
from fh_screening.store import Workspace
from fh_screening.synth import generate_population, split_at, write_region

REGIONS = ["midtjylland", "syddanmark"]
MONTHS = [date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31), date(2026, 9, 30),
          date(2026, 10, 31)]
PEOPLE = 12000
# Clinics take fewer new referrals per run than the config's 20, so that the backlog
# feeds every run and each of the first three runs sends referrals of its own.
CAPACITY = 12
SEED = 21
# The third run writes its lists in English, the others in Danish (the default).
LANGUAGES = ["da", "da", "en", "da", "da"]
CSV_CLINICS = ("SYD-LK2",)  # this clinic returns CSV saved from Excel, the others XLSX


@dataclass
class Loop:
    ws: Workspace
    extracts: Path
    returns: Path
    truth: dict[str, dict[str, Any]]
    results: list[dict[str, Any]] = field(default_factory=list)

    def folder(self, m: int) -> Path:
        return self.ws.output_dir / f"m{m}"


def write_months(root: Path) -> dict[str, dict[str, Any]]:
    """Month folders m0 (the extract up to June) to m3 (September) per region; the truth."""
    import polars as pl

    truth = []
    for region in REGIONS:
        pop = generate_population(PEOPLE, SEED, region, end=MONTHS[-1])
        truth.append(pop.truth.select("cpr", "fh_carrier", "hypothyroid"))
        rest = pop
        parts = []
        for cut in MONTHS[:-1]:
            part, rest = split_at(rest, cut)
            parts.append(part)
        parts.append(rest)
        for m, part in enumerate(parts):
            write_region(part, load_region(region), root / f"m{m}" / region,
                         anomalies=m == 0)
    return {r["cpr"]: r for r in pl.concat(truth).iter_rows(named=True)}


def add_month(root: Path, extracts: Path, m: int) -> None:
    for region in REGIONS:
        (extracts / region).mkdir(parents=True, exist_ok=True)
        for path in (root / f"m{m}" / region).iterdir():
            os.link(path, extracts / region / path.name)


def small_clinics() -> dict[str, Any]:
    from fh_screening.config import load_clinics

    clinics = load_clinics()
    return {**clinics, "default": {"capacity_per_run": CAPACITY},
            "clinics": {c: {**e, "capacity_per_run": CAPACITY}
                        for c, e in clinics["clinics"].items()}}


def run_loop(root: Path, months: int = len(MONTHS), model: str | None = None) -> Loop:
    """Each month: the new extracts, the clinics' returns so far, a run; then the clinics
    answer what is due (referrals with delay, relatives of consented families)."""
    from unittest import mock

    truth = write_months(root / "months")
    loop = Loop(Workspace(root / "home"), root / "extracts", root / "home" / "returns", truth)
    with mock.patch("fh_screening.reports.load_clinics", small_clinics):
        for m in range(months):
            run_month(loop, root, m, model)
    return loop


def run_month(loop: Loop, root: Path, m: int, model: str | None) -> None:
    add_month(root / "months", loop.extracts, m)
    loop.results.append(run_screening(
        loop.ws, REGIONS, extract_root=loop.extracts, as_of=MONTHS[m], run_id=f"m{m}",
        model=model, language=LANGUAGES[m], returns=loop.returns))
    answer_month(loop, m)


def answer_month(loop: Loop, m: int) -> None:
    for j in range(m + 1):
        clinic_sim.answer_referrals(loop.folder(j), j, m, MONTHS, loop.truth, loop.returns,
                                    csv_clinics=CSV_CLINICS)
    clinic_sim.answer_relatives(loop.folder(m), m, MONTHS[m], loop.truth, loop.returns)
