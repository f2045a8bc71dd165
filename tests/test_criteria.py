"""The first rule set, on hand-made people whose results are worked out by hand.

Each case states its arithmetic; thresholds come from config/thresholds.toml:
children (<= 17) LDL > 4.5, ages 18-39 LDL > 4.9, ages 40+ LDL >= 6.5, high priority at
>= 8.5; untreated = measured / (1 - r), drugs combined as 1 - prod(1 - r), capped at 0.85.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from fh_screening.criteria import run_criteria

AS_OF = date(2026, 6, 30)
SAMPLE = datetime(2025, 6, 1, 8, 0)


class World:
    """Canonical rows written straight into the store (ingest is tested elsewhere)."""

    def __init__(self, con):
        self.con = con
        con.execute("insert into practices values ('P1', 'Practice 1', 'LK1', 'r1', 'f', 1)")

    def person(self, pid: str, born: date, sex: str = "M", deceased: date | None = None):
        self.con.execute("insert into patients values (?, ?, ?, 'r1', 'P1', ?, 'f', 1)",
                         [pid, born, sex, deceased])

    def lab(self, pid: str, analyte: str, value: float, at: datetime = SAMPLE):
        self.con.execute("insert into lab_results values (?, ?, ?, ?, 'u', 'c', 'u', ?, 'r1', "
                         "'f', 1)", [pid, at, analyte, value, str(value)])

    def drug(self, pid: str, atc: str, mg: float | None, start=date(2020, 1, 1), end=None):
        self.con.execute("insert into prescriptions values (?, ?, ?, ?, ?, 'r1', 'f', 1)",
                         [pid, atc, mg, start, end])

    def diagnosis(self, pid: str, icd10: str, at: date = date(2020, 1, 1)):
        self.con.execute("insert into diagnoses values (?, ?, ?, 'r1', 'f', 1)", [pid, icd10, at])

    def results(self) -> dict[str, dict]:
        run_criteria(self.con, as_of=AS_OF, regions=["r1"])
        rel = self.con.sql("select * from screening_results")
        return {row[0]: dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()}


@pytest.fixture
def world(con) -> World:
    return World(con)


def born_aged(age: int) -> date:
    """Born so that the person is `age` on the sample date (2025-06-01)."""
    return date(2025 - age, 1, 1)


@pytest.mark.parametrize(("age", "ldl", "flagged", "band"), [
    (45, 6.6, True, "adult"),          # 6.6 >= 6.5
    (45, 6.5, True, "adult"),          # boundary: >= 6.5
    (45, 6.4, False, "adult"),         # 6.4 < 6.5
    (40, 6.4, False, "adult"),         # 40 is in the adult band
    (39, 5.0, True, "young_adult"),    # 5.0 > 4.9
    (39, 4.9, False, "young_adult"),   # boundary: not > 4.9
    (18, 5.0, True, "young_adult"),
    (17, 4.6, True, "child"),          # 4.6 > 4.5
    (12, 4.5, False, "child"),         # boundary: not > 4.5
])
def test_age_band_thresholds_on_untreated_ldl(world, age, ldl, flagged, band):
    world.person("p", born_aged(age))
    world.lab("p", "ldl", ldl)
    r = world.results()["p"]
    assert (r["age_at_index"], r["age_band"], r["flagged"], r["referral"]) == (
        age, band, flagged, flagged)
    assert r["tier"] == ("standard" if flagged else None)


def test_statin_dose_gives_untreated_estimate(world):
    # atorvastatin 40 mg: r = 0.49; 3.5 / (1 - 0.49) = 6.8627 -> adult flagged
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 40)
    world.lab("p", "ldl", 3.5)
    r = world.results()["p"]
    assert r["index_treated"] and r["index_treatment_reduction"] == pytest.approx(0.49)
    assert r["index_untreated_ldl"] == pytest.approx(6.8627, abs=1e-4)
    assert r["flagged"]
    assert r["reasons"][1] == "measured 3.5 mmol/L on atorvastatin 40 mg (49 % reduction assumed)"


def test_statin_plus_ezetimibe_combine_multiplicatively(world):
    # 1 - (1 - 0.49)(1 - 0.20) = 0.592; 2.8 / 0.408 = 6.8627
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 40)
    world.drug("p", "C10AX09", 10)
    world.lab("p", "ldl", 2.8)
    r = world.results()["p"]
    assert r["index_treatment_reduction"] == pytest.approx(0.592)
    assert r["index_untreated_ldl"] == pytest.approx(6.8627, abs=1e-4)


def test_combined_reduction_is_capped(world):
    # 1 - 0.45 * 0.4 * 0.8 = 0.856 -> capped at 0.85; 1.2 / 0.15 = 8.0
    world.person("p", born_aged(50))
    for atc, mg in (("C10AA05", 80), ("C10AX13", 140), ("C10AX09", 10)):
        world.drug("p", atc, mg)
    world.lab("p", "ldl", 1.2)
    r = world.results()["p"]
    assert r["index_treatment_reduction"] == pytest.approx(0.85)
    assert r["index_untreated_ldl"] == pytest.approx(8.0)


def test_renewed_prescription_counts_once_and_unknown_dose_uses_default(world):
    # two overlapping atorvastatin 30 mg rows: 30 mg is not in the table -> default 0.43;
    # 3.0 / 0.57 = 5.263 -> adult not flagged (< 6.5)
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 30)
    world.drug("p", "C10AA05", 30, start=date(2024, 1, 1))
    world.lab("p", "ldl", 3.0)
    r = world.results()["p"]
    assert r["index_treatment_reduction"] == pytest.approx(0.43)
    assert r["index_untreated_ldl"] == pytest.approx(5.2632, abs=1e-4)
    assert not r["flagged"]


def test_stopped_treatment_is_not_applied(world):
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 40, end=date(2024, 12, 31))
    world.lab("p", "ldl", 3.5)
    r = world.results()["p"]
    assert not r["index_treated"] and r["index_untreated_ldl"] == 3.5


def test_friedewald_when_ldl_not_reported(world):
    # 9.0 - 1.2 - 2.2 / 2.2 = 6.8
    world.person("p", born_aged(50))
    for analyte, v in (("total_chol", 9.0), ("hdl", 1.2), ("triglycerides", 2.2)):
        world.lab("p", analyte, v)
    r = world.results()["p"]
    assert r["index_ldl_method"] == "friedewald"
    assert r["index_ldl"] == pytest.approx(6.8)
    assert r["flagged"]
    assert r["reasons"][-1] == "LDL calculated by Friedewald from the same sample"


def test_friedewald_not_used_above_tg_limit(world):
    world.person("p", born_aged(50))
    for analyte, v in (("total_chol", 11.0), ("hdl", 1.0), ("triglycerides", 5.0)):
        world.lab("p", analyte, v)
    assert "p" not in world.results()


def test_high_tsh_near_the_index_sample_excludes(world):
    world.person("p", born_aged(50), sex="F")
    world.lab("p", "ldl", 7.0)
    world.lab("p", "tsh", 8.0, at=datetime(2025, 7, 1))
    r = world.results()["p"]
    assert r["flagged"] and not r["referral"] and r["tier"] is None
    assert r["exclusions"] == ["possible hypothyroidism: TSH 8.0 mIU/L near the index sample"]


def test_high_tsh_long_before_does_not_exclude(world):
    world.person("p", born_aged(50), sex="F")
    world.lab("p", "ldl", 7.0)
    world.lab("p", "tsh", 8.0, at=datetime(2023, 1, 1))  # 882 days before: outside 365
    assert world.results()["p"]["referral"]


def test_known_fh_is_excluded_from_referral(world):
    world.person("p", born_aged(50))
    world.lab("p", "ldl", 7.0)
    world.diagnosis("p", "E78.0")
    r = world.results()["p"]
    assert r["known_fh"] and r["flagged"] and not r["referral"]


def test_very_high_ldl_is_high_priority(world):
    world.person("p", born_aged(50))
    world.lab("p", "ldl", 8.5)
    assert world.results()["p"]["tier"] == "high"


def test_index_is_highest_untreated_value_and_later_samples_ignored(world):
    world.person("p", born_aged(50))
    world.lab("p", "ldl", 5.0, at=datetime(2024, 1, 1))
    world.lab("p", "ldl", 6.7, at=datetime(2025, 1, 1))
    world.lab("p", "ldl", 9.9, at=datetime(2026, 7, 1))  # after as_of
    r = world.results()["p"]
    assert (r["index_ldl"], r["index_sampled_at"], r["ldl_samples"]) == (
        6.7, datetime(2025, 1, 1), 2)


def test_deceased_people_are_not_screened(world):
    world.person("p", born_aged(50), deceased=date(2026, 1, 1))
    world.lab("p", "ldl", 9.0)
    assert world.results() == {}
