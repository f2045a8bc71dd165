"""GP reports on the sample data (fixture `output_runs`): only the practice's own flagged
patients, no internals, Danish by default and English on request, a chart per patient."""

from __future__ import annotations

import re
import shutil
import string
from datetime import date

import pytest

from fh_screening.background import BACKGROUND_ROWS, BackgroundFiles
from fh_screening.config import load_thresholds
from fh_screening.criteria import threshold_params
from fh_screening.gp_reports import write_gp_reports
from fh_screening.i18n import Translator, catalogue
from fh_screening.outputs import write_private
from fh_screening.privacy import Reidentifier, load_key
from fh_screening.store import connect, run_sql

CPR = re.compile(r"\b(\d{6})-(\d{4})\b")
HEX_ID = re.compile(r"\b[0-9a-f]{32}\b")


@pytest.fixture(scope="module")
def r1_reports(output_runs):
    folder = output_runs.folder("r1") / "gp_reports"
    return {p.stem: p.read_text() for p in sorted(folder.glob("*.html"))}


def patient_row(report: str, cpr: str) -> str:
    rows = [r for r in report.split("<tr>") if f"CPR {cpr}" in r]
    assert len(rows) == 1, cpr
    return rows[0]


def test_each_report_holds_exactly_its_own_practices_flagged_patients(output_runs, r1_reports):
    key = load_key(output_runs.ws.key_path)
    con = connect(output_runs.ws.store_path, read_only=True)
    try:
        # screening_results holds the last run (r2, as of 2026-07-31); r1's reports are
        # checked against r1's own counts, and practice membership against patients.
        practice_of = dict(con.execute("select person_id, gp_practice_id from patients")
                           .fetchall())
    finally:
        con.close()
    counts = output_runs.first["outputs"]["gp_reports"]
    assert set(r1_reports) == set(counts) and sum(counts.values()) == 49
    for practice, html in r1_reports.items():
        cprs = {a + b for a, b in CPR.findall(html)}
        assert len(cprs) == counts[practice], practice
        assert {practice_of[key.pseudonym(c)] for c in cprs} == {practice}


def test_reports_carry_no_pseudonyms_or_internals(r1_reports):
    for practice, html in r1_reports.items():
        assert not HEX_ID.search(html), practice
        assert "person_id" not in html and "relative_id" not in html
        assert "default-src 'none'" in html and "<script" not in html


def test_danish_by_default_with_reasons_chart_and_next_steps(r1_reports):
    html = r1_reports["MID0014"]
    assert '<html lang="da">' in html
    assert "<h1>Mulig familiær hyperkolesterolæmi: Lægepraksis Æblehaven</h1>" in html
    row = patient_row(html, "180261-9345")
    assert "Høj prioritet" in row and "65 år, mand" in row
    assert "Indeks-LDL 4,3 mmol/L den 2026-02-12 (seneste prøve under behandling)" in row
    assert "i behandling med atorvastatin 10 mg" in row
    assert "Dutch Lipid Clinic Network-score 6 point (sandsynlig FH)" in row
    assert "anslået ubehandlet 6,8 mmol/L (80 %-interval 4,6 til 9,9)" in row
    assert "<li>Henvis til lipidklinikken (høj prioritet).</li>" in row
    assert "tilbyd test af førstegradsslægtninge" in row
    # the chart: 7 measured LDL values (all on treatment, so 7 untreated estimates too),
    # and the flag limit for a 65-year-old (>= 6.5)
    assert row.count('fill="#1f5f8b"><title>') == 7
    assert row.count('fill="white" stroke="#1f5f8b"><title>') == 7
    assert "grænse 6,5" in row


def test_held_back_patient_gets_the_secondary_cause_and_tests(output_runs, r1_reports):
    """SYD0008's flagged patient has a high TSH near every LDL sample: not referred yet;
    the GP is told to check thyroid function and repeat the lipids."""
    html = r1_reports["SYD0008"]
    held = [r for r in html.split("<tr>") if "Endnu ikke henvist" in r]
    assert len(held) == 1
    assert re.search(r"mulig hypothyreose: TSH op til \d+,\d mIU/L nær alle LDL-prøver", held[0])
    steps = re.findall(r"<li>([^<]+)</li>", held[0].split("<ol>")[1])
    assert steps == [
        "Kontrollér thyreoideafunktionen (TSH); gentag lipidprofilen, når "
        "thyreoideafunktionen er normal.",
        "Gentag en fastende lipidprofil, mindst en uge efter den seneste."]


def test_english_from_the_same_template_and_the_same_pages_from_worker_processes(
        output_runs, tmp_path):
    """A large run builds the pages in worker processes (background.py): same bytes.
    On a copy of the store: writing reports records them in gp_report_history, and the
    shared runs' store must stay as the runs left it (test_snapshot compares with it)."""
    store = tmp_path / "store.duckdb"
    shutil.copy(output_runs.ws.store_path, store)
    con = connect(store)
    try:
        params = {**threshold_params(load_thresholds()), "run_id": "en-check",
                  "as_of": date(2026, 7, 31)}
        run_sql(con, "outputs/triage", params)
        built = {}
        for rows in (1, BACKGROUND_ROWS + 1):  # here, then in workers
            background = BackgroundFiles(rows, write_private)
            assert (background._pool is None) == (rows == 1)
            out = tmp_path / str(rows)
            with Reidentifier(output_runs.ws.vault_path) as who:
                counts, files = write_gp_reports(con, out, params, code_version="test",
                                                 t=Translator("en"), background=background,
                                                 reidentify=who)
            assert background.finish() == [out / f for f in files]
            built[rows] = {f: (out / f).read_bytes() for f in files}
    finally:
        con.close()
    assert len(built[1]) == len(counts) >= 2 and built[1] == built[BACKGROUND_ROWS + 1]
    tmp_path = tmp_path / "1"
    assert counts["MID0014"] >= 1 and "gp_reports/MID0014.html" in files
    html = (tmp_path / "gp_reports" / "MID0014.html").read_text()
    assert '<html lang="en">' in html
    assert "Possible familial hypercholesterolaemia: Lægepraksis Æblehaven" in html
    row = patient_row(html, "180261-9345")
    assert "Index LDL 4.3 mmol/L on 2026-02-12" in row and "65 years, man" in row
    # r1 referred him, so this later report says the clinic has him (issue 21)
    assert "<li>Already with the lipid clinic: no new referral needed.</li>" in row
    assert "<li>Refer to the lipid clinic" not in row
    assert "Høj" not in html and "mmol/L den" not in html


def _english_model_fragments() -> set[str]:
    """The fixed words of every English model-reason string (between placeholders) that
    no Danish string contains."""
    en, da = catalogue("en"), catalogue("da")
    danish = " ".join(da.values())
    fragments = set()
    for key, text in en.items():
        if key.split(".")[0] in ("feature", "model") or key == "reason.model":
            for literal, *_ in string.Formatter().parse(text):
                part = literal.strip(" ()")
                if len(part) >= 6 and part not in danish:
                    fragments.add(part)
    return fragments


def test_danish_reports_give_the_model_reasons_in_danish(r1_reports):
    """The model's reasons follow the report's language: every one is Danish (decimal
    comma), and no English reason text is anywhere in the Danish reports."""
    reasons = [r for html in r1_reports.values()
               for r in re.findall(r"<li>(risikomodel: [^<]+)</li>", html)]
    assert len(reasons) >= 10
    for reason in reasons:
        assert reason.endswith("højere odds)"), reason
        assert not re.search(r"\d\.\d", reason), reason
    fragments = _english_model_fragments()
    assert {"raises the odds about", "untreated LDL estimated at", "risk model:"} <= fragments
    for practice, html in r1_reports.items():
        found = sorted(f for f in fragments if f in html)
        assert not found, (practice, found)
        assert "odds x" not in html and "-fold" not in html


def test_second_report_marks_changed_patients_and_those_already_with_the_clinic(output_runs):
    """Issue 21: r2 follows r1 with a clearly higher LDL for one patient: that patient is
    marked changed; everyone r1 sent to the clinic is 'already referred' (referral id)
    and gets no new referral step."""
    from tests.conftest import RAISED_CLEARLY

    pages = {p.name: p.read_text() for p in
             (output_runs.folder("r2") / "gp_reports").glob("*.html")}
    first = "".join((output_runs.folder("r1") / "gp_reports" / n).read_text() for n in pages
                    if (output_runs.folder("r1") / "gp_reports" / n).exists())
    assert "siden sidste rapport" not in first  # nothing to compare the first report with
    rows = [row for text in pages.values() for row in text.split("<tr>")[1:]]
    changed = [r for r in rows if RAISED_CLEARLY[0] in r]
    assert changed and "ÆNDRET siden sidste rapport" in changed[0]
    already = [r for r in rows if "Allerede henvist til lipidklinikken 2026-06-30" in r]
    assert already and all(re.search(r"henvisning R[0-9]{6}", r) for r in already)
    assert all("Allerede hos lipidklinikken: ingen ny henvisning" in r for r in already)
    assert not any("Henvis til lipidklinikken (høj prioritet)." in r for r in already)
