"""The first rule set, on hand-made people whose results are worked out by hand.

Each case states its arithmetic; thresholds come from config/thresholds.toml:
children (<= 17) LDL > 4.5, ages 18-39 LDL > 4.9, ages 40+ LDL >= 6.5, high priority at
>= 8.5; untreated = measured / (1 - r), drugs combined as 1 - prod(1 - r), capped at 0.85.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest

from fh_screening.criteria import run_criteria
from fh_screening.privacy import PSEUDONYM_FLOOR

AS_OF = date(2026, 6, 30)
SAMPLE = datetime(2025, 6, 1, 8, 0)


class World:
    """Canonical rows written straight into the store (ingest is tested elsewhere)."""

    def __init__(self, con):
        self.con = con
        self.ids: dict[str, int] = {}  # readable names for the integer pseudonyms
        con.execute("insert into practices values ('P1', 'Practice 1', 'LK1', 'r1', 'f', 1)")

    def id(self, name: str) -> int:
        return self.ids.setdefault(name, PSEUDONYM_FLOOR + len(self.ids) + 1)

    def person(self, pid: str, born: date, sex: str = "M", deceased: date | None = None):
        self.con.execute("insert into patients values (?, ?, ?, 'r1', 'P1', ?, 'f', 1)",
                         [self.id(pid), born, sex, deceased])

    def lab(self, pid: str, analyte: str, value: float, at: datetime = SAMPLE):
        self.con.execute("insert into lab_results values (?, ?, ?, ?, 'u', 'c', 'u', ?, 'r1', "
                         "'f', 1)", [self.id(pid), at, analyte, value, str(value)])

    def drug(self, pid: str, atc: str, mg: float | None, start=date(2020, 1, 1), end=None):
        self.con.execute("insert into prescriptions values (?, ?, ?, ?, ?, 'r1', 'f', 1)",
                         [self.id(pid), atc, mg, start, end])

    def relate(self, pid: str, relative: str, relation: str):
        self.con.execute("insert into relations values (?, ?, ?, 'r1', 'f', 1)",
                         [self.id(pid), self.id(relative), relation])

    def genetic(self, pid: str, result: str = "positive"):
        self.con.execute("insert into genetic_tests values (?, date '2024-01-01', ?, 'r1', "
                         "'f', 1)", [self.id(pid), result])

    def diagnosis(self, pid: str, icd10: str, at: date = date(2020, 1, 1)):
        self.con.execute("insert into diagnoses values (?, ?, ?, 'r1', 'f', 1)",
                         [self.id(pid), icd10, at])

    def results(self) -> dict[str, dict]:
        run_criteria(self.con, as_of=AS_OF, regions=["r1"])
        rel = self.con.sql("select * from screening_results")
        names = {v: k for k, v in self.ids.items()}
        return {names[row[0]]: dict(zip(rel.columns, row, strict=True))
                for row in rel.fetchall()}


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
    (82, 6.5, True, "adult"),          # elderly: same adult threshold
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


def nominal_estimates(world, pid: str) -> list[float]:
    """The per-sample nominal estimates ldl / (1 - r) that the GP chart shows."""
    return [round(v, 4) for (v,) in world.con.execute(
        "select untreated_ldl from ldl_history where person_id = ? order by sampled_at",
        [world.id(pid)]).fetchall()]


# On-treatment evidence (config [ldl_evidence]): the estimate is measured / (1 - 0.8 r)
# (80 % of the nominal reduction achieved in practice); its log-scale SE for one sample
# is sqrt(0.09^2 + 0.30^2) = 0.31321, so the 80 % interval is estimate x exp(-/+ 1.2816 x
# 0.31321) = estimate x 0.66940 .. x 1.49388.

def test_statin_dose_gives_untreated_estimate(world):
    # atorvastatin 40 mg: r = 0.49. Nominal 4.2 / 0.51 = 8.2353; evidence 4.2 / (1 - 0.392)
    # = 4.2 / 0.608 = 6.9079 (>= 6.5: adult flagged; < 8.5: standard), interval
    # 6.9079 x 0.66940 = 4.6242 .. 6.9079 x 1.49388 = 10.3196
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 40)
    world.lab("p", "ldl", 4.2)
    r = world.results()["p"]
    assert r["index_treated"] and r["index_treatment_reduction"] == pytest.approx(0.49)
    assert nominal_estimates(world, "p") == [8.2353]
    assert r["index_untreated_ldl"] == pytest.approx(6.908, abs=1e-3)
    assert (r["untreated_ldl_low"], r["untreated_ldl_high"]) == pytest.approx(
        (4.624, 10.320), abs=2e-3)
    assert r["ldl_evidence"] == "on treatment only"
    assert r["flagged"] and r["tier"] == "standard"
    assert r["reasons"][0] == (
        "estimated untreated LDL 6.9 mmol/L (80 % range 4.6-10.3; 0 sample(s) off "
        "treatment, 1 on treatment) at age 50 >= 6.5 (age 40+, lab-led case finding)")
    assert r["reasons"][1] == (
        "measured LDL 4.2 mmol/L on atorvastatin 40 mg on 2025-06-01 (nominal reduction "
        "49 %, 80 % of it assumed achieved)")


def test_nominal_estimate_is_not_the_evidence(world):
    # LDL 3.5 on atorvastatin 40 mg: the nominal 3.5 / 0.51 = 6.8627 would pass 6.5; the
    # evidence 3.5 / 0.608 = 5.7566 does not: a partly taken statin is not rewarded
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 40)
    world.lab("p", "ldl", 3.5)
    r = world.results()["p"]
    assert nominal_estimates(world, "p") == [6.8627]
    assert r["index_untreated_ldl"] == pytest.approx(5.757, abs=1e-3)
    assert not r["flagged"]


def test_statin_plus_ezetimibe_combine_multiplicatively(world):
    # 1 - (1 - 0.49)(1 - 0.20) = 0.592; nominal 2.8 / 0.408 = 6.8627; evidence
    # 2.8 / (1 - 0.8 x 0.592) = 2.8 / 0.5264 = 5.3191
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 40)
    world.drug("p", "C10AX09", 10)
    world.lab("p", "ldl", 2.8)
    r = world.results()["p"]
    assert r["index_treatment_reduction"] == pytest.approx(0.592)
    assert r["index_treatment"] == "atorvastatin 40 mg + ezetimibe 10 mg"
    assert nominal_estimates(world, "p") == [6.8627]
    assert r["index_untreated_ldl"] == pytest.approx(5.319, abs=1e-3)


def test_combined_reduction_is_capped(world):
    # 1 - 0.45 * 0.4 * 0.8 = 0.856 -> capped at 0.85; nominal 1.2 / 0.15 = 8.0; evidence
    # 1.2 / (1 - 0.8 x 0.85) = 1.2 / 0.32 = 3.75
    world.person("p", born_aged(50))
    for atc, mg in (("C10AA05", 80), ("C10AX13", 140), ("C10AX09", 10)):
        world.drug("p", atc, mg)
    world.lab("p", "ldl", 1.2)
    r = world.results()["p"]
    assert r["index_treatment_reduction"] == pytest.approx(0.85)
    assert nominal_estimates(world, "p") == [8.0]
    assert r["index_untreated_ldl"] == pytest.approx(3.75)


def test_renewed_prescription_counts_once_and_unknown_dose_uses_default(world):
    # two overlapping atorvastatin 30 mg rows: 30 mg is not in the table -> default 0.43
    # (once, not 1 - 0.57^2); nominal 3.0 / 0.57 = 5.2632; evidence 3.0 / (1 - 0.344) =
    # 4.5732 -> adult not flagged (< 6.5)
    world.person("p", born_aged(50))
    world.drug("p", "C10AA05", 30)
    world.drug("p", "C10AA05", 30, start=date(2024, 1, 1))
    world.lab("p", "ldl", 3.0)
    r = world.results()["p"]
    assert r["index_treatment_reduction"] == pytest.approx(0.43)
    assert nominal_estimates(world, "p") == [5.2632]
    assert r["index_untreated_ldl"] == pytest.approx(4.573, abs=1e-3)
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


def test_sampson_above_the_friedewald_limit(world):
    # TG 5.0 > 4.5: Sampson/NIH in mg/dL (TC 11.0 -> 425.37, HDL 1.0 -> 38.67, TG 5.0 ->
    # 442.87): 425.37/0.948 - 38.67/0.971 - (442.87/8.56 + 442.87*386.70/2140
    # - 442.87^2/16100) - 9.44 = 448.70 - 39.82 - (51.74 + 80.03 - 12.18) - 9.44
    # = 279.85 mg/dL = 7.237 mmol/L
    world.person("p", born_aged(50))
    for analyte, v in (("total_chol", 11.0), ("hdl", 1.0), ("triglycerides", 5.0)):
        world.lab("p", analyte, v)
    r = world.results()["p"]
    assert r["index_ldl_method"] == "sampson"
    assert r["index_ldl"] == pytest.approx(7.237, abs=1e-3)
    assert r["very_high_triglycerides"] and not r["referral"]


def test_ldl_not_computable_above_the_sampson_limit(world):
    world.person("p", born_aged(50))
    for analyte, v in (("total_chol", 11.0), ("hdl", 1.0), ("triglycerides", 9.5)):
        world.lab("p", analyte, v)
    assert "p" not in world.results()


def test_high_tsh_near_the_index_sample_excludes(world):
    world.person("p", born_aged(50), sex="F")
    world.lab("p", "ldl", 7.0)
    world.lab("p", "tsh", 8.0, at=datetime(2025, 7, 1))
    r = world.results()["p"]
    assert r["flagged"] and not r["referral"] and r["tier"] is None
    assert r["exclusions"] == [
        "possible hypothyroidism: TSH up to 8.0 mIU/L near every LDL sample"]


def test_high_tsh_long_before_does_not_exclude(world):
    world.person("p", born_aged(50), sex="F")
    world.lab("p", "ldl", 7.0)
    world.lab("p", "tsh", 8.0, at=datetime(2023, 1, 1))  # 882 days before: outside 365
    assert world.results()["p"]["referral"]


def test_known_fh_is_excluded_from_referral(world):
    world.person("p", born_aged(50))
    world.lab("p", "ldl", 7.0)
    world.diagnosis("p", "E78.0")
    # diagnosed after the screening date (30 June 2026): not known yet, so referred
    world.person("later", born_aged(50))
    world.lab("later", "ldl", 7.0)
    world.diagnosis("later", "E78.01", at=date(2026, 7, 15))
    r = world.results()
    assert r["p"]["known_fh"] and r["p"]["flagged"] and not r["p"]["referral"]
    assert not r["later"]["known_fh"] and r["later"]["referral"]


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


# --- DLCN: each group once, by its highest item (EAS 2013) -----------------------------

@pytest.mark.parametrize(("ldl", "points"), [
    (8.5, 8), (8.4, 5), (6.5, 5), (6.4, 3), (5.0, 3), (4.9, 1), (4.0, 1), (3.9, 0)])
def test_dlcn_ldl_bands_are_half_open(world, ldl, points):
    world.person("p", born_aged(50))
    world.lab("p", "ldl", ldl)
    assert world.results()["p"]["dlcn_ldl_points"] == points


def test_dlcn_own_history_scores_once_by_highest_item(world):
    # man, CHD at 50 (< 55: 2 points) and stroke at 52 (< 55: 1 point) -> group = 2, not 3.
    # LDL 6.6 -> 5 points; total 7 = probable; 7 > 5 flags by DLCN.
    world.person("p", date(1960, 1, 1), sex="M")
    world.lab("p", "ldl", 6.6)
    world.diagnosis("p", "I21.9", date(2010, 6, 1))
    world.diagnosis("p", "I63.9", date(2012, 6, 1))
    r = world.results()["p"]
    assert (r["dlcn_ldl_points"], r["dlcn_own_history_points"], r["dlcn_points"]) == (5, 2, 7)
    assert r["dlcn_category"] == "probable" and "dlcn" in r["flagged_by"]


def test_dlcn_premature_depends_on_sex(world):
    # CHD at 57: premature for a woman (< 60), not for a man (< 55)
    world.person("w", date(1960, 1, 1), sex="F")
    world.person("m", date(1960, 1, 1), sex="M")
    for pid in ("w", "m"):
        world.lab(pid, "ldl", 5.5)
        world.diagnosis(pid, "I25.1", date(2017, 6, 1))
    r = world.results()
    assert (r["w"]["dlcn_own_history_points"], r["m"]["dlcn_own_history_points"]) == (2, 0)


def test_dlcn_family_group_takes_its_highest_item_only(world):
    # mother with premature CHD (1 point) and a child aged 10 with LDL 5.0 above the
    # fallback 95th percentile for boys 0-17 (3.9): 2 points. Group = max(1, 2) = 2.
    # Own LDL 7.0 -> 5. Total 7 (probable). Few people -> fallback percentiles.
    world.person("p", date(1975, 1, 1), sex="F")
    world.person("mum", date(1950, 1, 1), sex="F")
    world.person("kid", date(2015, 1, 1), sex="M")
    world.lab("p", "ldl", 7.0)
    world.lab("kid", "ldl", 5.0)
    world.diagnosis("mum", "I21.0", date(2005, 1, 1))  # age 55 < 60
    world.relate("p", "mum", "mother")
    world.relate("p", "kid", "child")
    r = world.results()["p"]
    assert (r["dlcn_family_points"], r["dlcn_points"], r["dlcn_category"]) == (2, 7, "probable")


def test_dlcn_dna_points_and_not_available_items(world):
    # tested positive: 8 DNA points + LDL 5.2 (3) = 11 -> definite; excluded from referral
    world.person("pos", born_aged(50))
    world.lab("pos", "ldl", 5.2)
    world.genetic("pos", "positive")
    world.person("untested", born_aged(50))
    world.lab("untested", "ldl", 5.2)
    # tested negative: DNA scored 0 (tested, no variant), LDL 3 points -> 3, possible
    world.person("neg", born_aged(50))
    world.lab("neg", "ldl", 5.2)
    world.genetic("neg", "negative")
    r = world.results()
    assert (r["neg"]["dlcn_dna_points"], r["neg"]["dlcn_points"]) == (0, 3)
    assert (r["neg"]["genetic_tested"], r["neg"]["genetic_positive"]) == (True, False)
    assert (r["untested"]["genetic_tested"], r["untested"]["genetic_positive"]) == (False, False)
    assert (r["pos"]["dlcn_dna_points"], r["pos"]["dlcn_points"]) == (8, 11)
    assert r["pos"]["dlcn_category"] == "definite" and not r["pos"]["referral"]
    assert r["untested"]["dlcn_dna_points"] is None
    assert r["untested"]["dlcn_not_available"] == [
        "tendon xanthoma", "arcus cornealis before 45",
        "relative with tendon xanthoma or arcus", "DNA (never tested)"]
    assert "DNA (never tested)" not in r["pos"]["dlcn_not_available"]


# --- Simon Broome -------------------------------------------------------------------

def test_simon_broome_possible_with_early_mi_in_first_degree_relative(world):
    # adult LDL 5.2 > 4.9 (lipid criterion); father MI at 58 < 60 -> possible.
    # The age-band rule (>= 6.5 at 45) does not flag, nor DLCN: LDL 3 points, and MI at 58
    # is not premature for a man under DLCN (< 55), so 3 points in all.
    world.person("p", born_aged(45))
    world.person("dad", date(1950, 1, 1))
    world.lab("p", "ldl", 5.2)
    world.diagnosis("dad", "I21.4", date(2008, 3, 1))
    world.relate("p", "dad", "father")
    r = world.results()["p"]
    # Simon Broome is shown but does not flag by default ([flagging] rules)
    assert r["simon_broome"] == "possible" and r["flagged_by"] == [] and not r["flagged"]
    assert r["dlcn_points"] == 3 and not r["ldl_rule_met"]


def test_simon_broome_second_degree_mi_must_be_before_50(world):
    # grandfather (father's father) MI at 55: not < 50 -> no family item.
    world.person("p", born_aged(45))
    world.person("dad", date(1955, 1, 1))
    world.person("granddad", date(1930, 1, 1))
    world.lab("p", "ldl", 5.2)
    world.diagnosis("granddad", "I21.4", date(1985, 6, 1))
    world.relate("p", "dad", "father")
    world.relate("dad", "granddad", "father")
    assert world.results()["p"]["simon_broome"] is None


def test_simon_broome_child_criteria_below_16(world):
    # age 12: LDL 4.1 > 4.0 (child criterion); sibling aged 14 with untreated TC 6.8 > 6.7
    world.person("p", born_aged(12))
    world.person("sib", born_aged(14))
    world.lab("p", "ldl", 4.1)
    world.lab("sib", "total_chol", 6.8)
    world.relate("p", "sib", "sibling")
    assert world.results()["p"]["simon_broome"] == "possible"


# --- MEDPED ----------------------------------------------------------------------------

def test_medped_general_population_cutoff(world):
    # age 45, untreated TC 9.3 >= 9.3 (general population, >= 40) -> met; 9.2 -> not
    world.person("a", born_aged(45))
    world.person("b", born_aged(45))
    world.lab("a", "total_chol", 9.3)
    world.lab("a", "ldl", 4.5)
    world.lab("b", "total_chol", 9.2)
    world.lab("b", "ldl", 4.5)
    r = world.results()
    assert r["a"]["medped_met"] and r["a"]["medped_cutoff"] == 9.3
    assert not r["b"]["medped_met"]


def test_medped_uses_first_degree_cutoff_when_a_parent_has_fh(world):
    # age 25 with a mother with known FH: first-degree cut-off 6.2; TC 6.3 -> met
    # (the general-population cut-off, 7.5, would not be)
    world.person("p", born_aged(25))
    world.person("mum", date(1970, 1, 1), sex="F")
    world.diagnosis("mum", "E78.0")
    world.relate("p", "mum", "mother")
    world.lab("p", "total_chol", 6.3)
    world.lab("p", "ldl", 4.2)
    r = world.results()["p"]
    assert (r["medped_cutoff"], r["medped_met"], r["medped_reference"]) == (
        6.2, True, "first-degree relative with FH")
    assert r["reasons"][0] == ("MEDPED: total cholesterol 6.3 mmol/L at age 25 >= 6.2 "
                               "(first-degree relative with FH)")


def test_medped_takes_the_sample_closest_to_its_cut_off_not_the_highest(world):
    # born 1 January 1980: TC 8.7 at age 35 (2015, general cut-off 8.8 for 30-39: 0.1
    # below), TC 9.0 at age 45 (2025, cut-off 9.3 for 40+: 0.3 below). The first is the
    # closer, so MEDPED shows 8.7 at 35 against 8.8 (not met); the highest is 9.0
    world.person("p", date(1980, 1, 1))
    for at, tc in ((datetime(2015, 6, 1, 8), 8.7), (datetime(2025, 6, 1, 8), 9.0)):
        world.lab("p", "total_chol", tc, at=at)
        world.lab("p", "ldl", 4.0, at=at)
    r = world.results()["p"]
    assert (r["medped_tc"], r["medped_age"], r["medped_cutoff"]) == (8.7, 35, 8.8)
    assert (r["max_untreated_tc"], r["medped_met"]) == (9.0, False)


def test_medped_ignores_total_cholesterol_on_treatment(world):
    world.person("p", born_aged(45))
    world.drug("p", "C10AA05", 10)
    world.lab("p", "total_chol", 9.5)
    world.lab("p", "ldl", 3.0)
    assert not world.results()["p"]["medped_met"]


# --- secondary causes beyond TSH -----------------------------------------------------

def test_low_albumin_and_cholestasis_exclude(world):
    # albumin 25 < 30 g/L; ALP 300 > 210 with bilirubin 40 > 25; ALP alone is not enough
    for pid in ("neph", "chol", "alp_only"):
        world.person(pid, born_aged(50))
        world.lab(pid, "ldl", 7.0)
    world.lab("neph", "albumin", 25)
    world.lab("chol", "alp", 300)
    world.lab("chol", "bilirubin", 40)
    world.lab("alp_only", "alp", 300)
    r = world.results()
    assert r["neph"]["exclusions"] == [
        "possible nephrotic syndrome: albumin down to 25 g/L near every LDL sample"]
    assert r["chol"]["exclusions"] == [
        "possible cholestasis: ALP up to 300 U/L and bilirubin up to 40 umol/L near every "
        "LDL sample"]
    assert r["alp_only"]["referral"]


@pytest.mark.parametrize(("ldl", "points", "category", "tier"), [
    (7.0, 8, "probable", "standard"),  # 5 + own CHD 2 + mother's premature CHD 1 = 8
    (8.0, 8, "probable", "standard"),  # still 5 LDL points below 8.5
    (8.5, 11, "definite", "high"),     # 8 + 2 + 1 = 11 > 8
])
def test_tier_follows_dlcn_definite(world, ldl, points, category, tier):
    world.person("p", date(1970, 1, 1))
    world.person("mum", date(1945, 1, 1), sex="F")
    world.lab("p", "ldl", ldl)
    world.diagnosis("p", "I20.0", date(2015, 1, 1))  # age 45 < 55
    world.diagnosis("mum", "I21.0", date(1995, 1, 1))  # age 50 < 60
    world.relate("p", "mum", "mother")
    r = world.results()["p"]
    assert (r["dlcn_points"], r["dlcn_category"], r["tier"]) == (points, category, tier)
