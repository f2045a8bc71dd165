"""`fh-screening check --region R --extract-dir D`: a dry run of one region's delivery.

Why: a data team onboarding a region (or receiving a changed export) needs to see what
the pipeline will make of the files before a run stores anything: which source column
feeds which canonical column, which codes and units arrive and what they map to, and
which rows would be quarantined and why. The check reads the files with the real
readers and the real ingest SQL, into a throwaway store and vault in a temporary folder
under a random pseudonym key, and deletes both before it returns: the workspace (store,
vault, key, outputs) and the extract folder are never written.

Nothing shown carries a CPR number: quarantine examples give the file, row, field and
reason (reasons pass `redact_cpr`), and every value shown from a file passes it too.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.config import RegionDialect, check_configuration, load_region, load_units
from fh_screening.config_schema import SOURCE_COLUMNS
from fh_screening.ingest import (
    IngestError,
    _load_lookups,
    cpr_side,
    ingest_file,
    quote_ident,
    region_files,
)
from fh_screening.plausibility import load_plausibility
from fh_screening.privacy import PseudonymKey, redact_cpr
from fh_screening.store import connect

EXAMPLES_PER_REASON = 2
EXAMPLES_PER_FILE = 12
TOP_CODES = 20
# Coded columns shown with their counts: (table, canonical column, [values] kind or None).
CODED = (("prescriptions", "atc_code", None), ("diagnoses", "icd10", None),
         ("patients", "sex", "sex"), ("relations", "relation", "relation"),
         ("genetic_tests", "result", "genetic_result"))


@dataclass
class FileCheck:
    """What ingest would do with one file."""

    table: str
    name: str
    mapping: list[tuple[str, str | None, bool]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    examples: list[tuple[int | None, str | None, str, str | None]] = field(default_factory=list)
    refused: str | None = None


@dataclass
class CheckReport:
    region: str
    extract_dir: str
    files: list[FileCheck] = field(default_factory=list)
    lab_codes: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    coded: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(f.refused for f in self.files)


def _header(dialect: RegionDialect, path: Path) -> list[str]:
    if dialect.format == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    with path.open(encoding=dialect.encoding, errors="replace", newline="") as fh:
        return next(csv.reader(fh, delimiter=dialect.delimiter), [])


def _read(dialect: RegionDialect) -> str:
    """The table function that reads one source file (path as $p), every column text."""
    if dialect.format == "parquet":
        return "read_parquet($p)"
    return ("read_csv($p, encoding=$enc, delim=$delim, header=true, all_varchar=true, "
            "quote='\"', escape='\"', ignore_errors=true)")


def _counts(con: duckdb.DuckDBPyConnection, dialect: RegionDialect, path: Path,
            columns: list[str]) -> list[tuple[Any, ...]]:
    """Distinct values of the source columns with their row counts, commonest first."""
    params: dict[str, Any] = {"p": str(path)}
    if dialect.format == "csv":
        params |= {"enc": dialect.encoding, "delim": dialect.delimiter}
    cols = ", ".join(f"cast({quote_ident(c)} as varchar)" for c in columns)
    return con.execute(f"select {cols}, count(*) as n from {_read(dialect)} "
                       f"group by all order by n desc, {cols}", params).fetchall()


def _mapping(dialect: RegionDialect, table: str, header: list[str]) -> tuple[
        list[tuple[str, str | None, bool]], list[str]]:
    mapping = dialect.columns.get(table, {})
    rows = [(c, mapping.get(c), mapping.get(c) in header) for c in SOURCE_COLUMNS[table]]
    used = set(mapping.values())
    return rows, [redact_cpr(h) for h in header if h not in used]


def _codes_seen(con: duckdb.DuckDBPyConnection, dialect: RegionDialect,
                files: list[tuple[str, Path]], report: CheckReport) -> None:
    units = load_units()
    lab: dict[tuple[str, str], int] = {}
    coded: dict[str, dict[str, int]] = {}
    for table, path in files:
        mapping = dialect.columns.get(table, {})
        header = _header(dialect, path)
        try:
            if table == "lab_results":
                code, unit = mapping.get("source_code"), mapping.get("source_unit")
                cols = [c for c in (code, unit) if c in header]
                for row in _counts(con, dialect, path, cols) if code in header else []:
                    key = (row[0] or "", row[1] or "" if unit in header else "")
                    lab[key] = lab.get(key, 0) + row[-1]
            for t, canonical, _ in CODED:
                source = mapping.get(canonical)
                if t == table and source in header:
                    seen = coded.setdefault(f"{t}.{canonical}", {})
                    for value, n in _counts(con, dialect, path, [source]):
                        seen[value or ""] = seen.get(value or "", 0) + n
        except duckdb.Error:
            continue  # the file cannot be read: its ingest result says why
    for (code, unit), n in sorted(lab.items(), key=lambda kv: (-kv[1], kv[0])):
        analyte = dialect.lab_codes.get(code)
        rule = units.get(analyte) if analyte else None
        verdict = ("unknown code: quarantined" if analyte is None else
                   "accepted" if rule and (unit in rule.convert or not unit) else
                   f"unit not accepted for {analyte}: quarantined")
        report.lab_codes.append((redact_cpr(code), analyte or "-", redact_cpr(unit), verdict, n))
    # what a code map ([code_maps]) makes of each code: shown as the vocabulary is
    maps = {"prescriptions.atc_code": {r.source_code: r.target + (
                f" {r.strength_mg:g} mg" if r.strength_mg is not None else "")
                for r in dialect.drug_map},
            "diagnoses.icd10": {r.source_code: r.target for r in dialect.diagnosis_map}}
    for name, seen in coded.items():
        kind = next(k for t, c, k in CODED if f"{t}.{c}" == name)
        vocab = dialect.values.get(kind, {}) if kind else maps.get(name, {})
        top = sorted(seen.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CODES]
        report.coded[name] = [
            (redact_cpr(v), (vocab.get(v.strip(), "not in the code list: quarantined"
                                       if not kind else "unknown: quarantined")
                             if vocab else ""), n)
            for v, n in top]


def dry_run(region: str, extract_dir: Path, *, today: date | None = None) -> CheckReport:
    """Read a delivery as a run would and report what would happen; write nothing.

    Raises ConfigError for a region file that does not pass the schema and IngestError
    when the folder holds no files of the region's [files].
    """
    check_configuration([region])
    dialect = load_region(region)
    extract_dir = Path(extract_dir)
    files = region_files(dialect, extract_dir)
    report = CheckReport(region=region, extract_dir=str(extract_dir))
    key = PseudonymKey(os.urandom(32))  # throwaway: nothing made with it is kept
    limits = load_plausibility()
    with tempfile.TemporaryDirectory(prefix="fh-check-") as tmp:
        con = connect(Path(tmp) / "check.duckdb")
        side = cpr_side(con)
        try:
            _load_lookups(con, dialect, load_units(), limits)
            for table, path in files:
                rows, unmapped = _mapping(dialect, table, _header(dialect, path))
                fc = FileCheck(table=table, name=path.name, mapping=rows, unmapped=unmapped)
                try:
                    fr = ingest_file(con, dialect, table, path, key, today=today or date.today(),
                                     vault_path=Path(tmp) / "vault.duckdb", limits=limits,
                                     side=side)
                except IngestError as exc:
                    fc.refused = redact_cpr(str(exc))
                else:
                    fc.rows_read, fc.rows_accepted = fr.rows_read, fr.rows_accepted
                    fc.rows_quarantined, fc.reasons = fr.rows_quarantined, fr.reasons
                    fc.examples = _examples(con, fr.path)
                report.files.append(fc)
            _codes_seen(con, dialect, files, report)
        finally:
            side.close()
            con.close()
    return report


def _examples(con: duckdb.DuckDBPyConnection, source_file: str) -> list[tuple[Any, ...]]:
    """A few quarantined rows per reason: row, field, reason, the offending value (which
    ingest keeps only when it cannot identify anyone). Never the person."""
    return con.execute(
        "select row_number, field, redact_cpr(reason), raw from ("
        "select *, row_number() over (partition by reason order by row_number) as k "
        "from quarantine where source_file = ?) where k <= ? order by reason, row_number "
        "limit ?", [source_file, EXAMPLES_PER_REASON, EXAMPLES_PER_FILE]).fetchall()


def format_report(report: CheckReport) -> str:
    """The report as the operator reads it in a terminal."""
    out = [f"fh-screening check: region {report.region}, extract folder {report.extract_dir}",
           "(a dry run: nothing is written to the store, the vault or the extract folder)", ""]
    for f in report.files:
        out.append(f"{f.table}: {f.name}")
        for canonical, source, present in f.mapping:
            if source is None:
                out.append(f"    {canonical:<16} <- (not configured)")
            else:
                out.append(f"    {canonical:<16} <- {source}"
                           + ("" if present else "   MISSING from the file"))
        if f.unmapped:
            out.append(f"    not used: {', '.join(f.unmapped)}")
        if f.refused:
            out.append(f"    REFUSED: {f.refused}")
        else:
            out.append(f"    rows: {f.rows_read} read, {f.rows_accepted} accepted, "
                       f"{f.rows_quarantined} quarantined")
            for reason, n in sorted(f.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                out.append(f"      {n:>7}  {reason}")
            for row, field_name, reason, raw in f.examples:
                value = f" value {raw}" if raw else ""
                out.append(f"      e.g. row {row}, {field_name or '-'}: {reason}{value}")
        out.append("")
    if report.lab_codes:
        out.append("lab codes and units seen:")
        out.append(f"    {'code':<14}{'analyte':<15}{'unit':<12}{'rows':>8}  what ingest does")
        for code, analyte, unit, verdict, n in report.lab_codes:
            out.append(f"    {code:<14}{analyte:<15}{unit or '-':<12}{n:>8}  {verdict}")
        out.append("")
    for name, rows in report.coded.items():
        out.append(f"{name} values seen (commonest {TOP_CODES}):")
        for value, mapped, n in rows:
            out.append(f"    {value or '(empty)':<20}{n:>8}" + (f"  -> {mapped}" if mapped else ""))
        out.append("")
    read = sum(f.rows_read for f in report.files)
    quarantined = sum(f.rows_quarantined for f in report.files)
    refused = [f.name for f in report.files if f.refused]
    out.append(f"total: {len(report.files)} file(s), {read} rows read, {quarantined} would be "
               "quarantined" + (f"; REFUSED whole: {', '.join(refused)}" if refused else ""))
    return "\n".join(out)
