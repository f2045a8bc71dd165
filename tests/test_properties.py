"""Property-based tests (hypothesis) on random and hostile input: the CPR parser, number
parsing and unit conversion, and the dialect reader on garbage files. Derandomized, so a
run is reproducible and CI cannot flake; raise max_examples locally to search harder."""

from __future__ import annotations

import itertools
import math
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fh_screening.accounting import store_imbalances
from fh_screening.config import load_region, load_units
from fh_screening.ingest import IngestError, ingest_file, ingest_region
from fh_screening.store import connect, run_sql
from tests.conftest import TEST_KEY
from tests.data.bad_inputs.make_corpus import KINDS, MAN, assemble

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=150,
                    suppress_health_check=[HealthCheck.too_slow])
INGEST = settings(PROPERTY, max_examples=40)
TODAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def macros():
    con = duckdb.connect()
    run_sql(con, "schema/macros")
    yield con
    con.close()


# --- CPR numbers --------------------------------------------------------------------------

def century(seventh: int, yy: int) -> int:
    """CPR-kontoret's rule, written independently of the SQL macro."""
    if seventh <= 3:
        return 1900
    if seventh in (4, 9):
        return 2000 if yy <= 36 else 1900
    return 2000 if yy <= 57 else 1800


cpr_like = st.one_of(
    st.text(),
    st.from_regex(r"\A\s*[0-9]{6}-?[0-9]{4}\s*\Z"),
    st.from_regex(r"\A[0-9 -]{8,13}\Z"),
    st.from_regex(r"\A[0-9]{2}[0-9A-Za-z]{4}-[0-9]{3,5}\Z"),
)


@PROPERTY
@given(text=cpr_like)
def test_cpr_parser_accepts_only_real_dates_and_never_fails(macros, text):
    problem, digits, born, sex = macros.execute(
        "select cpr_problem($t), cpr_digits($t), cpr_birth_date(cpr_digits($t)), "
        "cpr_sex(cpr_digits($t))", {"t": text}).fetchall()[0]
    if problem is None:
        assert re.fullmatch(r"[0-9]{10}", digits) and digits == text.strip().replace("-", "")
        assert born is not None and sex in ("M", "F")
        d = [int(c) for c in digits]
        year = century(d[6], int(digits[4:6])) + int(digits[4:6])
        assert born == date(year, int(digits[2:4]), int(digits[0:2]))
        assert sex == ("M" if d[9] % 2 else "F")
    else:
        assert problem in ("missing CPR number", "not a CPR number (expected DDMMYY-SSSS)",
                           "CPR number has an impossible date")
        assert (digits is None) == (problem != "CPR number has an impossible date")


@PROPERTY
@given(born=st.dates(date(1858, 1, 1), date(2057, 12, 31)), seventh=st.integers(0, 9),
       serial=st.integers(0, 999), dash=st.booleans())
def test_every_valid_cpr_number_gives_back_its_birth_date_and_sex(macros, born, seventh, serial,
                                                                   dash):
    yy = born.year % 100
    if century(seventh, yy) + yy != born.year:
        seventh = next((s for s in range(10) if century(s, yy) + yy == born.year), None)
        if seventh is None:
            return  # no 7th digit encodes this year (e.g. 1858-1899 with YY <= 57)
    text = f"{born:%d%m%y}{'-' if dash else ''}{seventh}{serial:03d}"
    problem, got, sex = macros.execute(
        "select cpr_problem($t), cpr_birth_date(cpr_digits($t)), cpr_sex(cpr_digits($t))",
        {"t": text}).fetchall()[0]
    assert (problem, got, sex) == (None, born, "M" if serial % 2 else "F")


# --- numbers and units --------------------------------------------------------------------

@PROPERTY
@given(text=st.one_of(st.text(), st.from_regex(r"\A[-+ ]?[0-9.,eE]{1,12}\Z")),
       decimal_comma=st.booleans())
def test_number_parser_returns_a_finite_number_or_nothing(macros, text, decimal_comma):
    (value,) = macros.execute("select parse_number($t, $c)",
                              {"t": text, "c": decimal_comma}).fetchall()[0]
    if value is None:
        return
    assert math.isfinite(value)
    stripped = text.strip()
    if decimal_comma:
        assert re.fullmatch(r"[-+]?[0-9]+(,[0-9]+)?", stripped)
        assert value == float(stripped.replace(",", "."))
    else:
        assert re.fullmatch(r"[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", stripped)
        assert value == float(stripped)


def test_mass_factors_are_the_inverse_of_the_molar_masses():
    units = load_units()
    for analyte in ("total_chol", "ldl", "hdl"):
        assert units[analyte].convert["mg/dL"] * 38.67 == pytest.approx(1.0, rel=1e-4)
    assert units["triglycerides"].convert["mg/dL"] * 88.57 == pytest.approx(1.0, rel=1e-4)


@pytest.fixture(scope="module")
def syd_store(tmp_path_factory):
    """A store holding the clean Syddanmark base extract, for one-row lab files."""
    tmp = tmp_path_factory.mktemp("props")
    con = connect(tmp / "store.duckdb")
    kind = next(k for k in KINDS if k.name == "header_only")
    ingest_region(con, load_region("syddanmark"), assemble(kind, tmp / "base"), TEST_KEY,
                  vault_path=tmp / "vault.duckdb", today=TODAY)
    yield con, tmp
    con.close()


_file_numbers = itertools.count(1)
SYD = load_region("syddanmark")
UNITS = load_units()
ALL_UNITS = sorted({u for r in UNITS.values() for u in r.convert} | {"mg/L", "", "MMOL/L"})


def _lab_file(folder: Path, data: bytes) -> Path:
    path = folder / f"laboratoriesvar_{next(_file_numbers):05d}.csv"
    path.write_bytes(data)
    return path


@INGEST
@given(code=st.sampled_from(sorted(SYD.lab_codes)), unit=st.sampled_from(ALL_UNITS),
       value=st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False))
def test_a_lab_value_is_converted_exactly_or_quarantined_for_its_unit_or_range(
        syd_store, code, unit, value):
    con, tmp = syd_store
    n = next(_file_numbers)
    sampled = date(2020, 1, 1) + timedelta(days=n)  # no other sample (or total) that day
    text = f"{value:f}".replace(".", ",")
    path = _lab_file(tmp, ("cpr;proevetidspunkt;analysekode;resultat;enhed\n"
                           f"{MAN};{sampled:%d-%m-%Y} 08:00;{code};{text};{unit}\n"
                           ).encode("latin-1"))
    result = ingest_file(con, SYD, "lab_results", path, TEST_KEY, today=TODAY,
                         vault_path=tmp / "vault.duckdb")
    rule = UNITS[SYD.lab_codes[code]]
    stored = con.execute("select value, unit from lab_results where source_file = ?",
                         [str(path)]).fetchall()
    reason = con.execute("select field, reason from quarantine where source_file = ?",
                         [str(path)]).fetchall()
    if unit not in rule.convert:
        assert stored == [] and reason == [("source_unit", f"unit {unit or '(empty)'} not "
                                            f"accepted for {rule.analyte}")]
        return
    converted = float(value) * rule.convert[unit]
    low_ok = converted >= rule.low if rule.low_inclusive else converted > rule.low
    if low_ok and converted <= rule.high:
        assert result.rows_accepted == 1 and reason == []
        assert stored[0][0] == pytest.approx(converted, rel=1e-12)
        assert stored[0][1] == rule.unit
    else:
        assert stored == [] and reason == [(
            "source_value", f"{rule.analyte} outside the plausible range {rule.range_text()} "
                            "(wrong unit or a typing error)")]


# --- the dialect reader on garbage --------------------------------------------------------

LAB_HEADER = b"cpr;proevetidspunkt;analysekode;resultat;enhed\n"
garbage_lines = st.lists(
    st.text(alphabet=st.sampled_from(list(";\"',.-:/ \t\r0123456789NPUmolLæø") + ["\n"]),
            max_size=60), max_size=12)


def _ingest_garbage(con, tmp: Path, data: bytes, dialect=SYD, table="lab_results") -> None:
    """Either a clear IngestError naming the file, or every row accounted for."""
    if dialect.format == "parquet":
        path = tmp / f"lab_results_{next(_file_numbers):05d}.parquet"
        path.write_bytes(data)
    else:
        path = _lab_file(tmp, data)
    try:
        result = ingest_file(con, dialect, table, path, TEST_KEY, today=TODAY,
                             vault_path=tmp / "vault.duckdb")
    except IngestError as exc:
        assert str(exc).startswith(f"{path}:")
        assert con.execute("select count(*) from ingested_files where path = ?",
                           [str(path)]).fetchall() == [(0,)]
    else:
        if not result.skipped:
            assert result.rows_read == result.rows_accepted + result.rows_quarantined
    assert store_imbalances(con, ["syddanmark", "midtjylland"]) == []


@INGEST
@given(data=st.binary(max_size=3000))
def test_random_bytes_are_refused_or_fully_accounted(syd_store, data):
    con, tmp = syd_store
    _ingest_garbage(con, tmp, data)


@INGEST
@given(lines=garbage_lines)
def test_garbage_rows_under_a_valid_header_are_refused_or_fully_accounted(syd_store, lines):
    con, tmp = syd_store
    _ingest_garbage(con, tmp, LAB_HEADER + "\n".join(lines).encode("latin-1"))


@settings(PROPERTY, max_examples=15)
@given(data=st.binary(max_size=2000))
def test_random_bytes_as_parquet_are_refused(syd_store, data):
    con, tmp = syd_store
    _ingest_garbage(con, tmp, b"PAR1" + data, dialect=load_region("midtjylland"))
