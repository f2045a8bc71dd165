"""The run summary shown as a Prefect artifact: counts, tiers, quarantine reasons (top ones),
failed expectations, failed regions, outputs and lineage."""

from __future__ import annotations

from fh_screening.run_report import (
    TOP_N,
    failed_expectations,
    failure_markdown,
    summary_markdown,
    top_reasons,
)


def outcome(expectation: str, success: bool, severity: str = "warning") -> dict:
    return {"expectation": expectation, "column": "value", "severity": severity,
            "success": success, "unexpected_count": 3, "why": "a | pipe in the why"}


INGESTED = [{"region": "syddanmark", "files": [
    {"path": "/x/laboratoriesvar.csv", "validation": {"outcomes": [
        outcome("expect_column_values_to_be_between", False),
        outcome("expect_column_values_to_not_be_null", True)]}},
    {"path": "/x/personer.csv", "validation": None}]}]

RESULT = {
    "run_id": "2026-06-30_national", "as_of": "2026-06-30", "regions": ["syddanmark"],
    "code_version": "0.1.0+abc",
    "ingest": {"syddanmark": {"files_ingested": 7, "rows_accepted": 100, "rows_quarantined": 70,
                              "quarantine_reasons": {f"reason {i:02d}": i for i in range(1, 13)}}},
    "screening": {"syddanmark": {"screened": 90, "flagged": 6, "referral": 4,
                                 "high_priority": 1}},
    "exclusions": {"very high triglycerides": 2},
    "outputs": {"referrals": {"SYD-A": 3, "SYD-B": 1}, "gp_reports": {"P1": 6}, "cascade": {}},
    "lineage": {"code_version": "0.1.0+abc", "config_hash": "f" * 64, "model_version": None,
                "output_dir": "/ws/output/2026-06-30_national",
                "inputs": [{"region": "syddanmark", "table": "patients",
                            "path": "/x/personer.csv", "sha256": "a" * 64, "rows_read": 10}]},
}
STATS = {"syddanmark": {"tiers": {"high": 1, "standard": 3, "excluded": 2},
                        "rules": {"ldl_age_band": 5, "dlcn": 2}}}


def test_failed_expectations_are_the_unsuccessful_outcomes():
    [found] = failed_expectations(INGESTED)
    assert found == {"region": "syddanmark", "file": "laboratoriesvar.csv",
                     "expectation": "expect_column_values_to_be_between", "column": "value",
                     "severity": "warning", "unexpected": 3, "why": "a | pipe in the why"}


def test_top_reasons_keeps_the_largest_of_each_kind():
    rows = top_reasons(RESULT, STATS)
    quarantined = [r for r in rows if r["kind"] == "row quarantined"]
    assert len(quarantined) == TOP_N == 10
    assert [r["count"] for r in quarantined] == list(range(12, 2, -1))
    assert [(r["reason"], r["count"]) for r in rows if r["kind"] == "flagged by rule set"] == [
        ("ldl_age_band", 5), ("dlcn", 2)]
    assert {"kind": "flagged, not referred", "region": "all",
            "reason": "very high triglycerides", "count": 2} in rows


def test_summary_markdown_has_every_section():
    md = summary_markdown(RESULT, STATS, INGESTED, {"midtjylland": "IngestError: no folder"})
    assert "| syddanmark | 7 | 100 | 70 | 90 | 6 | 4 | 1 |" in md
    assert "| midtjylland | IngestError: no folder |" in md
    assert "| syddanmark | 1 | 3 | 2 |" in md  # tiers: high, standard, excluded
    assert "| syddanmark | reason 12 | 12 |" in md
    assert "| syddanmark | 2 other reason(s) | 3 |" in md  # reasons 01 and 02 folded
    assert "reason 01 |" not in md
    assert ("| syddanmark | laboratoriesvar.csv | expect_column_values_to_be_between | value "
            "| 3 | a \\| pipe in the why |") in md
    assert "2 referral list(s) (4 patients), 1 GP report(s) (6 patients)" in md
    assert "- model version: `none (rules only)`" in md
    assert f"| syddanmark | patients | personer.csv | `{'a' * 16}` | 10 |" in md


def test_summary_markdown_without_failures():
    md = summary_markdown({**RESULT, "ingest": {"syddanmark": {"files_ingested": 0}}}, STATS, [])
    assert "Regions that FAILED" not in md
    assert "None in this run (files already ingested are skipped)." in md
    assert "## Expectations failed (warnings; critical failures stop a region)\n\nNone." in md


def test_failure_markdown_names_each_region_and_its_report():
    md = failure_markdown("national", {"syddanmark": "ValidationFailed: 2 critical",
                                       "midtjylland": "IngestError: no folder"},
                          {"syddanmark": "### Validation of `lab_results`: FAILED\n"})
    assert md.startswith("# fh-screening run for `national` FAILED\n")
    assert md.index("| midtjylland | IngestError") < md.index("| syddanmark | Validation")
    assert "## syddanmark\n\n### Validation of `lab_results`: FAILED\n" in md


def test_summary_markdown_explains_a_failed_region():
    md = summary_markdown(RESULT, STATS, INGESTED, {"midtjylland": "ValidationFailed: x"},
                          {"midtjylland": "| critical | expect_column_values_to_be_between |"})
    assert "### Why midtjylland failed\n\n| critical | expect_column_values_to_be_between |" in md


def test_summary_markdown_links_the_data_docs_and_states_the_notes():
    """Issue 22: the artifact links the run's GX Data Docs and the analysts' snapshot, and
    says which regions sent nothing new or lack an optional table."""
    md = summary_markdown({**RESULT, "ingest": {"syddanmark": {"files_ingested": 0}},
                           "missing_tables": {"syddanmark": {"relations": "no family links"}},
                           "data_docs": "/ws/gx/r/index.html",
                           "analysis_snapshot": "/ws/analysis/analysis.duckdb"}, STATS, [])
    assert "Great Expectations Data Docs of this run: `/ws/gx/r/index.html`." in md
    assert "Snapshot for ad-hoc SQL: `/ws/analysis/analysis.duckdb`." in md
    assert "- syddanmark: no new files (every file in its extract folder" in md
    assert "- syddanmark: no family links" in md
