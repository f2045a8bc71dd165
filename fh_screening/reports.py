"""The lists and reports clinicians receive, written into a run's output folder.

This is the only place where pseudonyms are turned back into CPR numbers: the vault is
attached read-only for the duration of the writing and detached afterwards. Pseudonyms
and other internals are dropped from everything written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape

from fh_screening.config import load_thresholds
from fh_screening.criteria import threshold_params
from fh_screening.outputs import safe_file_name, write_private
from fh_screening.store import query_sql

INTERNAL_COLUMNS = ("person_id", "index_id", "relative_id")


@dataclass
class OutputCounts:
    referrals: dict[str, int] = field(default_factory=dict)
    gp_reports: dict[str, int] = field(default_factory=dict)
    cascade: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def _env() -> Environment:
    return Environment(loader=PackageLoader("fh_screening", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True)


def _csv(frame: pl.DataFrame) -> str:
    return frame.drop([c for c in INTERNAL_COLUMNS if c in frame.columns]).write_csv()


def write_reports(con: duckdb.DuckDBPyConnection, out: Path, *, run_id: str, as_of: date,
                  code_version: str) -> OutputCounts:
    """Write referral lists, GP reports and cascade lists into `out`.

    The caller attaches the identity vault (`privacy.attach_vault_read_only`) around this
    call: re-identification is explicit and happens only here."""
    counts = OutputCounts()
    params = {**threshold_params(load_thresholds()), "run_id": run_id, "as_of": as_of}
    referrals = query_sql(con, "outputs/referral_list", params).pl()
    gp = query_sql(con, "outputs/gp_patients", params).pl()
    cascade = query_sql(con, "outputs/cascade_list", params).pl()

    for (clinic,), frame in referrals.group_by("lipid_clinic_id", maintain_order=True):
        name = f"referrals/{safe_file_name(clinic or 'unassigned')}.csv"
        write_private(out / name, _csv(frame.drop("lipid_clinic_id")))
        counts.referrals[clinic] = frame.height
        counts.files.append(name)

    template = _env().get_template("gp_report.html.j2")
    for (practice,), frame in gp.group_by("gp_practice_id", maintain_order=True):
        rows = frame.drop("person_id").to_dicts()
        name = f"gp_reports/{safe_file_name(practice or 'unassigned')}.html"
        write_private(out / name, template.render(
            practice_name=rows[0]["practice_name"], gp_practice_id=practice,
            lipid_clinic_id=rows[0]["lipid_clinic_id"], run_id=run_id, as_of=as_of,
            code_version=code_version, patients=rows))
        counts.gp_reports[practice] = frame.height
        counts.files.append(name)

    for (clinic,), frame in cascade.group_by("lipid_clinic_id", maintain_order=True):
        name = f"cascade/{safe_file_name(clinic or 'unassigned')}.csv"
        write_private(out / name, _csv(frame.drop("lipid_clinic_id")))
        counts.cascade[clinic] = frame.height
        counts.files.append(name)

    if referrals.height:
        con.execute("delete from referral_history where run_id = ?", [run_id])
        con.register("referrals_frame", referrals.select("person_id", "tier",
                                                         "untreated_ldl_estimate"))
        con.execute(
            "insert into referral_history select person_id, $run_id, tier, "
            "untreated_ldl_estimate, $as_of from referrals_frame",
            {"run_id": run_id, "as_of": as_of})
        con.unregister("referrals_frame")
    counts.files.sort()
    return counts
