"""Synthetic lipid clinics that answer the referral and cascade workbooks from the truth
(issue 21): for tests and demonstrations of the returns loop, never for real data.

Each month (between two runs) every clinic returns the workbooks it received, filled in
as a clinic would in Excel, into `<returns>/<clinic>/`:

- a referral is answered with probability `answer_rate`, after 0, 1 or 2 further months
  (realistic delay), first with the contact only (seen, declined or not reached), the
  following month with the result (the same sheet sent again with more filled in);
- a patient seen gets the truth: a carrier FH confirmed (clinically with a DLCN score, or
  a positive genetic test), a non-carrier with hypothyroidism a secondary cause, any
  other non-carrier not FH (sometimes with a negative test); some results are an
  uncertain test (VUS) without a diagnosis (open);
- a confirmed index patient gives consent (yes / letter only / no), and relatives listed
  in a cascade workbook are answered by the truth too (a carrier tests positive).

Every choice is drawn from a generator seeded by the id, so a simulation is reproducible
and a referral's fate does not depend on which other referrals exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fh_screening.i18n import Translator
from fh_screening.lists import all_column_names, choice_text, return_column


@dataclass(frozen=True)
class ClinicBehaviour:
    answer_rate: float = 0.8          # referrals ever answered
    delay_weights: tuple[float, float, float] = (0.4, 0.4, 0.2)  # 0, 1, 2 months late
    seen: float = 0.85                # of those answered; the rest declined or not reached
    genetic_test: float = 0.6         # of carriers seen: confirmed by a positive test
    uncertain: float = 0.05           # of those seen: an uncertain test, no diagnosis
    consent_yes: float = 0.6          # of confirmed index patients (then letter only 0.3)
    consent_letter_only: float = 0.3
    relatives_seen: float = 0.7       # relatives listed (consent) who come and are tested


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def load_truth_by_cpr(path: Path) -> dict[str, dict[str, Any]]:
    truth = pl.read_csv(path, schema_overrides={"cpr": pl.String})
    return {r["cpr"]: r for r in truth.iter_rows(named=True)}


def referral_fate(referral_id: str, carrier: bool, hypothyroid: bool,
                  b: ClinicBehaviour) -> dict[str, Any] | None:
    """What the clinic will answer, and when (months after sending): None if never."""
    rng = _rng("referral", referral_id)
    if rng.random() >= b.answer_rate:
        return None
    delay = int(rng.choice(3, p=list(b.delay_weights)))
    u = rng.random()
    if u >= b.seen:
        contact = "declined" if u < b.seen + (1 - b.seen) / 2 else "not_reached"
        return {"delay": delay, "contact": contact, "result": {}}
    result: dict[str, Any]
    if rng.random() < b.uncertain:
        result = {"genetic_test": "uncertain"}
    elif carrier:
        result = ({"genetic_test": "positive", "diagnosis": "fh_confirmed"}
                  if rng.random() < b.genetic_test else
                  {"diagnosis": "fh_confirmed", "dlcn": int(rng.integers(6, 13))})
        c = rng.random()
        result["consent"] = ("yes" if c < b.consent_yes else "letter_only"
                             if c < b.consent_yes + b.consent_letter_only else "no")
        result["treatment"] = "yes"
    elif hypothyroid:
        result = {"diagnosis": "secondary_cause", "treatment": "no"}
    else:
        result = {"diagnosis": "not_fh", "dlcn": int(rng.integers(0, 6)), "treatment": "no"}
        if rng.random() < 0.5:
            result["genetic_test"] = "negative"
    return {"delay": delay, "contact": "seen", "result": result}


def _language(header: list[Any]) -> str:
    return "da" if any(str(h) == Translator("da")("col.referral_id") for h in header) or any(
        str(h) == Translator("da")("col.family_id") for h in header) else "en"


def _fill(ws: Any, answers: dict[str, dict[str, Any]], id_column: str) -> int:
    """Write `answers` (id -> {field: code}) into a sheet; returns rows filled."""
    header = [c.value for c in ws[1]]
    names = all_column_names()
    columns = {names.get(str(h).casefold()): i + 1 for i, h in enumerate(header) if h}
    if id_column not in columns:
        return 0
    t = Translator(_language(header))
    filled = 0
    for row in range(2, ws.max_row + 1):
        code = ws.cell(row, columns[id_column]).value
        if code not in answers:
            continue
        for name, value in answers[code].items():
            col = columns.get(return_column(name))
            if col is None:
                continue
            if name in ("dlcn", "date"):
                ws.cell(row, col).value = value
            else:
                ws.cell(row, col).value = choice_text(name, value, t)
        filled += 1
    return filled


def answer_referrals(run_folder: Path, sent_in: int, month: int, run_dates: list[date],
                     truth: dict[str, dict[str, Any]], returns: Path,
                     behaviour: ClinicBehaviour = ClinicBehaviour(), *,
                     csv_clinics: tuple[str, ...] = ()) -> dict[str, int]:
    """Return the referral workbooks of the run `run_folder` (sent in month `sent_in`)
    as due after `month` months (indices into `run_dates`, the as-of dates of the runs;
    the return of month m is read by run m + 1). Returns rows filled per clinic."""
    from openpyxl import load_workbook

    filled: dict[str, int] = {}
    for path in sorted((run_folder / "referrals").glob("*.xlsx")):
        workbook = load_workbook(path)
        answers: dict[str, dict[str, Any]] = {}
        for ws in workbook.worksheets:
            header = [c.value for c in ws[1]]
            names = all_column_names()
            cols = {names.get(str(h).casefold()): i for i, h in enumerate(header) if h}
            for values in ws.iter_rows(min_row=2, values_only=True):
                code, cpr = values[cols["referral_id"]], values[cols["cpr"]]
                if code is None:
                    continue
                who = truth.get(cpr, {"fh_carrier": False, "hypothyroid": False})
                fate = referral_fate(code, bool(who["fh_carrier"]), bool(who["hypothyroid"]),
                                     behaviour)
                if fate is None:
                    continue
                first = sent_in + fate["delay"]
                if month < first:
                    continue
                outcome_day = run_dates[first] + timedelta(days=20)
                answer = {"contact": fate["contact"], "date": outcome_day}
                if month > first or fate["contact"] != "seen":
                    answer.update(fate["result"])
                answers[code] = answer
        count = sum(_fill(ws, answers, "referral_id") for ws in workbook.worksheets)
        if not count:
            continue
        clinic_id = path.stem
        folder = returns / clinic_id
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{run_folder.name}-answered-month{month}"
        if clinic_id in csv_clinics:
            _save_csv(workbook, folder / f"{stem}.csv")
        else:
            workbook.save(folder / f"{stem}.xlsx")
        filled[clinic_id] = count
    return filled


def answer_relatives(run_folder: Path, month: int, as_of: date,
                     truth: dict[str, dict[str, Any]], returns: Path,
                     behaviour: ClinicBehaviour = ClinicBehaviour()) -> dict[str, int]:
    """Return the relatives sheets of a run's cascade workbooks: relatives who come are
    tested, and the truth gives the result."""
    from openpyxl import load_workbook

    filled: dict[str, int] = {}
    for path in sorted((run_folder / "cascade").glob("*.xlsx")):
        workbook = load_workbook(path)
        answers: dict[str, dict[str, Any]] = {}
        names = all_column_names()
        for ws in workbook.worksheets:
            header = [c.value for c in ws[1]]
            cols = {names.get(str(h).casefold()): i for i, h in enumerate(header) if h}
            if "relative_ref" not in cols:
                continue
            for values in ws.iter_rows(min_row=2, values_only=True):
                code, cpr = values[cols["relative_ref"]], values[cols["relative_cpr"]]
                if code is None or _rng("relative", code).random() >= behaviour.relatives_seen:
                    continue
                carrier = bool(truth.get(cpr, {}).get("fh_carrier", False))
                answers[code] = {"contact": "seen", "date": as_of + timedelta(days=20),
                                 "genetic_test": "positive" if carrier else "negative",
                                 **({"diagnosis": "fh_confirmed", "treatment": "yes"}
                                    if carrier else {})}
        count = sum(_fill(ws, answers, "relative_ref") for ws in workbook.worksheets)
        if count:
            folder = returns / path.stem
            folder.mkdir(parents=True, exist_ok=True)
            workbook.save(folder / f"{run_folder.name}-cascade-month{month}.xlsx")
            filled[path.stem] = count
    return filled


def _save_csv(workbook: Any, path: Path) -> None:
    """The workbook's tier sheets as one CSV the way Danish Excel saves it ("CSV UTF-8
    (semicolon)"): header once, every sheet's rows."""
    import csv

    rows: list[list[Any]] = []
    header: list[Any] | None = None
    for ws in workbook.worksheets:
        values = list(ws.iter_rows(values_only=True))
        if not values:
            continue
        header = header or list(values[0])
        rows += [["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v)
                  for v in r] for r in values[1:] if any(v is not None for v in r)]
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(header or [])
        writer.writerows(rows)
