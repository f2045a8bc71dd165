"""Tests for fh_screening.validate: the suites in expectations/ and the report API.

GX is imported once per process (a few seconds); each validation afterwards takes well
under a second on these small frames, so the whole file runs in about 15 s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pickle
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from fh_screening.config import EXPECTATIONS_DIR, TABLES
from fh_screening.privacy import PSEUDONYM_FLOOR
from fh_screening.validate import (
    ExpectationOutcome,
    SuiteError,
    ValidationFailed,
    ValidationReport,
    load_suite,
    require_valid,
    validate_frame,
    validate_table,
)

UNITS = {
    "ldl": "mmol/L",
    "total_chol": "mmol/L",
    "hdl": "mmol/L",
    "triglycerides": "mmol/L",
    "tsh": "mIU/L",
    "alp": "U/L",
    "bilirubin": "umol/L",
    "albumin": "g/L",
}
TYPICAL = {
    "ldl": 3.1,
    "total_chol": 5.2,
    "hdl": 1.3,
    "triglycerides": 1.4,
    "tsh": 2.1,
    "alp": 75.0,
    "bilirubin": 9.0,
    "albumin": 41.0,
}
# A CPR number read as a number and a pseudonym without its bit 62 (a bug that truncated
# it): both must fail the person_id range check and neither may ever be echoed in a report.
FAKE_CPR_NUMBER = 102031234
TRUNCATED_PID = 0x1923_6E49_C247_A315  # below 2^62


def pid(i: int) -> int:
    """A well-formed pseudonym (an integer in [2^62, 2^63), as privacy.PseudonymKey makes)."""
    digest = hashlib.sha256(f"person-{i}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") >> 2) | PSEUDONYM_FLOOR


def lineage(n: int, source_file: str = "extract.csv") -> dict[str, list]:
    return {
        "region": ["midtjylland"] * n,
        "source_file": [source_file] * n,
        "row_number": list(range(1, n + 1)),
    }


def lab_rows(n: int = 40, source_file: str = "labs.csv") -> dict[str, list]:
    """n clean lab results cycling through all eight analytes (n=40: five of each)."""
    analytes = [list(UNITS)[i % len(UNITS)] for i in range(n)]
    return {
        "person_id": [pid(i % 10) for i in range(n)],
        "sampled_at": [dt.datetime(2021, 1, 1, 8, 30) + dt.timedelta(days=i) for i in range(n)],
        "analyte": analytes,
        "value": [TYPICAL[a] * (1 + (i % 5) / 10) for i, a in enumerate(analytes)],
        "unit": [UNITS[a] for a in analytes],
        "source_code": [f"NPU{i:05d}" for i in range(n)],
        "source_unit": [UNITS[a] for a in analytes],
        "source_value": [str(TYPICAL[a]) for a in analytes],
        **lineage(n, source_file),
    }


def lab_arrow(rows: dict[str, list]) -> pa.Table:
    """Arrow with DuckDB's canonical types (TIMESTAMP -> timestamp[us], BIGINT -> int64)."""
    schema = pa.schema(
        [
            ("person_id", pa.int64()),
            ("sampled_at", pa.timestamp("us")),
            ("analyte", pa.string()),
            ("value", pa.float64()),
            ("unit", pa.string()),
            ("source_code", pa.string()),
            ("source_unit", pa.string()),
            ("source_value", pa.string()),
            ("region", pa.string()),
            ("source_file", pa.string()),
            ("row_number", pa.int64()),
        ]
    )
    return pa.table(rows, schema=schema)


def clean_frames() -> dict[str, object]:
    """One clean frame per canonical table, in all three accepted frame kinds."""
    n = 6
    d = dt.date
    return {
        "practices": pl.DataFrame(
            {
                "gp_practice_id": ["P1", "P2", "P3"],
                "practice_name": ["Lægerne A", "Lægerne B", "Lægehuset C"],
                "lipid_clinic_id": ["AUH", "AUH", "RHG"],
                "region": ["midtjylland"] * 3,
            }
        ),
        "patients": pl.DataFrame(
            {
                "person_id": [pid(i) for i in range(n)],
                "birth_date": [d(1950 + i, 1 + i, 10) for i in range(n)],
                "sex": ["F", "M"] * 3,
                "region": ["midtjylland"] * n,
                "gp_practice_id": ["P1", "P2", "P3", "P1", "P3", "P2"],
                "deceased_date": [None, d(2020, 5, 1), None, None, None, None],
            }
        ),
        "lab_results": lab_arrow(lab_rows()),
        "prescriptions": pd.DataFrame(
            {
                "person_id": [pid(i) for i in range(4)],
                "atc_code": ["C10AA05", "C10AA07", "C10AX09", "C10BA02"],
                "strength_mg": [40.0, 20.0, 10.0, None],
                "start_date": [d(2019, 3, 1), d(2020, 1, 1), d(2020, 6, 1), d(2021, 2, 2)],
                "end_date": [None, d(2021, 1, 1), None, d(2021, 2, 2)],
                **lineage(4),
            }
        ),
        "diagnoses": pl.DataFrame(
            {
                "person_id": [pid(0), pid(1), pid(2)],
                "icd10": ["E78.0", "I21", "E03.9"],
                "diagnosed_at": [d(2010, 1, 1), d(2015, 7, 7), d(2018, 2, 3)],
                **lineage(3),
            }
        ),
        "relations": pl.DataFrame(
            {
                "person_id": [pid(0), pid(0), pid(1), pid(2)],
                "relative_id": [pid(1), pid(2), pid(0), pid(0)],
                "relation": ["child", "child", "mother", "mother"],
                **lineage(4),
            }
        ),
        "genetic_tests": pl.DataFrame(
            {
                "person_id": [pid(0), pid(1), pid(2)],
                "tested_at": [d(2016, 1, 1), d(2017, 1, 1), d(2018, 1, 1)],
                "result": ["positive", "negative", "uncertain"],
                **lineage(3),
            }
        ),
    }


def find(report: ValidationReport, expectation: str, column: str) -> list[ExpectationOutcome]:
    return [o for o in report.outcomes if o.expectation == expectation and o.column == column]


def failed(report: ValidationReport) -> list[tuple]:
    """(expectation, column, condition, severity, unexpected_count) of every failure."""
    return [
        (o.expectation, o.column, o.condition, o.severity, o.unexpected_count)
        for o in report.outcomes
        if not o.success
    ]


def everything_said(report: ValidationReport) -> str:
    """All text a report can leak through: dict, markdown and the exception message."""
    text = json.dumps(report.to_dict(), ensure_ascii=False) + report.to_markdown()
    if not report.success:
        text += str(ValidationFailed(report))
    return text


@pytest.fixture(scope="session")
def lab_bad_report() -> ValidationReport:
    """40 lab rows with 3 unknown analytes, one LDL of 40 mmol/L and two bad person_ids."""
    rows = lab_rows()
    for i in (0, 8, 16):  # rows 0, 8, 16 are LDL rows before the change
        rows["analyte"][i] = "creatinine"
    rows["value"][24] = 40.0  # an LDL row (24 % 8 == 0)
    rows["person_id"][3] = FAKE_CPR_NUMBER
    rows["person_id"][5] = TRUNCATED_PID
    return validate_frame("lab_results", lab_arrow(rows), source="midtjylland/labs.csv")


# --------------------------------------------------------------------------- suites


@pytest.mark.parametrize("table", TABLES)
def test_suite_file_loads_and_round_trips(table: str) -> None:
    import great_expectations as gx

    path = EXPECTATIONS_DIR / f"{table}.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    suite = load_suite(table)
    assert suite.name == table
    assert len(suite.expectations) == len(raw["expectations"]) >= 7
    again = gx.ExpectationSuite(**json.loads(json.dumps(suite.to_json_dict())))
    assert again == suite
    for expectation in suite.expectations:
        assert expectation.meta["severity"] in ("critical", "warning")
        assert expectation.meta["why"].strip()
        assert expectation.severity.value == expectation.meta["severity"]
    types = {(e.expectation_type, e.meta["severity"]) for e in suite.expectations}
    assert ("expect_table_columns_to_match_set", "critical") in types
    assert ("expect_table_row_count_to_be_between", "warning") in types
    if table != "practices":
        floors = {
            e.configuration.kwargs["column"]: e.configuration.kwargs.get("min_value")
            for e in suite.expectations
            if e.expectation_type == "expect_column_values_to_be_between"
        }
        # GX keeps bounds as floats; 2^62 is exact in a float (a CPR number is < 10^10)
        assert floors["person_id"] == 2**62 == PSEUDONYM_FLOOR


def test_load_suite_returns_a_fresh_object_each_time() -> None:
    first = load_suite("patients")
    first.expectations.clear()
    assert len(load_suite("patients").expectations) == 11


def test_suite_without_severity_is_rejected(tmp_path: Path) -> None:
    raw = json.loads((EXPECTATIONS_DIR / "diagnoses.json").read_text(encoding="utf-8"))
    del raw["expectations"][2]["meta"]["severity"]
    (tmp_path / "diagnoses.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(SuiteError, match=r"expectation 2 .*meta.severity"):
        load_suite("diagnoses", tmp_path)
    with pytest.raises(SuiteError, match="no expectation suite for table 'relations'"):
        validate_frame("relations", clean_frames()["relations"], source="x", suites_dir=tmp_path)


def test_suite_with_mismatched_gx_severity_is_rejected(tmp_path: Path) -> None:
    raw = json.loads((EXPECTATIONS_DIR / "diagnoses.json").read_text(encoding="utf-8"))
    raw["expectations"][1]["severity"] = "warning"
    (tmp_path / "diagnoses.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(SuiteError, match="disagrees with meta.severity 'critical'"):
        load_suite("diagnoses", tmp_path)


# --------------------------------------------------------------------------- clean data


@pytest.mark.parametrize("table", TABLES)
def test_clean_frame_passes_every_expectation(table: str) -> None:
    frame = clean_frames()[table]
    report = validate_frame(table, frame, source=f"clean/{table}")
    assert report.success
    assert failed(report) == []
    assert report.critical_failures == [] and report.warnings == []
    assert report.rows == len(frame) and report.total_rows == len(frame)
    assert not report.sampled
    assert len(report.outcomes) == len(load_suite(table).expectations)
    assert require_valid(report) is report
    assert "passed" in report.to_markdown()


def test_outcomes_follow_the_order_of_the_suite_file() -> None:
    report = validate_frame("patients", clean_frames()["patients"], source="clean")
    expected = [
        (e.expectation_type, e.meta["severity"], e.meta["why"])
        for e in load_suite("patients").expectations
    ]
    assert [(o.expectation, o.severity, o.why) for o in report.outcomes] == expected


# --------------------------------------------------------------------------- failures


def test_bad_lab_frame_fails_exactly_the_expected_expectations(
    lab_bad_report: ValidationReport,
) -> None:
    report = lab_bad_report
    lipids = "analyte in ['ldl', 'total_chol', 'hdl']"
    assert failed(report) == [
        ("expect_column_values_to_be_between", "person_id", None, "critical", 2),
        ("expect_column_values_to_be_in_set", "analyte", None, "critical", 3),
        ("expect_column_values_to_be_between", "value", lipids, "critical", 1),
        ("expect_column_values_to_be_between", "value", "analyte == 'ldl'", "warning", 1),
    ]
    assert not report.success
    assert [o.column for o in report.critical_failures] == ["person_id", "analyte", "value"]
    assert [o.condition for o in report.warnings] == ["analyte == 'ldl'"]

    (analyte,) = find(report, "expect_column_values_to_be_in_set", "analyte")
    assert analyte.examples == ["creatinine"]
    assert analyte.unexpected_percent == 7.5  # 3 of 40
    assert "lab code slipped past" in analyte.why

    ldl_bound = report.critical_failures[2]
    assert ldl_bound.examples == [40.0]
    assert ldl_bound.unexpected_percent == pytest.approx(100 / 12, abs=1e-3)  # 1 of 12 lipids
    ldl_warning = report.warnings[0]
    assert ldl_warning.unexpected_percent == 50.0  # 1 of the 2 LDL rows left

    (in_range,) = find(report, "expect_column_values_to_be_between", "person_id")
    assert in_range.unexpected_percent == 5.0
    assert in_range.examples == []  # never person_id values, even malformed ones


def test_person_ids_never_appear_in_reports_or_messages(
    lab_bad_report: ValidationReport,
) -> None:
    said = everything_said(lab_bad_report)
    for secret in (FAKE_CPR_NUMBER, TRUNCATED_PID, pid(0), pid(3)):
        assert str(secret) not in said

    frame = clean_frames()["relations"].with_columns(
        pl.when(pl.col("row_number") == 2)
        .then(pl.lit(FAKE_CPR_NUMBER))
        .otherwise(pl.col("relative_id"))
        .alias("relative_id")
    )
    report = validate_frame("relations", frame, source="rel.csv")
    assert failed(report) == [
        ("expect_column_values_to_be_between", "relative_id", None, "critical", 1)
    ]
    assert report.critical_failures[0].examples == []
    assert str(FAKE_CPR_NUMBER) not in everything_said(report)


def test_cpr_shaped_values_in_other_columns_are_redacted() -> None:
    frame = clean_frames()["diagnoses"].with_columns(
        pl.Series("icd10", ["E78.0", "0102031234", "E78"])
    )
    report = validate_frame("diagnoses", frame, source="dx.csv")
    (outcome,) = report.critical_failures
    assert (outcome.expectation, outcome.column, outcome.unexpected_count) == (
        "expect_column_values_to_match_regex",
        "icd10",
        1,
    )
    assert outcome.examples == ["<redacted>"]
    assert "0102031234" not in everything_said(report)


def test_require_valid_raises_with_a_readable_message(lab_bad_report: ValidationReport) -> None:
    with pytest.raises(ValidationFailed) as info:
        require_valid(lab_bad_report)
    exc = info.value
    assert exc.report is lab_bad_report
    lines = str(exc).splitlines()
    assert lines[0] == (
        "validation of table 'lab_results' from 'midtjylland/labs.csv' failed: "
        "3 critical expectation(s) failed (40 rows)"
    )
    assert lines[1].startswith(
        "  - expect_column_values_to_be_between on person_id: 2 unexpected (5.00%) - "
    )
    assert lines[2].startswith(
        "  - expect_column_values_to_be_in_set on analyte: 3 unexpected (7.50%), "
        "e.g. ['creatinine'] - only these analytes are mapped"
    )
    assert "where analyte in ['ldl', 'total_chol', 'hdl']: 1 unexpected" in lines[3]
    assert len(lines) == 4  # the warning is not part of the failure message
    clone = pickle.loads(pickle.dumps(exc))  # Prefect / multiprocessing pickle exceptions
    assert str(clone) == str(exc)


def test_report_dict_is_json_and_markdown_lists_failures(
    lab_bad_report: ValidationReport,
) -> None:
    as_dict = json.loads(json.dumps(lab_bad_report.to_dict()))
    assert {k: as_dict[k] for k in ("table", "rows", "success", "critical_failures")} == {
        "table": "lab_results",
        "rows": 40,
        "success": False,
        "critical_failures": 3,
    }
    assert as_dict["warnings"] == 1 and as_dict["expectations"] == 20
    markdown = lab_bad_report.to_markdown().splitlines()
    assert markdown[0] == "### Validation of `lab_results` from `midtjylland/labs.csv`: FAILED"
    rows = [line for line in markdown if line.startswith("| critical") or line.startswith("| warn")]
    assert len(rows) == 4
    assert rows[1].startswith(
        "| critical | expect_column_values_to_be_in_set | analyte | 3 (7.50%) | 'creatinine' |"
    )


def test_warnings_are_reported_but_do_not_fail() -> None:
    frame = clean_frames()["patients"].with_columns(
        pl.Series("birth_date", [dt.date(1890, 1, 1), *[dt.date(1960, 1, 1)] * 5])
    )
    report = validate_frame("patients", frame, source="pat.csv")
    assert report.success
    assert require_valid(report) is report
    assert failed(report) == [
        ("expect_column_values_to_be_between", "birth_date", None, "warning", 1)
    ]
    assert report.warnings[0].examples == ["1890-01-01T00:00:00"]
    assert report.warnings[0].error is None
    assert "0 critical failure(s), 1 warning(s)" in report.to_markdown()


@pytest.mark.parametrize("kind", ["pandas-date-objects", "pandas-datetime64-s", "arrow", "polars"])
def test_date_bounds_work_for_every_frame_kind(kind: str) -> None:
    """GX 1.24 raises on datetime64[ms/us] vs date bounds; the frames are normalised first."""
    births = [dt.date(1890, 1, 1), dt.date(1950, 1, 1)]
    deaths = [None, dt.date(1940, 1, 1)]  # the second dies before birth: a warning
    base = {
        "person_id": [pid(1), pid(2)],
        "sex": ["F", "M"],
        "region": ["r", "r"],
        "gp_practice_id": ["P1", "P1"],
    }
    if kind == "pandas-date-objects":
        frame: object = pd.DataFrame({**base, "birth_date": births, "deceased_date": deaths})
    elif kind == "pandas-datetime64-s":
        frame = pd.DataFrame(
            {
                **base,
                "birth_date": pd.to_datetime(births).astype("datetime64[s]"),
                "deceased_date": pd.to_datetime(deaths).astype("datetime64[s]"),
            }
        )
    elif kind == "arrow":
        frame = pa.table({**base, "birth_date": births, "deceased_date": deaths})
    else:
        frame = pl.DataFrame({**base, "birth_date": births, "deceased_date": deaths})
    report = validate_frame("patients", frame, source=kind)
    assert failed(report) == [
        ("expect_column_values_to_be_between", "birth_date", None, "warning", 1),
        (
            "expect_column_pair_values_a_to_be_greater_than_b",
            "deceased_date,birth_date",
            None,
            "warning",
            1,
        ),
    ]
    assert all(o.error is None for o in report.outcomes)


def test_caller_frame_is_not_modified() -> None:
    frame = pd.DataFrame(
        {
            "person_id": [pid(1)],
            "birth_date": [dt.date(1960, 1, 1)],
            "sex": ["F"],
            "region": ["r"],
            "gp_practice_id": ["P1"],
            "deceased_date": [None],
        }
    )
    validate_frame("patients", frame, source="x")
    assert frame["birth_date"].dtype == object
    assert frame["birth_date"][0] == dt.date(1960, 1, 1)


def test_missing_column_is_a_critical_failure_naming_the_column() -> None:
    frame = clean_frames()["genetic_tests"].drop("result")
    report = validate_frame("genetic_tests", frame, source="gen.csv")
    columns_check = report.critical_failures[0]
    assert columns_check.expectation == "expect_table_columns_to_match_set"
    assert columns_check.column is None
    assert columns_check.examples == ["result"]
    # The expectations on the missing column cannot run; they fail with an error, not a count.
    on_result = [o for o in report.critical_failures if o.column == "result"]
    assert [o.expectation for o in on_result] == [
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_in_set",
    ]
    assert all(o.unexpected_count is None and o.error for o in on_result)


def test_empty_frame_only_warns_about_row_count() -> None:
    frame = clean_frames()["diagnoses"].clear()
    report = validate_frame("diagnoses", frame, source="empty.csv")
    assert report.rows == 0 and report.success
    assert failed(report) == [("expect_table_row_count_to_be_between", None, None, "warning", None)]
    assert report.warnings[0].observed == 0


def test_unsupported_frame_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="pass polars, pyarrow or pandas"):
        validate_frame("patients", [{"person_id": pid(1)}], source="x")


# --------------------------------------------------------------------------- DuckDB


@pytest.fixture(scope="module")
def lab_db() -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB: a.csv holds 30 clean rows, b.csv 12 rows of which 2 are bad."""
    a = lab_arrow(lab_rows(30, "a.csv"))
    b_rows = lab_rows(12, "b.csv")
    b_rows["analyte"][1] = "ldl_calc"
    b_rows["analyte"][2] = "ldl_calc"
    b = lab_arrow(b_rows)
    con = duckdb.connect()
    con.register("batch_a", a)
    con.register("batch_b", b)
    con.execute("CREATE TABLE lab_results AS SELECT * FROM batch_a UNION ALL SELECT * FROM batch_b")
    con.unregister("batch_a")
    con.unregister("batch_b")
    assert con.sql("SELECT DISTINCT typeof(sampled_at) FROM lab_results").fetchall() == [
        ("TIMESTAMP",)
    ]
    yield con
    con.close()


def test_validate_table_where_validates_only_that_batch(lab_db) -> None:
    good = validate_table(
        lab_db, "lab_results", where="source_file = ?", params=["a.csv"], source="a.csv"
    )
    assert (good.rows, good.total_rows, good.sampled, good.success) == (30, 30, False, True)
    assert failed(good) == []

    bad = validate_table(
        lab_db, "lab_results", where="source_file = ?", params=["b.csv"], source="b.csv"
    )
    assert (bad.rows, bad.success) == (12, False)
    assert failed(bad) == [("expect_column_values_to_be_in_set", "analyte", None, "critical", 2)]
    assert bad.critical_failures[0].examples == ["ldl_calc"]

    everything = validate_table(lab_db, "lab_results", source="all")
    assert everything.rows == 42 and not everything.success


def test_validate_table_sampling_is_deterministic_and_reported(lab_db) -> None:
    first = validate_table(
        lab_db,
        "lab_results",
        where="source_file = ?",
        params=["a.csv"],
        source="a.csv",
        sample_rows=10,
    )
    assert (first.rows, first.total_rows, first.sampled, first.success) == (10, 30, True, True)
    assert "a sample of 10 of 30 rows" in first.to_markdown()
    again = validate_table(
        lab_db,
        "lab_results",
        where="source_file = ?",
        params=["a.csv"],
        source="a.csv",
        sample_rows=10,
    )
    assert again.to_dict() == first.to_dict()

    # The sample is drawn after the filter: sampling the b.csv batch never sees a.csv rows.
    b_sample = validate_table(
        lab_db,
        "lab_results",
        where="source_file = ?",
        params=["b.csv"],
        source="b.csv",
        sample_rows=11,
    )
    assert (b_sample.rows, b_sample.total_rows, b_sample.sampled) == (11, 12, True)

    small = validate_table(lab_db, "lab_results", source="all", sample_rows=1000)
    assert (small.rows, small.total_rows, small.sampled) == (42, 42, False)


def test_validate_table_refuses_unknown_tables_and_bad_arguments(lab_db) -> None:
    with pytest.raises(ValueError, match="unknown canonical table"):
        validate_table(lab_db, "lab_results; DROP TABLE x", source="x")
    with pytest.raises(ValueError, match="invalid table name"):
        validate_table(lab_db, "lab_results", source="x", relation='lab_results"--')
    with pytest.raises(ValueError, match="sample_rows must be a positive integer"):
        validate_table(lab_db, "lab_results", source="x", sample_rows=0)


def test_validate_table_reads_a_staging_relation_with_the_tables_suite(lab_db) -> None:
    lab_db.execute("CREATE SCHEMA IF NOT EXISTS staging")
    lab_db.execute(
        "CREATE OR REPLACE TABLE staging.labs AS "
        "SELECT * FROM lab_results WHERE source_file = 'a.csv'"
    )
    report = validate_table(lab_db, "lab_results", source="staging", relation="staging.labs")
    assert (report.rows, report.success) == (30, True)


def test_prewarm_builds_the_one_context_the_validations_use():
    from fh_screening import validate

    validate.start_prewarm().join(timeout=300)
    assert validate._pandas_source.cache_info().currsize == 1
    source = validate._pandas_source()
    validate.start_prewarm().join(timeout=60)  # a second region's ingest: the same one
    assert validate._pandas_source() is source


def test_prescription_suite_accepts_exactly_the_drugs_ingest_accepts():
    """The critical ATC expectation lists the same prefixes as ingest (C10 and the code
    list of drugs that raise LDL): a new code list row must not fail every file."""
    import json
    import re

    from fh_screening.config import PROJECT_ROOT, accepted_atc_prefixes

    suite = json.loads((PROJECT_ROOT / "expectations" / "prescriptions.json").read_text())
    critical = [e for e in suite["expectations"] if e["type"] ==
                "expect_column_values_to_match_regex" and e["meta"]["severity"] == "critical"
                and e["kwargs"]["column"] == "atc_code"]
    assert len(critical) == 1
    pattern = critical[0]["kwargs"]["regex"]
    assert pattern == "^(?:" + "|".join(accepted_atc_prefixes()) + ")"
    assert re.match(pattern, "H02AB06") and re.match(pattern, "C10AA05")
    assert not re.match(pattern, "C07AB02")
