"""CSV and XLSX bytes."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date

import polars as pl

from fh_screening.sheets import csv_text, xlsx_bytes

FRAME = pl.DataFrame({"rank": [1, 2], "cpr": ["010101-1234", "020202-2345"],
                      "reasons": [["a", "b"], ["c"]], "ldl": [8.734, None]})


def test_csv_joins_lists():
    assert csv_text(FRAME).splitlines() == [
        "\ufeffrank,cpr,reasons,ldl", "1,010101-1234,a; b,8.734", "2,020202-2345,c,"]


def test_danish_csv_opens_in_danish_excel():
    """Semicolons, decimal commas and a UTF-8 byte order mark (issue 21)."""
    text = csv_text(FRAME, "da")
    assert text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    assert text.splitlines() == ["\ufeffrank;cpr;reasons;ldl", "1;010101-1234;\"a; b\";8,734",
                                 "2;020202-2345;c;"]


def test_return_columns_carry_drop_down_choices():
    from openpyxl import load_workbook

    from fh_screening.i18n import Translator
    from fh_screening.lists import REFERRAL_RETURNS, localise, validations, with_return_columns

    t = Translator("da")
    rows = localise(with_return_columns(FRAME.rename({"ldl": "index_ldl"}), REFERRAL_RETURNS), t)
    data = xlsx_bytes({"høj": rows}, as_of=date(2026, 6, 30), title="t",
                      validations=validations(t, REFERRAL_RETURNS), comment=t("returns.help"))
    sheet = load_workbook(io.BytesIO(data))["høj"]
    header = [c.value for c in sheet[1]]
    rules = {str(r.sqref).split(":")[0].rstrip("0123456789"): r
             for r in sheet.data_validations.dataValidation}
    letter = {h: chr(ord("A") + i) for i, h in enumerate(header)}
    contact = rules[letter["SVAR: kontakt"]]
    assert contact.type == "list"
    assert contact.formula1 == '"set i klinikken,takket nej,ikke truffet"'
    dlcn = rules[letter["SVAR: DLCN-point i klinikken"]]
    assert (dlcn.type, dlcn.formula1, dlcn.formula2) == ("whole", "0", "26")
    assert rules[letter["SVAR: dato"]].type == "date"


def test_xlsx_is_reproducible_with_one_sheet_each_and_a_frozen_filtered_header():
    first = xlsx_bytes({"high": FRAME, "standard": FRAME.head(0)}, as_of=date(2026, 6, 30),
                       title="t")
    again = xlsx_bytes({"high": FRAME, "standard": FRAME.head(0)}, as_of=date(2026, 6, 30),
                       title="t")
    assert first == again
    with zipfile.ZipFile(io.BytesIO(first)) as xlsx:
        assert re.findall(r'<sheet name="([^"]+)"', xlsx.read("xl/workbook.xml").decode()) \
            == ["high", "standard"]
        sheet = xlsx.read("xl/worksheets/sheet1.xml").decode()
        assert 'ySplit="1"' in sheet and 'state="frozen"' in sheet
        assert '<col min="2" max="2" width="13"' in sheet  # 11 characters + margin
        assert "<autoFilter" in xlsx.read("xl/tables/table1.xml").decode()
        assert "2026-06-30T00:00:00Z" in xlsx.read("docProps/core.xml").decode()
        assert "a; b" in xlsx.read("xl/sharedStrings.xml").decode()


def test_xlsx_cells_keep_their_types_and_formats():
    # Written by xlsxwriter's typed writers: numbers as numbers, a date as Excel's day
    # number (2026-06-30 is day 46203 counted from 1899-12-30) in yyyy-mm-dd, booleans
    # as booleans, decimals in #,##0.00, and an empty value as no cell at all.
    frame = pl.DataFrame({"age": [45, 7], "sampled": [date(2026, 6, 30), None],
                          "referred": [True, False], "ldl": [8.734, None],
                          "note": ["a & b < c", "x"]})
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes({"list": frame}, as_of=date(2026, 6, 30),
                                               title="t"))) as xlsx:
        sheet = xlsx.read("xl/worksheets/sheet1.xml").decode()
        styles = xlsx.read("xl/styles.xml").decode()
        strings = xlsx.read("xl/sharedStrings.xml").decode()
    cells = dict(re.findall(r'<c r="([A-Z]+[0-9]+)"([^>]*)>', sheet))
    values = dict(re.findall(r'<c r="([A-Z]+[0-9]+)"[^>]*><v>([^<]*)</v>', sheet))
    assert values["A2"] == "45" and values["A3"] == "7" and "t=" not in cells["A2"]
    assert values["B2"] == "46203" and "B3" not in cells  # the missing date: no cell
    assert values["C2"] == "1" and values["C3"] == "0" and 't="b"' in cells["C2"]
    assert values["D2"] == "8.734" and "D3" not in cells
    assert 't="s"' in cells["E2"] and "a &amp; b &lt; c" in strings
    date_style = int(re.search(r's="([0-9]+)"', cells["B2"])[1])
    decimal_style = int(re.search(r's="([0-9]+)"', cells["D2"])[1])
    formats = dict(re.findall(r'<numFmt numFmtId="([0-9]+)" formatCode="([^"]+)"', styles))
    xfs = re.findall(r'<xf numFmtId="([0-9]+)"', styles.split("<cellXfs")[1])
    assert formats[xfs[date_style]] == "yyyy-mm-dd;@"
    assert formats[xfs[decimal_style]] == "#,##0.00"
    assert '<table ' in sheet or 'tablePart' in sheet
