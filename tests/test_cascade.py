"""Family cascade lists and letters on the sample data (fixture `output_runs`)."""

from __future__ import annotations

import re
from datetime import date

import polars as pl

from fh_screening.config import load_thresholds
from fh_screening.criteria import load_drug_tables, threshold_params
from fh_screening.privacy import attach_vault_read_only
from fh_screening.store import connect, query_sql, run_sql

CPR = re.compile(r"\b\d{6}-?\d{4}\b")


def read_cascade(folder) -> pl.DataFrame:
    return pl.concat([pl.read_csv(p, infer_schema_length=None).with_columns(
        pl.lit(p.stem).alias("clinic")) for p in sorted((folder / "cascade").glob("*.csv"))],
        how="diagonal_relaxed")


def test_families_list_untested_first_degree_relatives_first(output_runs):
    cascade = read_cascade(output_runs.folder("r1"))
    assert cascade.height == sum(output_runs.first["outputs"]["cascade"].values())
    for (clinic, family), rows in cascade.group_by("clinic", "family", maintain_order=True):
        assert rows["index_cpr"].n_unique() == 1, (clinic, family)
        assert rows["priority"].to_list() == sorted(rows["priority"].to_list())
        assert set(rows.filter(pl.col("priority") == 1)["degree"]) <= {"first"}
        assert set(rows.filter(pl.col("priority") == 2)["degree"]) <= {"second"}
        assert rows["family_letter"].unique().to_list() == [
            f"letters/{clinic}.html#family-{family:03d}"]
    # families are numbered 1..n per clinic, those with more untested first-degree first
    for (_,), rows in cascade.group_by("clinic", maintain_order=True):
        assert sorted(rows["family"].unique().to_list()) == list(
            range(1, rows["family"].n_unique() + 1))


def test_a_known_fh_family_in_detail(output_runs):
    family = read_cascade(output_runs.folder("r1")).filter(
        (pl.col("clinic") == "MID-LK1") & (pl.col("index_cpr") == "201087-4345"))
    assert family["family"].n_unique() == 1
    assert set(family["index_basis"]) == {"diagnosed FH (E78.0)"}
    assert family.select("relative_cpr", "relation", "priority").rows() == [
        ("031196-9314", "sibling", 1), ("190290-4381", "sibling", 1),
        ("280865-3323", "father", 1), ("290165-3336", "mother", 1)]
    mother = family.filter(pl.col("relation") == "mother").row(0, named=True)
    assert (mother["age"], mother["sex"], mother["last_ldl"], mother["last_ldl_date"]) == (
        61, "F", 5.5, "2026-06-17")
    assert mother["note"].startswith("untested first-degree relative")


def test_index_cases_cover_known_fh_genetic_and_high_priority(output_runs):
    cascade = read_cascade(output_runs.folder("r1"))
    bases = set(cascade["index_basis"])
    assert bases == {"diagnosed FH (E78.0)", "genetic test positive",
                     "flagged by screening, high priority"}
    flagged = cascade.filter(pl.col("index_basis") == "flagged by screening, high priority")
    assert set(flagged["index_cpr"]) == {"180261-9345"}  # the run's one high-priority referral


def test_relatives_already_referred_or_tested_are_ranked_last(output_runs):
    folder = output_runs.folder("r1")
    referred = set(pl.concat([pl.read_csv(p) for p in (folder / "referrals").glob("*.csv")])
                   ["cpr"])
    cascade = read_cascade(folder)
    for row in cascade.iter_rows(named=True):
        if row["already_diagnosed"] or row["genetic_test"] != "not tested":
            assert row["priority"] == 4
        elif row["relative_cpr"] in referred:
            assert row["already_referred"] and row["priority"] == 3
        else:
            assert row["priority"] in (1, 2)
    tested_child = cascade.filter(pl.col("relative_cpr") == "050108-6336").row(0, named=True)
    assert (tested_child["genetic_test"], tested_child["already_referred"]) == ("negative", True)


def test_children_of_index_cases_are_flagged_for_paediatric_testing(output_runs):
    """With every referral as an index case ([cascade] index_flagged_tiers configurable),
    the sample's young children of referred parents appear first, to be tested by 10."""
    con = connect(output_runs.ws.store_path)
    try:
        attach_vault_read_only(con, output_runs.ws.vault_path)
        thresholds = load_thresholds()
        load_drug_tables(con, thresholds)
        params = {**threshold_params(thresholds), "run_id": "x", "as_of": date(2026, 7, 31),
                  "cascade_index_flagged_tiers": ["high", "standard"]}
        run_sql(con, "outputs/triage", params)
        cascade = query_sql(con, "outputs/cascade_list", params).pl()
    finally:
        con.close()
    young = cascade.filter((pl.col("degree") == "first") & (pl.col("age") < 10))
    assert young.height >= 10
    untested = young.filter(pl.col("priority") == 1)
    assert set(untested["note"]) == {"child: test by age 10 (NICE CG71)"}
    for _, rows in cascade.group_by("lipid_clinic_id", "index_id", maintain_order=True):
        top = rows.filter(pl.col("priority") == 1)
        is_young_child = ((top["degree"] == "first") & (top["age"] < 10)).to_list()
        assert is_young_child == sorted(is_young_child, reverse=True)  # children first


def test_family_letters_in_both_languages_without_personal_data(output_runs):
    folder = output_runs.folder("r1") / "cascade"
    cascade = read_cascade(output_runs.folder("r1"))
    files = sorted((folder / "letters").rglob("*"))
    # one file per clinic with listed relatives, one letter (anchor) per family in it
    assert [f.name for f in files] == [f"{c}.html" for c in sorted(cascade["clinic"].unique())]
    letters = 0
    for file in files:
        html = file.read_text()
        assert not CPR.search(html), file
        families = sorted(cascade.filter(pl.col("clinic") == file.stem)["family"].unique())
        articles = re.findall(r'<article class="letter" id="family-(\d{3})">(.*?)</article>',
                              html, re.S)
        assert [int(number) for number, _ in articles] == families
        for number, letter in articles:
            assert letter.index('<section lang="da">') < letter.index('<section lang="en">')
            assert "Et medlem af din familie har familiær hyperkolesterolæmi" in letter
            assert "A member of your family has familial hypercholesterolaemia" in letter
            assert "Børn bør testes inden 10-årsalderen" in letter
            assert letter.count(f"{file.stem} / {number}") == 2  # the family reference
        # the index links every family's letter
        assert re.findall(r'<a href="#family-(\d{3})">', html) == [n for n, _ in articles]
        letters += len(articles)
    assert letters == cascade.select("clinic", "family").n_unique() == \
        output_runs.first["outputs"]["family_letters"]
