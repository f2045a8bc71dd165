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
