"""What lipid clinics send back: the returned referral and cascade workbooks (issue 21).

A clinic fills in the RETURN columns of the workbooks it received (drop-down choices,
fh_screening/lists.py) and the data team drops the file, as it came back (XLSX, or a CSV
saved from it), into `<home>/returns/<lipid clinic id>/`. Each run reads the new files
like any extract:

- once per file, by checksum (`returned_files`); a file changed since is a new return;
- every row is answered (stored in `clinic_returns`), blank (no return column filled in:
  not answered yet) or quarantined with file, sheet, row, field and reason
  (`quarantine`, table_name 'clinic_returns'); read = answered + blank + quarantined;
- a row's id must be one this store issued to that clinic (a referral id never sent, or
  sent to another clinic, is refused), and where the row still carries the CPR number,
  that number must belong to the id (a sorted or pasted-over sheet is caught, not
  misread); the CPR number itself is compared as a pseudonym and never stored;
- the accepted rows are validated by the Great Expectations suite
  `expectations/clinic_returns.json` before they are committed;
- a later return of the same row (the same sheet sent again with more filled in)
  supersedes the earlier one (`current_returns`); both are kept.

Headers and choices are read in every catalogue language, so a Danish and an English
workbook read the same.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from fh_screening.i18n import Translator, languages
from fh_screening.ingest import file_checksum
from fh_screening.lists import (
    DLCN_MAX,
    EARLIEST_OUTCOME,
    RETURN_FIELDS,
    all_column_names,
    choice_text,
    return_column,
)
from fh_screening.privacy import PseudonymKey, redact_cpr

log = logging.getLogger(__name__)

SUFFIXES = (".xlsx", ".csv")
# Which id column makes a row which kind, and which CPR column checks it.
KINDS = (("relative", "relative_ref", "relative_cpr"), ("referral", "referral_id", "cpr"),
         ("family", "family_id", "index_cpr"))
ID_KIND = {"referral": "referral", "family": "family", "relative": "relative"}
ID_TEXT = {"referral": "referral id", "family": "family id", "relative": "relative id"}
_CODE = re.compile(r"^[RFK][0-9]{6}$")
_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y")
RETURN_COLUMNS = ("kind", "return_key", "person_id", "lipid_clinic_id", "contact",
                  "diagnosis", "dlcn_points", "genetic_test", "treatment_started", "consent",
                  "outcome_date", "source_file", "row_number", "file_checksum", "received_seq")


class ReturnError(RuntimeError):
    """A returned file cannot be read at all (not a workbook, no header, no id column)."""


@dataclass
class ReturnFile:
    path: str
    clinic: str
    checksum: str
    skipped: bool = False
    rows_read: int = 0
    rows_answered: int = 0
    rows_blank: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class Problem:
    source: str
    row: int
    field: str
    reason: str


def _choices() -> dict[str, dict[str, str]]:
    """Per field: every language's word for each choice (case-folded) -> code."""
    out: dict[str, dict[str, str]] = {}
    for name, codes in RETURN_FIELDS.items():
        if codes is None:
            continue
        words: dict[str, str] = {}
        for lang in languages():
            t = Translator(lang)
            for code in codes:
                words[choice_text(name, code, t).casefold()] = code
        for code in codes:
            words[code.casefold()] = code
        out[name] = words
    return out


# --------------------------------------------------------------------------------------
# Reading a file into rows of {column: value}
# --------------------------------------------------------------------------------------
def _rows_xlsx(path: Path) -> list[tuple[str, int, dict[str, Any]]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl's own errors: name the file
        raise ReturnError(f"not a readable workbook ({type(exc).__name__})") from None
    names = all_column_names()
    out = []
    try:
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if not header:
                continue
            columns = [names.get(str(h).strip().casefold()) if h is not None else None
                       for h in header]
            for number, values in enumerate(rows, start=2):
                if values is None or all(v is None or str(v).strip() == "" for v in values):
                    continue
                out.append((sheet.title, number, {c: v for c, v in zip(columns, values,
                                                                      strict=False) if c}))
    finally:
        workbook.close()
    return out


def _rows_csv(path: Path) -> list[tuple[str, int, dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = path.read_text(encoding="cp1252")  # saved by Excel as "CSV (semicolon)"
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    names = all_column_names()
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return []
    columns = [names.get(h.strip().casefold()) for h in header]
    out = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        out.append(("csv", number, {c: v for c, v in zip(columns, values, strict=False) if c}))
    return out


def read_rows(path: Path) -> list[tuple[str, int, dict[str, Any]]]:
    """(sheet, row number as the clinic sees it, {internal column: value}) per non-empty
    row; columns the lists do not have are ignored (a clinic's own notes)."""
    return _rows_xlsx(path) if path.suffix.lower() == ".xlsx" else _rows_csv(path)


# --------------------------------------------------------------------------------------
# One row: parse, check, or say why not
# --------------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError("not a date (expected e.g. 2026-08-14 or 14-08-2026)")


def _parse_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not a whole number")
    if isinstance(value, int | float) and float(value).is_integer():
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"[0-9]{1,3}", text):
        return int(text)
    raise ValueError("not a whole number")


class RowReader:
    """Turns one row of a returned file into a `clinic_returns` row or a Problem."""

    def __init__(self, con: duckdb.DuckDBPyConnection, key: PseudonymKey, clinic_id: str,
                 today: date) -> None:
        self.key, self.clinic_id, self.today = key, clinic_id, today
        self.choices = _choices()
        ids = con.sql("select kind, code, person_id, scope from stable_ids").fetchall()
        self.ids = {(k, c): (p, s) for k, c, p, s in ids}

    def parse(self, source: str, number: int, values: dict[str, Any]
              ) -> dict[str, Any] | Problem | None:
        """The row, a Problem, or None when no return column is filled in (blank)."""
        found = [(kind, id_col, cpr_col) for kind, id_col, cpr_col in KINDS
                 if not _blank(values.get(id_col))]
        returned = {f: values.get(return_column(f)) for f in RETURN_FIELDS}
        if all(_blank(v) for v in returned.values()):
            return None
        if not found:
            return Problem(source, number, "referral_id",
                           "no referral, family or relative id in this row: the row "
                           "cannot be matched (was the id column deleted?)")
        kind, id_col, cpr_col = found[0]
        code = str(values[id_col]).strip().upper()
        if not _CODE.match(code) or (ID_KIND[kind], code) not in self.ids:
            return Problem(source, number, id_col,
                           f"{ID_TEXT[kind]} {redact_cpr(code)[:20]} was never sent by "
                           "fh-screening: refused")
        person_id, scope = self.ids[(ID_KIND[kind], code)]
        if kind == "referral" and scope != self.clinic_id:
            return Problem(source, number, id_col,
                           f"referral id {code} was sent to lipid clinic {scope}, not "
                           f"{self.clinic_id}: returned to the wrong clinic's folder?")
        cpr = values.get(cpr_col)
        if not _blank(cpr) and self.key.pseudonym(str(cpr)) != person_id:
            return Problem(source, number, cpr_col,
                           f"the CPR number in this row does not belong to {ID_TEXT[kind]} "
                           f"{code}: the row was not read (rows sorted or pasted over?)")
        row: dict[str, Any] = {"kind": kind, "return_key": code, "person_id": person_id,
                               "lipid_clinic_id": self.clinic_id}
        for name, value in returned.items():
            parsed = self._field(name, value)
            if isinstance(parsed, Problem):
                return Problem(source, number, return_column(name), parsed.reason)
            row[name] = parsed
        if row["contact"] in ("declined", "not_reached") and (
                row["diagnosis"] or row["genetic_test"] not in (None, "not_done")):
            return Problem(source, number, return_column("diagnosis"),
                           "a diagnosis or test result for a patient not seen (contact: "
                           f"{row['contact'].replace('_', ' ')}): which one is right?")
        if kind == "relative" and row["consent"]:
            return Problem(source, number, return_column("consent"),
                           "consent is asked of the index patient, not of a relative")
        return {"kind": row["kind"], "return_key": code, "person_id": person_id,
                "lipid_clinic_id": self.clinic_id, "contact": row["contact"],
                "diagnosis": row["diagnosis"], "dlcn_points": row["dlcn"],
                "genetic_test": row["genetic_test"],
                "treatment_started": None if row["treatment"] is None
                else row["treatment"] == "yes",
                "consent": row["consent"], "outcome_date": row["date"]}

    def _field(self, name: str, value: Any) -> Any:
        if _blank(value):
            return None
        if name in self.choices:
            code = self.choices[name].get(str(value).strip().casefold())
            if code is None:
                words = ", ".join(choice_text(name, c, Translator())
                                  for c in RETURN_FIELDS[name] or ())
                return Problem("", 0, name, f"{redact_cpr(str(value))[:40]!r} is not one of "
                                            f"the choices ({words})")
            return code
        try:
            if name == "dlcn":
                points = _parse_int(value)
                if not 0 <= points <= DLCN_MAX:
                    raise ValueError(f"a DLCN score is 0 to {DLCN_MAX}")
                return points
            day = _parse_date(value)
        except ValueError as exc:
            return Problem("", 0, name, f"{redact_cpr(str(value))[:40]!r}: {exc}")
        if not EARLIEST_OUTCOME <= day <= self.today:
            when = "in the future" if day > self.today else "too early"
            return Problem("", 0, name, f"{day} is {when}")
        return day


# --------------------------------------------------------------------------------------
# A folder of returns
# --------------------------------------------------------------------------------------
def returns_root(home: Path) -> Path:
    return home / "returns"


def return_files(root: Path) -> list[tuple[str, Path]]:
    """(clinic id, file) for every returned file, per clinic folder in arrival order
    (modification time, then name): a later return supersedes an earlier one."""
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES
                 and not p.name.startswith((".", "~$"))]
        found += [(folder.name, p) for p in sorted(files, key=lambda p: (p.stat().st_mtime_ns,
                                                                        p.name))]
    return found


def ingest_return_file(con: duckdb.DuckDBPyConnection, key: PseudonymKey, clinic_id: str,
                       path: Path, *, today: date, validate: bool = True) -> ReturnFile:
    """Read one returned file into `clinic_returns` (all or nothing), or skip it when its
    checksum was read before."""
    label = key.file_label(path)
    checksum = file_checksum(path)
    result = ReturnFile(path=label, clinic=clinic_id, checksum=checksum)
    if con.execute("select 1 from returned_files where checksum = ?", [checksum]).fetchall():
        result.skipped = True
        return result
    try:
        rows = read_rows(path)
    except (ReturnError, OSError, csv.Error) as exc:
        raise ReturnError(f"{label}: {exc}; nothing of it was read") from None
    reader = RowReader(con, key, clinic_id, today)
    accepted, problems = [], []
    for sheet, number, values in rows:
        source = f"{label} [{sheet}]" if path.suffix.lower() == ".xlsx" else label
        parsed = reader.parse(source, number, values)
        if parsed is None:
            result.rows_blank += 1
        elif isinstance(parsed, Problem):
            problems.append(parsed)
        else:
            accepted.append({**parsed, "source_file": source, "row_number": number})
    result.rows_read = len(rows)
    result.rows_answered, result.rows_quarantined = len(accepted), len(problems)
    seq = con.execute("select coalesce(max(received_seq), 0) + 1 from returned_files"
                      ).fetchall()[0][0]
    frame = pl.DataFrame(
        [{**r, "file_checksum": checksum, "received_seq": seq} for r in accepted],
        schema={"kind": pl.String, "return_key": pl.String, "person_id": pl.Int64,
                "lipid_clinic_id": pl.String, "contact": pl.String, "diagnosis": pl.String,
                "dlcn_points": pl.Int32, "genetic_test": pl.String,
                "treatment_started": pl.Boolean, "consent": pl.String,
                "outcome_date": pl.Date, "source_file": pl.String, "row_number": pl.Int64,
                "file_checksum": pl.String, "received_seq": pl.Int64}).select(RETURN_COLUMNS)
    if validate and frame.height:
        from fh_screening.validate import require_valid, validate_frame

        require_valid(validate_frame("clinic_returns", frame, source=label))
    if result.rows_read != result.rows_answered + result.rows_blank + result.rows_quarantined:
        raise ReturnError(f"{label}: rows do not balance")
    con.execute("begin transaction")
    try:
        if frame.height:
            con.register("returned_rows", frame)
            try:
                con.execute("insert into clinic_returns by name select * from returned_rows")
            finally:
                con.unregister("returned_rows")
        for p in problems:
            con.execute("insert into quarantine values (?, 'clinic_returns', ?, ?, ?, null, "
                        "null, ?)", [p.source, p.row, p.field, p.reason, clinic_id])
        con.execute("insert into returned_files values (?, ?, ?, ?, ?, ?, ?, ?, "
                    "now()::timestamp)",
                    [checksum, label, clinic_id, result.rows_read, result.rows_answered,
                     result.rows_blank, result.rows_quarantined, seq])
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    for p in problems:
        reason = re.sub(r"[RFK][0-9]{6}", "<id>", p.reason)
        result.reasons[reason] = result.reasons.get(reason, 0) + 1
    log.info("return %s (%s): %d answered, %d blank, %d quarantined", label, clinic_id,
             result.rows_answered, result.rows_blank, result.rows_quarantined)
    return result


def ingest_returns(con: duckdb.DuckDBPyConnection, key: PseudonymKey, root: Path, *,
                   today: date | None = None, validate: bool = True) -> dict[str, Any]:
    """Every new returned file under `root`; the summary the run reports."""
    files = [ingest_return_file(con, key, clinic_id, path, today=today or date.today(),
                                validate=validate)
             for clinic_id, path in return_files(root)]
    totals = {k: sum(getattr(f, k) for f in files)
              for k in ("rows_read", "rows_answered", "rows_blank", "rows_quarantined")}
    return {"files_read": sum(not f.skipped for f in files),
            "files_skipped": sum(f.skipped for f in files), **totals,
            "files": [asdict(f) for f in files]}
