"""Clinic lists in the run's language (issue 21, item 6): the SQL for the referral and
cascade lists returns codes and facts, never English sentences, so a Danish run (the
default) writes Danish lists; an English run the same facts in English."""

from __future__ import annotations

import re
from datetime import date

import polars as pl
import pytest

from fh_screening.config import PROJECT_ROOT, load_thresholds
from fh_screening.criteria import threshold_params
from fh_screening.i18n import Translator
from fh_screening.lists import CODED_COLUMNS, localise_values
from fh_screening.referrals import with_worded_facts
from fh_screening.store import connect, query_sql, run_sql

# What the SQL used to write into clinic lists in English, and other English words a
# Danish clinician should not meet there.
ENGLISH = ("not referred", "none found", "first-degree", "second-degree", "not met",
           "off treatment", "on treatment", "not tested", "priority rose", "untreated",
           "Ranked by", "Index cases", "chance of", "found:", "reported", "probable",
           "possible", "definite", "already", "relative", "estimated", "higher than",
           "not measured", "own history", "family ", "ldl_age_band", "in the data")


def english_in(text: str) -> list[str]:
    return [w for w in ENGLISH if re.search(re.escape(w), text, re.IGNORECASE)]


def test_a_danish_run_writes_no_english_reason_text_in_its_clinic_lists(output_runs):
    folder = output_runs.folder("r1")
    files = [*folder.glob("referrals/*.csv"), *folder.glob("referrals/*.html"),
             *folder.glob("referrals/backlog/*.csv"), *folder.glob("cascade/*.csv"),
             *folder.glob("cascade/*.html")]
    assert len(list(folder.glob("referrals/*.csv"))) == 4
    for path in files:
        text = path.read_text(encoding="utf-8-sig")
        # the drug names and codes are not words: drop "atorvastatin 10 mg" and the like
        assert english_in(text) == [], (path.name, english_in(text))
    first = (folder / "referrals" / "MID-LK1.csv").read_text(encoding="utf-8-sig")
    for danish in ("ikke henvist i en tidligere kørsel", "ingen fundet inden for 365 dage",
                   "i data;", "DNA ikke testet", "egen sygehistorie", "LDL for alderen"):
        assert danish in first, danish


@pytest.fixture(scope="module")
def candidates(output_runs) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Referral candidates as the SQL returns them (codes and facts) as of the first run,
    whose own history makes them come back (codes other than "new"); the GP facts."""
    from fh_screening.reports import output_params

    con = connect(output_runs.ws.store_path)
    try:
        params = output_params(con, "check", date(2026, 6, 30))
        run_sql(con, "outputs/triage", params)
        return (query_sql(con, "outputs/referral_list", params).pl(),
                query_sql(con, "outputs/gp_patients", params).pl())
    finally:
        con.close()


def test_the_referral_sql_returns_codes_not_sentences(candidates):
    candidates, _ = candidates
    for column in ("status_reason", "ldl_evidence", "index_ldl_method", "dlcn_category"):
        codes = set(candidates[column].drop_nulls())
        assert codes and all(re.fullmatch(r"[a-z_ ]+", c) for c in codes), (column, codes)
    assert set(candidates["status_reason"]) <= {"new", "ldl_rose", "tier_rose"}
    for column in ("untreated_ldl_range", "dlcn_parts", "exclusions_checked",
                   "relatives_known"):
        assert candidates[column].null_count() == candidates.height  # worded in Python


@pytest.mark.parametrize("lang", ["da", "en"])
def test_the_same_facts_in_either_language(candidates, lang):
    """As fh_screening/referrals.py writes them: reasons from the facts, the probability,
    the worded columns, the coded values; without internal columns."""
    from fh_screening.referrals import public, with_probability_text, with_reason_text

    candidates, facts = candidates
    t = Translator(lang)
    window = threshold_params(load_thresholds())["secondary_causes_window_days"]
    worded = localise_values(public(with_worded_facts(with_probability_text(
        with_reason_text(candidates, t, facts), t), t, window)), t)
    text = "\n".join(" ".join(str(v) for v in row) for row in worded.rows())
    if lang == "da":
        assert english_in(text) == []
        assert "ingen fundet inden for 365 dage" in text
    else:
        assert "none found within 365 days" in text and "in the data" in text
    row = worded.row(0, named=True)
    assert row["status_reason"] == {
        "new": t("lists.status_new")}.get(candidates["status_reason"][0], row["status_reason"])
    assert row["untreated_ldl_range"] == t("lists.ldl_range",
                                           low=t.number(candidates["untreated_ldl_low"][0]),
                                           high=t.number(candidates["untreated_ldl_high"][0]))
    assert "prev_ldl" not in worded.columns and "index_tsh" not in worded.columns


def test_every_coded_value_and_cascade_note_has_danish_words_unlike_the_english():
    da, en = Translator("da"), Translator("en")
    sql = (PROJECT_ROOT / "sql" / "outputs" / "cascade_list.sql").read_text()
    block = sql[sql.index("-- a code; fh_screening/cascade.py"):sql.index("end as note")]
    notes = re.findall(r"then '([a-z_]+)'|else '([a-z_]+)'", block)
    codes = sorted({a or b for a, b in notes})
    assert len(codes) == 8
    for code in codes:
        assert da(f"lists.note_{code}", age=10) != en(f"lists.note_{code}", age=10), code
    for column, (prefix, special) in CODED_COLUMNS.items():
        for code in special.values():
            assert da(prefix + code) != en(prefix + code) or column == "index_ldl_method"
    for relation in ("mother", "father", "sibling", "child", "grandparent", "aunt_uncle",
                     "grandchild", "niece_nephew"):
        assert da(f"value.relation_{relation}") != en(f"value.relation_{relation}")
