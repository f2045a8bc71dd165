"""Family cascade lists and letters on the sample data (fixture `output_runs`), issue 21:
index cases are confirmed FH only, relatives are named only with the index patient's
consent (none is recorded on the sample: every family gets its letter only), family ids
are stable. The consent path itself runs end to end in tests/test_loop_e2e.py."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from fh_screening.config import load_thresholds
from fh_screening.criteria import load_drug_tables, threshold_params
from fh_screening.lists import read_back
from fh_screening.store import connect, query_sql, run_sql

CPR = re.compile(r"\b\d{6}-?\d{4}\b")


def read_csv(path) -> pl.DataFrame:
    return read_back(pl.read_csv(path, separator=";", decimal_comma=True,
                                 infer_schema_length=None), "da")


def families(folder) -> pl.DataFrame:
    return pl.concat([read_csv(p).with_columns(pl.lit(p.stem.removesuffix("-families"))
                                               .alias("clinic"))
                      for p in sorted((folder / "cascade").glob("*-families.csv"))])


def cascade_rows(output_runs, as_of=date(2026, 6, 30)) -> pl.DataFrame:
    """Every (index case, relative) row the SQL gives, before the consent filter."""
    con = connect(output_runs.ws.store_path)
    try:
        thresholds = load_thresholds()
        load_drug_tables(con, thresholds)
        params = {**threshold_params(thresholds), "run_id": "x", "as_of": as_of}
        run_sql(con, "outputs/triage", params)
        run_sql(con, "outputs/cascade_index", params)
        index = con.sql("select person_id from out_cascade_index").pl()
        con.register("cascade_family_ids", index.with_columns(
            family_id=pl.format("F{}", pl.int_range(pl.len()))))
        return query_sql(con, "outputs/cascade_list", params).pl()
    finally:
        con.close()


def test_index_cases_are_confirmed_fh_only_and_get_the_letter_only_without_consent(output_runs):
    folder = output_runs.folder("r1")
    fams = families(folder)
    assert fams.height == sum(output_runs.first["outputs"]["families"].values()) > 0
    assert set(fams["index_basis"]) <= {"gentest positiv", "diagnosticeret FH (E78.0)"}
    assert set(fams["consent_status"]) == {"ikke registreret endnu: kun familiebrev"}
    assert fams["family_id"].str.contains(r"^F[0-9]{6}$").all()
    for path in (folder / "cascade").glob("*.csv"):
        if not path.stem.endswith(("-families", "-pending")):
            assert read_csv(path).height == 0  # no relative named without consent
    assert sum(output_runs.first["outputs"]["cascade"].values()) == 0
    # the flagged but unconfirmed are not index cases (they were in earlier versions)
    referred = set(pl.concat([read_back(pl.read_csv(p, separator=";", decimal_comma=True,
                                                    infer_schema_length=None), "da")
                              for p in (folder / "referrals").glob("*.csv")])["cpr"])
    assert not referred & set(fams["index_cpr"])


def test_family_ids_stay_with_their_family_in_the_next_run(output_runs):
    first, second = families(output_runs.folder("r1")), families(output_runs.folder("r2"))
    both = first.join(second, on="family_id", suffix="_2")
    assert both.height == first.height
    assert (both["index_cpr"] == both["index_cpr_2"]).all()


def test_second_run_lists_the_first_runs_referrals_as_pending_confirmation(output_runs):
    folder = output_runs.folder("r2") / "cascade"
    pending = pl.concat([read_csv(p) for p in folder.glob("*-pending.csv")])
    sent = pl.concat([read_back(pl.read_csv(p, separator=";", decimal_comma=True,
                                            infer_schema_length=None), "da")
                      for p in (output_runs.folder("r1") / "referrals").glob("*.csv")])
    assert set(pending["referral_id"]) == set(sent["referral_id"])
    assert set(pending["last_answer"].fill_null("")) == {""}  # nothing returned yet


def test_a_known_fh_family_in_detail(output_runs):
    rows = cascade_rows(output_runs)
    index = rows.filter(pl.col("index_basis") == "diagnosis")
    assert index.height > 0
    for _, family in rows.group_by("index_id"):
        assert family["priority"].to_list() == sorted(family["priority"].to_list())
        assert set(family.filter(pl.col("priority") == 1)["degree"]) <= {"first"}
        assert set(family.filter(pl.col("priority") == 2)["degree"]) <= {"second"}
    assert set(rows["consent"].drop_nulls()) == set()


def test_children_of_index_cases_are_listed_first_for_paediatric_testing(output_runs):
    rows = cascade_rows(output_runs, date(2026, 7, 31))
    young = rows.filter((pl.col("degree") == "first") & (pl.col("age") < 10)
                        & (pl.col("priority") == 1))
    assert set(young["note"]) <= {"child_test_by"}  # a code; the lists word it
    for _, family in rows.group_by("index_id", maintain_order=True):
        top = family.filter(pl.col("priority") == 1)
        is_young_child = ((top["degree"] == "first") & (top["age"] < 10)).to_list()
        assert is_young_child == sorted(is_young_child, reverse=True)


def test_family_letters_in_both_languages_without_personal_data(output_runs):
    folder = output_runs.folder("r1") / "cascade"
    fams = families(output_runs.folder("r1"))
    letters = 0
    for file in sorted((folder / "letters").glob("*.html")):
        html = file.read_text()
        assert not CPR.search(html), file
        ids = sorted(fams.filter(pl.col("clinic") == file.stem)["family_id"])
        articles = re.findall(r'<article class="letter" id="family-(F\d{6})">(.*?)</article>',
                              html, re.S)
        assert sorted(n for n, _ in articles) == ids
        for number, letter in articles:
            assert letter.index('<section lang="da">') < letter.index('<section lang="en">')
            assert "Vedkommende har familiær hyperkolesterolæmi (FH), bekræftet" in letter
            assert "meget sandsynligt" not in letter and "very probably" not in letter
            assert "Børn bør testes inden 10-årsalderen" in letter
            assert "Kontakt: Lipid" in letter and "telefon +45 70 00 00" in letter
            assert letter.count(f" / {number}") == 2  # the family reference, both languages
        letters += len(articles)
    assert letters == fams.height == output_runs.first["outputs"]["family_letters"]
