"""Configuration: the plausible lab ranges in config/units.toml."""

from __future__ import annotations

import json

import pytest

from fh_screening.config import EXPECTATIONS_DIR, ConfigError, load_units


def test_plausible_ranges_agree_with_the_critical_expectations():
    """Ingest quarantines what falls outside units.toml's range; the GX suite's critical
    range checks are the second line of defence and must not drift from it."""
    units = load_units()
    suite = json.loads((EXPECTATIONS_DIR / "lab_results.json").read_text())
    checked = set()
    for e in suite["expectations"]:
        kw = e["kwargs"]
        if (e["type"] != "expect_column_values_to_be_between" or kw["column"] != "value"
                or e["meta"]["severity"] != "critical"):
            continue
        analytes = kw["row_condition"]["parameter"]
        for analyte in [analytes] if isinstance(analytes, str) else analytes:
            rule = units[analyte]
            assert (rule.low, rule.high, not rule.low_inclusive) == (
                kw["min_value"], kw["max_value"], kw.get("strict_min", False)), analyte
            checked.add(analyte)
    assert checked == set(units)


def test_a_plausible_range_needs_exactly_one_lower_bound(tmp_path):
    (tmp_path / "units.toml").write_text(
        '[ldl]\nunit = "mmol/L"\nconvert = { "mmol/L" = 1.0 }\n'
        'plausible = { above = 0.0, min = 0.0, max = 30.0 }\n')
    with pytest.raises(ConfigError, match=r"\[ldl\] plausible needs one of 'above' or 'min'"):
        load_units(tmp_path)
    (tmp_path / "units.toml").write_text(
        '[ldl]\nunit = "mmol/L"\nconvert = { "mmol/L" = 1.0 }\n'
        'plausible = { above = 30.0, max = 3.0 }\n')
    with pytest.raises(ConfigError, match="plausible range is empty"):
        load_units(tmp_path)


# --- The schema (fh_screening/config_schema.py): mistakes refused with file and key ----
def config_copy(tmp_path, region: str = "midtjylland"):
    """A copy of the shipped configuration, and the path of one region file in it."""
    import shutil

    from fh_screening.config import CONFIG_DIR

    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    return folder, folder / "regions" / f"{region}.toml"


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_misspelt_region_key_is_refused_naming_file_section_and_key(tmp_path):
    from fh_screening.config import load_region

    folder, region = config_copy(tmp_path, "syddanmark")
    edit(region, 'timestamp_format = "%d-%m-%Y %H:%M"', 'timestamp_fromat = "%d-%m-%Y %H:%M"')
    with pytest.raises(ConfigError) as exc:
        load_region("syddanmark", folder)
    assert str(exc.value) == (
        f"{region}: [region] unknown key 'timestamp_fromat' (did you mean 'timestamp_format'?)")


def test_an_analyte_in_the_wrong_case_is_refused(tmp_path):
    from fh_screening.config import load_region

    folder, region = config_copy(tmp_path)
    edit(region, '"MID-LDLD" = "ldl"', '"MID-LDLD" = "LDL"')
    with pytest.raises(ConfigError, match=r"midtjylland.toml: \[lab_codes\] 'MID-LDLD' = 'LDL': "
                                          r"'LDL' is not an analyte \(did you mean 'ldl'\?\)"):
        load_region("midtjylland", folder)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('source_unit = "unit"', 'source_units = "unit"',
     "[columns.lab_results] unknown key 'source_units' (did you mean 'source_unit'?)"),
    ('display_name = "Region Midtjylland"', "display_name = 3",
     "[region] 'display_name': input should be a valid string (got 3, an integer)"),
    ('format = "parquet"', 'format = "xlsx"',
     "[region] 'format': 'xlsx' is not allowed; use 'csv' or 'parquet'"),
    ('sibling = "sibling"', 'sibling = "sister"',
     "[values.relation] 'sibling': 'sister' is not allowed; use 'mother', 'father', 'child' "
     "or 'sibling'"),
    ('cpr = "patient_cpr"\ntested_at', "tested_at",
     "[columns.genetic_tests] missing required key 'cpr'"),
    ('name = "midtjylland"', 'name = "mid"',
     "[region] name 'mid' does not match the file name ('midtjylland')"),
])
def test_region_mistakes_are_refused_one_sentence_each(tmp_path, old, new, message):
    from fh_screening.config import load_region

    folder, region = config_copy(tmp_path)
    edit(region, old, new)
    with pytest.raises(ConfigError) as exc:
        load_region("midtjylland", folder)
    assert str(exc.value) == f"{region}: {message}"


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("clinics.toml", "capacity_per_run = 20\n\n[clinics.MID-LK1]",
     'capacity_per_run = "20"\n\n[clinics.MID-LK1]',
     "[default] 'capacity_per_run': input should be a valid integer (got '20', a string)"),
    ("clinics.toml", 'phone = "+45 70 00 00 01"', 'phnoe = "+45 70 00 00 01"',
     "[clinics.MID-LK1] unknown key 'phnoe' (did you mean 'phone'?)"),
    ("thresholds.toml", 'rules = ["ldl_age_band", "dlcn", "medped"]',
     'rules = ["ldl_age_band", "dlnc"]',
     "[flagging] 'rules' item 2: 'dlnc' is not allowed (did you mean 'dlcn'?); use "
     "'ldl_age_band', 'dlcn', 'medped' or 'simon_broome'"),
    ("thresholds.toml", "friedewald_max_tg = { value = 4.5,",
     'friedewald_max_tg = { value = "4.5",',
     "[ldl.friedewald_max_tg] 'value': input should be a valid number (got '4.5', a string)"),
    ("plausibility.toml", "max_years = {", "max_yaers = {",
     "[age] missing required key 'max_years'; [age] unknown key 'max_yaers' "
     "(did you mean 'max_years'?)"),
])
def test_thresholds_clinics_and_limits_are_checked_too(tmp_path, file, old, new, message):
    from fh_screening.config import check_configuration

    folder, _ = config_copy(tmp_path)
    edit(folder / file, old, new)
    with pytest.raises(ConfigError) as exc:
        check_configuration(config_dir=folder)
    assert str(exc.value) == f"{folder / file}: {message}"


def test_the_shipped_configuration_passes_the_schema():
    from fh_screening.config import check_configuration, list_regions, load_region

    check_configuration()
    assert load_region("syddanmark").timestamp_format == "%d-%m-%Y %H:%M"
    assert load_region("midtjylland").lab_codes["MID-LDLD"] == "ldl"
    assert len(list_regions()) >= 2


def test_the_configuration_reference_is_generated_from_the_schema():
    """docs/configuration.md lists every key; regenerate with
    `python -m fh_screening.config_schema`."""
    from fh_screening.config import PROJECT_ROOT
    from fh_screening.config_schema import configuration_markdown

    doc = (PROJECT_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == configuration_markdown()
    assert ("| `timestamp_format` | string | `\"%Y-%m-%d %H:%M:%S\"` | CSV timestamps, strftime "
            "codes |") in doc


def test_a_run_with_a_misspelt_region_file_exits_2_before_touching_the_store(tmp_path):
    """Today's failure: the typo was accepted and the run quarantined every row it touched
    and exited 0. Now the run stops first, naming the file and key; no store exists."""
    import os
    import subprocess
    import sys

    from fh_screening.config import PROJECT_ROOT, SAMPLES_DIR

    folder, region = config_copy(tmp_path, "syddanmark")
    edit(region, 'timestamp_format = "%d-%m-%Y %H:%M"', 'timestamp_fromat = "%d-%m-%Y %H:%M"')
    home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-m", "fh_screening.cli", "--home", str(home), "run", "--no-prefect",
         "--regions", "midtjylland", "syddanmark", "--extract-root", str(SAMPLES_DIR)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "FH_CONFIG_DIR": str(folder)})
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip() == (f"fh-screening: {region}: [region] unknown key "
                                   "'timestamp_fromat' (did you mean 'timestamp_format'?)")
    assert not (home / "store.duckdb").exists()


def test_per_table_formats_time_zones_and_code_maps_are_checked(tmp_path):
    from fh_screening.config import load_code_map, load_region

    folder, region = config_copy(tmp_path)
    text = region.read_text(encoding="utf-8")
    region.write_text(text.replace('icd10_style = "dotted"',
                                   'icd10_style = "dotted"\ntime_zone = "Europe/Copenhgen"'))
    with pytest.raises(ConfigError, match=r"\[region\] 'time_zone': unknown time zone "
                                          r"'Europe/Copenhgen'"):
        load_region("midtjylland", folder)
    region.write_text(text + '\n[formats.lab_results]\ntimestamp_format = "%Y-%m-%dT%H:%M:%S%z"'
                      '\n[formats.prescriptions]\ndate_fromat = "%Y%m%d"\n')
    with pytest.raises(ConfigError, match=r"\[formats.prescriptions\] unknown key "
                                          r"'date_fromat' \(did you mean 'date_format'\?\)"):
        load_region("midtjylland", folder)
    region.write_text(text + '\n[formats.lab_results]\ntimestamp_format = "%Y-%m-%dT%H:%M:%S%z"'
                      '\n[formats.prescriptions]\ndate_format = "%Y%m%d"\n')
    dialect = load_region("midtjylland", folder)
    assert dialect.timestamp_format_for("lab_results") == "%Y-%m-%dT%H:%M:%S%z"
    assert dialect.date_format_for("prescriptions") == "%Y%m%d"
    assert dialect.date_format_for("diagnoses") == "%Y-%m-%d"  # the [region] format
    # code maps: a code listed twice, a target that is no ATC code, a missing source
    lists = folder / "code_lists"
    head = "source_code,atc_code,strength_mg,name,source,version\n"
    for rows, message in (
            ("X1,C10AA05,40,a,s,1\nX1,C10AA05,20,b,s,1\n", "line 3: source_code 'X1' is empty "
                                                           "or listed twice"),
            ("X1,C10A,40,a,s,1\n", "line 2: atc_code 'C10A' is not an ATC code"),
            ("X1,C10AA05,40,a,,1\n", "line 2: source and version are required")):
        (lists / "m.csv").write_text(head + rows, encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_code_map("m", "drugs", folder)
    (lists / "m.csv").write_text(head + "X1,C10AA05,40,a,s,1\n", encoding="utf-8")
    assert load_code_map("m", "drugs", folder)[0].strength_mg == 40.0
    region.write_text(text.replace('icd10_style = "dotted"', 'icd10_style = "lpr"')
                      + '\n[code_maps]\ndiagnoses = "m"\n')
    with pytest.raises(ConfigError, match="diagnoses gives dotted ICD-10 codes"):
        load_region("midtjylland", folder)


def test_the_national_flow_refuses_a_misspelt_key_before_ingesting(tmp_path, monkeypatch):
    """A served deployment calls the flow directly, not through the CLI's check."""
    from flows.screening import national_flow

    folder, region = config_copy(tmp_path, "syddanmark")
    edit(region, 'timestamp_format = "%d-%m-%Y %H:%M"', 'timestamp_fromat = "%d-%m-%Y %H:%M"')
    # $FH_CONFIG_DIR is read at import; in this process, point the check's default there
    from fh_screening.config import check_configuration

    monkeypatch.setattr(check_configuration, "__defaults__", (None, folder))
    home = tmp_path / "home"
    with pytest.raises(ConfigError, match="unknown key 'timestamp_fromat'"):
        national_flow.fn(regions=["syddanmark"], home=str(home),
                         extract_root=str(tmp_path / "extracts"))
    assert not home.exists()
