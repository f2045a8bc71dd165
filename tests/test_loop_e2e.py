"""Closing the loop (issue 21), end to end over four monthly runs: synthetic lipid clinics
answer the referral and cascade workbooks from the synthetic truth, with non-response and
delay (fh_screening/clinic_sim.py); each run reads the returns and learns from them.

Checked here: PPV per run from the returns equals the truth on the answered referrals;
the cascade starts only after confirmation, and names relatives only with consent;
referral and family ids stay the same across runs; returns are accounted, refused when
they name an id never sent, read once; a model retrained on the returns is promoted or
refused by the rule; Danish and English outputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from fh_screening.lists import read_back
from fh_screening.model import MODELS_DIR, current_version, load_model
from fh_screening.pipeline import returns_step
from fh_screening.store import connect
from tests.loop_world import LANGUAGES, MONTHS, run_loop


def read_list(path: Path, lang: str) -> pl.DataFrame:
    """A list CSV as written for `lang`, with internal column names."""
    danish = lang == "da"
    frame = pl.read_csv(path, separator=";" if danish else ",", decimal_comma=danish,
                        infer_schema_length=None, encoding="utf8-lossy")
    return read_back(frame, lang)


def lists(loop, m: int, kind: str, suffix: str = "") -> pl.DataFrame:
    folder = loop.folder(m) / kind
    frames = [read_list(p, LANGUAGES[m]).with_columns(pl.lit(p.stem.removesuffix(suffix))
                                                      .alias("clinic"))
              for p in sorted(folder.glob(f"*{suffix}.csv"))
              if suffix or not p.stem.endswith(("-families", "-pending"))]
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    return run_loop(tmp_path_factory.mktemp("loop"))


def current_returns(loop) -> pl.DataFrame:
    con = connect(loop.ws.store_path, read_only=True)
    try:
        return con.sql("select * from current_returns").pl()
    finally:
        con.close()


def test_each_run_reports_its_yield_from_the_returns_so_far(loop):
    """Every run writes the report (JSON = the summary's figures); the referrals it counts
    are those listed up to that run, each once; PPV appears once returns carry findings."""
    seen: set[str] = set()
    ppv = []
    for m, result in enumerate(loop.results):
        report = json.loads((loop.folder(m) / "yield" / "yield.json").read_text())
        assert report["totals"] == result["outputs"]["yield"]
        assert (loop.folder(m) / "yield" / "yield.html").read_text().count("<table>") >= 6
        if (loop.folder(m) / "referrals").exists():
            seen |= set(lists(loop, m, "referrals")["referral_id"])
        totals = report["totals"]
        assert totals["referrals_sent"] == len(seen)
        assert totals["answered"] + totals["unanswered"] == totals["referrals_sent"]
        assert totals["confirmed"] + totals["negative"] + totals["open"] == totals["answered"]
        ppv.append(totals["ppv"])
    assert ppv[0] is None and all(p is not None for p in ppv[2:])


def test_ppv_of_each_run_matches_the_truth(loop):
    """The last run's report, per sending run: PPV from the returns = true carriers among
    that run's answered referrals with a finding, for every run with findings (at least
    three), and overall."""
    report = json.loads((loop.folder(len(MONTHS) - 1) / "yield" / "yield.json").read_text())
    findings = current_returns(loop).filter(pl.col("kind") == "referral").select(
        pl.col("return_key").alias("referral_id"), "finding")
    first_sent = {}
    for m in range(len(MONTHS)):
        if (loop.folder(m) / "referrals").exists():
            for rid, cpr in lists(loop, m, "referrals").select("referral_id", "cpr").rows():
                first_sent.setdefault(rid, (f"m{m}", cpr))
    sent = pl.DataFrame([(r, run, c) for r, (run, c) in first_sent.items()],
                        schema=["referral_id", "run_id", "cpr"], orient="row")
    judged = sent.join(findings, on="referral_id").filter(
        pl.col("finding").is_in(["confirmed", "negative"])).with_columns(
        carrier=pl.col("cpr").map_elements(lambda c: bool(loop.truth[c]["fh_carrier"]),
                                           return_dtype=pl.Boolean))
    runs_with_ppv = 0
    for row in report["by_run"]:
        part = judged.filter(pl.col("run_id") == row["run_id"])
        if not part.height:
            assert row["ppv"] is None
            continue
        truth_ppv = round(part["carrier"].mean(), 3)
        assert row["ppv"] == truth_ppv, row
        assert row["confirmed"] == int(part["carrier"].sum())
        runs_with_ppv += 1
    assert runs_with_ppv >= 2
    assert report["totals"]["ppv"] == round(judged["carrier"].mean(), 3)
    # non-response and delay: some referrals are never answered, some only in part
    assert report["totals"]["unanswered"] > 0 and report["totals"]["open"] > 0
    assert report["totals"]["days_to_outcome_p90"] > report["totals"]["days_to_outcome_median"] - 1


def test_every_runs_ppv_from_the_returns_it_read_matches_the_truth(loop):
    """At each run: the report's PPV over the returns read so far (the latest per referral
    among the files ingested by then) equals the true carrier share among those
    referrals; at least three runs have one."""
    con = connect(loop.ws.store_path, read_only=True)
    try:
        rows = con.sql("select * from clinic_returns where kind = 'referral'").pl()
    finally:
        con.close()
    cprs = {}
    for m in range(len(MONTHS)):
        if (loop.folder(m) / "referrals").exists():
            cprs.update(dict(lists(loop, m, "referrals").select("referral_id", "cpr").rows()))
    read: set[str] = set()
    compared = 0
    for result in loop.results:
        read |= {f["checksum"] for f in result["returns"]["files"]}
        latest = (rows.filter(pl.col("file_checksum").is_in(list(read)))
                  .sort("received_seq", "row_number").group_by("return_key").last())
        confirmed = latest.filter((pl.col("diagnosis") == "fh_confirmed")
                                  | (pl.col("genetic_test") == "positive"))["return_key"]
        negative = latest.filter(
            ~pl.col("return_key").is_in(confirmed.implode())
            & (pl.col("diagnosis").is_in(["not_fh", "secondary_cause"])
               | ((pl.col("genetic_test") == "negative") & pl.col("diagnosis").is_null())))
        judged = [*confirmed, *negative["return_key"]]
        ppv = result["outputs"]["yield"]["ppv"]
        if not judged:
            assert ppv is None
            continue
        carriers = sum(bool(loop.truth[cprs[r]]["fh_carrier"]) for r in judged)
        assert ppv == round(carriers / len(judged), 3) == round(len(confirmed) / len(judged), 3)
        compared += 1
    assert compared >= 3


def test_referral_and_family_ids_stay_the_same_across_runs(loop):
    ids: dict[str, set[str]] = {}
    families: dict[str, set[str]] = {}
    for m in range(len(MONTHS)):
        if (loop.folder(m) / "referrals").exists():
            for rid, cpr in lists(loop, m, "referrals").select("referral_id", "cpr").rows():
                ids.setdefault(cpr, set()).add(rid)
        for fid, cpr in lists(loop, m, "cascade", "-families").select(
                "family_id", "index_cpr").rows():
            families.setdefault(cpr, set()).add(fid)
    assert ids and all(len(v) == 1 for v in ids.values())
    assert len({next(iter(v)) for v in ids.values()}) == len(ids)
    assert all(len(v) == 1 for v in families.values())
    # families of the first run are still there, under the same id, in the last run
    first = set(lists(loop, 0, "cascade", "-families")["family_id"])
    last = lists(loop, len(MONTHS) - 1, "cascade", "-families")
    assert first and first <= set(last["family_id"])


def test_the_cascade_starts_only_after_confirmation_and_consent(loop):
    returns = current_returns(loop)
    for m in range(len(MONTHS)):
        families = lists(loop, m, "cascade", "-families")
        relatives = lists(loop, m, "cascade")
        pending = lists(loop, m, "cascade", "-pending")
        bases = set(families["index_basis"])
        words = ({"gentest positiv", "diagnosticeret FH (E78.0)", "bekræftet af lipidklinikken"}
                 if LANGUAGES[m] == "da" else
                 {"genetic test positive", "diagnosed FH (E78.0)", "confirmed by the lipid clinic"})
        assert bases <= words
        # relatives are named only in families whose index patient said yes
        if relatives.height:
            consented = families.filter(pl.col("consent_status").str.starts_with(
                "ja" if LANGUAGES[m] == "da" else "yes"))["family_id"]
            assert set(relatives["family_id"]) <= set(consented)
        # a referral still pending is no index case and has no letter
        if pending.height:
            assert not set(pending["cpr"]) & set(families["index_cpr"])
    last = len(MONTHS) - 1
    families = lists(loop, last, "cascade", "-families")
    confirmed_by_return = families.filter(pl.col("index_basis") == "bekræftet af lipidklinikken")
    assert confirmed_by_return.height > 0
    for cpr in confirmed_by_return["index_cpr"]:
        assert loop.truth[cpr]["fh_carrier"]  # the clinics answer from the truth
    consent_yes = set(returns.filter(pl.col("consent") == "yes")["person_id"])
    assert consent_yes and lists(loop, last, "cascade").height > 0
    # no letter says that an unconfirmed person has, or very probably has, FH
    for m in range(len(MONTHS)):
        for letter in (loop.folder(m) / "cascade" / "letters").glob("*.html"):
            text = letter.read_text()
            assert "meget sandsynligt" not in text and "very probably" not in text
            assert "telefon +45 70 00 00" in text  # the clinic's contact from config


def test_returns_are_accounted_read_once_and_superseded(loop):
    for result in loop.results:
        r = result["returns"]
        assert r["rows_read"] == r["rows_answered"] + r["rows_blank"] + r["rows_quarantined"]
    assert sum(r["returns"]["files_read"] for r in loop.results) > 5
    # the same sheet returned again with more filled in: the later return wins
    con = connect(loop.ws.store_path, read_only=True)
    try:
        twice = con.execute(
            "select count(*) from (select return_key from clinic_returns where kind = "
            "'referral' group by 1 having count(distinct received_seq) > 1)").fetchall()[0][0]
        partial_then_full = con.execute(
            "select count(*) from current_returns c where kind = 'referral' and finding <> "
            "'open' and exists (select 1 from clinic_returns e where e.return_key = "
            "c.return_key and e.received_seq < c.received_seq and e.diagnosis is null and "
            "e.genetic_test is null)").fetchall()[0][0]
        csv_rows = con.execute("select count(*) from clinic_returns where source_file "
                               "like '%.csv'").fetchall()[0][0]
    finally:
        con.close()
    assert twice > 0 and partial_then_full > 0 and csv_rows > 0
    # what the clinics sent after the last run is read now; then nothing is new
    late = returns_step(loop.ws, loop.returns)
    assert late["files_read"] > 0 and late["files_skipped"] > 0
    again = returns_step(loop.ws, loop.returns)
    assert again["files_read"] == 0 and again["files_skipped"] == len(again["files"])


def test_a_return_naming_an_id_never_sent_is_refused_with_file_row_and_reason(loop, tmp_path):
    home = tmp_path / "copy"
    shutil.copytree(loop.ws.home, home, ignore=shutil.ignore_patterns("output", "returns"))
    from fh_screening.store import Workspace

    ws = Workspace(home)
    sent = lists(loop, 0, "referrals").row(0, named=True)
    other = lists(loop, 0, "referrals").row(1, named=True)
    folder = tmp_path / "returns" / sent["clinic"]
    folder.mkdir(parents=True)
    (folder / "svar.csv").write_text(
        "\ufeffHenvisnings-id;CPR;SVAR: kontakt;SVAR: diagnose;SVAR: dato\n"
        "R999999;;set i klinikken;ikke FH;2026-08-01\n"
        f"{sent['referral_id']};{other['cpr']};set i klinikken;ikke FH;2026-08-01\n"
        f"{sent['referral_id']};;set i klinikken;måske;2026-08-01\n"
        f"{sent['referral_id']};;takket nej;FH bekræftet klinisk (DLCN);2026-08-01\n"
        f"{sent['referral_id']};;;;\n"
        f"{sent['referral_id']};{sent['cpr']};seen;ikke FH;01-08-2026\n", encoding="utf-8")
    result = returns_step(ws, tmp_path / "returns")
    assert (result["rows_read"], result["rows_answered"], result["rows_blank"],
            result["rows_quarantined"]) == (6, 1, 1, 4)
    con = connect(ws.store_path, read_only=True)
    try:
        rows = con.execute("select row_number, field, reason from quarantine where table_name "
                           "= 'clinic_returns' order by row_number").fetchall()
        stored = con.execute("select contact, diagnosis, outcome_date::varchar from "
                             "clinic_returns where source_file like '%svar.csv'").fetchall()
    finally:
        con.close()
    assert [r[:2] for r in rows] == [(2, "referral_id"), (3, "cpr"), (4, "ret_diagnosis"),
                                     (5, "ret_diagnosis")]
    assert "R999999 was never sent" in rows[0][2]
    assert "does not belong to referral id" in rows[1][2]
    assert "'måske' is not one of the choices" in rows[2][2]
    assert "not seen" in rows[3][2]
    assert not any(other["cpr"] in r[2] or sent["cpr"] in r[2] for r in rows)
    assert stored == [("seen", "not_fh", "2026-08-01")]


def test_danish_and_english_outputs(loop):
    da, en = loop.folder(0) / "referrals", loop.folder(2) / "cascade"
    text = next(da.glob("*.csv")).read_bytes()
    assert text.startswith(b"\xef\xbb\xbf") and text[3:].startswith(b"Henvisnings-id;")
    english = next(p for p in en.glob("*-families.csv")).read_bytes()
    assert english.startswith(b"\xef\xbb\xbf") and english[3:].startswith(b"Family id,")
    danish_row = lists(loop, 0, "referrals").row(0, named=True)
    assert danish_row["priority"] in ("haster", "høj", "almindelig")
    assert isinstance(danish_row["untreated_ldl_estimate"], float)  # decimal comma read
    page = (loop.folder(0) / "referrals" / f"{danish_row['clinic']}.html").read_text()
    assert "FH-henvisninger til" in page and "Lipid" in page


def test_a_model_retrained_on_the_returns_is_promoted_or_refused_by_the_rule(loop, tmp_path):
    from fh_screening.promotion import MIN_HELD_OUT_POSITIVES, decide, train_from_returns
    from tests.loop_world import REGIONS

    models = tmp_path / "models"
    models.mkdir()
    version = current_version(MODELS_DIR)
    shutil.copytree(MODELS_DIR / version, models / version)
    (models / "CURRENT").write_text(version + "\n")
    card = train_from_returns(loop.ws, REGIONS, models, load_model(models))
    p = card["promotion"]
    assert p["candidate"]["n"] == p["current"]["n"] > 0
    assert p["candidate"]["version"] == card["version"] != p["current"]["version"]
    assert p["promoted"] == decide(p["candidate"], p["current"])["promoted"]
    assert current_version(models) == (card["version"] if p["promoted"] else version)
    stored = json.loads((models / card["version"] / "model_card.json").read_text())
    assert stored["promotion"] == p and stored["label"].startswith("a lipid clinic's returned")
    md = (models / card["version"] / "model_card.md").read_text()
    assert "## Promotion (clinic returns held out)" in md
    assert str(p["candidate"]["average_precision"]) in md and \
        str(p["current"]["average_precision"]) in md
    assert p["candidate"]["positives"] >= 1 and MIN_HELD_OUT_POSITIVES == 5
