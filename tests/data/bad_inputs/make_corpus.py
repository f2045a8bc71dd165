"""The bad-input corpus: one small, clean regional extract and, per kind of bad input, the
file(s) that break it, with what ingest must do about them.

Regenerate with `.venv/bin/python -m tests.data.bad_inputs.make_corpus`; the files are
committed and `tests/test_bad_inputs.py` checks they are what this module writes.

Layout under tests/data/bad_inputs/:
    base_syddanmark/   a clean Syddanmark extract (latin-1, ';', decimal commas)
    base_midtjylland/  a clean Midtjylland extract (Parquet)
    <kind>/            only the files that differ from the base: a file of the same name
                       replaces the base file, a new name is added beside it
    <kind>/expected.json  what ingest must do (also in KINDS below, which the test reads)

Each kind adds bad rows or files to a clean extract, so the test can check both that the
bad part is refused or quarantined (naming file, row and field) and that every accepted
row is exactly what the clean extract gives. All CPR numbers are synthetic.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import polars as pl

CORPUS_DIR = Path(__file__).resolve().parent

# Synthetic people (valid CPR dates and century digits; sexes by the last digit).
MAN, WOMAN, CHILD, GRANDMA, LATE = (
    "010190-1235", "150285-4562", "120315-4001", "030355-1236", "070740-2112")
OUTSIDER = "111180-1113"  # a valid CPR number not in the patients extract

SYD_BASE: dict[str, str] = {
    "praksis.csv": (
        "praksisnr;praksisnavn;lipidklinik\n"
        "SYD0001;Lægerne Østergade;SYD-LK1\n"
        "SYD0002;Lægehuset Ærøvej;SYD-LK2\n"
    ),
    "personer.csv": (
        "cpr;praksisnr;doedsdato\n"
        f"{MAN};SYD0001;\n"
        f"{WOMAN};SYD0001;\n"
        f"{CHILD};SYD0002;\n"
        f"{GRANDMA};SYD0002;\n"
        f"{LATE};SYD0002;01-06-2023\n"
    ),
    "laboratoriesvar.csv": (
        "cpr;proevetidspunkt;analysekode;resultat;enhed\n"
        f"{MAN};01-03-2024 08:15;NPU01566;8,4;mmol/L\n"
        f"{MAN};01-03-2024 08:15;NPU01567;1,1;mmol/L\n"
        f"{MAN};01-03-2024 08:15;NPU04094;1,5;mmol/L\n"
        f"{MAN};01-03-2024 08:15;NPU01568;6,2;mmol/L\n"
        f"{WOMAN};02-03-2024 09:00;NPU01566;5,9;mmol/L\n"
        f"{WOMAN};02-03-2024 09:00;NPU01568;3,6;mmol/L\n"
        f"{WOMAN};02-03-2024 09:00;NPU03577;2,1;mIU/L\n"
        f"{CHILD};05-05-2025 10:30;NPU01568;4,7;mmol/L\n"
        f"{LATE};10-01-2023 11:00;NPU01568;5,1;mmol/L\n"
    ),
    "recepter.csv": "cpr;atc;styrke_mg;startdato;slutdato\n"
                    f"{MAN};C10AA05;40;01-04-2024;\n",
    "diagnoser.csv": f"cpr;diagnosekode;diagnosedato\n{MAN};DE780;05-05-2020\n",
    "slaegtskab.csv": (
        "cpr;slaegtning_cpr;relation\n"
        f"{WOMAN};{CHILD};barn\n"
        f"{CHILD};{WOMAN};mor\n"
        f"{GRANDMA};{WOMAN};barn\n"
    ),
    "gentest.csv": f"cpr;testdato;resultat\n{MAN};01-06-2024;positiv\n",
}
SYD_LAB_ROWS = SYD_BASE["laboratoriesvar.csv"].count("\n") - 1  # 9 data rows


def mid_base() -> dict[str, pl.DataFrame]:
    """A clean Midtjylland extract (Parquet, English names, a unit per row)."""
    return {
        "practices.parquet": pl.DataFrame({"practice_code": ["MID0001"],
                                           "practice_name": ["Riverside"],
                                           "lipid_clinic": ["MID-LK1"]}),
        "patients.parquet": pl.DataFrame(
            {"patient_cpr": [WOMAN, MAN], "birth_date": [date(1985, 2, 15), date(1990, 1, 1)],
             "sex": ["F", "M"], "practice_code": ["MID0001", "MID0001"],
             "date_of_death": [None, None]}, schema_overrides={"date_of_death": pl.Date}),
        "lab_results.parquet": _mid_labs([
            (WOMAN, datetime(2024, 1, 2, 10, 0), "2093-3", 232.0, "mg/dL"),
            (WOMAN, datetime(2024, 1, 2, 10, 0), "13457-7", 4.1, "mmol/L"),
            (MAN, datetime(2024, 2, 3, 9, 0), "14647-2", 6.1, "mmol/L"),
        ]),
        "medications.parquet": pl.DataFrame(
            {"patient_cpr": [WOMAN], "atc_code": ["C10AA07"], "dose_mg": [20.0],
             "start_date": [date(2023, 1, 1)], "stop_date": [None]},
            schema_overrides={"stop_date": pl.Date}),
        "diagnoses.parquet": pl.DataFrame({"patient_cpr": [WOMAN], "icd10_code": ["I21.9"],
                                           "diagnosis_date": [date(2022, 1, 1)]}),
        "relatives.parquet": pl.DataFrame({"patient_cpr": [WOMAN], "relative_cpr": [MAN],
                                           "relationship": ["sibling"]}),
        "genetic_tests.parquet": pl.DataFrame({"patient_cpr": [WOMAN],
                                               "test_date": [date(2024, 5, 1)],
                                               "outcome": ["benign"]}),
    }


def _mid_labs(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"patient_cpr": pl.String, "collected_at": pl.Datetime("us"),
                                      "test_code": pl.String, "value": pl.Float64,
                                      "unit": pl.String}, orient="row")


@dataclass(frozen=True)
class Quarantined:
    """A row ingest must quarantine: file name, 1-based data row, field, reason (start)."""

    file: str
    row: int
    field: str | None
    reason: str


@dataclass(frozen=True)
class Kind:
    """One kind of bad input and what ingest must do with it.

    Exactly one outcome: `quarantined` rows (every other row accepted as in the base),
    `refused` (the file is refused whole; the error names the file and `refused` is a
    regex it must match), or neither (the input is handled and changes nothing, e.g. a
    duplicate file that is skipped, listed in `skipped`)."""

    name: str
    region: str
    description: str
    files: dict[str, bytes]
    quarantined: tuple[Quarantined, ...] = ()
    refused: str | None = None
    refused_file: str | None = None
    skipped: tuple[str, ...] = ()
    dialect_overrides: dict[str, str] = field(default_factory=dict)


def latin1(text: str) -> bytes:
    return text.encode("latin-1")


def syd_labs_plus(*rows: str) -> bytes:
    """The base lab file with extra data rows appended (rows SYD_LAB_ROWS + 1, ...)."""
    return latin1(SYD_BASE["laboratoriesvar.csv"] + "".join(r + "\n" for r in rows))


def syd_plus(name: str, *rows: str) -> bytes:
    return latin1(SYD_BASE[name] + "".join(r + "\n" for r in rows))


def _lab_kind(name: str, description: str, row: str, fld: str, reason: str) -> Kind:
    """One bad lab row appended to the base lab file."""
    return Kind(name, "syddanmark", description, {"laboratoriesvar.csv": syd_labs_plus(row)},
                quarantined=(Quarantined("laboratoriesvar.csv", SYD_LAB_ROWS + 1, fld, reason),))


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, statistics=False)
    return buffer.getvalue()


LAB = "laboratoriesvar.csv"
LAB_HEADER = "cpr;proevetidspunkt;analysekode;resultat;enhed\n"
NAN = "not a number"
NOT_CPR = "not a CPR number (expected DDMMYY-SSSS)"
CYCLE = ("relation cycle: the parent is not born before the child "
         "(a person would be their own ancestor)")


def build_kinds() -> list[Kind]:
    base_lab = SYD_BASE[LAB]
    header, *data = base_lab.splitlines()
    mid_labs = mid_base()["lab_results.parquet"]
    kinds = [
        # --- file shape and dialect ------------------------------------------------------
        Kind("wrong_delimiter", "syddanmark", "a comma-separated lab file in a ';' region",
             {LAB: latin1(base_lab.replace(";", ",").replace("8,4", "8.4"))},
             refused=r"laboratoriesvar\.csv.*expects column\(s\) cpr \(cpr\), proevetidspunkt",
             refused_file=LAB),
        Kind("missing_required_column", "syddanmark", "the lab file lacks its code column",
             {LAB: latin1("\n".join(";".join(p for i, p in enumerate(line.split(";")) if i != 2)
                                    for line in base_lab.splitlines()) + "\n")},
             refused=r"laboratoriesvar\.csv.*analysekode \(source_code\)", refused_file=LAB),
        Kind("missing_mapped_column", "syddanmark",
             "the lab file lacks the unit column its dialect names",
             {LAB: latin1("\n".join(line.rsplit(";", 1)[0] for line in base_lab.splitlines())
                          + "\n")},
             refused=r"laboratoriesvar\.csv.*enhed \(source_unit\)", refused_file=LAB),
        Kind("extra_column", "syddanmark", "an extra, unmapped column: ignored, rows unchanged",
             {LAB: latin1("\n".join(line + (";kommentar" if i == 0 else ";ok")
                                    for i, line in enumerate(base_lab.splitlines())) + "\n")}),
        Kind("hostile_column_name", "syddanmark",
             "an extra column whose name is SQL: treated as a name, never as code",
             {LAB: latin1("\n".join(
                 line + (';"x""); drop table patients; --\'"' if i == 0 else ";1")
                 for i, line in enumerate(base_lab.splitlines())) + "\n")}),
        Kind("crlf_line_endings", "syddanmark", "Windows line endings: rows unchanged",
             {LAB: latin1(base_lab.replace("\n", "\r\n"))}),
        Kind("syd_file_in_parquet_region", "midtjylland",
             "a CSV file where the region sends Parquet (region config does not match file)",
             {"lab_results.parquet": latin1(base_lab)},
             refused=r"lab_results\.parquet: cannot be read as Parquet",
             refused_file="lab_results.parquet"),
        Kind("other_regions_layout", "syddanmark",
             "a Midtjylland-style CSV (',' and English names) in the Syddanmark folder",
             {LAB: b"patient_cpr,collected_at,test_code,value,unit\n"
                   + f"{MAN},2024-03-01 08:15:00,13457-7,6.2,mmol/L\n".encode()},
             refused=r"laboratoriesvar\.csv.*expects column\(s\) cpr \(cpr\), proevetidspunkt",
             refused_file=LAB),
        # --- encodings -------------------------------------------------------------------
        Kind("utf8_bom_in_latin1_region", "syddanmark",
             "a UTF-8 file with byte-order mark where the region sends latin-1",
             {"personer.csv": b"\xef\xbb\xbf" + SYD_BASE["personer.csv"].encode("utf-8")},
             refused=r"personer\.csv: line 1 starts with a UTF-8 byte-order mark",
             refused_file="personer.csv"),
        Kind("utf8_in_latin1_region", "syddanmark",
             "UTF-8 text (no BOM) where the region sends latin-1: 'æ' would become 'Ã¦'",
             {"praksis.csv": SYD_BASE["praksis.csv"].encode("utf-8")},
             refused=r"praksis\.csv: line 2 holds UTF-8 encoded text", refused_file="praksis.csv"),
        Kind("latin1_in_utf8_region", "syddanmark",
             "latin-1 bytes in a region configured as UTF-8",
             {"praksis.csv": latin1(SYD_BASE["praksis.csv"])},
             refused=r"praksis\.csv: line 2 is not valid UTF-8", refused_file="praksis.csv",
             dialect_overrides={"encoding": "utf-8"}),
        # --- empty and broken files ------------------------------------------------------
        Kind("empty_file", "syddanmark", "a second diagnoses file of 0 bytes",
             {"diagnoser_2.csv": b""},
             refused=r"diagnoser_2\.csv: the file is empty", refused_file="diagnoser_2.csv"),
        Kind("header_only", "syddanmark", "a second diagnoses file with a header and no rows",
             {"diagnoser_2.csv": latin1("cpr;diagnosekode;diagnosedato\n")}),
        Kind("truncated_last_line", "syddanmark", "the last line cut off mid-row, no newline",
             {LAB: latin1(base_lab + f"{WOMAN};02-03-2024 09:00;NPU0")},
             quarantined=(Quarantined(LAB, SYD_LAB_ROWS + 1, None,
                                      "malformed CSV line: MISSING COLUMNS"),)),
        Kind("too_many_fields", "syddanmark", "a row with one field too many",
             {LAB: syd_labs_plus(f"{WOMAN};02-03-2024 09:00;NPU01567;1,4;mmol/L;x")},
             quarantined=(Quarantined(LAB, SYD_LAB_ROWS + 1, None,
                                      "malformed CSV line: TOO MANY COLUMNS"),)),
        Kind("unterminated_quote", "syddanmark", "a value opening a quote it never closes",
             {LAB: syd_labs_plus(f'{WOMAN};02-03-2024 09:00;NPU01567;"1,4;mmol/L')},
             refused=r"laboratoriesvar\.csv: line 11 opens a quote it never closes",
             refused_file=LAB),
        # --- duplicates ------------------------------------------------------------------
        Kind("duplicate_row", "syddanmark", "a lab row repeated within the file",
             {LAB: syd_labs_plus(data[3])},
             quarantined=(Quarantined(LAB, SYD_LAB_ROWS + 1, "source_value",
                                      "duplicate of an earlier row"),)),
        Kind("duplicate_file", "syddanmark", "the same lab file again under another name",
             {"laboratoriesvar_kopi.csv": latin1(base_lab)},
             skipped=("laboratoriesvar_kopi.csv",)),
        Kind("overlapping_file", "syddanmark",
             "a later lab file repeating two rows of the earlier one",
             {"laboratoriesvar_2.csv": latin1("\n".join([header, data[0], data[5]]) + "\n")},
             quarantined=(Quarantined("laboratoriesvar_2.csv", 1, "source_value",
                                      "duplicate of an earlier row"),
                          Quarantined("laboratoriesvar_2.csv", 2, "source_value",
                                      "duplicate of an earlier row"))),
        Kind("duplicate_person", "syddanmark", "a person listed twice in the patients file",
             {"personer.csv": syd_plus("personer.csv", f"{MAN};SYD0002;")},
             quarantined=(Quarantined("personer.csv", 6, "cpr", "duplicate person in the file"),)),
        # --- numbers and units -----------------------------------------------------------
        _lab_kind("decimal_point_in_comma_file", "3.4 in a decimal-comma file",
                  f"{WOMAN};02-03-2024 09:00;NPU01567;1.4;mmol/L", "source_value", NAN),
        _lab_kind("thousands_separator", "1.234,5 (a thousands point) in a decimal-comma file",
                  f"{WOMAN};02-03-2024 09:00;NPU04094;1.234,5;mmol/L", "source_value", NAN),
        _lab_kind("nan_text", "'NaN' as a result", f"{WOMAN};02-03-2024 09:00;NPU01567;NaN;mmol/L",
                  "source_value", NAN),
        _lab_kind("censored_value", "'<0,1' (below detection) as a result",
                  f"{WOMAN};02-03-2024 09:00;NPU04094;<0,1;mmol/L", "source_value", NAN),
        _lab_kind("mg_dl_in_mmol_column", "232 (a mg/dL number) labelled mmol/L",
                  f"{WOMAN};03-03-2024 09:00;NPU01566;232;mmol/L", "source_value",
                  "total_chol outside the plausible range (0, 30] mmol/L"),
        _lab_kind("sentinel_99999", "99999 as a placeholder result",
                  f"{WOMAN};03-03-2024 09:00;NPU01568;99999;mmol/L", "source_value",
                  "ldl outside the plausible range (0, 30] mmol/L"),
        _lab_kind("zero_ldl", "an LDL of 0", f"{WOMAN};03-03-2024 09:00;NPU01568;0;mmol/L",
                  "source_value", "ldl outside the plausible range (0, 30] mmol/L"),
        _lab_kind("negative_value", "a negative LDL",
                  f"{WOMAN};03-03-2024 09:00;NPU01568;-3,1;mmol/L", "source_value",
                  "negative value"),
        _lab_kind("ldl_above_total", "an LDL above the total cholesterol of the same sample",
                  f"{WOMAN};02-03-2024 09:00;AAB00101;6,4;mmol/L", "source_value",
                  "ldl above the total cholesterol of the same sample"),
        _lab_kind("hdl_above_total", "an HDL above the total cholesterol of the same sample",
                  f"{MAN};01-03-2024 08:15;NPU01567;9,1;mmol/L", "source_value",
                  "hdl above the total cholesterol of the same sample"),
        _lab_kind("unit_not_accepted", "mg/L, a unit no lipid is reported in",
                  f"{WOMAN};03-03-2024 09:00;NPU01568;4,1;mg/L", "source_unit",
                  "unit mg/L not accepted for ldl"),
        _lab_kind("unknown_lab_code", "a haemoglobin code the region does not map",
                  f"{WOMAN};03-03-2024 09:00;NPU02319;8,1;mmol/L", "source_code",
                  "unknown lab code NPU02319"),
        Kind("parquet_mg_dl_labelled_mmol", "midtjylland",
             "a Parquet row with 232 in value and mmol/L in unit",
             {"lab_results.parquet": _parquet_bytes(pl.concat([mid_labs, _mid_labs(
                 [(MAN, datetime(2024, 2, 4, 9, 0), "2093-3", 232.0, "mmol/L")])]))},
             quarantined=(Quarantined("lab_results.parquet", 4, "source_value",
                                      "total_chol outside the plausible range (0, 30] mmol/L"),)),
        # --- CPR numbers -----------------------------------------------------------------
        _lab_kind("cpr_bad_date", "a CPR number dated 32 January",
                  "320190-1235;02-03-2024 09:00;NPU01568;3,4;mmol/L", "cpr",
                  "CPR number has an impossible date"),
        _lab_kind("cpr_29_february_non_leap", "a CPR number dated 29 February 1990",
                  "290290-1235;02-03-2024 09:00;NPU01568;3,4;mmol/L", "cpr",
                  "CPR number has an impossible date"),
        _lab_kind("cpr_wrong_length", "a CPR number with a digit missing",
                  "010190-123;02-03-2024 09:00;NPU01568;3,4;mmol/L", "cpr", NOT_CPR),
        _lab_kind("cpr_letters", "a CPR number with a letter",
                  "01019A-1235;02-03-2024 09:00;NPU01568;3,4;mmol/L", "cpr", NOT_CPR),
        _lab_kind("cpr_missing", "an empty CPR field", ";02-03-2024 09:00;NPU01568;3,4;mmol/L",
                  "cpr", "missing CPR number"),
        _lab_kind("person_not_in_patients", "a valid CPR number nobody extracted",
                  f"{OUTSIDER};02-03-2024 09:00;NPU01568;3,4;mmol/L", "cpr",
                  "person not in the patients extract"),
        # --- dates -----------------------------------------------------------------------
        _lab_kind("sample_in_future", "a sample dated 2041 (a mistyped year)",
                  f"{WOMAN};02-03-2041 09:00;NPU01568;3,4;mmol/L", "sampled_at",
                  "sample date in the future"),
        _lab_kind("sample_before_birth", "a child's sample before they were born",
                  f"{CHILD};01-03-2014 08:15;NPU01568;2,2;mmol/L", "sampled_at",
                  "sample date before birth"),
        _lab_kind("sample_after_death", "a sample after the person's death",
                  f"{LATE};01-01-2024 08:15;NPU01568;5,0;mmol/L", "sampled_at",
                  "sample date after death"),
        _lab_kind("iso_timestamp_in_danish_region", "2024-03-02 09:00 where dd-mm-yyyy is sent",
                  f"{WOMAN};2024-03-02 09:00;NPU01568;3,4;mmol/L", "sampled_at",
                  "not a timestamp in the format %d-%m-%Y %H:%M"),
        Kind("prescription_ends_before_start", "syddanmark",
             "a prescription ending before it starts",
             {"recepter.csv": syd_plus("recepter.csv",
                                       f"{WOMAN};C10AA07;10;01-05-2024;01-01-2024")},
             quarantined=(Quarantined("recepter.csv", 2, "end_date", "ends before it starts"),)),
        Kind("diagnosis_in_other_style", "syddanmark",
             "a dotted ICD-10 code in an LPR-style region",
             {"diagnoser.csv": syd_plus("diagnoser.csv", f"{WOMAN};E78.0;01-01-2021")},
             quarantined=(Quarantined("diagnoser.csv", 2, "icd10",
                                      "not an ICD-10 code in lpr style"),)),
        # --- family links ----------------------------------------------------------------
        Kind("own_parent", "syddanmark", "a person listed as their own father",
             {"slaegtskab.csv": syd_plus("slaegtskab.csv", f"{MAN};{MAN};far")},
             quarantined=(Quarantined("slaegtskab.csv", 4, "relative_cpr",
                                      "a person cannot be their own relative"),)),
        Kind("relation_cycle_two", "syddanmark",
             "the mother listed as her own child's child",
             {"slaegtskab.csv": syd_plus("slaegtskab.csv", f"{CHILD};{WOMAN};barn")},
             quarantined=(Quarantined("slaegtskab.csv", 4, "relative_cpr",
                                      CYCLE),)),
        Kind("relation_cycle_three", "syddanmark",
             "a grandchild listed as her grandmother's mother",
             {"slaegtskab.csv": syd_plus("slaegtskab.csv", f"{GRANDMA};{CHILD};mor")},
             quarantined=(Quarantined("slaegtskab.csv", 4, "relative_cpr",
                                      CYCLE),)),
        Kind("unknown_relation_code", "syddanmark", "'moster' (aunt), not in the vocabulary",
             {"slaegtskab.csv": syd_plus("slaegtskab.csv", f"{MAN};{WOMAN};moster")},
             quarantined=(Quarantined("slaegtskab.csv", 4, "relation", "unknown relation code"),)),
        # --- issue 20: typed inputs, read as typed -----------------------------------------
        Kind("parquet_timestamp_ms", "midtjylland",
             "sample times as millisecond Parquet timestamps (.123 s): read to the second",
             {"lab_results.parquet": _parquet_bytes(mid_labs.with_columns(
                 (pl.col("collected_at") + pl.duration(milliseconds=123))
                 .dt.cast_time_unit("ms")))}),
        Kind("parquet_timestamp_ns", "midtjylland",
             "sample times as nanosecond Parquet timestamps (.456789 s): read to the second",
             {"lab_results.parquet": _parquet_bytes(mid_labs.with_columns(
                 pl.col("collected_at").dt.cast_time_unit("ns")
                  + pl.duration(microseconds=456789)))}),
        Kind("parquet_timestamp_utc", "midtjylland",
             "sample times in UTC (a time-zone Parquet timestamp): converted to Danish time",
             {"lab_results.parquet": _parquet_bytes(mid_labs.with_columns(
                 (pl.col("collected_at") - pl.duration(hours=1))  # winter: UTC+1
                 .dt.replace_time_zone("UTC")))}),
        Kind("parquet_date_as_timestamp", "midtjylland",
             "a prescription start date sent as a midnight timestamp: read as that date",
             {"medications.parquet": _parquet_bytes(mid_base()["medications.parquet"]
                                                    .with_columns(pl.col("start_date")
                                                                  .cast(pl.Datetime("us"))))}),
        Kind("two_digit_year", "syddanmark",
             "a statin start '17-07-23' (two-digit year) where dd-mm-yyyy is sent: never year 23",
             {"recepter.csv": syd_plus("recepter.csv", f"{WOMAN};C10AA07;10;17-07-23;")},
             quarantined=(Quarantined("recepter.csv", 2, "start_date",
                                      "not a date in the format %d-%m-%Y"),)),
        # --- issue 20: plausibility --------------------------------------------------------
        Kind("death_in_future", "syddanmark", "a death date in 2031",
             {"personer.csv": syd_plus("personer.csv", "050505-5556;SYD0001;01-01-2031")},
             quarantined=(Quarantined("personer.csv", 6, "deceased_date",
                                      "death date in the future"),)),
        Kind("living_aged_131", "syddanmark", "a living patient born in 1895 (aged 131)",
             {"personer.csv": syd_plus("personer.csv", "010195-5123;SYD0001;")},
             quarantined=(Quarantined("personer.csv", 6, "cpr",
                                      "age above 120 years and not dead"),)),
        Kind("mother_who_is_a_man", "syddanmark", "a mother whose CPR number is a man's",
             {"slaegtskab.csv": syd_plus("slaegtskab.csv", f"{CHILD};{MAN};mor")},
             quarantined=(Quarantined("slaegtskab.csv", 4, "relation",
                                      "a mother whose CPR number is a man's"),)),
        Kind("second_mother", "syddanmark",
             "a later family file giving a child a second mother",
             {"slaegtskab_2.csv": latin1(f"cpr;slaegtning_cpr;relation\n{CHILD};{GRANDMA};mor\n")},
             quarantined=(Quarantined("slaegtskab_2.csv", 1, "relative_cpr",
                                      "a second mother: another is already stored"),)),
        Kind("statin_40000_mg", "syddanmark", "rosuvastatin 40,000 mg",
             {"recepter.csv": syd_plus("recepter.csv", f"{WOMAN};C10AA07;40000;01-05-2024;")},
             quarantined=(Quarantined("recepter.csv", 2, "strength_mg",
                                      "strength outside the plausible range 5-40 mg for "
                                      "rosuvastatin"),)),
        Kind("prescription_after_death", "syddanmark", "a statin started after death",
             {"recepter.csv": syd_plus("recepter.csv", f"{LATE};C10AA05;20;01-01-2024;")},
             quarantined=(Quarantined("recepter.csv", 2, "start_date", "date after death"),)),
        Kind("day_month_swapped", "syddanmark",
             "a lab file with day and month swapped (mm-dd-yyyy): refused whole, not the "
             "rows that still make a date",
             {"laboratoriesvar_2.csv": latin1(LAB_HEADER + "".join(
                 f"{WOMAN};03-{day:02d}-2024 09:00;NPU01568;{day // 10},{day % 10};mmol/L\n"
                 for day in range(3, 29)))},
             refused=r"fail one check.*day and month are swapped",
             refused_file="laboratoriesvar_2.csv"),
        Kind("two_digit_years_file", "syddanmark",
             "a lab file with two-digit years (dd-mm-yy): refused whole, naming the cause",
             {"laboratoriesvar_2.csv": latin1(LAB_HEADER + "".join(
                 f"{WOMAN};{day:02d}-04-24 09:00;NPU01568;{day // 10},{day % 10};mmol/L\n"
                 for day in range(3, 29)))},
             refused=r"26 of 26 rows.*the years have two digits",
             refused_file="laboratoriesvar_2.csv"),
        # --- issue 20: files that are not what their name says -----------------------------
        Kind("gzip_named_csv", "syddanmark", "a gzip-compressed lab file named .csv",
             {LAB: gzip.compress(latin1(base_lab), mtime=0)},
             refused=r"is a gzip-compressed file, not CSV text; unpack it", refused_file=LAB),
        Kind("utf16_file", "syddanmark", "a UTF-16 lab file (with BOM) in a latin-1 region",
             {LAB: base_lab.encode("utf-16")},
             refused=r"is UTF-16 text, but the dialect says latin-1", refused_file=LAB),
        Kind("cr_line_endings", "syddanmark", "old Mac line endings (CR only)",
             {LAB: latin1(base_lab.replace("\n", "\r"))},
             refused=r"end in a carriage return alone", refused_file=LAB),
        Kind("header_row_missing", "syddanmark",
             "a lab file without its header row: the error names no CPR number",
             {LAB: latin1("\n".join(data) + "\n")},
             refused=r"first line holds data, not column names: is the header row missing\?"
                     r"(?!.*\d{6}-\d{4})", refused_file=LAB),
    ]
    names = [k.name for k in kinds]
    assert len(names) == len(set(names)), "kind names must be unique"
    return kinds


KINDS = build_kinds()


def base_files(region: str) -> dict[str, bytes]:
    if region == "syddanmark":
        return {name: latin1(text) for name, text in SYD_BASE.items()}
    return {name: _parquet_bytes(frame) for name, frame in mid_base().items()}


def expected_json(kind: Kind) -> str:
    spec = asdict(kind)
    spec.pop("files")
    spec["files"] = sorted(kind.files)
    return json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def corpus() -> dict[str, bytes]:
    """Every corpus file by its path under CORPUS_DIR."""
    out: dict[str, bytes] = {}
    for region in ("syddanmark", "midtjylland"):
        for name, data in base_files(region).items():
            out[f"base_{region}/{name}"] = data
    for kind in KINDS:
        for name, data in kind.files.items():
            out[f"{kind.name}/{name}"] = data
        out[f"{kind.name}/expected.json"] = expected_json(kind).encode("utf-8")
    return out


def assemble(kind: Kind, folder: Path) -> Path:
    """The kind's extract folder: the base files, with the kind's files over them."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in {**base_files(kind.region), **kind.files}.items():
        (folder / name).write_bytes(data)
    return folder


def write(root: Path = CORPUS_DIR) -> int:
    """Write the corpus (replacing earlier kind folders); returns the number of files."""
    for child in root.iterdir():
        if child.is_dir() and not child.name.startswith("__"):
            shutil.rmtree(child)
    files = corpus()
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return len(files)


if __name__ == "__main__":
    print(f"wrote {write()} files for {len(KINDS)} kinds of bad input under {CORPUS_DIR}")
