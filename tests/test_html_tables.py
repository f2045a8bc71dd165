"""The HTML list pages, in a unit test and in a real headless browser.

The browser is Debian's chromium (installed here by the fixture when missing, as root,
non-interactively), driven by the `playwright` package with `executable_path`: no
browser download (`playwright install` is never run). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import polars as pl
import pytest

from fh_screening.config import PROJECT_ROOT
from fh_screening.html_tables import Col, render_table_page

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def test_cells_are_escaped_and_details_shown():
    frame = pl.DataFrame({"name": ["<b>x</b>"], "n": [2.5], "why": ["a & b"],
                          "letter": ["letters/X/family-001.html"]})
    html = render_table_page(frame, [Col("name", "Name", detail=("why",)), Col("n", "N"),
                                     Col("letter", "letter", link=True)],
                             title="T", meta=["m"], note="n", filter_columns=("name",))
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert '<div class="detail">a &amp; b</div>' in html
    assert '<td data-sort="2.5" class="num">2.5</td>' in html
    assert '<a href="letters/X/family-001.html">family-001.html</a>' in html
    assert '<option>&lt;b&gt;x&lt;/b&gt;</option>' in html


def install_chromium() -> Path:
    """Debian's chromium, installed if missing (the test set-up's only system package)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} is missing and the tests are not running as root: install "
                    "Debian's chromium (`apt-get install chromium`) for the browser test")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=300", "-q"]
    update = subprocess.run([*apt, "update"], env=env, capture_output=True, text=True,
                            timeout=900, check=False)
    install = subprocess.run([*apt, "install", "-y", "chromium"], env=env,
                             capture_output=True, text=True, timeout=1500, check=False)
    if install.returncode or not CHROMIUM.exists():
        pytest.fail("could not install Debian's chromium for the browser test:\n"
                    f"{update.stderr[-1500:]}\n{install.stderr[-1500:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = install_chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """A page opened from a file, with every console error and uncaught exception kept."""

    def __init__(self, browser, path: Path):
        self.errors: list[str] = []
        self.page = browser.new_page(viewport={"width": 1280, "height": 860})
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())

    def column(self, index: int) -> list[str]:
        return self.page.eval_on_selector_all(
            f"#list tbody tr:not([hidden]) td:nth-child({index})",
            "cells => cells.map(c => c.getAttribute('data-sort'))")


def test_triage_page_sorts_and_filters_in_a_real_browser(browser, output_runs):
    """The Danish triage page (the run's language): columns, controls and counts in
    Danish, sorted and filtered in a real browser."""
    path = output_runs.folder("r1") / "referrals" / "MID-LK1.html"
    listed = pl.read_csv(path.with_suffix(".csv"), separator=";", decimal_comma=True,
                         infer_schema_length=None)
    view = Page(browser, path)
    page = view.page
    assert page.locator("table#list").is_visible()
    assert page.locator("#list tbody tr").count() == listed.height == 12
    assert page.get_attribute("html", "lang") == "da"
    page.screenshot(path=ARTIFACTS / "referrals.png")
    headers = page.locator("#list thead th").all_inner_texts()
    estimate = "Anslået ubehandlet LDL (mmol/L)"
    cpr, ldl = headers.index("CPR") + 1, headers.index(estimate) + 1
    assert view.column(cpr) == listed["CPR"].to_list()  # as ranked

    header = page.locator("#list thead th", has_text=estimate).locator("button")
    header.click()
    ascending = [float(v) for v in view.column(ldl)]
    assert ascending == sorted(listed[estimate].to_list())
    assert view.column(cpr) != listed["CPR"].to_list()
    header.click()
    assert [float(v) for v in view.column(ldl)] == sorted(ascending, reverse=True)

    assert page.get_attribute("#q", "placeholder") == "enhver tekst"
    page.fill("#q", "180261")
    assert view.column(cpr) == ["180261-9345"]
    assert page.inner_text("#count") == "1 af 12 rækker"
    page.fill("#q", "")
    standard = listed.filter(pl.col("Prioritet") == "almindelig").height
    assert standard == 11
    page.select_option("select[data-col='1']", "almindelig")
    assert set(view.column(2)) == {"almindelig"} and len(view.column(2)) == standard
    assert page.inner_text("#count") == f"{standard} af 12 rækker"
    assert view.errors == []


def test_gp_report_cascade_page_and_letter_render_cleanly(browser, output_runs):
    folder = output_runs.folder("r1")
    gp = Page(browser, folder / "gp_reports" / "MID0014.html")
    assert gp.page.locator("table#patients tbody tr").count() == \
        output_runs.first["outputs"]["gp_reports"]["MID0014"]
    assert gp.page.locator("svg.ldlchart").count() >= 1
    gp.page.screenshot(path=ARTIFACTS / "gp_report.png")

    # No relative is named before an index patient consents: the relatives' page says so.
    relatives = Page(browser, folder / "cascade" / "MID-LK1.html")
    assert output_runs.first["outputs"]["cascade"]["MID-LK1"] == 0
    assert relatives.page.locator("#list tbody tr").count() == 0
    assert relatives.page.inner_text("#count") == "0 af 0 rækker"
    assert "Ingen slægtninge listet endnu" in relatives.page.inner_text("body")

    cascade = Page(browser, folder / "cascade" / "MID-LK1-families.html")
    families = pl.read_csv(folder / "cascade" / "MID-LK1-families.csv", separator=";")
    assert cascade.page.locator("table#list tbody tr").count() == families.height == \
        output_runs.first["outputs"]["families"]["MID-LK1"] == 7
    cascade.page.screenshot(path=ARTIFACTS / "cascade.png")
    cascade.page.emulate_media(media="print")
    assert not cascade.page.locator(".controls").is_visible()  # print hides the controls
    cascade.page.emulate_media(media="screen")
    first = families["Familie-id"][0]
    cascade.page.locator("#list a").first.click()  # the family letter, linked relatively
    cascade.page.wait_for_load_state()
    assert cascade.page.url.endswith(f"/cascade/letters/MID-LK1.html#family-{first}")
    # The link shows that family's letter alone, on screen and in print (CSS :target).
    letters = cascade.page.locator("article.letter")
    shown = cascade.page.locator("article.letter:visible")
    n = families["Familie-id"].n_unique()
    assert n > 1 and letters.count() == n and shown.count() == 1
    assert shown.get_attribute("id") == f"family-{first}"
    assert not cascade.page.locator("#families").is_visible()
    cascade.page.screenshot(path=ARTIFACTS / "family_letter.png")
    cascade.page.emulate_media(media="print")
    assert shown.count() == 1 and shown.get_attribute("id") == f"family-{first}"
    # Without a family chosen: the index on screen, every letter in print.
    cascade.page.goto(cascade.page.url.split("#")[0])
    cascade.page.emulate_media(media="screen")
    assert cascade.page.locator("#families a").count() == n and shown.count() == 0
    cascade.page.emulate_media(media="print")
    assert shown.count() == n and not cascade.page.locator("#families").is_visible()
    cascade.page.emulate_media(media="screen")
    for view in (gp, relatives, cascade):
        assert view.errors == []
