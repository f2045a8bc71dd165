"""The lists and reports clinicians receive, written into a run's output folder.

This is the only place where pseudonyms are turned back into CPR numbers: the caller
opens the vault read-only (`privacy.Reidentifier`, a connection of its own, never the
store's) for the duration of the writing. Pseudonyms and other
internals are dropped from everything written. Each output has its own module:
`referrals` (lipid-clinic lists, deduplicated), `gp_reports` (per practice),
`cascade` (relatives of index cases and family letters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.background import BackgroundFiles
from fh_screening.cascade import write_cascade
from fh_screening.config import load_clinics, load_thresholds
from fh_screening.criteria import load_drug_tables, threshold_params
from fh_screening.gp_reports import write_gp_reports
from fh_screening.i18n import DEFAULT_LANGUAGE, Translator
from fh_screening.outputs import write_private
from fh_screening.privacy import Reidentifier
from fh_screening.referrals import write_referrals
from fh_screening.store import run_sql


def load_clinic_capacity(con: duckdb.DuckDBPyConnection) -> int:
    """Each lipid clinic's capacity per run (config/clinics.toml) as the lookup table
    `clinic_capacity`; returns the default for clinics not named."""
    clinics = load_clinics()
    con.execute("create or replace temp table clinic_capacity "
                "(lipid_clinic_id varchar, capacity integer)")
    rows = [(c, e["capacity_per_run"]) for c, e in sorted(clinics.get("clinics", {}).items())
            if "capacity_per_run" in e]
    if rows:
        con.executemany("insert into clinic_capacity values (?, ?)", rows)
    return int(clinics["default"]["capacity_per_run"])


def output_params(con: duckdb.DuckDBPyConnection, run_id: str, as_of: date) -> dict[str, Any]:
    """What the output SQL reads: the thresholds as parameters, the drug and clinic
    lookup tables on `con`, the run id and as-of date."""
    thresholds = load_thresholds()
    load_drug_tables(con, thresholds)
    return {**threshold_params(thresholds), "run_id": run_id, "as_of": as_of,
            "clinic_default_capacity": load_clinic_capacity(con)}


@dataclass
class OutputCounts:
    referrals: dict[str, int] = field(default_factory=dict)
    backlog: dict[str, int] = field(default_factory=dict)
    re_referrals: int = 0
    gp_reports: dict[str, int] = field(default_factory=dict)
    cascade: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)
    pending_confirmation: dict[str, int] = field(default_factory=dict)
    family_letters: int = 0
    files: list[str] = field(default_factory=list)


def write_reports(con: duckdb.DuckDBPyConnection, out: Path, *, run_id: str, as_of: date,
                  code_version: str, reidentify: Reidentifier,
                  language: str = DEFAULT_LANGUAGE) -> OutputCounts:
    """Write referral lists, GP reports and cascade lists into `out`; record the
    referrals in `referral_history`. `language` is that of the GP reports and the first
    language of the family letters."""
    t = Translator(language)
    params = output_params(con, run_id, as_of)
    run_sql(con, "outputs/triage", params)

    counts = OutputCounts()
    people = con.execute("select count(*) from out_triage").fetchall()[0][0]
    background = BackgroundFiles(people, write_private)
    try:
        # The cascade lists and GP pages first: their workbooks and pages are built (for a
        # large run in worker processes) while this process runs the referral queries.
        cascade = write_cascade(con, out, params, code_version=code_version, t=t,
                                background=background, reidentify=reidentify)
        gp, gp_files = write_gp_reports(con, out, params, code_version=code_version, t=t,
                                        background=background, reidentify=reidentify)
        # Referrals last: recording them in referral_history must not change this run's
        # cascade list ("already referred" means by an earlier run or this one).
        referrals = write_referrals(con, out, params, code_version=code_version,
                                    background=background, reidentify=reidentify, t=t)
        background.finish()
    finally:
        background.close()
    counts.referrals, counts.re_referrals = referrals.per_clinic, referrals.re_referrals
    counts.backlog = referrals.backlog
    counts.gp_reports, counts.cascade = gp, cascade.per_clinic
    counts.family_letters = cascade.letters
    counts.families, counts.pending_confirmation = cascade.families, cascade.pending
    counts.files = sorted([*referrals.files, *gp_files, *cascade.files])
    return counts
