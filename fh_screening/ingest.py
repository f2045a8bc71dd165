"""Ingest one region's extract files into the canonical, pseudonymised store.

Each file is read by DuckDB's own readers (CSV with the region's encoding and delimiter,
every column as text; Parquet as typed), renamed to canonical columns by the region's
dialect, then parsed by `sql/ingest/<table>.sql`. Rows that fail a check go to
`quarantine` with file, row, field and reason; structurally broken CSV lines (DuckDB's
`store_rejects`) too. A file is ingested in one transaction and recorded by checksum, so
ingesting it again changes nothing, and a crash leaves no half-ingested file behind.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from fh_screening.config import (
    LOCAL_TIME_ZONE,
    TABLES,
    RegionDialect,
    UnitRule,
    accepted_atc_prefixes,
    load_units,
)
from fh_screening.config_schema import SOURCE_COLUMNS
from fh_screening.faults import checkpoint
from fh_screening.plausibility import Plausibility, load_plausibility
from fh_screening.privacy import (
    PseudonymKey,
    add_identities,
    attach_vault,
    detach_vault,
    redact_cpr,
)
from fh_screening.quality import check_file, load_quality
from fh_screening.stages import step
from fh_screening.store import _used_params, query_sql, run_sql

log = logging.getLogger(__name__)

# Columns a file must have; the others may be absent (then NULL, or derived from the CPR).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "practices": ("gp_practice_id", "lipid_clinic_id"),
    "patients": ("cpr",),
    "lab_results": ("cpr", "sampled_at", "source_code", "source_value"),
    "prescriptions": ("cpr", "atc_code", "start_date"),
    "diagnoses": ("cpr", "icd10", "diagnosed_at"),
    "relations": ("cpr", "relative_cpr", "relation"),
    "genetic_tests": ("cpr", "tested_at", "result"),
}
# Snapshot tables: a newer file replaces the rows for the same key.
SNAPSHOT_KEYS = {"patients": ("person_id",), "practices": ("region", "gp_practice_id")}
CPR_COLUMNS = ("cpr", "relative_cpr")
# The tables whose accepted people are added to the identity vault (the others may name
# only people of the patients file, who are there already).
IDENTITY_COLUMNS = {"patients": ("person_id",), "relations": ("person_id", "relative_id")}


@dataclass(frozen=True)
class EventKey:
    """What makes two rows of an event table the same event (`key`), what the row says
    about it (`values`), the field a repeat is reported under, and the key in words."""

    key: tuple[str, ...]
    values: tuple[str, ...]
    field: str
    text: str


# Two rows with one key: a duplicate (same values), a conflict within one file, or a
# correction by a later delivery (sql/ingest/repeats.sql). Relations check their own
# repeats (sql/ingest/relations.sql); patients and practices are snapshots.
EVENT_KEYS: dict[str, EventKey] = {
    "lab_results": EventKey(("person_id", "sampled_at", "source_code"),
                            ("source_value", "source_unit"), "source_value",
                            "person, sample time and lab code"),
    "prescriptions": EventKey(("person_id", "atc_code", "start_date"),
                              ("strength_mg", "end_date"), "strength_mg",
                              "person, drug and start date"),
    "diagnoses": EventKey(("person_id", "icd10", "diagnosed_at"), (), "icd10",
                          "person, diagnosis code and date"),
    "genetic_tests": EventKey(("person_id", "tested_at"), ("result",), "result",
                              "person and test date"),
}
ISO_DATE, ISO_TIMESTAMP = "%Y-%m-%d", "%Y-%m-%d %H:%M:%S"


class IngestError(RuntimeError):
    """A whole file cannot be ingested (unreadable, or not shaped as its dialect says)."""


@dataclass
class FileResult:
    path: str
    table: str
    checksum: str
    skipped: bool = False
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_superseded: int = 0  # stored rows this file corrected or (re-sent) replaced
    reasons: dict[str, int] = field(default_factory=dict)
    validation: dict | None = None


@dataclass
class IngestResult:
    region: str
    files: list[FileResult] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        return {
            "files_ingested": sum(not f.skipped for f in self.files),
            "files_skipped": sum(f.skipped for f in self.files),
            "rows_read": sum(f.rows_read for f in self.files),
            "rows_accepted": sum(f.rows_accepted for f in self.files),
            "rows_quarantined": sum(f.rows_quarantined for f in self.files),
            "rows_superseded": sum(f.rows_superseded for f in self.files),
        }


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class Fingerprint:
    """A file's checksum with the size and modification time it had when hashed: if
    either differs when its rows are about to be committed, the file was replaced or
    written to during the run, and the recorded checksum would not match the rows."""

    checksum: str
    size: int
    mtime_ns: int


def fingerprint(path: Path) -> Fingerprint:
    before = os.stat(path)
    return Fingerprint(file_checksum(path), before.st_size, before.st_mtime_ns)


def _check_unchanged(path: Path, seen: Fingerprint) -> None:
    now = os.stat(path)
    if (now.st_size, now.st_mtime_ns) != (seen.size, seen.mtime_ns):
        raise IngestError(f"{path}: the file changed while it was being ingested; nothing "
                          "of it was stored. Run again once the extract is complete.")


# Checksums of a region's files are computed ahead, two at a time: a monthly run hashes
# every earlier extract again to know it is unchanged (about 2 GB at national size), and
# hashlib releases the GIL, so this overlaps Great Expectations' import and the first
# files' ingest instead of preceding each file.
HASH_THREADS = 2


def _sql_text(text: str) -> str:
    """A name from a dialect file as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A column name from a dialect file as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def _load_lookups(con: duckdb.DuckDBPyConnection, dialect: RegionDialect,
                  units: dict[str, UnitRule], limits: Plausibility) -> None:
    """The region's code and value maps as temp tables the parse SQL joins."""
    con.execute("create or replace temp table strength_range "
                "(atc_prefix varchar, min_mg double, max_mg double, label varchar)")
    con.executemany("insert into strength_range values (?, ?, ?, ?)",
                    [(r.atc_prefix, r.min_mg, r.max_mg, r.label()) for r in limits.strengths])
    con.execute("create or replace temp table lab_code_map (source_code varchar, analyte varchar)")
    con.executemany("insert into lab_code_map values (?, ?)", sorted(dialect.lab_codes.items()))
    con.execute(
        "create or replace temp table unit_map "
        "(analyte varchar, source_unit varchar, factor double, unit varchar)"
    )
    con.executemany(
        "insert into unit_map values (?, ?, ?, ?)",
        [(r.analyte, u, f, r.unit) for r in units.values() for u, f in sorted(r.convert.items())],
    )
    con.execute("create or replace temp table plausible_range "
                "(analyte varchar, low double, low_inclusive boolean, high double, label varchar)")
    con.executemany(
        "insert into plausible_range values (?, ?, ?, ?, ?)",
        [(r.analyte, r.low, r.low_inclusive, r.high, r.range_text())
         for r in sorted(units.values(), key=lambda r: r.analyte)],
    )
    con.execute("create or replace temp table value_map "
                "(kind varchar, source_value varchar, canonical varchar)")
    con.executemany(
        "insert into value_map values (?, ?, ?)",
        [(k, s, c) for k, m in sorted(dialect.values.items()) for s, c in sorted(m.items())],
    )


UTF8_BOM = b"\xef\xbb\xbf"
_LATIN1 = {"latin-1", "latin1", "iso-8859-1", "iso8859-1", "cp1252", "windows-1252"}


# Files that are not text at all, by their first bytes: refused with what they are.
MAGIC = ((b"\x1f\x8b", "a gzip-compressed file"),
         (b"PK\x03\x04", "a ZIP archive (or an XLSX workbook)"),
         (b"BZh", "a bzip2-compressed file"), (b"\xfd7zXZ\x00", "an xz-compressed file"),
         (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"), (b"PAR1", "a Parquet file"))


def _check_text_shape(path: Path, encoding: str) -> None:
    """Refuse a 'CSV' that is compressed, UTF-16, or split by carriage returns alone, with
    what it is and what to do (DuckDB would report an unclosed quote or a sniffing error,
    or read the whole file as one line)."""
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    for magic, what in MAGIC:
        if head.startswith(magic):
            raise IngestError(f"{path}: is {what}, not CSV text; unpack it (or export it as "
                              f"plain {encoding} CSV) and deliver it again")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head[:200].count(b"\x00") > 10:
        raise IngestError(f"{path}: is UTF-16 text, but the dialect says {encoding}; export "
                          f"it as {encoding} (e.g. `iconv -f UTF-16 -t {encoding}`)")
    if b"\r" in head and b"\n" not in head:
        raise IngestError(f"{path}: its lines end in a carriage return alone (old Mac line "
                          "endings); convert them to LF or CRLF and deliver it again")


def check_csv_encoding(path: Path, encoding: str) -> None:
    """Refuse a CSV whose bytes contradict the dialect's encoding, before DuckDB reads it.

    Read with the wrong encoding a file does not fail, it changes: UTF-8 'æ' read as
    latin-1 becomes 'Ã¦' in every practice name, and a BOM glues itself to the first column
    name; latin-1 read as UTF-8 loses each line with a non-ASCII byte. Encoding is a
    property of the whole file, so a mismatch refuses the file, naming the first line.
    Latin-1 text practically never forms valid UTF-8 multi-byte sequences ('æ' is one byte
    0xE6 followed by a letter), so valid UTF-8 with non-ASCII bytes means a UTF-8 file.
    """
    size = path.stat().st_size
    if size == 0:
        raise IngestError(f"{path}: the file is empty (0 bytes; expected at least a header line)")
    _check_text_shape(path, encoding)
    is_latin1 = encoding.lower() in _LATIN1
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    first_non_ascii: int | None = None  # 1-based file line
    lines_before = 0
    with path.open("rb") as fh:
        head = fh.read(len(UTF8_BOM))
        if head == UTF8_BOM and is_latin1:
            raise IngestError(
                f"{path}: line 1 starts with a UTF-8 byte-order mark, but the dialect says "
                f"{encoding}; re-export the file as {encoding} or fix the region's encoding")
        fh.seek(0)
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            if first_non_ascii is None and not chunk.isascii():
                offset = next(i for i, b in enumerate(chunk) if b > 0x7F)
                first_non_ascii = lines_before + chunk.count(b"\n", 0, offset) + 1
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                if is_latin1:
                    return  # not UTF-8: consistent with latin-1
                line = lines_before + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
                raise IngestError(
                    f"{path}: line {line} is not valid UTF-8 (byte {chunk[exc.start]:#04x}), "
                    f"but the dialect says {encoding}; the file looks latin-1 encoded") from exc
            lines_before += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        if is_latin1:
            return
        raise IngestError(f"{path}: line {lines_before + 1} ends in an incomplete UTF-8 "
                          f"character, but the dialect says {encoding}") from exc
    if is_latin1 and first_non_ascii is not None:
        raise IngestError(
            f"{path}: line {first_non_ascii} holds UTF-8 encoded text, but the dialect says "
            f"{encoding}; reading it as {encoding} would change the text (e.g. 'æ' to 'Ã¦')")


def _unclosed_quote_line(path: Path, encoding: str) -> int | None:
    """The first file line after which a quote stays open (no quoted field spans lines in
    our extracts, docs/architecture.md), to say where a file that cannot be split broke."""
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        for number, line in enumerate(fh, 1):
            if line.count('"') % 2:
                return number
    return None


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, dialect: RegionDialect) -> tuple[
        list[str], int]:
    """Read a CSV into temp table `raw_stage` (text columns, `_row`); broken lines go to
    temp table `csv_rejects`. Returns the header and the number of data rows in the file."""
    check_csv_encoding(path, dialect.encoding)
    options = {"p": str(path), "enc": dialect.encoding, "delim": dialect.delimiter}
    read = ("read_csv($p, encoding=$enc, delim=$delim, header=true, all_varchar=true, "
            "quote='\"', escape='\"'")
    try:
        header = [d[0] for d in con.execute(
            f"select * from {read}, store_rejects=true) limit 0", options).description]
        columns = "{" + ", ".join(f"'{c.replace(chr(39), chr(39) * 2)}': 'VARCHAR'"
                                  for c in header) + "}"
        con.execute("drop table if exists reject_errors")
        con.execute("drop table if exists reject_scans")
        con.execute(
            f"create or replace temp table raw_read as select * from {read}, "
            f"columns={columns}, store_rejects=true)", options)
    except duckdb.Error as exc:
        line = _unclosed_quote_line(path, dialect.encoding)
        if line is not None:
            raise IngestError(f"{path}: line {line} opens a quote it never closes; the rest "
                              "of the file cannot be split into rows") from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(f"{path}: cannot be read as {dialect.name} CSV: {first}") from exc
    con.execute(
        "create or replace temp table csv_rejects as select distinct on (line) "
        "line - 1 as _row, column_name, error_type, error_message, csv_line "
        "from reject_errors order by line"
    )
    accepted = con.execute("select count(*) from raw_read").fetchall()[0][0]
    rejected = con.execute("select count(*) from csv_rejects").fetchall()[0][0]
    if not rejected:
        # DuckDB keeps file order: the i-th row read is data row i (the common case, and
        # no second copy of a national lab file).
        con.execute("create or replace temp view raw_stage as "
                    "select *, rowid + 1 as _row from raw_read")
        return header, accepted
    # The i-th accepted row is the i-th data row not rejected (`raw_stage` stays a view,
    # whichever way the file was read).
    con.execute(
        """
        create or replace temp table raw_numbered as
        with rows as (
            select r.range + 1 as _row from range($n) r
            where r.range + 1 not in (select _row from csv_rejects)
        ), numbered as (select _row, row_number() over (order by _row) - 1 as idx from rows)
        select s.*, n._row from raw_read s join numbered n on n.idx = s.rowid
        """,
        {"n": accepted + rejected},
    )
    con.execute("create or replace temp view raw_stage as select * from raw_numbered")
    return header, accepted + rejected


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[str], int]:
    # A view, not a copy: Parquet is cheap to read again, and a national lab file would
    # otherwise sit in memory twice. Views take no parameters, so the path (ours, from the
    # extract folder listing) is a quoted literal.
    literal = "'" + str(path).replace("'", "''") + "'"
    try:
        con.execute(
            "create or replace temp view raw_stage as "
            "select * exclude (file_row_number), file_row_number + 1 as _row "
            f"from read_parquet({literal}, file_row_number=true)")
        header = [d[0] for d in con.execute("select * from raw_stage limit 0").description]
        rows = con.execute("select count(*) from raw_stage").fetchall()[0][0]
    except duckdb.Error as exc:
        raise IngestError(f"{path}: cannot be read as Parquet: {exc}") from exc
    con.execute("create or replace temp table csv_rejects (_row bigint, column_name varchar, "
                "error_type varchar, error_message varchar, csv_line varchar)")
    header.remove("_row")
    return header, rows


# Canonical columns holding a point in time: a timestamp (to the second) or a date.
TIMESTAMP_COLUMNS = {"sampled_at"}
DATE_COLUMNS = {"birth_date", "deceased_date", "start_date", "end_date", "diagnosed_at",
                "tested_at"}
# Typed Parquet times are local Danish time unless they carry a time zone (UTC-adjusted
# Parquet timestamps), which is converted to it. Text timestamps likewise: with an offset
# (a format with %z: "Z", "+01:00") or in the dialect's [region] time_zone, they become
# local time in the staging view, marked so the parse SQL reads only converted values.
LOCAL_MARK = " local"


def converts_time_zone(dialect: RegionDialect, table: str) -> bool:
    """Whether this table's text timestamps are converted to Europe/Copenhagen."""
    return dialect.format == "csv" and (
        "%z" in dialect.timestamp_format_for(table) or dialect.time_zone != LOCAL_TIME_ZONE)


def _local_time_text(column: str, dialect: RegionDialect, table: str) -> str:
    """A text timestamp as Danish local time text (ISO, marked), or the text as it came
    when it does not parse (then the parse SQL quarantines it, naming the format)."""
    fmt = dialect.timestamp_format_for(table)
    if "%z" in fmt:  # DuckDB's %z reads +01:00 and +0000, not the Z of UTC
        text = f"regexp_replace(trim({column}), '[Zz]$', '+00:00')"
        instant = f"try_strptime({text}, {_sql_text(fmt)})"
    else:
        instant = (f"timezone({_sql_text(dialect.time_zone)}, "
                   f"try_strptime(trim({column}), {_sql_text(fmt)}))")
    local = f"timezone('{LOCAL_TIME_ZONE}', {instant})"
    return f"coalesce(strftime({local}, '{ISO_TIMESTAMP}') || '{LOCAL_MARK}', {column})"


def _as_text(column: str, source_type: str, canonical: str) -> str:
    """A source column as the text the parse SQL reads. A typed Parquet value is taken as
    what it is: a timestamp of any precision (s, ms, us, ns), with a time zone (converted
    to Europe/Copenhagen) or without, or a date, becomes the ISO text the Parquet dialect
    parses (a timestamp to the second; a date column keeps the date only); decimals and
    other numbers become their plain decimal text. Text stays text."""
    kind = source_type.upper()
    if canonical in TIMESTAMP_COLUMNS | DATE_COLUMNS and (
            kind.startswith("TIMESTAMP") or kind == "DATE"):
        local = (f"timezone('{LOCAL_TIME_ZONE}', {column})" if "TIME ZONE" in kind
                 else f"cast({column} as timestamp)")
        fmt = ISO_DATE if canonical in DATE_COLUMNS else ISO_TIMESTAMP
        return f"strftime({local}, '{fmt}')"
    return f"cast({column} as varchar)"


# Canonical columns a region's code map translates: canonical column -> code_map column.
# The region's own code is in the column the dialect maps to CODE_SOURCE's column.
CODE_SOURCE = {"prescriptions": "atc_code", "diagnoses": "icd10"}
CODE_MAPPED = {"prescriptions": {"atc_code": "target", "strength_mg": "strength_text"},
               "diagnoses": {"icd10": "target"}}


def _code_map_table(con: duckdb.DuckDBPyConnection, dialect: RegionDialect,
                    table: str) -> bool:
    """Temp table `code_map` of the region's drug or diagnosis code map ([code_maps]), on
    the connection that builds `stg`; False when the region has none for this table."""
    rows = {"prescriptions": dialect.drug_map, "diagnoses": dialect.diagnosis_map}.get(table)
    if not rows:
        return False
    con.execute("create or replace temp table code_map "
                "(source_code varchar, target varchar, strength_text varchar)")
    con.executemany("insert into code_map values (?, ?, ?)", [
        (r.source_code, r.target,
         None if r.strength_mg is None else f"{r.strength_mg:g}".replace(".", dialect.decimal))
        for r in rows])
    return True


# Canonical columns holding a number the parse SQL reads.
NUMBER_COLUMNS = {"source_value", "strength_mg"}
TYPED = "_typed"  # stg's column `<canonical>_typed`: the typed Parquet value, else NULL


def _typed_value(column: str | None, source_type: str, canonical: str) -> str:
    """A typed Parquet value as the type the parse SQL would make of its text (issue 23:
    reading a national lab file's typed columns as text and parsing that text again took a
    third of its ingest). The same value as the text route, exactly: a timestamp or date
    from 1900 to 9999 (to the second, or the date), a DOUBLE or an integer as a double
    (DuckDB writes a double as the shortest text that reads back to it; a non-finite
    number is no number). Anything else is NULL here and goes the text route (`_as_text`):
    FLOAT and DECIMAL, whose text reads back to another double than a cast gives; text."""
    kind = source_type.upper()
    if column is None:
        pass
    elif canonical in TIMESTAMP_COLUMNS | DATE_COLUMNS and (
            kind.startswith("TIMESTAMP") or kind == "DATE"):
        local = (f"timezone('{LOCAL_TIME_ZONE}', {column})" if "TIME ZONE" in kind
                 else f"cast({column} as timestamp)")
        value = (f"cast({local} as date)" if canonical in DATE_COLUMNS
                 else f"date_trunc('second', {local})")
        return f"case when year({local}) between 1900 and 9999 then {value} end"
    elif canonical in NUMBER_COLUMNS and kind in (
            "DOUBLE", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER",
            "USMALLINT", "UTINYINT"):
        return f"finite_or_null(cast({column} as double))"
    return "null"


def _typed_type(canonical: str) -> str:
    return ("date" if canonical in DATE_COLUMNS
            else "timestamp" if canonical in TIMESTAMP_COLUMNS else "double")


def _create_stg_view(con: duckdb.DuckDBPyConnection, dialect: RegionDialect, table: str,
                     header: list[str], path: Path) -> str:
    """View `stg`: canonical names, text values and `_row`; view `stg_cprs`: every CPR
    field. Returns the SQL expression (over `stg s` and the parsed row `p`) of what the
    quarantine keeps of a rejected row: `{source column: value}` of its offending field,
    when that value cannot identify anyone, else NULL."""
    mapping = dialect.columns.get(table, {})
    # Every column the dialect names must be there (a file without its unit column does
    # not match its dialect), and so must the ones the table cannot do without.
    missing = [
        f"{mapping.get(c, '?')} ({c})" for c in SOURCE_COLUMNS[table]
        if (c in REQUIRED_COLUMNS[table] or c in mapping) and mapping.get(c) not in header
    ]
    if missing:
        shown = [redact_cpr(c) for c in header]
        looks_like_data = shown != header or any(c[:1].isdigit() for c in header)
        raise IngestError(
            f"{path}: the {dialect.name} dialect expects column(s) {', '.join(missing)} for "
            f"{table}, but the file has {', '.join(shown)}"
            + ("; its first line holds data, not column names: is the header row missing?"
               if looks_like_data else "")
            + f"; check the export or config/regions/{dialect.name}.toml")
    types = {name: kind for name, kind, *_ in con.execute("describe raw_stage").fetchall()}
    select = []
    code_map = _code_map_table(con, dialect, table)
    for canonical in SOURCE_COLUMNS[table]:
        source = mapping.get(canonical)
        value = (_as_text(quote_ident(source), types.get(source, "VARCHAR"), canonical)
                 if source in header else "null")
        if canonical in TIMESTAMP_COLUMNS and source in header and converts_time_zone(
                dialect, table):
            value = _local_time_text(value, dialect, table)
        code_source = mapping.get(CODE_SOURCE.get(table, ""))
        if code_map and canonical in CODE_MAPPED[table] and code_source in header:
            mapped = (f"(select m.{CODE_MAPPED[table][canonical]} from code_map m "
                      f"where m.source_code = trim(cast({quote_ident(code_source)} as varchar)))")
            # the list's code replaces the region's code (an unlisted code stays as it came
            # and is quarantined as no ATC / ICD-10 code); its strength fills an empty one
            value = (f"coalesce(nullif(trim({value}), ''), {mapped})"
                     if canonical == "strength_mg" else f"coalesce({mapped}, {value})")
        select.append(f"{value}::varchar as {canonical}")
        if canonical in TIMESTAMP_COLUMNS | DATE_COLUMNS | NUMBER_COLUMNS:
            typed = _typed_value(quote_ident(source) if source in header else None,
                                 types.get(source, "VARCHAR"), canonical)
            select.append(f"({typed})::{_typed_type(canonical)} as {canonical}{TYPED}")
    select.append("_row")
    con.execute(f"create or replace temp view stg as select {', '.join(select)} from raw_stage")
    cprs = [c for c in CPR_COLUMNS if c in SOURCE_COLUMNS[table]]
    con.execute("create or replace temp view stg_cprs as "
                + (" union all ".join(f"select {c} as raw from stg" for c in cprs)
                   or "select null::varchar as raw limit 0"))
    # The quarantine keeps only the offending field's value (never a CPR column, never an
    # unmapped column, and only when it cannot be an identifier: quarantine_value).
    kept = [c for c in SOURCE_COLUMNS[table] if c not in CPR_COLUMNS and mapping.get(c) in header]
    cases = " ".join(f"when '{c}' then to_json({{{_sql_text(mapping[c])}: "
                     f"quarantine_value(s.{c})}})" for c in kept)
    return (f"case p._problem.field {cases} end::varchar" if kept else "null::varchar")


def cpr_side(store: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """The CPR side of an ingest: a separate in-memory DuckDB that reads the files, turns
    their CPR fields into pseudonyms and writes the vault. The store's connection gets only
    CPR-free rows (`_hand_over`): DuckDB does not zero the pages of its buffer pool, so
    CPR numbers read on the store's connection (its temporary tables, an attached vault)
    were found in the store file's bytes (docs/robustness.md). It spills, if it must,
    beside the store's own spill folder (owner-only, removed by DuckDB after use)."""
    side = duckdb.connect()
    spill = con_setting(store, "temp_directory")
    if spill:
        folder = Path(spill) / "cpr-side"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        side.execute("set temp_directory = " + _sql_text(str(folder)))
    side.execute("set memory_limit = " + _sql_text(con_setting(store, "memory_limit")))
    run_sql(side, "schema/macros")
    return side


def con_setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return con.execute("select current_setting(?)", [name]).fetchall()[0][0]


def _hand_over(side: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection, table: str,
               params: dict) -> None:
    """From the CPR side's `stg` (the file's canonical text columns) to the store's temp
    tables `stg` (each CPR field replaced by its `ref`; a CPR-shaped number in any other
    text field replaced by '<cpr>'), `cpr_ids` (without the CPR text) and `csv_rejects`
    (without the lines). Then the side's copy of the file is dropped."""
    cprs = [c for c in CPR_COLUMNS if c in SOURCE_COLUMNS[table]]
    if cprs:
        run_sql(side, "ingest/cpr_ids", params)  # one pseudonym per distinct CPR field
    select, joins = [], []
    for c in SOURCE_COLUMNS[table]:
        if c in cprs:
            select.append(f"{c}_ids.ref as {c}")
            joins.append(f"left join cpr_ids {c}_ids on {c}_ids.raw = coalesce(s.{c}, '')")
        elif c in TIMESTAMP_COLUMNS | DATE_COLUMNS:  # a CPR number here is the whole value
            select.append(f"case when length(s.{c}) in (10, 11) and regexp_full_match("
                          f"s.{c}, '[0-9]{{6}}-?[0-9]{{4}}') then '<cpr>' else s.{c} end as {c}")
        else:  # only a value of 10 characters or more can hold a CPR number
            select.append(f"case when length(s.{c}) >= 10 then redact_cpr(s.{c}) "
                          f"else s.{c} end as {c}")
        if c in TIMESTAMP_COLUMNS | DATE_COLUMNS | NUMBER_COLUMNS:  # typed: no CPR text
            select.append(f"s.{c}{TYPED}")
    rows = side.sql(f"select {', '.join(select)}, s._row from stg s {' '.join(joins)}")
    with rows.to_arrow_reader() as reader:  # streamed: the file is not held twice
        _receive(con, "stg", reader)
    ids = ("select ref, problem, person_id, birth_date, sex from cpr_ids" if cprs else
           "select null::bigint as ref, null::varchar as problem, null::bigint as person_id, "
           "null::date as birth_date, null::varchar as sex limit 0")
    _receive(con, "cpr_ids", side.sql(ids).to_arrow_table())
    _receive(con, "csv_rejects", side.sql(
        "select _row, column_name, error_type, redact_cpr(error_message) as error_message "
        "from csv_rejects").to_arrow_table())
    for view in ("stg_cprs", "stg", "raw_stage"):
        side.execute(f"drop view if exists {view}")
    for name in ("raw_numbered", "raw_read", "reject_errors", "reject_scans"):
        side.execute(f"drop table if exists {name}")


def _receive(con: duckdb.DuckDBPyConnection, name: str, data: object) -> None:
    """Materialise Arrow data from the CPR side as a temp table of the store connection."""
    con.register("handed_over", data)
    try:
        con.execute(f"create or replace temp table {name} as select * from handed_over")
    finally:
        con.unregister("handed_over")


def _temp_object_kinds(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """'view' and/or 'table' where a temporary object of that name exists."""
    return [kind for kind, in con.execute(
        "select 'view' from duckdb_views() where temporary and view_name = $n "
        "union all select 'table' from duckdb_tables() where temporary and table_name = $n",
        {"n": name}).fetchall()]


# A validator gets (store connection, table, source, rows) while the file's rows are the
# temp view `accepted`, and returns its report, or a verdict: a call that returns the report
# (or raises) once the validation running meanwhile is done. A verdict is called after the
# file's rows are inserted and before they are committed, so the insert overlaps the check.
Verdict = Callable[[], dict]
Validator = Callable[[duckdb.DuckDBPyConnection, str, str, int], dict | Verdict]


def _struct(alias: str, columns: tuple[str, ...] | list[str]) -> str:
    """A struct of the columns (our own names) of `alias`, as an SQL expression."""
    return "{" + ", ".join(f"'{c}': {alias}.{quote_ident(c)}" for c in columns) + "}"


def _check_repeats(con: duckdb.DuckDBPyConnection, table: str, params: dict) -> None:
    """View `checked`: `parsed` with the repeats of sql/ingest/repeats.sql (duplicates,
    conflicts) as problems; `repeat_corrections`: stored rows this file corrects."""
    ek = EVENT_KEYS[table]
    values = _struct("p", ek.values) if ek.values else "true"
    con.execute("create or replace temp view repeat_in as select _row, person_id, "
                f"{_struct('p', ek.key)} as k, {values} as v "
                "from parsed p where _problem is null")
    stored_values = _struct("t", ek.values) if ek.values else "true"
    con.execute("create or replace temp view repeat_stored_all as select source_file, "
                f"row_number, person_id, region, {_struct('t', ek.key)} as k, "
                f"{stored_values} as v from {table} t")
    run_sql(con, "ingest/repeats", {**params, "repeat_field": ek.field,
                                    "repeat_key_text": ek.text})
    con.execute("create or replace temp view checked as select p.* replace "
                "(coalesce(p._problem, r.problem) as _problem) "
                "from parsed p left join repeat_problems r using (_row)")


def _refuse_systematic(con: duckdb.DuckDBPyConnection, path: Path, rows: int,
                       limits: Plausibility, date_format: str, ts_format: str,
                       dialect: RegionDialect) -> None:
    """Refuse the file whole (IngestError) when one check quarantines more than the
    configured share of its rows: a systematic export error. Accepting the rows that
    happen to pass would store wrong data (day and month swapped: every day up to the 12th
    still makes a date). Duplicates do not count (an overlap is handled row by row)."""
    if rows < limits.refuse_min_rows:
        return
    top = query_sql(con, "ingest/most_failed_check").fetchall()
    if not top or top[0][2] <= limits.refuse_share_above * rows:
        return
    field_name, reason, n = top[0]
    cause = _likely_cause(con, field_name, reason, date_format, ts_format, dialect)
    raise IngestError(
        f"{path}: {n} of {rows} rows ({100 * n / rows:.0f} %) fail one check ({field_name}: "
        f"{reason}), so the file is refused whole and nothing of it was stored. Likely "
        f"cause: {cause}. Fix the export (or the dialect, config/regions/{dialect.name}.toml) "
        "and deliver it again")


def _swap_day_month(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def _likely_cause(con: duckdb.DuckDBPyConnection, field_name: str, reason: str,
                  date_format: str, ts_format: str, dialect: RegionDialect) -> str:
    """The likeliest systematic cause of one failing check, in words (dates are tried
    under the usual mistakes; no value is shown, so none can identify anyone)."""
    if reason.startswith(("not a date in the format", "not a timestamp in the format")) and (
            field_name in TIMESTAMP_COLUMNS | DATE_COLUMNS):
        fmt = ts_format if field_name in TIMESTAMP_COLUMNS else date_format
        tries = {
            "day and month are swapped": _swap_day_month(fmt),
            "the years have two digits": fmt.replace("%Y", "%y"),
            "the times have seconds": fmt + ":%S" if fmt.endswith("%M") else fmt,
        }
        counts = con.execute(
            "select count(*), " + ", ".join(
                f"count(*) filter (where try_strptime(trim(v), $f{i}) is not null)"
                for i in range(len(tries)))
            + ", count(*) filter (where try_cast(trim(v) as timestamptz) is not null) "
            f"from (select s.{quote_ident(field_name)} as v from stg s join checked c "
            "using (_row) where c._problem.reason = $reason)",
            {"reason": reason, **{f"f{i}": f for i, f in enumerate(tries.values())}}
        ).fetchall()[0]
        total, *parsed, iso = counts
        for why, hits in zip(tries, parsed, strict=True):
            if hits > total / 2 and tries[why] != fmt:
                return f"{why} (they parse as {tries[why]}, the dialect says {fmt})"
        if iso > total / 2:
            return (f"the values are ISO timestamps (with seconds, a 'T' or a time zone), "
                    f"not the dialect's {fmt}")
        return f"the dates are not in the dialect's format {fmt}"
    causes = [
        ("unit ", "the unit column holds a unit config/units.toml does not accept (a typo, "
                  "or a new unit)"),
        ("not a number", f"the numbers do not use the dialect's decimal separator "
                         f"('{dialect.decimal}')"),
        ("unknown lab code", f"the lab codes are not in [lab_codes] of "
                             f"config/regions/{dialect.name}.toml (a new code system, or a "
                             "typo there?): check [lab_codes]"),
        ("person not in the patients extract", "the patients file is missing or belongs to "
                                               "another extract"),
        ("outside the plausible range", "the values are in another unit than their unit "
                                        "column says (mg/dL labelled mmol/L?)"),
        ("not a CPR number", "the CPR column is not the one the dialect names"),
    ]
    return next((why for start, why in causes if reason.startswith(start) or start in reason),
                "a systematic error in the export")


def _table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [c for (c,) in con.execute(
        "select column_name from duckdb_columns() where database_name = current_database() "
        "and schema_name = 'main' and table_name = ? order by column_index", [table]
    ).fetchall()]


def _run(con: duckdb.DuckDBPyConnection, statement: str, params: dict) -> int:
    """Run one statement with the parameters it names; the rows it changed."""
    changed = con.execute(statement, _used_params(statement, params)).fetchall()
    return changed[0][0] if changed else 0


def _supersede(con: duckdb.DuckDBPyConnection, table: str, file_params: dict,
               resent: str | None) -> int:
    """In the file's transaction: move the stored rows this file replaces to
    `superseded_rows` and delete them. `resent`: the checksum of the earlier version of
    this same file, whose rows this version replaces (those it repeats unchanged are not
    history). Returns the number of rows superseded."""
    cols = [c for c in _table_columns(con, table) if c not in ("source_file", "row_number")]
    as_json = f"to_json({_struct('o', cols)})::varchar"
    superseded = 0
    if resent is not None:
        same = " and ".join(f"a.{quote_ident(c)} is not distinct from o.{quote_ident(c)}"
                            for c in cols)
        superseded += _run(
            con, "insert into superseded_rows select $table_name, o.source_file, $resent, "
            f"o.row_number, o.person_id, {as_json}, 'replaced: the file was delivered again "
            "without this row, or with other values', $source_file, null, now()::timestamp "
            f"from {table} o where o.source_file = $source_file "
            f"and not exists (select 1 from accepted a where {same})",
            {**file_params, "resent": resent})
        _run(con, f"delete from {table} where source_file = $source_file", file_params)
        _run(con, "delete from quarantine where source_file = $source_file "
                  "and table_name = $table_name", file_params)
        _run(con, "update ingested_files set superseded_by = $checksum where path = "
                  "$source_file and table_name = $table_name and superseded_by is null",
             file_params)
    if table in EVENT_KEYS:
        superseded += _run(
            con, "insert into superseded_rows select $table_name, o.source_file, f.checksum, "
            f"o.row_number, o.person_id, {as_json}, 'corrected by a later delivery', "
            "$source_file, c._row, now()::timestamp "
            f"from {table} o join repeat_corrections c "
            "on c.source_file = o.source_file and c.row_number = o.row_number "
            "left join ingested_files f on f.path = o.source_file "
            "and f.table_name = $table_name and f.superseded_by is null", file_params)
        con.execute(f"delete from {table} o where exists (select 1 from repeat_corrections c "
                    "where c.source_file = o.source_file and c.row_number = o.row_number)")
    if superseded:
        # People's data changed without a row in a newer file (a withdrawn row): the next
        # screening recomputes everyone rather than trust the incremental scope.
        con.execute("delete from screening_state")
    return superseded


def ingest_file(con: duckdb.DuckDBPyConnection, dialect: RegionDialect, table: str, path: Path,
                key: PseudonymKey, *, today: date, vault_path: Path,
                validator: Validator | None = None,
                hashed: Future[Fingerprint] | None = None,
                limits: Plausibility | None = None,
                side: duckdb.DuckDBPyConnection | None = None) -> FileResult:
    """Ingest one file, or skip it when its checksum was ingested before.

    `validator(con, table, source, rows)` checks the temp view `accepted` (`rows` rows)
    before anything is committed and raises to stop the file (and the region's run); its
    report is kept. It may return a verdict instead (see `Validator`). `hashed`: the
    file's fingerprint being computed ahead (else here).

    `side`: the region's CPR side (`cpr_side`), made here when not given.
    The file is recorded (store, summaries, messages) under `PseudonymKey.file_label`:
    its path with any CPR-shaped number in it replaced by a keyed token, so a per-patient
    file name never carries a CPR number out of the extract folder.
    """
    name = key.file_label(path)
    own_side = side is None
    side = side or cpr_side(con)
    try:
        return _ingest_file(con, dialect, table, path, key, today=today, vault_path=vault_path,
                            validator=validator, hashed=hashed, limits=limits, name=name,
                            side=side)
    except IngestError as exc:
        if str(path) == name:
            raise
        raise IngestError(redact_cpr(str(exc).replace(str(path), name))) from None
    finally:
        if own_side:
            side.close()


def _ingest_file(con: duckdb.DuckDBPyConnection, dialect: RegionDialect, table: str, path: Path,
                key: PseudonymKey, *, today: date, vault_path: Path,
                validator: Validator | None = None,
                hashed: Future[Fingerprint] | None = None,
                limits: Plausibility | None = None, name: str = "",
                side: duckdb.DuckDBPyConnection) -> FileResult:
    """Ingest one file, or skip it when its checksum was ingested before.

    `validator(con, table, source, rows)` checks the temp view `accepted` (`rows` rows)
    before anything is committed and raises to stop the file (and the region's run); its
    report is kept. It may return a verdict instead (see `Validator`). `hashed`: the
    file's fingerprint being computed ahead (else here).
    """
    limits = limits or load_plausibility()
    seen_file = hashed.result() if hashed is not None else fingerprint(path)
    checksum = seen_file.checksum
    result = FileResult(path=name, table=table, checksum=checksum)
    seen = con.execute("select 1 from ingested_files where checksum = ?", [checksum]).fetchall()
    if seen:
        result.skipped = True
        return result

    if dialect.format == "csv":
        header, rows_in_file = _stage_csv(side, path, dialect)
        date_format, ts_format = dialect.date_format_for(table), dialect.timestamp_format_for(table)
        decimal_comma = dialect.decimal == ","
    else:
        header, rows_in_file = _stage_parquet(side, path)
        date_format, ts_format, decimal_comma = ISO_DATE, ISO_TIMESTAMP, False
    raw_json = _create_stg_view(side, dialect, table, header, path)
    params = {
        "region": dialect.name, "source_file": name,
        "decimal_comma": decimal_comma, "date_format": date_format,
        # converted text timestamps are parsed as the staging view wrote them
        "timestamp_format": (ISO_TIMESTAMP + LOCAL_MARK if converts_time_zone(dialect, table)
                             else ts_format),
        "timestamp_format_shown": ts_format, "icd10_style": dialect.icd10_style, "today": today,
        "accepted_atc_prefixes": accepted_atc_prefixes(),
        "max_age_years": limits.max_age_years,
        **key.sql_params(),
    }
    # `parsed` is a table for most files and a view for lab files (sql/ingest/README.md).
    for kind in _temp_object_kinds(con, "parsed"):
        con.execute(f"drop {kind} parsed")
    _hand_over(side, con, table, params)  # the file's rows, without a CPR number
    run_sql(con, f"ingest/{table}", params)
    # An event file delivered again under its path (new content) replaces that version.
    resent = None
    if table not in SNAPSHOT_KEYS:
        earlier = con.execute("select checksum from ingested_files where path = ? and "
                              "table_name = ? and superseded_by is null",
                              [name, table]).fetchall()
        resent = earlier[0][0] if earlier else None

    if table in EVENT_KEYS:
        _check_repeats(con, table, params)
    else:
        con.execute("create or replace temp view checked as select * from parsed")
    # A file most of whose rows fail one check is refused whole (before any identity).
    _refuse_systematic(con, path, rows_in_file, limits, date_format, ts_format, dialect)
    # Then the quality gate: the quarantine rate of the file and of each analyte.
    check_file(con, table=table, name=name, region=dialect.name, rows=rows_in_file,
               limits=load_quality(),
               cause=lambda f, r: _likely_cause(con, f, r, date_format, ts_format, dialect))

    # Identities go to the vault first (a separate database; DuckDB commits one database
    # per transaction). An identity without store rows is harmless; the reverse is not.
    # Only the accepted rows' pseudonyms cross to the CPR side, which holds the digits.
    if table in IDENTITY_COLUMNS:
        accepted_ids = con.sql(" union ".join(
            f"select {c} as person_id from checked where _problem is null"
            for c in IDENTITY_COLUMNS[table])).to_arrow_table()
        side.register("accepted_ids", accepted_ids)
        attach_vault(side, vault_path)
        try:
            add_identities(side, "select c.person_id, c.digits as cpr from cpr_ids c "
                                 "where c.person_id in (select person_id from accepted_ids)")
        finally:
            detach_vault(side)
            side.unregister("accepted_ids")
        checkpoint("ingest.vault_written")

    file_params = {"region": dialect.name, "source_file": name, "table_name": table,
                   "checksum": checksum}
    row_params = {k: v for k, v in file_params.items() if k != "checksum"}
    # The accepted rows exactly as they will be stored: what validation sees.
    # (Views take no parameters, so the file's identity comes from a one-row table.)
    con.execute("create or replace temp table ingest_file_meta as "
                "select $region as region, $source_file as source_file",
                {"region": dialect.name, "source_file": name})
    con.execute(
        "create or replace temp view accepted as select p.* exclude (_row, _pid, _problem), "
        "m.region, m.source_file, p._row as row_number "
        "from checked p, ingest_file_meta m where p._problem is null")
    counts = con.execute(
        "select count(*) filter (where _problem is null), "
        "count(*) filter (where _problem is not null) from checked").fetchall()[0]
    checked = validator(con, table, name, counts[0]) if validator is not None else None

    con.execute("begin transaction")
    try:
        if table in SNAPSHOT_KEYS:
            keys = SNAPSHOT_KEYS[table]
            match = " and ".join(f"t.{k} = p.{k}" for k in keys if k != "region")
            region_match = " and t.region = $region" if "region" in keys else ""
            con.execute(
                f"delete from {table} t where exists (select 1 from checked p where "
                f"p._problem is null and {match}){region_match}", {"region": dialect.name}
                if region_match else None)
        if resent is not None or table in EVENT_KEYS:
            result.rows_superseded = _supersede(con, table, file_params, resent)
        con.execute(f"insert into {table} by name select * from accepted")
        # The source row as JSON is built for the quarantined rows only (joined by row).
        con.execute(
            "insert into quarantine select $source_file, $table_name, p._row, "
            f"p._problem.field, redact_cpr(p._problem.reason), p._pid, {raw_json}, $region "
            "from checked p join stg s using (_row) where p._problem is not null "
            "order by p._row", row_params)
        # A broken CSV line: where and why, not the line (it holds the CPR number and
        # whatever else the row had).
        con.execute(
            "insert into quarantine select $source_file, $table_name, _row, column_name, "
            "'malformed CSV line: ' || error_type || ' (' || redact_cpr(error_message) || ')', "
            "null, null, $region from csv_rejects", row_params)
        rejects = con.execute("select count(*) from csv_rejects").fetchall()[0][0]
        result.rows_accepted = counts[0]
        result.rows_quarantined = counts[1] + rejects
        result.rows_read = rows_in_file
        if result.rows_accepted + result.rows_quarantined != result.rows_read:
            raise IngestError(
                f"{name}: rows do not balance: read {result.rows_read}, accepted "
                f"{result.rows_accepted}, quarantined {result.rows_quarantined}")
        con.execute(
            "insert into ingested_files (checksum, path, region, table_name, rows_read, "
            "rows_accepted, rows_quarantined, ingested_at) "
            "values (?, ?, ?, ?, ?, ?, ?, now()::timestamp)",
            [checksum, name, dialect.name, table, result.rows_read, result.rows_accepted,
             result.rows_quarantined])
        if checked is not None:  # a failed validation raises: nothing of the file stays
            result.validation = checked() if callable(checked) else checked
        _check_unchanged(path, seen_file)
        checkpoint("ingest.before_commit")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    checkpoint("ingest.after_commit")
    reasons = con.execute(
        "select redact_cpr(_problem.reason), count(*) from checked "
        "where _problem is not null group by 1"
    ).fetchall()
    result.reasons = dict(sorted(reasons))
    if rejects:
        result.reasons["malformed CSV line"] = rejects
    return result


def region_files(dialect: RegionDialect, extract_dir: Path) -> list[tuple[str, Path]]:
    """The files to ingest, in table order then name order, so runs are reproducible."""
    if not extract_dir.is_dir():
        raise IngestError(f"extract folder not found: {extract_dir}")
    root = extract_dir.resolve()
    found = []
    for table in TABLES:
        for path in sorted(extract_dir.glob(dialect.files[table])):
            # A pattern with '..' or a symlink must not pull in files from elsewhere.
            if root not in path.resolve().parents:
                raise IngestError(redact_cpr(
                    f"{path}: outside the extract folder {extract_dir} (a '..' in the "
                    f"{dialect.name} dialect's [files], or a symlink)"))
            if path.is_file():
                found.append((table, path))
    if not found:
        raise IngestError(f"{redact_cpr(str(extract_dir))}: no files match the "
                          f"{dialect.name} dialect's [files]")
    return found


def ingest_region(con: duckdb.DuckDBPyConnection, dialect: RegionDialect, extract_dir: Path,
                  key: PseudonymKey, *, vault_path: Path, today: date | None = None,
                  progress: Callable[[str], None] | None = None,
                  validator: Validator | None = None) -> IngestResult:
    """Ingest every new file of one region's extract folder."""
    limits = load_plausibility()
    _load_lookups(con, dialect, load_units(), limits)
    result = IngestResult(region=dialect.name)
    files = region_files(dialect, extract_dir)
    today = today or date.today()
    hashing = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="checksum")
    hashed = [hashing.submit(fingerprint, path) for _, path in files]
    side = cpr_side(con)  # its cpr_ids cache the region's CPR fields across files
    try:
        for i, ((table, path), ahead) in enumerate(zip(files, hashed, strict=True), 1):
            fr = ingest_file(con, dialect, table, path, key, today=today,
                             vault_path=vault_path, validator=validator, hashed=ahead,
                             limits=limits, side=side)
            result.files.append(fr)
            _report(dialect, i, len(files), path, fr, progress)
    finally:  # a failed file stops the region: no more hashing
        hashing.shutdown(cancel_futures=True)
        side.close()
    return result


def _report(dialect: RegionDialect, i: int, n: int, path: Path, fr: FileResult,
            progress: Callable[[str], None] | None) -> None:
    msg = (f"[{dialect.name} {i}/{n}] {Path(fr.path).name}: "
           + ("already ingested, skipped" if fr.skipped else
              f"{fr.rows_accepted} accepted, {fr.rows_quarantined} quarantined"))
    log.info(msg)
    step("ingest", i, n, f"{dialect.name} {Path(fr.path).name}")
    if progress:
        progress(msg)
