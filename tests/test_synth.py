"""The synthetic population: deterministic, calibrated to DOMAIN.md, written exactly in
each region's dialect, with counted anomalies that appear only in the files."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from fh_screening.config import list_regions, load_region, load_units
from fh_screening.synth import (
    CARRIER_RATE,
    DEFAULT_END,
    DEFAULT_START,
    KNOWN_FH_CODE,
    Population,
    file_name,
    generate_population,
    lab_profile,
    region_slot,
    write_region,
    write_samples,
)

SEED = 20261125
CPR_RE = re.compile(r"^\d{6}-\d{4}$")
ADULT_AGE = 18


def within_binomial(successes: int, trials: int, p: float, z: float = 4.0) -> bool:
    """|observed - expected| within z binomial standard deviations."""
    sd = math.sqrt(trials * p * (1 - p))
    return abs(successes - trials * p) <= z * sd


def cpr_birth_date(cpr: str) -> date:
    """The Danish century rule (CPR-kontoret), written independently of synth.py."""
    dd, mm, yy, d7 = int(cpr[0:2]), int(cpr[2:4]), int(cpr[4:6]), int(cpr[7])
    if d7 <= 3:
        century = 1900
    elif d7 in (4, 9):
        century = 2000 if yy <= 36 else 1900
    else:
        century = 2000 if yy <= 57 else 1800
    return date(century + yy, mm, dd)


@pytest.fixture(scope="module")
def syd() -> Population:
    return generate_population(2000, SEED, "syddanmark")


@pytest.fixture(scope="module")
def big() -> Population:
    """Enough founders (~53,000) to test prevalence and transmission."""
    return generate_population(120_000, 7, "syddanmark")


def ages(pop: Population, at: pl.Expr) -> pl.Expr:
    return (at - pl.col("birth_date")).dt.total_days() / 365.25


# ---------------------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------------------
FRAMES = ("patients", "practices", "lab_results", "prescriptions", "diagnoses", "relations",
          "genetic_tests", "truth", "panels")


def test_same_seed_gives_identical_frames(syd):
    again = generate_population(2000, SEED, "syddanmark")
    for name in FRAMES:
        assert getattr(again, name).equals(getattr(syd, name)), name


def test_different_seed_or_region_gives_different_people(syd):
    other = generate_population(2000, SEED + 1, "syddanmark")
    assert not other.patients.equals(syd.patients)
    assert not other.lab_results.equals(syd.lab_results)
    mid = generate_population(2000, SEED, "midtjylland")
    # Regions never share a CPR number: each has its own 8th digit.
    assert set(mid.patients["cpr"]).isdisjoint(set(syd.patients["cpr"]))
    assert region_slot("syddanmark") != region_slot("midtjylland")
    assert {c[8] for c in syd.patients["cpr"]} == {str(region_slot("syddanmark"))}


def test_exactly_n_people_and_unique_cprs(syd):
    assert syd.patients.height == 2000
    assert syd.patients["cpr"].n_unique() == 2000
    assert syd.truth["cpr"].sort().equals(syd.patients["cpr"].sort())


# ---------------------------------------------------------------------------------------
# CPR numbers
# ---------------------------------------------------------------------------------------
def test_cpr_format_century_and_sex_digits(syd):
    rows = syd.patients.select("cpr", "birth_date", "sex").rows()
    for cpr, birth, sex in rows:
        assert CPR_RE.match(cpr), cpr
        assert cpr_birth_date(cpr) == birth, cpr
        assert int(cpr[-1]) % 2 == (1 if sex == "M" else 0), cpr
    # Both centuries occur, so both branches of the rule are exercised.
    years = {b.year for _, b, _ in rows}
    assert min(years) < 1950 and max(years) >= 2000


# ---------------------------------------------------------------------------------------
# Genetics and LDL (DOMAIN.md)
# ---------------------------------------------------------------------------------------
def test_carrier_prevalence_among_founders_is_one_in_250(big):
    founders = big.truth.filter(pl.col("is_founder"))
    assert founders.height > 50_000
    carriers = int(founders["fh_carrier"].sum())
    assert within_binomial(carriers, founders.height, CARRIER_RATE), carriers
    # Prevalence is kept across generations (autosomal dominant, 50 % transmission).
    everyone = int(big.truth["fh_carrier"].sum())
    assert within_binomial(everyone, big.truth.height, CARRIER_RATE, z=6.0), everyone


def test_half_of_the_children_of_one_carrier_parent_carry(big):
    carrier = dict(big.truth.select("cpr", "fh_carrier").iter_rows())
    parents = big.relations.filter(pl.col("relation").is_in(["mother", "father"]))
    by_child = parents.group_by("cpr").agg(pl.col("relative_cpr"))
    n = hits = 0
    for child, pair in by_child.iter_rows():
        assert len(pair) == 2  # every non-founder has both parents in the data
        if sum(carrier[p] for p in pair) == 1:
            n += 1
            hits += carrier[child]
    assert n > 150
    assert within_binomial(hits, n, 0.5), (hits, n)
    # No carrier child without a carrier parent (no new mutations in this model).
    orphans = [c for c, pair in by_child.iter_rows()
               if carrier[c] and not any(carrier[p] for p in pair)]
    assert orphans == []


def test_adult_ldl_by_carrier_status(big):
    ldl = (big.lab_results.filter(pl.col("analyte") == "ldl")
           .join(big.panels, on=["cpr", "sampled_at"])
           .filter(pl.col("reduction") == 0)  # untreated measurements
           .join(big.patients.select("cpr", "birth_date"), on="cpr")
           .filter(ages(big, pl.col("sampled_at").dt.date()) >= ADULT_AGE)
           .join(big.truth.select("cpr", "fh_carrier"), on="cpr"))
    stats = {c: v for c, v in ldl.group_by("fh_carrier").agg(
        pl.col("value").mean().alias("mean"), pl.col("value").std().alias("sd")).select(
        "fh_carrier", pl.struct("mean", "sd")).iter_rows()}
    non, car = stats[False], stats[True]
    assert 2.8 <= non["mean"] <= 3.8, non
    assert 0.7 <= non["sd"] <= 1.1, non
    assert car["mean"] - non["mean"] >= 2.0, (car, non)
    assert 5.0 <= car["mean"] <= 7.5 and 1.2 <= car["sd"] <= 2.2, car


def test_men_rise_earlier_than_women(big):
    ldl = (big.panels.join(big.truth.select("cpr", "fh_carrier", "hypothyroid"), on="cpr")
           .filter(~pl.col("fh_carrier"))
           .join(big.patients.select("cpr", "birth_date", "sex"), on="cpr")
           .with_columns(ages(big, pl.col("sampled_at").dt.date()).alias("age")))

    def mean(sex: str, lo: float, hi: float) -> float:
        return ldl.filter((pl.col("sex") == sex) & pl.col("age").is_between(lo, hi))[
            "ldl_untreated"].mean()

    assert mean("M", 45, 55) - mean("M", 20, 30) > 0.6
    assert abs(mean("F", 25, 35) - mean("F", 20, 25)) < 0.3
    assert mean("F", 60, 70) - mean("F", 30, 40) > 0.6


def test_treated_measurements_are_lower_than_the_untreated_truth(big):
    ldl = (big.lab_results.filter(pl.col("analyte") == "ldl")
           .join(big.panels, on=["cpr", "sampled_at"]))
    treated = ldl.filter(pl.col("reduction") > 0)
    assert treated.height > 1000
    assert (treated["value"] < treated["ldl_untreated"]).mean() > 0.99
    ratio = (treated["value"] / treated["ldl_untreated"]).mean()
    assert abs(ratio - (1 - treated["reduction"].mean())) < 0.03
    assert treated["reduction"].max() <= 0.85
    # Every treated panel falls inside an active lipid-lowering prescription.
    rx = big.prescriptions.with_columns(pl.col("end_date").fill_null(date(9999, 1, 1)))
    sample = treated.head(500).with_columns(pl.col("sampled_at").dt.date().alias("d"))
    active = sample.join(rx, on="cpr").filter(
        (pl.col("start_date") <= pl.col("d")) & (pl.col("d") <= pl.col("end_date")))
    assert active["sampled_at"].n_unique() == sample["sampled_at"].n_unique()


def test_diagnoses_tests_and_treatment_rates(big):
    truth = big.truth
    carriers = truth.filter(pl.col("fh_carrier"))
    known = big.diagnoses.filter(pl.col("icd10") == KNOWN_FH_CODE).select("cpr").unique()
    known_carriers = carriers.join(known, on="cpr").height
    assert 0.10 <= known_carriers / carriers.height <= 0.25
    non_known = known.height - known_carriers
    assert non_known / (truth.height - carriers.height) < 0.002
    # Genetic tests are accurate and biased towards suspected FH.
    tests = big.genetic_tests.join(truth.select("cpr", "fh_carrier"), on="cpr")
    assert tests.height > 100
    assert ((tests["result"] == "positive") == tests["fh_carrier"]).all()
    adults = big.patients.filter(ages(big, pl.lit(DEFAULT_END)) >= ADULT_AGE)
    tested_adults = tests.join(adults, on="cpr").height / adults.height
    assert 0.005 <= tested_adults <= 0.03
    assert tests["fh_carrier"].mean() > 10 * CARRIER_RATE
    # Hypothyroid people are coded E03.9 and have a high TSH.
    hypo = truth.filter(pl.col("hypothyroid")).select("cpr")
    assert 0.01 <= hypo.height / truth.height <= 0.03
    tsh = big.lab_results.filter(pl.col("analyte") == "tsh")
    assert tsh.join(hypo, on="cpr")["value"].min() > 4.5
    assert tsh.join(hypo, on="cpr", how="anti")["value"].median() < 2.5
    # Premature CHD is much more frequent in carriers.
    chd = big.diagnoses.filter(pl.col("icd10").str.starts_with("I2")).select("cpr").unique()
    rate = {c: truth.filter(pl.col("fh_carrier") == c).join(chd, on="cpr").height
            / truth.filter(pl.col("fh_carrier") == c).height for c in (True, False)}
    assert rate[True] > 3 * rate[False]


def test_triglycerides_and_total_cholesterol(big):
    lab = big.lab_results
    tg = lab.filter(pl.col("analyte") == "triglycerides")["value"]
    assert 1.0 <= tg.median() <= 1.4
    assert 0.01 <= (tg > 4.5).mean() <= 0.035
    wide = lab.filter(pl.col("analyte").is_in(["total_chol", "hdl", "triglycerides", "ldl"])) \
        .pivot(on="analyte", index=["cpr", "sampled_at"], values="value")
    friedewald = wide["total_chol"] - wide["hdl"] - wide["triglycerides"] / 2.2
    assert (friedewald - wide["ldl"]).abs().median() < 0.15


# ---------------------------------------------------------------------------------------
# Time: no sample before birth, after death or outside the window
# ---------------------------------------------------------------------------------------
def test_samples_and_events_are_inside_each_life_and_the_window(syd):
    lab = syd.lab_results.join(syd.patients, on="cpr", how="left")
    assert lab["birth_date"].null_count() == 0  # every lab row's person exists
    day = lab["sampled_at"].dt.date()
    assert (day >= lab["birth_date"]).all()
    assert (lab["deceased_date"].is_null() | (day <= lab["deceased_date"])).all()
    assert day.min() >= DEFAULT_START and day.max() <= DEFAULT_END
    assert lab.select(pl.struct("cpr", "sampled_at", "analyte").is_unique().all()).item()
    for frame, column in ((syd.diagnoses, "diagnosed_at"), (syd.genetic_tests, "tested_at"),
                          (syd.prescriptions, "start_date")):
        joined = frame.join(syd.patients, on="cpr")
        assert joined.height == frame.height
        assert (joined[column] >= joined["birth_date"]).all()
        assert (joined[column] <= DEFAULT_END).all()
        assert (joined["deceased_date"].is_null()
                | (joined[column] <= joined["deceased_date"])).all()
    rx = syd.prescriptions
    assert (rx["end_date"].is_null() | (rx["end_date"] >= rx["start_date"])).all()
    assert rx["atc_code"].str.starts_with("C10").all()
    assert syd.patients["deceased_date"].is_not_null().sum() > 0


# ---------------------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------------------
def test_relations_are_symmetric(syd):
    rel = syd.relations
    assert rel.filter(pl.col("cpr") == pl.col("relative_cpr")).height == 0
    assert rel.select(pl.struct(pl.all()).is_unique().all()).item()
    sex = dict(syd.patients.select("cpr", "sex").iter_rows())
    pairs = set(rel.iter_rows())
    for cpr, relative, relation in pairs:
        if relation in ("mother", "father"):
            assert sex[relative] == ("F" if relation == "mother" else "M")
            assert (relative, cpr, "child") in pairs
        elif relation == "child":
            back = "mother" if sex[cpr] == "F" else "father"
            assert (relative, cpr, back) in pairs
        else:
            assert relation == "sibling"
            assert (relative, cpr, "sibling") in pairs
    # Families mostly share a practice.
    fam = syd.truth.join(syd.patients, on="cpr").group_by("family_id").agg(
        pl.col("gp_practice_id").n_unique().alias("n"))
    assert (fam["n"] == 1).mean() > 0.3
    assert fam["n"].mean() < 3


# ---------------------------------------------------------------------------------------
# Writing the dialects
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("samples")
    return out, write_samples(out, people_per_region=1500, seed=SEED)


def test_write_samples_is_byte_identical(samples, tmp_path):
    out, manifest = samples
    again = write_samples(tmp_path, people_per_region=1500, seed=SEED)
    assert again == manifest
    for path in sorted(out.rglob("*")):
        if path.is_file():
            assert (tmp_path / path.relative_to(out)).read_bytes() == path.read_bytes(), path
    on_disk = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["seed"] == SEED and on_disk["people_per_region"] == 1500
    assert set(on_disk["regions"]) == set(list_regions())  # every shipped region
    truth = pl.read_csv(out / "truth.csv", schema_overrides={"cpr": pl.String})
    assert truth.columns == ["cpr", "region", "family_id", "fh_carrier", "polygenic_z",
                             "hypothyroid"]
    people = 1500 * len(list_regions())
    assert truth.height == people and truth["cpr"].n_unique() == people


def test_syddanmark_csv_is_latin1_semicolon_decimal_comma(samples):
    out, manifest = samples
    dialect = load_region("syddanmark")
    folder = out / "syddanmark"
    practices = (folder / file_name(dialect.files["practices"], DEFAULT_END)).read_bytes()
    assert b"\xe6" in practices or b"\xf8" in practices or b"\xe5" in practices  # æ ø å
    assert b"\xc3" not in practices  # not UTF-8
    practices.decode("latin-1")
    lab_path = folder / file_name(dialect.files["lab_results"], DEFAULT_END)
    text = lab_path.read_bytes().decode("latin-1")
    lines = text.split("\n")
    assert lines[0] == ";".join(dialect.columns["lab_results"].values())
    assert "\r" not in text and lines[-1] == ""
    bad_rows = {r for a in manifest["regions"]["syddanmark"]["anomalies"]
                if a["table"] == "lab_results" for r in a["rows"]}
    cols = lines[0].split(";")
    value_at, time_at = cols.index("resultat"), cols.index("proevetidspunkt")
    decimals = 0
    for i, line in enumerate(lines[1:-1], start=1):
        fields = line.split(";")
        assert len(fields) == len(cols)
        if i in bad_rows:
            continue
        assert re.fullmatch(r"\d+(,\d+)?", fields[value_at]), line
        decimals += "," in fields[value_at]
        datetime.strptime(fields[time_at], dialect.timestamp_format)
    assert decimals > 0.5 * (len(lines) - 2)
    # Patients: no birth date or sex columns (derived from the CPR number).
    patients = (folder / file_name(dialect.files["patients"], DEFAULT_END)).read_text(
        encoding="latin-1")
    assert patients.split("\n")[0] == "cpr;praksisnr;doedsdato"
    diagnoses = (folder / file_name(dialect.files["diagnoses"], DEFAULT_END)).read_text(
        encoding="latin-1")
    codes = [line.split(";")[1] for line in diagnoses.split("\n")[1:-1]]
    assert sum(bool(re.fullmatch(r"D[A-Z]\d{2,4}", c)) for c in codes) >= len(codes) - 2


def test_duckdb_reads_both_regions_with_the_manifest_row_counts(samples):
    out, manifest = samples
    con = duckdb.connect()
    assert manifest["files"]["truth.csv"]["rows"] == 1500 * len(list_regions())
    regional = {k: v for k, v in manifest["files"].items() if "/" in k}
    assert len(regional) == 7 * len(list_regions())
    for relative, meta in regional.items():
        region, name = relative.split("/")
        dialect = load_region(region)
        assert meta["sha256"] == hashlib.sha256((out / relative).read_bytes()).hexdigest()
        path = str(out / relative)
        if dialect.format == "csv":
            rel = con.execute(
                "select * from read_csv(?, encoding=?, delim=?, header=true, "
                "all_varchar=true)", [path, dialect.encoding, dialect.delimiter])
        else:
            rel = con.execute("select * from read_parquet(?)", [path])
        columns = [d[0] for d in rel.description]
        assert len(rel.fetchall()) == meta["rows"], (region, name)
        extra = (lab_profile(dialect).reference_columns if meta["table"] == "lab_results"
                 else ())
        assert columns == [*dialect.columns[meta["table"]].values(), *extra], (region, name)
    types = dict(con.execute(
        "select column_name, column_type from (describe select * from read_parquet(?))",
        [str(out / "midtjylland" / file_name("lab_results*.parquet", DEFAULT_END))]
    ).fetchall())
    assert types == {"patient_cpr": "VARCHAR", "collected_at": "TIMESTAMP",
                     "test_code": "VARCHAR", "value": "DOUBLE", "unit": "VARCHAR"}


def _region_rows(out: Path, region: str, table: str) -> pl.DataFrame:
    """A written file as text columns named canonically, with 1-based `_row`."""
    dialect = load_region(region)
    path = out / region / file_name(dialect.files[table], DEFAULT_END)
    if dialect.format == "csv":
        frame = pl.read_csv(path, separator=dialect.delimiter, infer_schema=False,
                            encoding="latin-1" if dialect.encoding == "latin-1" else "utf8")
    else:
        frame = pl.read_parquet(path)
    back = {s: c for c, s in dialect.columns[table].items()}
    frame = frame.rename(back)
    return frame.with_row_index("_row", offset=1)


def test_manifest_anomalies_are_exactly_the_bad_rows(samples):
    """Every row the manifest names is bad in its stated way, and every other row is clean."""
    out, manifest = samples
    units = load_units()
    for region, info in manifest["regions"].items():
        dialect = load_region(region)
        patients = set(_region_rows(out, region, "patients")["cpr"].cast(pl.String))
        lab = _region_rows(out, region, "lab_results")
        bad = {r: a["kind"] for a in info["anomalies"] if a["table"] == "lab_results"
               for r in a["rows"]}
        counts = {a["kind"]: a["count"] for a in info["anomalies"]
                  if a["table"] == "lab_results"}
        assert all(a["count"] == len(a["rows"]) for a in info["anomalies"])
        assert 0.001 <= sum(counts.values()) / lab.height <= 0.004
        assert set(counts) == {"unparseable_value", "unit_not_accepted", "unknown_lab_code",
                               "invalid_cpr", "person_not_in_patients",
                               "sample_date_in_future"}
        comma = dialect.decimal == ","
        for row in lab.iter_rows(named=True):
            kind = bad.get(row["_row"], "clean")
            cpr = str(row["cpr"])
            code, unit = row["source_code"], row["source_unit"]
            value = row["source_value"]
            if isinstance(value, str):
                ok_number = bool(re.fullmatch(r"\d+(,\d+)?" if comma else r"\d+(\.\d+)?",
                                              value))
            else:
                ok_number = value is not None and not math.isnan(value)
            sampled = row["sampled_at"]
            if isinstance(sampled, str):
                sampled = datetime.strptime(sampled, dialect.timestamp_format)
            analyte = dialect.lab_codes.get(code)
            valid_cpr = bool(CPR_RE.match(cpr)) and _valid_date(cpr)
            checks = {
                "invalid_cpr": not valid_cpr,
                "person_not_in_patients": valid_cpr and cpr not in patients,
                "sample_date_in_future": sampled.date() > DEFAULT_END,
                "unknown_lab_code": analyte is None,
                "unparseable_value": not ok_number,
                "unit_not_accepted": analyte is not None
                and unit not in units[analyte].convert,
            }
            failed = [k for k, v in checks.items() if v]
            assert failed == ([] if kind == "clean" else [kind]), (region, row, failed)
        # The other tables: their anomalies are exactly the rows named.
        for a in info["anomalies"]:
            if a["table"] != "lab_results":
                assert a["count"] >= 1 and a["rows"] == sorted(a["rows"])


def _valid_date(cpr: str) -> bool:
    try:
        cpr_birth_date(cpr)
    except ValueError:
        return False
    return True


def test_midtjylland_units_codes_and_missing_ldl(samples):
    out, manifest = samples
    lab = _region_rows(out, "midtjylland", "lab_results")
    dialect = load_region("midtjylland")
    lab = lab.with_columns(pl.col("source_code").replace_strict(
        dialect.lab_codes, default=None).alias("analyte"))
    tc = lab.filter(pl.col("analyte") == "total_chol")
    mass = tc.filter(pl.col("source_unit") == "mg/dL")
    assert set(mass["source_code"]) == {"2093-3"}
    assert set(tc.filter(pl.col("source_unit") == "mmol/L")["source_code"]) == {"14647-2"}
    assert 0.5 <= mass.height / tc.height <= 0.7
    assert mass["source_value"].median() > 100  # mg/dL, not mmol/L
    panels = lab.select("cpr", "sampled_at").unique().height
    with_ldl = lab.filter(pl.col("analyte") == "ldl").select("cpr", "sampled_at").unique()
    missing = 1 - with_ldl.height / panels
    assert 0.18 <= missing <= 0.32
    assert manifest["regions"]["midtjylland"]["ldl_not_reported_panels"] > 0
    assert set(lab.filter(pl.col("analyte") == "ldl")["source_code"]) == {
        "13457-7", "18262-6", "MID-LDLD"}
    genetic = _region_rows(out, "midtjylland", "genetic_tests")
    assert {"pathogenic", "benign"} <= set(genetic["result"])


def test_no_anomalies_when_asked(tmp_path, syd):
    manifest = write_region(syd, load_region("syddanmark"), tmp_path, anomalies=False)
    assert manifest["anomalies"] == []
    rows = sum(m["rows"] for m in manifest["files"].values() if m["table"] == "lab_results")
    assert rows == syd.lab_results.height


def test_lab_profile_must_match_the_dialect():
    dialect = load_region("syddanmark")
    assert lab_profile(dialect).codes["ldl"][0][0] == "NPU01568"
    broken = type(dialect)(**{**dialect.__dict__, "lab_codes": {
        k: v for k, v in dialect.lab_codes.items() if k != "AAB00101"}})
    with pytest.raises(ValueError, match="AAB00101"):
        lab_profile(broken)
    # A region without a profile (no section in config/synth/lab_profiles.toml) reports
    # under the first code of each analyte.
    new = type(dialect)(**{**dialect.__dict__, "name": "fyn"})
    assert lab_profile(new).codes["ldl"] == (("NPU01568", 1.0),)


def test_determinism_does_not_depend_on_python_hash_seed(syd):
    """crc32, not hash(): the CPR slot and the seed are the same in every process."""
    assert region_slot("syddanmark") == 8 and region_slot("midtjylland") == 3
    assert np.array_equal(syd.truth["polygenic_z"].to_numpy(),
                          generate_population(2000, SEED, "syddanmark").truth[
                              "polygenic_z"].to_numpy())


def test_nordjylland_is_shaped_like_the_national_laboratory_database(samples):
    """UTF-8 CSV, NPU01568 (measured) and DNK35308 (calculated) LDL, the lab's reference
    interval beside each result, ISO timestamps: a third dialect by configuration."""
    out, manifest = samples
    dialect = load_region("nordjylland")
    lab = (out / "nordjylland" / file_name(dialect.files["lab_results"], DEFAULT_END)) \
        .read_bytes().decode("utf-8")
    lines = lab.split("\n")
    assert lines[0] == ("PATIENT_CPR,SAMPLINGTIME,ANALYSISCODE,VALUE,UNIT,"
                        "REFERENCE_INTERVAL_LOWER,REFERENCE_INTERVAL_UPPER")
    rows = [r for r in csv.reader(lines[1:-1]) if re.fullmatch(r"\d+(\.\d+)?", r[3])]
    ldl_codes = {r[2] for r in rows if dialect.lab_codes.get(r[2]) == "ldl"}
    assert ldl_codes == {"NPU01568", "DNK35308"}
    calculated = sum(r[2] == "DNK35308" for r in rows)
    measured = sum(r[2] == "NPU01568" for r in rows)
    assert 0.8 < calculated / (calculated + measured) < 0.9  # profile weight 0.85
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:00", r[1]) for r in rows[:200])
    tsh = [r for r in rows if r[2] == "NPU03577"]
    assert tsh and all(r[5:] == ["0.3", "4"] for r in tsh)  # lab_profiles.toml, mIU/L
    assert manifest["regions"]["nordjylland"]["encoding"] == "utf-8"
    patients = (out / "nordjylland" / file_name(dialect.files["patients"], DEFAULT_END))
    assert patients.read_text(encoding="utf-8").split("\n")[0] == "PNR,YDERNR,DOEDDATO"


def test_the_shipped_samples_are_what_the_generator_writes(tmp_path):
    """data_samples/ is reproducible: `fh-screening synth` with its defaults writes every
    shipped file byte for byte (adding a region leaves the others' files unchanged)."""
    from fh_screening.config import SAMPLES_DIR

    shipped = json.loads((SAMPLES_DIR / "manifest.json").read_text(encoding="utf-8"))
    again = write_samples(tmp_path, people_per_region=shipped["people_per_region"],
                          seed=shipped["seed"])
    assert again == shipped
    assert set(shipped["regions"]) == set(list_regions())
    for relative, meta in shipped["files"].items():
        data = (SAMPLES_DIR / relative).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], relative
        assert (tmp_path / relative).read_bytes() == data, relative
