"""Ingest: dialect mapping, unit conversion, pseudonymisation and quarantine, on tiny
hand-made extracts whose every row's fate is known."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from fh_screening.config import load_region
from fh_screening.ingest import IngestError, ingest_region
from fh_screening.store import StoreBusy, connect
from tests.conftest import TEST_KEY

TODAY = date(2026, 11, 25)
MAN, WOMAN, CHILD = "010190-1235", "150285-4562", "120315-4001"

SYD_FILES = {
    "praksis.csv": "praksisnr;praksisnavn;lipidklinik\nSYD0001;Lægerne Østergade;SYD-LK1\n",
    "personer.csv": (
        "cpr;praksisnr;doedsdato\n"
        f"{MAN};SYD0001;\n{WOMAN};SYD0001;\n{CHILD};SYD0001;\n"
        "320190-1235;SYD0001;\n"  # row 4: 32 January does not exist
    ),
    "laboratoriesvar.csv": (
        "cpr;proevetidspunkt;analysekode;resultat;enhed\n"
        f"{MAN};01-03-2024 08:15;NPU01568;6,2;mmol/L\n"  # 1 accepted
        f"{MAN};01-03-2024 08:15;NPU01566;8,4;mmol/L\n"  # 2 accepted
        f"{WOMAN};02-03-2024 09:00;NPU01568;3.4;mmol/L\n"  # 3 decimal point in comma file
        f"{WOMAN};02-03-2024 09:00;XYZ123;3,4;mmol/L\n"  # 4 unknown code
        "999999-9999;02-03-2024 09:00;NPU01568;3,4;mmol/L\n"  # 5 impossible CPR date
        f"{MAN};01-03-2030 08:15;NPU01568;6,2;mmol/L\n"  # 6 future
        f"{MAN};01-03-2024 08:15;NPU01568;6,2;mmol/L\n"  # 7 duplicate of row 1
        f"{WOMAN};02-03-2024 09:00;NPU03577;7,5;mIU/L\n"  # 8 accepted (TSH)
        f"{WOMAN};02-03-2024 09:00;NPU01568;4,1;mg/L\n"  # 9 unit not accepted
        f"{MAN};01-03-2024 08:15;NPU01568;6,2\n"  # 10 missing a column
        f"{CHILD};01-03-2014 08:15;NPU01568;2,2;mmol/L\n"  # 11 before birth
    ),
    "recepter.csv": (
        "cpr;atc;styrke_mg;startdato;slutdato\n"
        f"{MAN};C10AA05;40;01-01-2024;\n"
        f"{MAN};C10AA05;40;01-01-2024;01-01-2023\n"  # ends before it starts
        f"{MAN};C07AB02;50;01-01-2024;\n"  # metoprolol: neither lowers nor raises LDL
        f"{MAN};H02AB06;5;01-01-2024;\n"  # prednisolone: raises LDL (a secondary cause)
    ),
    "diagnoser.csv": f"cpr;diagnosekode;diagnosedato\n{MAN};DE780;05-05-2020\n{MAN};DI219;x\n",
    "slaegtskab.csv": (
        "cpr;slaegtning_cpr;relation\n"
        f"{WOMAN};{CHILD};barn\n{CHILD};{WOMAN};mor\n{MAN};{MAN};far\n"
    ),
    "gentest.csv": f"cpr;testdato;resultat\n{MAN};01-06-2024;positiv\n",
}


def write_syd(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SYD_FILES.items():
        (folder / name).write_bytes(text.encode("latin-1"))
    return folder


def ingest_syd(con, tmp_path: Path):
    return ingest_syd_folder(con, write_syd(tmp_path / "syd"), tmp_path)


def ingest_syd_folder(con, folder: Path, tmp_path: Path, validator=None):
    return ingest_region(con, load_region("syddanmark"), folder, TEST_KEY,
                         vault_path=tmp_path / "vault.duckdb", today=TODAY, validator=validator)


def quarantine(con, table: str) -> dict[int, tuple[str, str]]:
    rows = con.execute(
        "select row_number, field, reason from quarantine where table_name = ? order by 1",
        [table]).fetchall()
    return {r: (f, why) for r, f, why in rows}


def test_syddanmark_lab_rows_are_accepted_or_quarantined_with_row_field_and_reason(con, tmp_path):
    result = ingest_syd(con, tmp_path)
    labs = next(f for f in result.files if f.table == "lab_results")
    assert (labs.rows_read, labs.rows_accepted, labs.rows_quarantined) == (11, 3, 8)
    q = quarantine(con, "lab_results")
    assert q[3] == ("source_value", "not a number")
    assert q[4] == ("source_code", "unknown lab code XYZ123")
    assert q[5] == ("cpr", "CPR number has an impossible date")
    assert q[6] == ("sampled_at", "sample date in the future")
    assert q[7] == ("source_value", "duplicate of an earlier row")
    assert q[9] == ("source_unit", "unit mg/L not accepted for ldl")
    assert q[10][1].startswith("malformed CSV line: MISSING COLUMNS")
    assert q[11] == ("sampled_at", "sample date before birth")
    accepted = con.execute(
        "select person_id, sampled_at, analyte, value, unit, source_value, row_number "
        "from lab_results order by row_number").fetchall()
    man = TEST_KEY.pseudonym(MAN)
    assert accepted == [
        (man, datetime(2024, 3, 1, 8, 15), "ldl", 6.2, "mmol/L", "6,2", 1),
        (man, datetime(2024, 3, 1, 8, 15), "total_chol", 8.4, "mmol/L", "8,4", 2),
        (TEST_KEY.pseudonym(WOMAN), datetime(2024, 3, 2, 9, 0), "tsh", 7.5, "mIU/L", "7,5", 8),
    ]


def test_patients_take_birth_date_and_sex_from_the_cpr_number(con, tmp_path):
    ingest_syd(con, tmp_path)
    rows = con.execute("select person_id, birth_date, sex, region from patients").fetchall()
    assert sorted(rows) == sorted([
        (TEST_KEY.pseudonym(MAN), date(1990, 1, 1), "M", "syddanmark"),
        (TEST_KEY.pseudonym(WOMAN), date(1985, 2, 15), "F", "syddanmark"),
        (TEST_KEY.pseudonym(CHILD), date(2015, 3, 12), "M", "syddanmark"),
    ])
    assert quarantine(con, "patients") == {4: ("cpr", "CPR number has an impossible date")}


def test_other_tables_map_codes_and_quarantine_bad_rows(con, tmp_path):
    ingest_syd(con, tmp_path)
    man, woman, child = (TEST_KEY.pseudonym(c) for c in (MAN, WOMAN, CHILD))
    assert con.execute("select person_id, icd10, diagnosed_at from diagnoses").fetchall() == [
        (man, "E78.0", date(2020, 5, 5))]
    assert quarantine(con, "diagnoses") == {
        2: ("diagnosed_at", "not a date in the format %d-%m-%Y")}
    links = con.execute("select person_id, relative_id, relation from relations").fetchall()
    assert sorted(links) == sorted([(woman, child, "child"), (child, woman, "mother")])
    assert quarantine(con, "relations") == {
        3: ("relative_cpr", "a person cannot be their own relative")}
    assert quarantine(con, "prescriptions") == {
        2: ("end_date", "ends before it starts"),
        3: ("atc_code", "neither a lipid-lowering drug (ATC C10) nor a drug that raises LDL")}
    assert con.execute("select atc_code, strength_mg from prescriptions order by atc_code"
                       ).fetchall() == [("C10AA05", 40.0), ("H02AB06", 5.0)]
    assert con.execute("select result from genetic_tests").fetchall() == [("positive",)]
    assert con.execute("select lipid_clinic_id, practice_name from practices").fetchall() == [
        ("SYD-LK1", "Lægerne Østergade")]


def test_no_cpr_number_reaches_the_store_but_the_vault_has_them(con, tmp_path):
    ingest_syd(con, tmp_path)
    digits = [c.replace("-", "") for c in (MAN, WOMAN, CHILD)]
    for (table,) in con.execute("select table_name from duckdb_tables() where not temporary"
                                ).fetchall():
        text = str(con.execute(f"select * from {table}").fetchall())
        for cpr in digits + [MAN, WOMAN, CHILD]:
            assert cpr not in text, f"CPR found in {table}"
    con.execute(f"attach '{tmp_path / 'vault.duckdb'}' as v (read_only)")
    assert sorted(r[0] for r in con.execute("select cpr from v.identity").fetchall()) == sorted(
        digits)


def test_ingesting_the_same_files_again_changes_nothing(con, tmp_path):
    first = ingest_syd(con, tmp_path)
    counts = con.execute("select (select count(*) from lab_results), (select count(*) from "
                         "quarantine), (select count(*) from patients)").fetchall()
    second = ingest_syd(con, tmp_path)
    assert first.totals()["files_ingested"] == 7
    assert second.totals() == {"files_ingested": 0, "files_skipped": 7, "rows_read": 0,
                               "rows_accepted": 0, "rows_quarantined": 0,
                               "rows_superseded": 0}
    assert con.execute("select (select count(*) from lab_results), (select count(*) from "
                       "quarantine), (select count(*) from patients)").fetchall() == counts


def test_accounting_balances_for_every_file(con, tmp_path):
    ingest_syd(con, tmp_path)
    rows = con.execute("select path, rows_read, rows_accepted, rows_quarantined from "
                       "ingested_files").fetchall()
    assert len(rows) == 7
    for path, read, accepted, quarantined in rows:
        stored = con.execute("select count(*) from quarantine where source_file = ?",
                             [path]).fetchall()[0][0]
        assert read == accepted + quarantined and stored == quarantined


def write_mid(folder: Path, birth_date: date = date(1985, 2, 15)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "practices.parquet": pl.DataFrame({"practice_code": ["MID0001"],
                                           "practice_name": ["Riverside"],
                                           "lipid_clinic": ["MID-LK1"]}),
        "patients.parquet": pl.DataFrame({
            "patient_cpr": [WOMAN, MAN], "birth_date": [birth_date, date(1990, 1, 1)],
            "sex": ["F", "F"], "practice_code": ["MID0001", "MID0001"],
            "date_of_death": [None, None]}, schema_overrides={"date_of_death": pl.Date}),
        "lab_results.parquet": pl.DataFrame({
            "patient_cpr": [WOMAN, WOMAN, WOMAN],
            "collected_at": [datetime(2024, 1, 2, 10, 0)] * 3,
            "test_code": ["2093-3", "2571-8", "14647-2"],
            "value": [232.0, 177.0, 6.1], "unit": ["mg/dL", "mg/dL", "mmol/L"]}),
        "medications.parquet": pl.DataFrame({"patient_cpr": [WOMAN], "atc_code": ["C10AA07"],
                                             "dose_mg": [20.0], "start_date": [date(2023, 1, 1)],
                                             "stop_date": [None]},
                                            schema_overrides={"stop_date": pl.Date}),
        "diagnoses.parquet": pl.DataFrame({"patient_cpr": [WOMAN], "icd10_code": ["I21.9"],
                                           "diagnosis_date": [date(2022, 1, 1)]}),
        "relatives.parquet": pl.DataFrame({"patient_cpr": [WOMAN], "relative_cpr": [CHILD],
                                           "relationship": ["child"]}),
        "genetic_tests.parquet": pl.DataFrame({"patient_cpr": [WOMAN],
                                               "test_date": [date(2024, 5, 1)],
                                               "outcome": ["likely_pathogenic"]}),
    }
    for name, frame in frames.items():
        frame.write_parquet(folder / name)
    return folder


def test_midtjylland_parquet_converts_mg_dl_and_checks_sex_against_cpr(con, tmp_path):
    ingest_region(con, load_region("midtjylland"), write_mid(tmp_path / "mid"), TEST_KEY,
                  vault_path=tmp_path / "vault.duckdb", today=TODAY)
    labs = dict(con.execute("select source_code, value from lab_results").fetchall())
    # 232 mg/dL / 38.67 = 5.9995 mmol/L; 177 mg/dL / 88.57 = 1.998 mmol/L
    assert labs["2093-3"] == pytest.approx(5.9995, abs=1e-3)
    assert labs["2571-8"] == pytest.approx(1.998, abs=1e-3)
    assert labs["14647-2"] == 6.1
    # The man's file row says F, his CPR number says M: quarantined, not corrected.
    assert quarantine(con, "patients") == {2: ("sex", "sex does not match the CPR number")}
    assert con.execute("select result from genetic_tests").fetchall() == [("positive",)]


def test_birth_date_disagreeing_with_cpr_is_quarantined(con, tmp_path):
    ingest_region(con, load_region("midtjylland"), write_mid(tmp_path / "mid", date(1985, 2, 16)),
                  TEST_KEY, vault_path=tmp_path / "vault.duckdb", today=TODAY)
    assert quarantine(con, "patients")[1] == ("birth_date",
                                              "birth date does not match the CPR number")


def test_a_file_not_matching_its_dialect_is_refused_whole(con, tmp_path):
    folder = write_syd(tmp_path / "syd")
    (folder / "laboratoriesvar.csv").write_bytes(b"cpr;tid;kode;resultat\n1;2;3;4\n")
    with pytest.raises(IngestError, match=r"laboratoriesvar.csv.*proevetidspunkt \(sampled_at\)"):
        ingest_region(con, load_region("syddanmark"), folder, TEST_KEY,
                      vault_path=tmp_path / "vault.duckdb", today=TODAY)
    assert con.execute("select count(*) from ingested_files where table_name = 'lab_results'"
                       ).fetchall() == [(0,)]


def test_a_file_written_to_during_its_ingest_is_refused_and_nothing_of_it_stored(con, tmp_path):
    # The checksums are computed ahead of the files' ingest; a file that changes after
    # it was hashed would be recorded under a checksum that its rows do not match.
    folder = write_syd(tmp_path / "syd")
    lab_file = folder / "laboratoriesvar.csv"

    def append_a_line(con, table, source, rows):
        if table == "lab_results":
            with lab_file.open("ab") as fh:
                fh.write(f"{MAN};02-03-2024 08:15;NPU01568;6,3;mmol/L\n".encode("latin-1"))
        return {}

    with pytest.raises(IngestError, match=r"laboratoriesvar.csv: the file changed while"):
        ingest_syd_folder(con, folder, tmp_path, validator=append_a_line)
    assert con.execute("select table_name from ingested_files order by 1").fetchall() == [
        ("patients",), ("practices",)]
    assert con.execute("select count(*) from lab_results").fetchall() == [(0,)]
    assert con.execute("select count(*) from quarantine where table_name = 'lab_results'"
                       ).fetchall() == [(0,)]
    # once the extract is complete, the next run ingests the file as it now is
    again = ingest_syd_folder(con, folder, tmp_path)
    assert [f.table for f in again.files if not f.skipped][0] == "lab_results"
    assert con.execute("select count(*) from lab_results").fetchall()[0][0] > 0


def test_sql_cpr_macros_follow_the_century_rule(con):
    cases = {  # CPR -> (birth date, sex) by the 7th-digit rule in DOMAIN.md
        "0101901235": (date(1990, 1, 1), "M"),
        "0101364000": (date(2036, 1, 1), "F"),  # 7th digit 4, YY <= 36 -> 2000s
        "0101374000": (date(1937, 1, 1), "F"),  # 7th digit 4, YY > 36 -> 1900s
        "0101575001": (date(2057, 1, 1), "M"),  # 5-8, YY <= 57 -> 2000s
        "0101585001": (date(1858, 1, 1), "M"),  # 5-8, YY > 57 -> 1800s
        "0101379001": (date(1937, 1, 1), "M"),  # 9, YY > 36 -> 1900s
        "2902001234": (None, "F"),  # 29 Feb 1900: 1900 was no leap year
    }
    for cpr, (born, sex) in cases.items():
        got = con.execute("select cpr_birth_date($d), cpr_sex($d)", {"d": cpr}).fetchall()[0]
        assert got == (born, sex), cpr


def test_sql_pseudonym_equals_python_hmac(con):
    got = con.execute("select pseudonym(cpr_digits($c), $ipad, $opad)",
                      {"c": MAN, **TEST_KEY.sql_params()}).fetchall()[0][0]
    assert got == TEST_KEY.pseudonym(MAN) and isinstance(got, int)


def test_a_store_held_by_another_process_is_refused_cleanly(tmp_path):
    path = tmp_path / "s.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); time.sleep(60)", str(path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreBusy, match="in use by another process"):
            connect(path)
    finally:
        holder.kill()
        holder.wait()
