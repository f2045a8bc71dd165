"""Lipid-clinic referral lists on the sample data over two consecutive runs (fixture
`output_runs` in conftest.py): content, ranks, XLSX layout and deduplication."""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import date

import polars as pl
import pytest

from fh_screening.i18n import Translator
from fh_screening.lists import read_back
from fh_screening.privacy import Reidentifier, load_key
from fh_screening.referrals import with_reason_text
from fh_screening.reports import output_params
from fh_screening.store import connect, query_sql, run_sql
from tests.conftest import RAISED_CLEARLY, RAISED_SLIGHTLY


def read_csv(path) -> pl.DataFrame:
    """A Danish list as the internal columns and codes the assertions below use."""
    frame = read_back(pl.read_csv(path, separator=";", decimal_comma=True,
                                  infer_schema_length=None), "da")
    values = {"haster": "urgent", "høj": "high", "almindelig": "standard", "ny": "new",
              "genhenvisning": "re-referral"}
    return frame.with_columns(pl.col(c).replace(values) for c in ("priority", "status")
                              if c in frame.columns)


def read_lists(folder) -> pl.DataFrame:
    frames = [read_csv(p).with_columns(pl.lit(p.stem).alias("clinic"))
              for p in sorted((folder / "referrals").glob("*.csv"))]
    return pl.concat(frames, how="diagonal_relaxed")


def test_first_run_lists_every_referral_once_as_new_and_ranked(output_runs):
    lists = read_lists(output_runs.folder("r1"))
    referred = sum(r["referral"] for r in output_runs.first["screening"].values())
    assert lists.height == referred == 37
    assert lists["cpr"].n_unique() == lists.height
    assert set(lists["status"]) == {"new"}
    for (_,), clinic in lists.group_by("clinic"):
        assert clinic["rank"].to_list() == list(range(1, clinic.height + 1))
        tiers = clinic["priority"].to_list()
        assert tiers == sorted(tiers, key=lambda t: t != "high")  # high first
        for tier in set(tiers):  # the model's probability ranks within a tier
            p = clinic.filter(pl.col("priority") == tier)["fh_probability"].to_list()
            assert None not in p and p == sorted(p, reverse=True)
    assert "person_id" not in lists.columns and "lipid_clinic_id" not in lists.columns


def test_first_run_shows_the_facts_behind_a_referral(output_runs):
    lists = read_lists(output_runs.folder("r1"))
    top = lists.filter(pl.col("clinic") == "MID-LK1").row(0, named=True)
    assert (top["rank"], top["cpr"], top["priority"]) == (1, "180261-9345", "high")
    assert (top["age"], top["sex"], top["gp_practice_id"]) == (65, "M", "MID0014")
    assert top["practice_name"] == "Lægepraksis Æblehaven"
    # the latest sample of the best basis (all 7 are on treatment), not the highest
    assert (top["index_ldl"], top["index_ldl_date"]) == (4.3, "2026-02-12")
    assert top["index_treatment"] == "atorvastatin 10 mg"
    # 7 on-treatment samples pooled on the log scale, each / (1 - 0.8 x 0.37)
    assert top["untreated_ldl_estimate"] == pytest.approx(6.75)
    assert (top["untreated_ldl_range"], top["ldl_evidence"]) == ("4,6-9,9", "kun under behandling")
    assert (top["dlcn_points"], top["dlcn_category"]) == (6, "sandsynlig")
    assert top["dlcn_parts"] == "LDL 5, egen sygehistorie 0, familie 1, DNA ikke testet"
    assert top["simon_broome"] == "mulig" and top["medped"] == "ikke opfyldt"
    assert "nominel reduktion 37 %" in top["reasons"]
    assert top["exclusions_checked"].startswith("ingen fundet inden for 365 dage")
    assert "TSH ikke målt" in top["exclusions_checked"]
    assert top["relatives_known"].endswith("en førstegradsslægtning har kendt FH")
    medped = lists.filter(pl.col("cpr") == RAISED_CLEARLY[0]).row(0, named=True)
    assert (medped["priority"], medped["medped"], medped["untreated_ldl_estimate"]) == (
        "standard", "opfyldt", 5.83)
    assert "MEDPED: total-kolesterol 7,8 mmol/L i alderen 34 år" in medped["reasons"]


def test_second_run_re_refers_only_the_clearly_higher_ldl(output_runs):
    """July's LDL 7.6 (was 6.4 at most) pools with the person's three earlier samples:
    the untreated estimate rises 5.83 -> 6.23, under the 1.0 re-referral step, but the
    model's probability rises 0.45 -> 0.72, so the tier rises to high: a re-referral for
    that reason. The slight rise (6.5 -> 7.0) is not listed again."""
    lists = read_lists(output_runs.folder("r2"))
    assert lists["cpr"].to_list() == [RAISED_CLEARLY[0]]
    row = lists.row(0, named=True)
    assert (row["status"], row["rank"], row["priority"]) == ("re-referral", 1, "high")
    assert row["untreated_ldl_estimate"] == 6.23
    assert row["status_reason"] == ("prioriteten steget til høj siden henvisningen den "
                                    "2026-06-30 (kørsel r1)")
    assert row["index_ldl_date"] == "2026-07-20" and row["index_ldl"] == RAISED_CLEARLY[1]
    assert RAISED_SLIGHTLY[0] not in lists["cpr"].to_list()  # the clinic has them
    assert output_runs.second["outputs"]["re_referrals"] == 1
    assert output_runs.second["outputs"]["referrals"] == {"MID-LK1": 1}


def test_history_records_what_each_run_sent(output_runs):
    con = connect(output_runs.ws.store_path, read_only=True)
    try:
        per_run = dict(con.execute(
            "select run_id, count(*) from referral_history group by 1").fetchall())
        sent = con.execute("select tier, index_ldl, sent_at from referral_history "
                           "where run_id = 'r2'").fetchall()
    finally:
        con.close()
    assert per_run == {"r1": 37, "r2": 1}
    assert sent == [("high", 6.23, date(2026, 7, 31))]


def test_a_rise_in_priority_tier_re_refers(output_runs, tmp_path):
    """A person sent as 'standard' who is now 'high' comes back, with the reason."""
    store = tmp_path / "store.duckdb"
    shutil.copy(output_runs.ws.store_path, store)
    key = load_key(output_runs.ws.key_path)
    person = key.pseudonym("1802619345")
    con = connect(store)
    try:
        con.execute("update referral_history set tier = 'standard' where person_id = ?",
                    [person])
        params = output_params(con, "r3", date(2026, 7, 31))
        run_sql(con, "outputs/triage", params)
        with Reidentifier(output_runs.ws.vault_path) as who:
            listed = who.add_cpr(query_sql(con, "outputs/referral_list", params).pl(), "cpr",
                                 "person_id")
    finally:
        con.close()
    assert listed["cpr"].to_list() == ["180261-9345"]
    row = listed.row(0, named=True)  # a code and its facts; the lists word them
    assert (row["status_reason"], row["prev_sent_at"], row["prev_run_id"]) == (
        "tier_rose", date(2026, 6, 30), "r1")
    from fh_screening.referrals import status_text

    assert status_text(row, Translator("en")) == ("priority rose to high since referred on "
                                                  "2026-06-30 (run r1)")
    assert status_text(row, Translator("da")) == ("prioriteten steget til høj siden "
                                                  "henvisningen den 2026-06-30 (kørsel r1)")


def _sheet_rows(xlsx: zipfile.ZipFile, index: int) -> int:
    return len(re.findall(r"<row ", xlsx.read(f"xl/worksheets/sheet{index}.xml").decode()))


def test_xlsx_has_one_sheet_per_tier_with_frozen_header_and_filters(output_runs):
    folder = output_runs.folder("r1") / "referrals"
    csv = read_csv(folder / "MID-LK1.csv")
    with zipfile.ZipFile(folder / "MID-LK1.xlsx") as xlsx:
        workbook = xlsx.read("xl/workbook.xml").decode()
        assert re.findall(r'<sheet name="([^"]+)"', workbook) == ["haster", "høj",
                                                                  "almindelig"]
        for index, tier in ((1, "urgent"), (2, "high"), (3, "standard")):
            sheet = xlsx.read(f"xl/worksheets/sheet{index}.xml").decode()
            assert 'state="frozen"' in sheet and 'ySplit="1"' in sheet
            assert "<cols>" in sheet  # column widths set
            assert "<autoFilter" in xlsx.read(f"xl/tables/table{index}.xml").decode()
            assert _sheet_rows(xlsx, index) == 1 + csv.filter(pl.col("priority") == tier).height
        strings = xlsx.read("xl/sharedStrings.xml").decode()
        assert "180261-9345" in strings and "person_id" not in strings


def test_triage_page_is_self_contained(output_runs):
    page = (output_runs.folder("r1") / "referrals" / "MID-LK1.html").read_text()
    assert "default-src 'none'" in page  # the browser may load nothing from elsewhere
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert page.count("<tr data-order=") == read_csv(
        output_runs.folder("r1") / "referrals" / "MID-LK1.csv").height
    assert "@media print" in page


def test_model_scores_decide_and_rank_when_present(output_runs, tmp_path):
    """Once the risk model fills model_scores: its refer and priority_tier decide, its
    probability ranks within a tier, and its reasons follow the rules' reasons."""
    store = tmp_path / "store.duckdb"
    shutil.copy(output_runs.ws.store_path, store)
    key = load_key(output_runs.ws.key_path)
    con = connect(store)
    try:
        con.execute("delete from referral_history")
        con.execute("delete from model_scores")  # this test's own scores replace the model's
        as_of = con.execute("select max(as_of) from screening_results").fetchall()[0][0]
        mid = con.execute(
            "select person_id, referral from screening_results where lipid_clinic_id = "
            "'MID-LK1' order by referral desc, index_untreated_ldl desc, person_id limit 60"
        ).fetchall()
        referred = [p for p, r in mid if r]
        not_referred = [p for p, r in mid if not r]
        dropped, added = referred[1], not_referred[0]
        ldl = {"feature": "index_untreated_ldl", "value": 7.64, "odds_ratio": 77.1}
        chd = {"feature": "fdr_premature_chd", "value": 1.0, "odds_ratio": 3.2}
        rows = [(p, "midtjylland", 0.9 - i / 100, [ldl], "standard", True,
                 "test-1", as_of) for i, p in enumerate(referred) if p != dropped]
        rows.append((dropped, "midtjylland", 0.05, [], None, False, "test-1", as_of))
        rows.append((added, "midtjylland", 0.95, [chd, ldl], "high", True, "test-1", as_of))
        con.executemany("insert into model_scores (person_id, region, fh_probability, "
                        "model_reason_features, priority_tier, refer, model_version, as_of) "
                        "values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        params = output_params(con, "m1", as_of)
        run_sql(con, "outputs/triage", params)
        with Reidentifier(output_runs.ws.vault_path) as who:
            listed = who.add_cpr(query_sql(con, "outputs/referral_list", params).pl(), "cpr",
                                 "person_id")
        listed = with_reason_text(listed, Translator("en")).filter(
            pl.col("lipid_clinic_id") == "MID-LK1")
    finally:
        con.close()
    assert listed["person_id"].to_list() == [added, *[p for p in referred if p != dropped]]
    assert listed["priority"].to_list()[:2] == ["high", "standard"]
    assert listed["fh_probability"].to_list()[:2] == [0.95, 0.9]
    # the model's reasons, worded from the English catalogue, after the rules' reasons
    assert listed["reasons"][0].split("; ")[-2:] == [
        "risk model: a first-degree relative with premature coronary heart disease "
        "(raises the odds about 3-fold)",
        "risk model: untreated LDL estimated at 7.6 mmol/L (raises the odds more than 50-fold)"]
    assert listed["reasons"][1].endswith(
        "; risk model: untreated LDL estimated at 7.6 mmol/L (raises the odds more than 50-fold)")
    assert key.pseudonym(listed["cpr"][0].replace("-", "")) == added


def _candidates(con, run_id: str, as_of: date, capacity: dict[str, int]) -> pl.DataFrame:
    """The referral candidates of `run_id` with the clinics' capacities overridden."""
    params = output_params(con, run_id, as_of)
    con.execute("delete from clinic_capacity")
    for clinic, n in sorted(capacity.items()):
        con.execute("insert into clinic_capacity values (?, ?)", [clinic, n])
    run_sql(con, "outputs/triage", params)
    return query_sql(con, "outputs/referral_list", params).pl()


def test_capacity_lists_the_top_ranks_and_the_rest_wait_ranked(output_runs, tmp_path):
    """MID-LK1 may take 3 per run: ranks 1-3 are listed (and any urgent), the rest wait in
    the backlog with their rank and since when."""
    store = tmp_path / "store.duckdb"
    shutil.copy(output_runs.ws.store_path, store)
    con = connect(store)
    try:
        # run r1 again (its own history does not count against it), capacity 3
        mid = _candidates(con, "r1", date(2026, 6, 30), {"MID-LK1": 3}).filter(
            pl.col("lipid_clinic_id") == "MID-LK1")
    finally:
        con.close()
    assert mid.height > 3
    assert mid["rank"].to_list() == list(range(1, mid.height + 1))
    urgent = mid["priority"] == "urgent"
    assert mid["listed"].to_list() == [r <= 3 or u for r, u in
                                        zip(mid["rank"], urgent, strict=True)]
    assert set(mid.filter(~pl.col("listed"))["waiting_since"]) == {date(2026, 6, 30)}


def test_later_runs_draw_from_the_backlog_first_within_a_tier(output_runs, tmp_path):
    """The lowest-ranked standard referral of MID-LK1 has waited since May (a backlog row
    of an earlier run): this run puts them first among the standard tier; the high tier
    still comes before them."""
    store = tmp_path / "store.duckdb"
    shutil.copy(output_runs.ws.store_path, store)
    con = connect(store)
    try:
        before = _candidates(con, "r1", date(2026, 6, 30), {}).filter(
            pl.col("lipid_clinic_id") == "MID-LK1")
        standard = before.filter(pl.col("priority") == "standard")
        last = standard["person_id"][-1]
        con.execute("insert into referral_backlog values (?, 'r0', 'MID-LK1', 'standard', 9, "
                    "date '2026-05-31', date '2026-05-31')", [last])
        after = _candidates(con, "r1", date(2026, 6, 30), {}).filter(
            pl.col("lipid_clinic_id") == "MID-LK1")
    finally:
        con.close()
    assert standard.height >= 2
    first_standard = after.filter(pl.col("priority") == "standard").row(0, named=True)
    assert first_standard["person_id"] == last
    assert first_standard["waiting_since"] == date(2026, 5, 31)
    high = after.filter(pl.col("priority").is_in(["urgent", "high"]))
    assert high["rank"].max() < first_standard["rank"]
    assert sorted(after["person_id"]) == sorted(before["person_id"])  # nobody lost


def test_a_run_with_small_clinics_writes_the_backlog_and_the_next_run_draws_from_it(
        tmp_path, monkeypatch):
    """Every clinic takes 2 per run: each list holds 2 (plus any urgent), the others are in
    referral_backlog and in a backlog file without CPR numbers; the summary gives listed
    per 100,000 adults; the next run (same data, a later run id) lists the backlog's first
    two per clinic, and nobody sent is sent again."""
    from fh_screening import reports
    from fh_screening.config import SAMPLES_DIR
    from fh_screening.pipeline import run_screening
    from fh_screening.store import Workspace

    monkeypatch.setattr(reports, "load_clinics",
                        lambda: {"default": {"capacity_per_run": 2}, "clinics": {}})
    ws = Workspace(tmp_path / "home")
    first = run_screening(ws, ["midtjylland"], extract_root=SAMPLES_DIR, run_id="c1")
    second = run_screening(ws, ["midtjylland"], extract_root=SAMPLES_DIR, run_id="c2")
    clinics = first["outputs"]["clinics"]
    assert set(clinics) == {"MID-LK1", "MID-LK2"}
    for clinic, c in clinics.items():
        assert c["listed"] >= 2 and c["backlog"] > 0, clinic
        assert c["listed_per_100k_adults"] == round(1e5 * c["listed"] / c["adults"], 1)
    out = ws.output_dir / "c1" / "referrals"
    backlog = pl.read_csv(out / "backlog" / "MID-LK1.csv", separator=";")  # Danish CSV
    assert backlog.height == clinics["MID-LK1"]["backlog"]
    assert "cpr" not in backlog.columns
    assert not re.search(r"\d{6}-?\d{4}", (out / "backlog" / "MID-LK1.csv").read_text())
    con = connect(ws.store_path, read_only=True)
    try:
        waiting = con.execute("select person_id, backlog_rank from referral_backlog "
                              "where run_id = 'c1' and lipid_clinic_id = 'MID-LK1' "
                              "order by backlog_rank").fetchall()
        sent_c2 = {p for (p,) in con.execute(
            "select person_id from referral_history where run_id = 'c2'").fetchall()}
        sent_c1 = {p for (p,) in con.execute(
            "select person_id from referral_history where run_id = 'c1'").fetchall()}
    finally:
        con.close()
    assert not sent_c1 & sent_c2
    assert {p for p, _ in waiting[:2]} <= sent_c2
    assert second["outputs"]["clinics"]["MID-LK1"]["backlog"] == len(waiting) - 2
