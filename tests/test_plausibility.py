"""The plausibility limits and the drug-strength code list (issue 20, item 4)."""

from __future__ import annotations

import pytest

from fh_screening.config import ConfigError
from fh_screening.plausibility import load_plausibility, load_strengths


def test_the_shipped_limits_load_with_a_source_for_every_drug():
    limits = load_plausibility()
    assert limits.max_age_years == 120
    assert (limits.refuse_share_above, limits.refuse_min_rows) == (0.5, 20)
    by_code = {r.atc_prefix: r for r in limits.strengths}
    # hand-worked: rosuvastatin is marketed as 5, 10, 20 and 40 mg (Crestor SmPC)
    assert (by_code["C10AA07"].min_mg, by_code["C10AA07"].max_mg) == (5, 40)
    assert by_code["C10AA07"].label() == "5-40 mg for rosuvastatin"
    assert all(r.source for r in limits.strengths)
    # the LDL-raising drugs the prescriptions file may carry have ranges too
    assert {"L04AD01", "H02AB", "C03AA", "D10BA", "J05AE"} <= set(by_code)


def test_overlapping_codes_are_refused(tmp_path):
    path = tmp_path / "drug_strengths.csv"
    path.write_text("atc_prefix,drug,min_mg,max_mg,source\n"
                    "C10AA,statins,1,80,x\nC10AA07,rosuvastatin,5,40,y\n")
    with pytest.raises(ConfigError, match="C10AA07 and C10AA overlap|C10AA and C10AA07 overlap"):
        load_strengths(path)
    path.write_text("atc_prefix,drug,min_mg,max_mg,source\nC10AA07,rosuvastatin,40,5,y\n")
    with pytest.raises(ConfigError, match="min_mg <= max_mg"):
        load_strengths(path)
