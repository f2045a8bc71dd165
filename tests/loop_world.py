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
MONTHS = [date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31), date(2026, 9, 30)]
PEOPLE = 6000
SEED = 21
# The third run writes its lists in English, the others in Danish (the default).
LANGUAGES = ["da", "da", "en", "da"]
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


def run_loop(root: Path, months: int = len(MONTHS), model: str | None = None) -> Loop:
    """Each month: the new extracts, the clinics' returns so far, a run; then the clinics
    answer what is due (referrals with delay, relatives of consented families)."""
    truth = write_months(root / "months")
    loop = Loop(Workspace(root / "home"), root / "extracts", root / "home" / "returns", truth)
    for m in range(months):
        add_month(root / "months", loop.extracts, m)
        loop.results.append(run_screening(
            loop.ws, REGIONS, extract_root=loop.extracts, as_of=MONTHS[m], run_id=f"m{m}",
            model=model, language=LANGUAGES[m], returns=loop.returns))
        answer_month(loop, m)
    return loop


def answer_month(loop: Loop, m: int) -> None:
    for j in range(m + 1):
        clinic_sim.answer_referrals(loop.folder(j), j, m, MONTHS, loop.truth, loop.returns,
                                    csv_clinics=CSV_CLINICS)
    clinic_sim.answer_relatives(loop.folder(m), m, MONTHS[m], loop.truth, loop.returns)
