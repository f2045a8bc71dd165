"""Corrections are data (issue 20, item 3): a file delivered again under its name with new
content replaces its earlier version, a later delivery's value for the same person, time
and code replaces the stored one, and the superseded rows are kept in `superseded_rows`
with their file; a conflict inside one file is quarantined. Never two truths side by side."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from fh_screening.accounting import check_store
from fh_screening.config import load_region
from fh_screening.ingest import ingest_region
from tests.conftest import TEST_KEY
from tests.data.bad_inputs.make_corpus import MAN, SYD_BASE, WOMAN, base_files

TODAY = date(2026, 11, 25)
LAB = "laboratoriesvar.csv"
HEADER = "cpr;proevetidspunkt;analysekode;resultat;enhed\n"


def extract(tmp_path: Path) -> Path:
    folder = tmp_path / "syd"
    folder.mkdir(exist_ok=True)
    for name, data in base_files("syddanmark").items():
        (folder / name).write_bytes(data)
    return folder


def ingest(con, folder: Path, tmp_path: Path):
    return ingest_region(con, load_region("syddanmark"), folder, TEST_KEY,
                         vault_path=tmp_path / "vault.duckdb", today=TODAY)


def ldl(con, person: str) -> list[tuple]:
    return con.execute(
        "select sampled_at::varchar, source_value, source_file from lab_results "
        "where person_id = ? and analyte = 'ldl' order by all",
        [TEST_KEY.pseudonym(person)]).fetchall()


def test_a_file_sent_again_with_a_corrected_value_replaces_its_earlier_version(
        con, tmp_path):
    folder = extract(tmp_path)
    ingest(con, folder, tmp_path)
    con.execute("insert into screening_state values ('[]', '2026-01-01', 'r', 'm', now())")
    assert ldl(con, MAN) == [("2024-03-01 08:15:00", "6,2", str(folder / LAB))]
    # the lab re-sends the same file: the man's LDL corrected, the child's row withdrawn
    text = SYD_BASE[LAB].replace(f"{MAN};01-03-2024 08:15;NPU01568;6,2",
                                 f"{MAN};01-03-2024 08:15;NPU01568;5,2")
    text = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("120315-4001"))
    (folder / LAB).write_bytes(text.encode("latin-1"))
    result = ingest(con, folder, tmp_path)
    labs = next(f for f in result.files if f.table == "lab_results")
    assert (labs.rows_accepted, labs.rows_quarantined, labs.rows_superseded) == (8, 0, 2)
    assert ldl(con, MAN) == [("2024-03-01 08:15:00", "5,2", str(folder / LAB))]  # one truth
    history = con.execute("select source_file, row_number, reason, superseded_by_file, "
                          "stored_row from superseded_rows order by row_number").fetchall()
    assert [(f, r, why) for f, r, why, _, _ in history] == [
        (str(folder / LAB), 4, "replaced: the file was delivered again without this row, "
                               "or with other values"),
        (str(folder / LAB), 8, "replaced: the file was delivered again without this row, "
                               "or with other values")]
    assert json.loads(history[0][4])["source_value"] == "6,2"  # the old value, kept
    assert json.loads(history[1][4])["source_value"] == "4,7"  # the withdrawn row
    assert con.execute("select count(*) from lab_results").fetchall() == [(8,)]
    # the earlier version's record is kept, marked replaced; the store balances
    assert con.execute("select count(*), count(superseded_by) from ingested_files "
                       "where table_name = 'lab_results'").fetchall() == [(2, 1)]
    check_store(con, ["syddanmark"])
    # a data change without a newer row: the next screening is a full one
    assert con.execute("select count(*) from screening_state").fetchall() == [(0,)]


def test_a_later_delivery_corrects_a_stored_value_and_keeps_the_old_one_in_history(
        con, tmp_path):
    folder = extract(tmp_path)
    ingest(con, folder, tmp_path)
    (folder / "laboratoriesvar_2.csv").write_bytes((
        HEADER + f"{MAN};01-03-2024 08:15;NPU01568;5,9;mmol/L\n"   # corrects 6,2
        f"{WOMAN};02-03-2024 09:00;NPU01568;3,6;mmol/L\n").encode("latin-1"))  # same: dup
    result = ingest(con, folder, tmp_path)
    later = next(f for f in result.files if f.path.endswith("laboratoriesvar_2.csv"))
    assert (later.rows_accepted, later.rows_quarantined, later.rows_superseded) == (1, 1, 1)
    assert later.reasons == {"duplicate of an earlier row": 1}
    assert ldl(con, MAN) == [("2024-03-01 08:15:00", "5,9", str(folder / "laboratoriesvar_2.csv"))]
    (row, reason, by_file, by_row, stored), = con.execute(
        "select row_number, reason, superseded_by_file, superseded_by_row, stored_row "
        "from superseded_rows").fetchall()
    assert (row, reason, by_file, by_row) == (
        4, "corrected by a later delivery", str(folder / "laboratoriesvar_2.csv"), 1)
    assert json.loads(stored)["value"] == 6.2
    check_store(con, ["syddanmark"])  # the corrected row still counts for its file


def test_conflicting_values_in_one_file_are_both_quarantined(con, tmp_path):
    folder = extract(tmp_path)
    (folder / LAB).write_bytes((SYD_BASE[LAB]
                                + f"{WOMAN};04-03-2024 09:00;NPU01568;3,4;mmol/L\n"
                                + f"{WOMAN};04-03-2024 09:00;NPU01568;4,3;mmol/L\n"
                                ).encode("latin-1"))
    ingest(con, folder, tmp_path)
    assert con.execute("select row_number, field, reason from quarantine order by 1"
                       ).fetchall() == [
        (10, "source_value", "conflicting values for the same person, sample time and lab "
                             "code in this file"),
        (11, "source_value", "conflicting values for the same person, sample time and lab "
                             "code in this file")]
    assert ("2024-03-04 09:00:00", "3,4", str(folder / LAB)) not in ldl(con, WOMAN)


def test_a_genetic_test_reclassified_in_a_later_file_replaces_the_old_result(con, tmp_path):
    folder = extract(tmp_path)
    ingest(con, folder, tmp_path)
    (folder / "gentest_2.csv").write_bytes(f"cpr;testdato;resultat\n{MAN};01-06-2024;uafklaret\n"
                                           .encode("latin-1"))
    ingest(con, folder, tmp_path)
    assert con.execute("select result from genetic_tests").fetchall() == [("uncertain",)]
    assert con.execute("select table_name, json_extract_string(stored_row, '$.result') "
                       "from superseded_rows").fetchall() == [("genetic_tests", "positive")]
    check_store(con, ["syddanmark"])


def test_a_prescription_file_sent_twice_under_two_names_is_not_counted_twice(con, tmp_path):
    folder = extract(tmp_path)
    ingest(con, folder, tmp_path)
    (folder / "recepter_kopi.csv").write_bytes(
        (SYD_BASE["recepter.csv"] + f"{MAN};C10AA05;40;01-04-2024;\n").encode("latin-1"))
    ingest(con, folder, tmp_path)
    assert con.execute("select count(*) from prescriptions").fetchall() == [(1,)]
    assert con.execute("select row_number, reason from quarantine").fetchall() == [
        (1, "duplicate of an earlier row"), (2, "duplicate of an earlier row")]
