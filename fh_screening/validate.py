"""Validate staged canonical tables against the Great Expectations suites in `expectations/`.

Why this module looks the way it does:

- The suites are JSON files reviewed like code (`expectations/<table>.json`); every
  expectation carries `meta.severity` ("critical" stops the region's run, "warning" is only
  reported) and `meta.why` (one line that tells a data engineer what a failure means).
- Validation runs on pandas frames in one cached *ephemeral* GX context. GX's SQL engine
  does not work with DuckDB (every expectation fails with `unexpected_count=None`, see the
  stack notes, STACK.md), so rows are read from DuckDB as Arrow and handed to GX as pandas.
- Importing GX costs seconds, so it is imported lazily, and only here. Analytics and
  progress bars are switched off before the first import.
- Reports never contain `person_id` / `relative_id` values, not even in examples: those
  are pseudonyms, but a list of them next to a failure reason is still personal data.
- Date and timestamp columns are converted to `datetime64[ns]` before validation: GX 1.24
  compares `datetime64[ms]`/`[us]` columns (what Arrow, DuckDB and polars produce) against
  date bounds row by row and raises, which looks like a failed expectation.

This is a plain library: no Prefect here; `flows/` decides what to do with a report.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fh_screening.config import EXPECTATIONS_DIR, TABLES

if TYPE_CHECKING:
    import duckdb
    import great_expectations as gx
    import pandas as pd
    import pyarrow as pa

SEVERITIES = ("critical", "warning")
# Columns whose values must never leave this module (reports, messages, logs).
PRIVATE_COLUMNS = frozenset({"person_id", "relative_id"})
MAX_EXAMPLES = 5
# Seed for DuckDB's reservoir sample: the same batch always gives the same sample.
SAMPLE_SEED = 42

# SUMMARY gives unexpected counts and a partial list of unexpected values (for examples);
# COMPLETE would also list every unexpected index, which is wasted work on large batches.
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# Things that must not appear in a report even if they turn up in a non-private column:
# pseudonyms (19-digit integers in [2^62, 2^63), and the 32-hex text of earlier versions)
# and CPR-shaped numbers (DDMMYY-NNNN or 10 digits).
_REDACT = re.compile(r"\b[4-9]\d{18}\b|\b[0-9a-fA-F]{32}\b|\b\d{6}-?\d{4}\b")

# GX contexts are not thread-safe, and Prefect may run tasks in threads of one process.
_LOCK = threading.RLock()


class SuiteError(ValueError):
    """An expectation suite file is missing, malformed, or lacks severity / why metadata."""


@dataclass
class ExpectationOutcome:
    """The result of one expectation, reduced to what a person deciding on a run needs."""

    expectation: str
    column: str | None
    severity: str
    success: bool
    unexpected_count: int | None
    unexpected_percent: float | None
    examples: list = field(default_factory=list)
    why: str = ""
    # Which rows the expectation applies to, e.g. "analyte == 'ldl'" (None: all rows).
    condition: str | None = None
    # For table-level expectations: the observed value (row count, missing columns...).
    observed: Any = None
    # Set when GX could not evaluate the expectation (missing column, type error...).
    error: str | None = None

    def describe(self) -> str:
        """One line: what failed, where, how often, examples, and why it matters."""
        where = f" on {self.column}" if self.column else ""
        if self.condition:
            where += f" where {self.condition}"
        if self.unexpected_count is not None:
            pct = "" if self.unexpected_percent is None else f" ({self.unexpected_percent:.2f}%)"
            what = f"{self.unexpected_count} unexpected{pct}"
        elif self.error:
            what = f"could not be evaluated: {self.error}"
        elif self.observed is not None:
            what = f"observed {self.observed!r}"
        else:
            what = "failed"
        eg = f", e.g. {self.examples}" if self.examples else ""
        return f"{self.expectation}{where}: {what}{eg} - {self.why}"


@dataclass
class ValidationReport:
    """All outcomes of one suite over one batch of one table."""

    table: str
    source: str
    rows: int  # rows actually validated (the sample size when sampled)
    outcomes: list[ExpectationOutcome]
    sampled: bool = False
    total_rows: int | None = None  # rows in the batch before sampling
    # GX's own validation result (to_json_dict), without unexpected values or pseudonyms
    # (`gx_result_json`): kept per run for Data Docs (fh_screening/data_docs.py).
    gx_result: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        """True when no critical expectation failed (warnings do not stop a run)."""
        return not self.critical_failures

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failed warning-level expectations (passed ones are not warnings)."""
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable and deterministic (no timings), so run summaries stay byte-stable."""
        return {
            "table": self.table,
            "source": self.source,
            "rows": self.rows,
            "total_rows": self.total_rows,
            "sampled": self.sampled,
            "success": self.success,
            "expectations": len(self.outcomes),
            "critical_failures": len(self.critical_failures),
            "warnings": len(self.warnings),
            "outcomes": [asdict(o) for o in self.outcomes],
        }

    def to_markdown(self) -> str:
        """A short summary and a table of what failed and why (for Prefect artifacts, logs)."""
        status = "passed" if self.success else "FAILED"
        scope = f"{self.rows:,} rows"
        if self.sampled:
            scope = f"a sample of {self.rows:,} of {self.total_rows:,} rows"
        lines = [
            f"### Validation of `{self.table}` from `{_cell(self.source)}`: {status}",
            "",
            f"{len(self.outcomes)} expectations over {scope}: "
            f"{len(self.critical_failures)} critical failure(s), {len(self.warnings)} warning(s).",
        ]
        failed = self.critical_failures + self.warnings
        if not failed:
            return "\n".join(lines) + "\n"
        lines += [
            "",
            "| Severity | Expectation | Column | Unexpected | Examples | Why |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for o in failed:
            column = o.column or ""
            if o.condition:
                column += f" ({o.condition})"
            if o.unexpected_count is not None:
                pct = "" if o.unexpected_percent is None else f" ({o.unexpected_percent:.2f}%)"
                count = f"{o.unexpected_count:,}{pct}"
            elif o.error:
                count = f"error: {o.error}"
            else:
                count = "" if o.observed is None else f"observed {o.observed!r}"
            examples = ", ".join(repr(e) for e in o.examples)
            cells = [o.severity, o.expectation, column, count, examples, o.why]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return "\n".join(lines) + "\n"


class ValidationFailed(Exception):
    """A batch failed at least one critical expectation; `.report` holds the details."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(_failure_message(report))

    def __reduce__(self) -> tuple[Any, ...]:
        # Default pickling would call ValidationFailed(message); Prefect and multiprocessing
        # pickle exceptions, so rebuild from the report instead.
        return (type(self), (self.report,))


def _failure_message(report: ValidationReport) -> str:
    failures = report.critical_failures
    scope = f"{report.rows:,} rows" + (" sampled" if report.sampled else "")
    head = (
        f"validation of table '{report.table}' from {report.source!r} failed: "
        f"{len(failures)} critical expectation(s) failed ({scope})"
    )
    return "\n".join([head, *(f"  - {o.describe()}" for o in failures)])


def _cell(value: Any) -> str:
    """Make a value safe inside a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


# --------------------------------------------------------------------------- GX plumbing


def _gx() -> Any:
    """Import GX on first use only: the import alone takes seconds."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations

    return great_expectations


@functools.cache
def _context() -> Any:
    """One ephemeral (in-memory, nothing on disk) GX context per process."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def gx_context_for_docs() -> Any:
    """A new ephemeral context (its own stores and sites) for building a run's Data Docs;
    validation keeps using the cached one."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@functools.cache
def _pandas_source() -> Any:
    """The one pandas data source of the context; each call passes its own dataframe."""
    return _context().data_sources.add_pandas("fh_screening")


@functools.cache
def _batch_definition(table: str) -> Any:
    """A whole-dataframe batch definition per table, created once and reused."""
    asset = _pandas_source().add_dataframe_asset(table)
    return asset.add_batch_definition_whole_dataframe("whole")


def _suite_path(table: str, suites_dir: Path) -> Path:
    if not _TABLE_NAME.match(table):
        raise SuiteError(f"invalid table name {table!r}")
    return Path(suites_dir) / f"{table}.json"


def _parse_suite(table: str, path: Path) -> Any:
    """Read, parse and check one suite file (fresh objects on every call)."""
    gx = _gx()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SuiteError(f"no expectation suite for table {table!r}: {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from exc
    try:
        suite = gx.ExpectationSuite(**raw)
    except Exception as exc:  # GX raises pydantic and its own errors; name the file
        raise SuiteError(f"{path}: not a valid expectation suite: {exc}") from exc
    if suite.name != table:
        raise SuiteError(f"{path}: suite name {suite.name!r} does not match table {table!r}")
    if len(suite.expectations) != len(raw.get("expectations", [])):
        raise SuiteError(f"{path}: duplicate expectations (GX merges identical ones)")
    for i, expectation in enumerate(suite.expectations):
        meta = expectation.meta or {}
        where = f"{path}: expectation {i} ({expectation.expectation_type})"
        if meta.get("severity") not in SEVERITIES:
            raise SuiteError(f"{where}: meta.severity must be one of {SEVERITIES}")
        if not isinstance(meta.get("why"), str) or not meta["why"].strip():
            raise SuiteError(f"{where}: meta.why must say what a failure means")
        native = getattr(expectation.severity, "value", expectation.severity)
        if native != meta["severity"]:
            raise SuiteError(
                f"{where}: GX 'severity' {native!r} disagrees with meta.severity "
                f"{meta['severity']!r}; set both"
            )
    return suite


def load_suite(table: str, suites_dir: Path = EXPECTATIONS_DIR) -> gx.ExpectationSuite:
    """Load `<suites_dir>/<table>.json` as a new ExpectationSuite (safe for callers to edit)."""
    return _parse_suite(table, _suite_path(table, suites_dir))


@functools.lru_cache(maxsize=64)
def _prepared_suite(table: str, path: str, mtime_ns: int) -> Any:
    """The suite used for validation, parsed once per file version.

    Each expectation gets a stable id (`<table>:<index>`) so that results, which GX returns
    in its own order, can be put back into the order of the suite file.
    """
    suite = _parse_suite(table, Path(path))
    for i, expectation in enumerate(suite.expectations):
        expectation.id = f"{table}:{i:03d}"
    return suite


# --------------------------------------------------------------------------- frames


def _to_pandas(frame: Any) -> pd.DataFrame:
    """Convert a polars frame, Arrow table/reader or pandas frame to pandas, once."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(frame, pd.DataFrame):
        return _normalise_pandas_temporal(frame)
    if isinstance(frame, pa.RecordBatchReader):  # duckdb 2.0 `.arrow()` returns one
        frame = frame.read_all()
    if isinstance(frame, pa.RecordBatch):
        frame = pa.Table.from_batches([frame])
    if isinstance(frame, pa.Table):
        return _arrow_to_pandas(frame)
    module = type(frame).__module__.split(".")[0]
    if module == "polars":
        if not hasattr(frame, "to_arrow"):
            raise TypeError("polars LazyFrame: collect() it before validating")
        return _arrow_to_pandas(frame.to_arrow())
    raise TypeError(f"cannot validate a {type(frame).__name__}: pass polars, pyarrow or pandas")


def _arrow_to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow -> pandas with dates and naive timestamps as datetime64[ns] (see module doc)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, f in enumerate(table.schema):
        t = f.type
        if pa.types.is_date(t) or (pa.types.is_timestamp(t) and t.tz is None and t.unit != "ns"):
            # Outside 1677..2262 the cast fails: keep the dates; a bounds check on them then
            # reports a comparison error instead of this function failing the whole batch.
            with contextlib.suppress(pa.ArrowInvalid):
                table = table.set_column(i, f.name, pc.cast(table.column(i), pa.timestamp("ns")))
    return table.to_pandas()


def _normalise_pandas_temporal(frame: pd.DataFrame) -> pd.DataFrame:
    """Same temporal convention for pandas input, without touching the caller's frame."""
    import numpy as np
    import pandas as pd

    out = frame
    for name in frame.columns:
        col = frame[name]
        converted = None
        try:
            if isinstance(col.dtype, np.dtype) and col.dtype.kind == "M":
                if col.dtype != np.dtype("datetime64[ns]"):
                    converted = col.astype("datetime64[ns]")
            elif col.dtype == object and pd.api.types.infer_dtype(col, skipna=True) in (
                "date",
                "datetime",
            ):
                converted = pd.to_datetime(col).astype("datetime64[ns]")
        except (ValueError, TypeError, OverflowError):
            converted = None  # out of range or mixed time zones: validate as given
        if converted is not None:
            if out is frame:
                out = frame.copy(deep=False)
            out[name] = converted
    return out


# --------------------------------------------------------------------------- results


def _json_safe(value: Any) -> Any:
    """Examples and observed values as plain JSON types, with identifiers redacted."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, str):
        return _REDACT.sub("<redacted>", value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if hasattr(value, "isoformat"):  # date, datetime, pandas Timestamp
        try:
            return value.isoformat()
        except ValueError:  # NaT
            return None
    if hasattr(value, "item"):  # numpy scalars, including datetime64
        item = value.item()
        if isinstance(item, int) and type(value).__name__.startswith("datetime64"):
            item = str(value)
        return _json_safe(item) if item is not value else str(value)
    return _REDACT.sub("<redacted>", str(value))


def _condition_text(condition: Any) -> str | None:
    """A short readable form of a GX row condition, e.g. "analyte == 'ldl'".

    Simple comparisons are spelled out; anything else falls back to GX's own str().
    """
    if condition is None:
        return None
    column = getattr(getattr(condition, "column", None), "name", None)
    operator = getattr(condition, "operator", None)
    if column is not None and operator is not None:
        op = getattr(operator, "value", str(operator))
        op = {"IN": "in", "NOT_IN": "not in"}.get(op, op)
        return f"{column} {op} {condition.parameter!r}"
    return str(condition)


def _error_text(exception_info: Any) -> str | None:
    """First line of the first exception GX caught while evaluating an expectation."""
    if not isinstance(exception_info, dict):
        return None
    infos = [exception_info]
    if "raised_exception" not in exception_info:  # keyed by metric id
        infos = [v for v in exception_info.values() if isinstance(v, dict)]
    for info in infos:
        if info.get("raised_exception"):
            message = str(info.get("exception_message") or "unknown error").strip()
            message = message.splitlines()[0] if message else "unknown error"
            return _REDACT.sub("<redacted>", message)[:300]
    return None


def _outcome(result: Any, expectation: Any) -> ExpectationOutcome:
    """Reduce one GX ExpectationValidationResult, keeping private values out."""
    kwargs = expectation.configuration.kwargs
    columns = [kwargs[k] for k in ("column", "column_A", "column_B") if kwargs.get(k)]
    columns += list(kwargs.get("column_list") or [])
    private = any(c in PRIVATE_COLUMNS for c in columns)
    details = result.result or {}

    examples: list = []
    observed = None
    if not result.success and not private:
        counts = details.get("partial_unexpected_counts")
        if counts:
            values = [c["value"] for c in counts]
        else:
            values = list(details.get("partial_unexpected_list") or [])
        seen: list = []
        for value in (_json_safe(v) for v in values):
            if value not in seen:
                seen.append(value)
            if len(seen) == MAX_EXAMPLES:
                break
        examples = seen
        mismatched = (details.get("details") or {}).get("mismatched")
        if isinstance(mismatched, dict) and mismatched.get("missing"):
            examples = _json_safe(sorted(mismatched["missing"]))[:MAX_EXAMPLES]
    if not columns and "observed_value" in details:
        observed = _json_safe(details["observed_value"])

    unexpected_count = details.get("unexpected_count")
    unexpected_percent = details.get("unexpected_percent")
    meta = expectation.meta
    return ExpectationOutcome(
        expectation=expectation.expectation_type,
        column=",".join(columns) or None,
        severity=meta["severity"],
        success=bool(result.success),
        unexpected_count=None if unexpected_count is None else int(unexpected_count),
        unexpected_percent=(
            None if unexpected_percent is None else round(float(unexpected_percent), 4)
        ),
        examples=examples,
        why=meta["why"],
        condition=_condition_text(getattr(expectation, "row_condition", None)),
        observed=observed,
        error=None if result.success else _error_text(result.exception_info),
    )


def _run_suite(table: str, df: pd.DataFrame, suites_dir: Path) -> list[ExpectationOutcome]:
    path = _suite_path(table, suites_dir)
    try:
        mtime_ns = path.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise SuiteError(f"no expectation suite for table {table!r}: {path} not found") from exc
    with _LOCK:
        suite = _prepared_suite(table, str(path.resolve()), mtime_ns)
        batch = _batch_definition(table).get_batch(batch_parameters={"dataframe": df})
        validation = batch.validate(suite, result_format=_RESULT_FORMAT)
    by_id = {r.expectation_config.id: r for r in validation.results}
    _LAST_RESULT.value = gx_result_json(validation.to_json_dict())
    outcomes = []
    for expectation in suite.expectations:
        result = by_id.get(expectation.id)
        if result is None:  # GX dropped it: never let that pass silently
            raise RuntimeError(f"GX returned no result for {expectation.id} of {table}")
        outcomes.append(_outcome(result, expectation))
    return outcomes


# Values GX puts in a result that may be row values (pseudonyms, codes, dates): dropped
# from the kept result; the counts and percentages stay.
_ROW_VALUE_KEYS = frozenset({"partial_unexpected_list", "partial_unexpected_counts",
                             "partial_unexpected_index_list", "unexpected_list",
                             "unexpected_index_list", "unexpected_index_query",
                             "unexpected_rows"})
# The GX result of the last suite run on this thread (validate_* attach it to the report).
_LAST_RESULT = threading.local()


def gx_result_json(result: dict[str, Any]) -> dict[str, Any]:
    """A GX validation result as JSON, fit to keep beside a run: no row values, and any
    pseudonym- or CPR-shaped number that is left redacted (the report rule above)."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in _ROW_VALUE_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    kept = strip(result)
    for each in kept.get("results", []):
        # our "<table>:<index>" ids are not the UUIDs GX's schema loads back
        each.get("expectation_config", {}).pop("id", None)
    text = json.dumps(kept, default=str, sort_keys=True)
    return json.loads(_REDACT.sub("<redacted>", text))


def _take_result() -> dict[str, Any] | None:
    result = getattr(_LAST_RESULT, "value", None)
    _LAST_RESULT.value = None
    return result


# --------------------------------------------------------------------------- public API


def start_prewarm() -> threading.Thread:
    """Import GX and build its context in a background thread, so that the seconds this
    takes overlap the work before the first validation (checksums, staging: DuckDB and
    hashlib release the GIL) instead of adding to a monthly run's wall time. A failure
    there is raised again by the first validation, which builds the context itself."""
    def warm() -> None:
        with contextlib.suppress(Exception), _LOCK:
            _pandas_source()

    thread = threading.Thread(target=warm, name="gx-prewarm", daemon=True)
    thread.start()
    return thread


def validate_frame(
    table: str, frame: Any, *, source: str, suites_dir: Path = EXPECTATIONS_DIR
) -> ValidationReport:
    """Validate a polars / pyarrow / pandas frame holding rows of a canonical table.

    `source` says where the rows came from (file, region, batch) and only ends up in the
    report. The frame is converted to pandas once; the caller's frame is never modified.
    """
    return validate_rows(RowsToValidate(table, frame, False, None), source=source,
                         suites_dir=suites_dir)


def _quote_relation(name: str) -> str:
    """Quote a (schema-qualified) table name after checking it: identifiers cannot be bound."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise ValueError(f"invalid table name {name!r}")
    return ".".join(f'"{p}"' for p in parts)


def validate_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    where: str | None = None,
    params: list | None = None,
    source: str,
    sample_rows: int | None = None,
    suites_dir: Path = EXPECTATIONS_DIR,
    relation: str | None = None,
    known_rows: int | None = None,
) -> ValidationReport:
    """Validate rows of a canonical table in DuckDB, optionally one batch or a sample.

    `where` is a SQL condition written by trusted code (e.g. "source_file = ?"); values go
    in `params`, never into the string. `relation` reads from another DuckDB table (e.g. a
    staging table) with `table`'s suite. With `sample_rows`, a batch larger than that is
    validated on a reservoir sample with a fixed seed (same batch, same sample) and the
    report says so; the sample is drawn after the where filter. `known_rows`: the number of
    rows the caller already counted, which spares a pass over a large relation.
    """
    rows = read_rows(con, table, where=where, params=params, sample_rows=sample_rows,
                     relation=relation, known_rows=known_rows)
    return validate_rows(rows, source=source, suites_dir=suites_dir)


@dataclass(frozen=True)
class RowsToValidate:
    """Rows for a suite (read from DuckDB by `read_rows`, or a caller's frame): the rows
    (an Arrow table, or any frame `_to_pandas` takes), whether they are a sample, and how
    many rows they were drawn from (None: the rows are all of them)."""

    table: str
    frame: Any
    sampled: bool
    total_rows: int | None


def read_rows(con: duckdb.DuckDBPyConnection, table: str, *, where: str | None = None,
              params: list | None = None, sample_rows: int | None = None,
              relation: str | None = None, known_rows: int | None = None) -> RowsToValidate:
    """The rows validate_table validates (its arguments), read on `con`: the part of a
    validation that needs the connection; `validate_rows` is the part that does not."""
    if table not in TABLES:
        raise ValueError(f"unknown canonical table {table!r}; expected one of {TABLES}")
    if sample_rows is not None and (not isinstance(sample_rows, int) or sample_rows < 1):
        raise ValueError(f"sample_rows must be a positive integer, not {sample_rows!r}")
    rel = _quote_relation(relation or table)
    # S608: the identifier is checked and quoted, `where` is trusted code, values are bound.
    base = f"SELECT * FROM {rel}" + (f" WHERE {where}" if where else "")  # noqa: S608
    args = list(params or [])
    query, sampled, total = base, False, None
    if sample_rows is not None:
        # fetchall, not fetchone: in duckdb 2.0 a half-read execute() result blocks the
        # connection ("connection has an unfinished result from execute()").
        count_sql = f"SELECT count(*) FROM ({base})"  # noqa: S608
        total = (known_rows if known_rows is not None
                 else int(con.sql(count_sql, params=args or None).fetchall()[0][0]))
        if total > sample_rows:
            # DuckDB applies USING SAMPLE before WHERE, so sample the filtered subquery.
            query = (
                f"SELECT * FROM ({base}) "  # noqa: S608
                f"USING SAMPLE reservoir({int(sample_rows)} ROWS) REPEATABLE ({SAMPLE_SEED})"
            )
            sampled = True
    # con.sql(...).to_arrow_table(), not con.execute(...): in duckdb 2.0 the latter warns
    # that Arrow output from a DB-API result makes an extra copy of the rows.
    arrow = con.sql(query, params=args or None).to_arrow_table()
    return RowsToValidate(table, arrow, sampled, total)


def validate_rows(rows: RowsToValidate, *, source: str,
                  suites_dir: Path = EXPECTATIONS_DIR) -> ValidationReport:
    """The suite run on rows read by `read_rows` (pandas and GX only: no connection)."""
    df = _to_pandas(rows.frame)
    outcomes = _run_suite(rows.table, df, suites_dir)
    return ValidationReport(
        table=rows.table,
        source=source,
        rows=len(df),
        outcomes=outcomes,
        sampled=rows.sampled,
        total_rows=len(df) if rows.total_rows is None else rows.total_rows,
        gx_result=_take_result(),
    )


_validating: ThreadPoolExecutor | None = None


def start_validation(rows: RowsToValidate, *, source: str,
                     suites_dir: Path = EXPECTATIONS_DIR) -> Future[ValidationReport]:
    """`validate_rows` on a thread of its own, so that GX's Python work overlaps DuckDB's
    (the ingest inserts a file's rows while its sample is validated, and commits only
    when the verdict is in: fh_screening/ingest.py). One thread: the GX context is one."""
    global _validating
    with _LOCK:
        if _validating is None:
            _validating = ThreadPoolExecutor(1, thread_name_prefix="fh-validate")
        return _validating.submit(validate_rows, rows, source=source, suites_dir=suites_dir)


def require_valid(report: ValidationReport) -> ValidationReport:
    """Return the report if no critical expectation failed, else raise ValidationFailed."""
    if not report.success:
        raise ValidationFailed(report)
    return report


__all__ = [
    "ExpectationOutcome",
    "SuiteError",
    "ValidationFailed",
    "ValidationReport",
    "load_suite",
    "read_rows",
    "require_valid",
    "start_validation",
    "validate_frame",
    "validate_rows",
    "validate_table",
]
