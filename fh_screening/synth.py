"""Synthetic regional extracts with a known truth: who really carries FH.

Why this exists: the pipeline must be built and tested without real patient data, and
its case finding can only be judged against a truth that real extracts never carry. So
this module simulates whole families (FH is autosomal dominant, and cascade testing and
the family-history criteria need pedigrees), their lipid panels over ten years, the
treatment that hides high LDL, the diagnoses and the biased genetic testing of routine
care, and writes them in each region's own dialect (`config/regions/<region>.toml`),
with a small, counted set of bad rows for the quarantine.

Everything here is synthetic: CPR numbers are random numbers that merely follow the CPR
format rules (DOMAIN.md "Danish context"); they may coincide with real people's numbers,
which is why the extracts must never leave a test or demo setting. Every figure the
simulation uses is a named constant below, with its source in `shared/DOMAIN.md` or
marked as a synthetic assumption.

The generator is vectorised (numpy, polars): no per-person Python loops. A million people
take about 15 s to generate and 15-20 s to write per dialect, with a peak of about 3-5 GB
of memory (measured on 2 cores), so a national run is best generated region by region.
It is deterministic: a fixed seed and the region name (through `zlib.crc32`, never
Python's salted `hash()`) fix every draw.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from fh_screening.config import RegionDialect, UnitRule, load_region, load_units
from fh_screening.worlds import (
    DEFAULT_WORLD,
    LDL_RAISING_COURSE_SIGMA,
    LDL_RAISING_DRUGS,
    LDL_RAISING_EARLIEST_YEARS,
    LDL_RAISING_RISE_SIGMA,
    POLYGENIC_HIGH_MMOL,
    WorldParams,
    save_world,
    world_rng,
)

# ---------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------
DAYS_PER_YEAR = 365.25
EPOCH = date(1970, 1, 1)
DEFAULT_START = date(2016, 7, 1)  # synthetic assumption: ten years of lab history
DEFAULT_END = date(2026, 6, 30)
DEFAULT_SEED = 20261125
US_PER_DAY = 86_400_000_000
US_PER_MINUTE = 60_000_000

# ---------------------------------------------------------------------------------------
# Families (all synthetic assumptions, chosen to give a plausible age pyramid)
# ---------------------------------------------------------------------------------------
FOUNDER_BIRTH_FIRST = date(1930, 1, 1)  # founder couples born ~1930-1965 (design brief)
FOUNDER_BIRTH_LAST = date(1965, 12, 31)
SPOUSE_GAP_MEAN_YEARS = 2.5  # men on average 2.5 years older than their partner
SPOUSE_GAP_SD_YEARS = 3.0
SPOUSE_GAP_RANGE_YEARS = (-5.0, 12.0)
CHILDREN_PER_COUPLE = 2.2  # Poisson mean for the founders' children
GRANDCHILDREN_PER_COUPLE = 1.9  # Poisson mean for each partnered child
MOTHER_AGE_AT_BIRTH = (20.0, 40.0)  # founders' children
MOTHER_AGE_AT_BIRTH_G2 = (22.0, 40.0)  # grandchildren
PARTNER_PROBABILITY = 0.75  # an adult child brings a partner (a new founder) into the data
PARTNER_MIN_AGE = 20.0  # ... if at least this old at the end of the extract
LAST_BIRTH = date(2022, 12, 31)  # grandchildren born up to ~2022 (design brief)
MALE_SHARE = 0.5
DEATH_AGE_MEAN = {True: 80.0, False: 84.0}  # men / women; synthetic, near Danish life tables
DEATH_AGE_SD = 9.0
DEATH_AGE_MIN = 45.0

# ---------------------------------------------------------------------------------------
# Genetics and LDL (mmol/L)
# ---------------------------------------------------------------------------------------
# The figures the literature leaves uncertain are parameters of a world
# (fh_screening/worlds.py, docs/worlds.md); the names below are the default world's
# values, kept for readers and tests of the generator as it was.
CARRIER_RATE = DEFAULT_WORLD.carrier_rate  # about 1 in 250 (DOMAIN.md)
# Non-carrier mean LDL by age: men rise from ~20 to 50, women flat until ~35 and rise
# after menopause; adult means 3.0-3.6 (DOMAIN.md "Synthetic population").
LDL_MEAN_AGES = (0.0, 18.0, 20.0, 35.0, 50.0, 60.0, 70.0, 90.0)
LDL_MEAN_MEN = (2.3, 2.4, 2.6, 3.1, 3.6, 3.6, 3.5, 3.1)
LDL_MEAN_WOMEN = (2.4, 2.5, 2.7, 2.8, 3.3, 3.8, 3.7, 3.4)
# Person-level spread: a family-shared polygenic part (heritable, so LDL correlates in
# families without FH; about half of very high LDL is polygenic, DOMAIN.md) and a
# non-inherited part. sqrt(0.50**2 + 0.60**2) = 0.78, plus the lab noise below gives the
# SD of about 0.85 in DOMAIN.md (within an age band).
LDL_SD_POLYGENIC = DEFAULT_WORLD.polygenic_sd  # 0.50
LDL_SD_INDIVIDUAL = DEFAULT_WORLD.individual_sd  # 0.60
LDL_SD_CHILD_FACTOR = 0.8  # synthetic assumption: narrower spread in children
# FH variant effect (per variant; families share their variant's severity): lognormal,
# median 2.8 mmol/L, so adults are about 6 +- 1.5 mmol/L, 2-3 above non-carriers at the
# same age (DOMAIN.md), with a tail of severe (null) and mild (defective) variants.
# Children: lower but well above their peers.
FH_EFFECT_MEDIAN = DEFAULT_WORLD.fh_effect_median  # 2.8
FH_EFFECT_SIGMA = DEFAULT_WORLD.fh_effect_sigma  # 0.4
FH_CHILD_FACTOR = DEFAULT_WORLD.fh_child_factor  # 0.85
LDL_MIN = 0.5
LDL_MAX = 25.0  # homozygous FH stays below the validation ceiling (30 mmol/L)
# Hypothyroidism: a secondary cause of high LDL (DOMAIN.md); ~2 % overall, more in women
# (synthetic assumption on the split).
HYPOTHYROID_RATE_WOMEN = 0.03
HYPOTHYROID_RATE_MEN = 0.01
HYPOTHYROID_RATE_CHILDREN = 0.002
HYPOTHYROID_LDL_RISE = 0.9
# Nephrotic syndrome and cholestatic liver disease: rarer secondary causes (DOMAIN.md),
# ~0.2 % of adults each (synthetic assumption), persistent over the window, raising LDL
# and showing as low albumin / high ALP and bilirubin.
NEPHROTIC_RATE = 0.002
CHOLESTASIS_RATE = 0.002
SECONDARY_LDL_RISE = 1.5  # synthetic assumption
NEPHROTIC_ALBUMIN_MEAN, NEPHROTIC_ALBUMIN_SD = 22.0, 4.0  # g/L (< 30: nephrotic range)
CHOLESTASIS_ALP_MEDIAN = 350.0  # U/L (several times the upper reference limit)
CHOLESTASIS_BILIRUBIN_MEDIAN = 45.0  # umol/L
CHOLESTASIS_SIGMA = 0.3
TSH_MEDIAN = 1.8  # mIU/L, euthyroid (synthetic assumption)
TSH_SIGMA_PERSON = 0.35
TSH_SIGMA_WITHIN = 0.15
TSH_HYPOTHYROID_RANGE = (6.0, 30.0)  # above the 4.5 limit in config/thresholds.toml
TSH_HYPOTHYROID_MIN = 5.0  # ... on every sample, whatever the within-person variation
# Triglycerides: lognormal, median ~1.2, ~2 % of panels above 4.5 (Friedewald limit,
# DOMAIN.md). ln(4.5 / 1.2) / sqrt(0.57**2 + 0.28**2) = 2.07 -> ~2 %.
TG_MEDIAN_MEN = 1.3
TG_MEDIAN_WOMEN = 1.1
TG_SIGMA_PERSON = 0.57
TG_SIGMA_WITHIN = 0.28
TG_MAX = 40.0
HDL_MEAN_MEN = 1.2  # synthetic assumption (design brief)
HDL_MEAN_WOMEN = 1.5
HDL_SD = 0.3
HDL_MIN = 0.4
LAB_CV = DEFAULT_WORLD.lab_cv  # 0.07, within-person biological + analytic (design brief)
TC_NOISE_SD = 0.08  # TC = LDL + HDL + TG/2.2 (Friedewald identity, DOMAIN.md) + noise
ALP_MEDIAN, ALP_SIGMA = 70.0, 0.25  # U/L, normal range (synthetic assumption)
BILIRUBIN_MEDIAN, BILIRUBIN_SIGMA = 8.0, 0.35  # umol/L
ALBUMIN_MEAN, ALBUMIN_SD = 41.0, 3.0  # g/L
# Reporting precision in the canonical unit (Danish lab reports; synthetic assumption).
DECIMALS = {"total_chol": 1, "ldl": 1, "hdl": 2, "triglycerides": 2, "tsh": 2, "alp": 0,
            "bilirubin": 0, "albumin": 0}
LIPIDS = ("total_chol", "hdl", "triglycerides", "ldl")
ANALYTES = (*LIPIDS, "tsh", "alp", "bilirubin", "albumin")
ANALYTE_ENUM = pl.Enum(ANALYTES)

# ---------------------------------------------------------------------------------------
# Cardiovascular disease, diagnoses, genetic testing
# ---------------------------------------------------------------------------------------
# Premature CHD (men < 55, women < 60, DOMAIN.md DLCN): much more frequent in carriers
# (design brief: 25 % of male, 12 % of female carriers; 2-3 % of non-carriers, scaled
# by the person's own LDL).
PREMATURE_CHD_RISK = {(True, True): 0.25, (True, False): 0.12,
                      (False, True): 0.03, (False, False): 0.02}  # (carrier, male)
PREMATURE_CHD_LDL_SLOPE = 0.4  # odds-like multiplier exp(0.4 * (LDL - 3.4)), synthetic
PREMATURE_CHD_AGES = {(True, True): (30.0, 55.0), (True, False): (35.0, 60.0),
                      (False, True): (35.0, 55.0), (False, False): (40.0, 60.0)}
LATER_CHD_RISK = {True: 0.12, False: 0.07}  # by male; synthetic assumption
LATER_CHD_AGES = {True: (55.0, 85.0), False: (60.0, 88.0)}
CHD_CODES = ("I21.9", "I25.1")  # ICD-10 I20-I25 ischaemic heart disease (DOMAIN.md)
CHD_MI_SHARE = 0.55
HYPOTHYROID_CODE = "E03.9"  # ICD-10 E03 hypothyroidism (DOMAIN.md)
NEPHROTIC_CODE = "N04.9"  # ICD-10 N04 nephrotic syndrome (DOMAIN.md)
CHOLESTASIS_CODE = "K74.3"  # ICD-10 K74.3 primary biliary cholangitis (synthetic choice)
KNOWN_FH_CODE = "E78.0"  # ICD-10 E78.0 pure hypercholesterolaemia, used for FH (DOMAIN.md)
# Known FH: ~15-20 % of carriers diagnosed (most are undiagnosed, DOMAIN.md): index cases
# first, then cascade diagnoses among first-degree relatives (yield ~50 %, DOMAIN.md).
KNOWN_FH_INDEX_RATE = DEFAULT_WORLD.known_fh_index_rate  # 0.11
KNOWN_FH_INDEX_RATE_CHD = 0.30  # a premature CHD event prompts the diagnosis
KNOWN_FH_CASCADE_RATE = DEFAULT_WORLD.known_fh_cascade_rate  # 0.50
KNOWN_FH_NONCARRIER_RATE = 0.001  # ~0.1 % of non-carriers coded E78.0 (design brief)
KNOWN_FH_EARLIEST = date(1995, 1, 1)  # synthetic: no diagnosis dates before this
KNOWN_FH_MIN_AGE = 18.0  # index cases are adults; cascade reaches children
CASCADE_DELAY_YEARS = (0.1, 3.0)
# Genetic tests (accurate, but for a biased subset: ~1-3 % of adults, design brief).
GENETIC_TEST_RATE_KNOWN_FH = DEFAULT_WORLD.genetic_test_rate_known_fh  # 0.80
GENETIC_TEST_RATE_RELATIVE = DEFAULT_WORLD.genetic_test_rate_relative  # 0.40, cascade
GENETIC_TEST_RATE_LDL_HIGH = DEFAULT_WORLD.genetic_test_rate_ldl_high  # 0.30, LDL >= 6.0
GENETIC_TEST_RATE_LDL_RAISED = DEFAULT_WORLD.genetic_test_rate_ldl_raised  # 0.20, >= 5.0
GENETIC_TEST_RATE_PREMATURE_CHD = DEFAULT_WORLD.genetic_test_rate_premature_chd  # 0.10
GENETIC_TEST_LDL_HIGH = 6.0
GENETIC_TEST_LDL_RAISED = 5.0

# ---------------------------------------------------------------------------------------
# Lipid-lowering treatment
# ---------------------------------------------------------------------------------------
# LDL reduction by ATC code and daily dose: the NICE statin intensity table (DOMAIN.md).
STATIN_REDUCTION: dict[str, dict[int, float]] = {
    "C10AA05": {10: 0.37, 20: 0.43, 40: 0.49, 80: 0.55},  # atorvastatin
    "C10AA07": {5: 0.38, 10: 0.43, 20: 0.48, 40: 0.53},  # rosuvastatin
    "C10AA01": {10: 0.27, 20: 0.32, 40: 0.37, 80: 0.42},  # simvastatin
}
EZETIMIBE_ATC = "C10AX09"
EZETIMIBE_MG = 10
EZETIMIBE_REDUCTION = 0.20  # "ezetimibe adds about 20 %" (DOMAIN.md), on top: 1-(1-r)(1-0.2)
MAX_REDUCTION = 0.85  # cap on the combined reduction (DOMAIN.md)
# Regimens (drug, mg, weight); synthetic prescribing habits.
STATINS_HIGH = (("C10AA05", 40, 0.35), ("C10AA05", 80, 0.25), ("C10AA07", 20, 0.2),
                ("C10AA07", 40, 0.2))
STATINS_MODERATE = (("C10AA05", 10, 0.2), ("C10AA05", 20, 0.3), ("C10AA01", 20, 0.1),
                    ("C10AA01", 40, 0.15), ("C10AA01", 10, 0.05), ("C10AA07", 5, 0.08),
                    ("C10AA07", 10, 0.12))
STATIN_CHILD = (("C10AA07", 5, 0.5), ("C10AA07", 10, 0.2), ("C10AA05", 10, 0.3))
TREATED_RATE_KNOWN_FH = 0.70  # ~70 % of diagnosed carriers (design brief)
TREATED_RATE_CHD = 0.80  # synthetic assumption
# Everyone else by age at the end of follow-up: (upper age bound, rate); synthetic.
TREATED_RATE_BY_AGE = ((30.0, 0.005), (40.0, 0.02), (50.0, 0.06), (60.0, 0.14),
                       (70.0, 0.24), (200.0, 0.32))
TREATED_HIGH_LDL_FACTOR = DEFAULT_WORLD.gp_treat_high_ldl_factor  # 2.0, at LDL >= 5
TREATED_MAX_RATE = 0.9
STATIN_MIN_AGE_FH = 10.0  # children of FH families from age 10 (NICE; DOMAIN.md)
STATIN_MIN_AGE = 30.0
STATIN_HISTORY_YEARS = DEFAULT_WORLD.statin_history_years  # 10 years before the window
STATIN_ESCALATE_RATE = 0.20  # a second, higher-intensity course
STATIN_STOP_RATE = 0.12  # stop for good
EZETIMIBE_RATE = {"known_fh": 0.35, "chd": 0.20, "other": 0.03}

# ---------------------------------------------------------------------------------------
# Lab panels
# ---------------------------------------------------------------------------------------
# Lipid panels per person-year by age (adults ~3-5 over ten years); synthetic.
PANEL_AGE_BOUNDS = (18.0, 30.0, 40.0, 50.0, 60.0, 70.0)
PANEL_RATES = (0.01, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65)  # < 18, 18-29, ..., 70+
PANEL_RATE_CHILD_OF_KNOWN_FH = 0.30  # children of known-FH parents are followed up
PANEL_CHILD_MIN_AGE = 2.0
PANEL_MULT_TREATED = 1.7
PANEL_MULT_CHD = 1.4
PANEL_MULT_KNOWN_FH = 1.5
PRETREATMENT_PANEL_RATE = DEFAULT_WORLD.pretreatment_panel_rate  # 0.7, before a statin
PRETREATMENT_DAYS = (7, 60)
DIAGNOSTIC_PANEL_RATE = 0.8  # a panel shortly before an FH diagnosis
PANEL_FIRST_MINUTE = 7 * 60 + 30  # samples taken 07:30-15:30
PANEL_LAST_MINUTE = 15 * 60 + 30
TSH_SHARE = 0.30  # TSH on ~30 % of panels (design brief)
TSH_SHARE_HIGH_TC = 0.60  # ... more often at TC > 7.0 (Danish guidance, DOMAIN.md)
TSH_SHARE_HYPOTHYROID = 0.50
LIVER_KIDNEY_SHARE = 0.15  # ALP, bilirubin, albumin on some panels
LIVER_KIDNEY_SHARE_SECONDARY = 0.8  # ... on most panels of people with such a disease

# ---------------------------------------------------------------------------------------
# GP practices
# ---------------------------------------------------------------------------------------
PRACTICES_PER_REGION = 15
LIPID_CLINICS_PER_REGION = 2
PRACTICE_SIZE_CONCENTRATION = 4.0  # Dirichlet concentration of practice sizes
ADULT_CHILD_MOVES = 0.3  # an adult child registers with another practice
PRACTICE_PREFIXES = ("Lægerne", "Lægehuset", "Lægeklinikken", "Lægepraksis")
PRACTICE_PLACES = ("Østergade", "Søndergade", "Nørregade", "Vestergade", "Åboulevarden",
                   "Ærøvej", "Brøndsted", "Fælledvej", "Skovbrynet", "Havnegade", "Torvet",
                   "Kirkevej", "Møllevej", "Strandvejen", "Bøgevej", "Rådhuspladsen",
                   "Æblehaven", "Sølvgade", "Kærvej", "Engbakken")

# ---------------------------------------------------------------------------------------
# Anomalies injected into the written files (never into the Population)
# ---------------------------------------------------------------------------------------
LAB_ANOMALY_SHARE = 0.002  # ~0.2 % of lab rows (design brief)
LAB_ANOMALY_KINDS = (  # (kind, share of the lab anomalies)
    ("unparseable_value", 0.35), ("unit_not_accepted", 0.20), ("unknown_lab_code", 0.15),
    ("invalid_cpr", 0.10), ("person_not_in_patients", 0.10), ("sample_date_in_future", 0.10),
)
FUTURE_SAMPLE_SHIFT_YEARS = 20  # a mistyped year, e.g. 2021 -> 2041: after any run date
UNPARSEABLE_TEXTS = ("ikke målt", "<0,1", "hæmolyseret", "se kommentar", "n/a")
UNACCEPTED_UNIT = "mg/L"  # not in config/units.toml for any lipid
# Haemoglobin (not an FH analyte): an NPU code for NPU regions, else a LOINC code.
UNKNOWN_LAB_CODES = {"npu": "NPU02319", "other": "718-7"}
NON_LIPID_ATC = (("C07AB02", 50.0), ("C09AA05", 5.0))  # metoprolol, ramipril (not C10)
# Values outside the region's vocabulary, in its language ("da" if its relation words
# are Danish, else "en").
UNKNOWN_RELATIONS = {"da": "moster", "en": "aunt"}
UNKNOWN_GENETIC_RESULTS = {"da": "afventer", "en": "pending"}
OTHER_ANOMALIES = {  # table -> (kind, count)
    "patients": ("invalid_cpr", 1),
    "practices": ("missing_lipid_clinic", 1),
    "prescriptions": ("not_lipid_lowering", 2),
    "diagnoses": ("wrong_icd10_style", 2),
    "relations": ("unknown_relation_code", 1),
    "genetic_tests": ("unknown_result_code", 1),
}
UNKNOWN_PERSON_SLOT = 0  # CPR 8th digit reserved for people in no region's patients file
CSV_CHUNK_ROWS = 2_000_000  # rows formatted as text at a time when writing CSV


@dataclass(frozen=True)
class LabProfile:
    """How a region's labs report a panel: which code and unit for which analyte.

    The dialect says which codes exist; the profile adds the habits the dialect cannot
    (shares of fasting panels, of mass units, of missing LDL; the reference interval a
    national extract carries beside each result). Profiles are configuration
    (`config/synth/lab_profiles.toml`); every code is checked against the dialect's
    [lab_codes] before use, so the two cannot drift apart silently.
    """

    codes: dict[str, tuple[tuple[str, float], ...]]
    fasting_share: float = 0.0
    fasting_codes: dict[str, str] = field(default_factory=dict)
    mass_share: float = 0.0
    mass_unit: str = "mg/dL"
    mass_codes: dict[str, str] = field(default_factory=dict)
    ldl_missing_share: float = 0.0
    reference_limits: dict[str, tuple[float, float]] = field(default_factory=dict)
    reference_columns: tuple[str, ...] = ()


LAB_PROFILES_FILE = ("synth", "lab_profiles.toml")


def load_lab_profiles(config_dir: Path | None = None) -> dict[str, LabProfile]:
    """The regions' lab habits for the synthetic samples, from configuration."""
    import tomllib

    from fh_screening.config import CONFIG_DIR, ConfigError

    path = (config_dir or CONFIG_DIR).joinpath(*LAB_PROFILES_FILE)
    if not path.exists():
        return {}
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    profiles = {}
    for region, spec in raw.items():
        try:
            profiles[region] = LabProfile(
                codes={a: tuple((str(c), float(w)) for c, w in opts)
                       for a, opts in spec.pop("codes").items()},
                reference_limits={a: (float(lo), float(hi)) for a, (lo, hi)
                                  in spec.pop("reference_limits", {}).items()},
                reference_columns=tuple(spec.pop("reference_columns", ())),
                **spec)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: [{region}] is not a lab profile ({exc})") from exc
        if profiles[region].reference_limits and len(profiles[region].reference_columns) != 2:
            raise ConfigError(f"{path}: [{region}] reference_limits needs reference_columns "
                              "= [lower column, upper column]")
    return profiles


LAB_PROFILES: dict[str, LabProfile] = load_lab_profiles()


@dataclass
class Population:
    """One region's synthetic people in canonical form (CPR "DDMMYY-SSSS" as the key).

    Canonical means dialect-free: ISO types, dotted ICD-10, English vocabularies, values
    in the canonical unit of config/units.toml, rounded as labs report them. This is the
    clean truth: the bad rows `write_region` injects are never in it, and `lab_results`
    holds every measured analyte (a region that leaves LDL out of some panels, such as
    Midtjylland, drops those rows only when writing). `truth` holds what no extract shows
    (carrier status, polygenic score, secondary causes); `panels` holds, per lipid
    panel, the true untreated LDL and the treatment reduction applied, so tests can check
    the treatment effect.
    """

    region: str
    seed: int
    start: date
    end: date
    carrier_rate: float
    patients: pl.DataFrame
    practices: pl.DataFrame
    lab_results: pl.DataFrame
    prescriptions: pl.DataFrame
    diagnoses: pl.DataFrame
    relations: pl.DataFrame
    genetic_tests: pl.DataFrame
    truth: pl.DataFrame
    panels: pl.DataFrame
    world: WorldParams = DEFAULT_WORLD

    def summary(self) -> dict[str, Any]:
        """Counts for the manifest and the README: how many carriers, found how often."""
        t = self.truth.select("cpr", "fh_carrier", "family_id", "is_founder", "hypothyroid")
        carriers = t.filter(pl.col("fh_carrier")).select("cpr")
        max_ldl = self.panels.group_by("cpr").agg(pl.col("ldl_untreated").max().alias("m"))
        max_ldl = max_ldl.join(t.select("cpr", "fh_carrier"), on="cpr")
        car_max = max_ldl.filter(pl.col("fh_carrier"))["m"]
        known = self.diagnoses.filter(pl.col("icd10") == KNOWN_FH_CODE).select("cpr").unique()
        treated = self.prescriptions.select("cpr").unique()
        return {
            "people": t.height,
            "families": t["family_id"].n_unique(),
            "founders": int(t["is_founder"].sum()),
            "deceased": int(self.patients["deceased_date"].is_not_null().sum()),
            "fh_carriers": carriers.height,
            "fh_carriers_known_e78_0": carriers.join(known, on="cpr").height,
            "fh_carriers_treated": carriers.join(treated, on="cpr").height,
            "fh_carriers_with_lipid_panel": car_max.len(),
            "fh_carriers_untreated_ldl_ge_5": int((car_max >= 5.0).sum()),
            "fh_carriers_untreated_ldl_ge_6_5": int((car_max >= 6.5).sum()),
            "non_carriers_with_lipid_panel": int((~max_ldl["fh_carrier"]).sum()),
            "non_carriers_untreated_ldl_ge_5": int(
                ((~max_ldl["fh_carrier"]) & (max_ldl["m"] >= 5.0)).sum()),
            "non_carriers_untreated_ldl_ge_6_5": int(
                ((~max_ldl["fh_carrier"]) & (max_ldl["m"] >= 6.5)).sum()),
            "hypothyroid": int(t["hypothyroid"].sum()),
            "known_fh_e78_0": known.height,
            "treated": treated.height,
            "genetic_tests": self.genetic_tests.height,
            "genetic_tests_positive": int((self.genetic_tests["result"] == "positive").sum()),
            "lipid_panels": self.panels.height,
            "lab_rows": self.lab_results.height,
        }


# =======================================================================================
# Helpers
# =======================================================================================
def region_key(region: str) -> int:
    """A stable number for a region name (crc32: Python's hash() is salted per process)."""
    return zlib.crc32(region.encode("utf-8"))


def region_slot(region: str) -> int:
    """The CPR 8th digit reserved for a region (1-9; 0 is for people in no region).

    The five Danish region names get five different slots (crc32 % 9), so regions never
    share a CPR number; `write_samples` checks this for whatever regions it writes.
    """
    return region_key(region) % 9 + 1


def region_prefix(region: str) -> str:
    """Three-letter prefix for practice, clinic and family ids ('SYD', 'MID')."""
    return region[:3].upper()


def _day(d: date) -> int:
    return (d - EPOCH).days


def _years(days: np.ndarray | float) -> np.ndarray:
    return np.asarray(days, dtype=np.float64) / DAYS_PER_YEAR


def _add_years(day: np.ndarray, years: np.ndarray | float) -> np.ndarray:
    return (np.asarray(day) + np.floor(np.asarray(years) * DAYS_PER_YEAR)).astype(np.int64)


def _uniform_day(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniform day in [lo, hi] (inclusive) per element; callers ensure lo <= hi."""
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    return lo + np.floor(rng.random(lo.shape) * (hi - lo + 1)).astype(np.int64)


def _rank_in_group(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2... within runs of equal keys (keys must be sorted)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, keys[1:] != keys[:-1]]
    first = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    return np.arange(n) - first


def _choose(rng: np.random.Generator, options: tuple, n: int) -> np.ndarray:
    """Indices into weighted options (last element of each option is its weight)."""
    w = np.array([o[-1] for o in options], dtype=np.float64)
    return rng.choice(len(options), size=n, p=w / w.sum())


def _days_to_date(days: np.ndarray) -> pl.Series:
    return pl.Series(np.asarray(days, dtype=np.int32)).cast(pl.Date)


def _fmt_cpr(six: pl.Series, serial: pl.Series) -> pl.Series:
    return pl.select(pl.concat_str([six.cast(pl.String).str.zfill(6), pl.lit("-"),
                                    serial.cast(pl.String).str.zfill(4)])).to_series()


def _cpr_numbers(rng: np.random.Generator, birth: np.ndarray, male: np.ndarray,
                 slot: int) -> pl.Series:
    """Unique CPR numbers for birth days and sexes, with the region's 8th digit.

    Danish rule (DOMAIN.md): the 7th digit with the year gives the century (0-3: 1900s;
    4 and 9: 2000s if YY <= 36 else 1900s; 5-8: 2000s if YY <= 57 else 1800s); the last
    digit is odd for men and even for women. Within one birth day and sex the remaining
    combinations (7th, 9th and 10th digit) are handed out without repeats.
    """
    n = len(birth)
    dates = _days_to_date(birth)
    year = dates.dt.year().to_numpy().astype(np.int64)
    yy = year % 100
    if ((year < 1900) | (year > 2057)).any():
        raise ValueError("synthetic CPR numbers cover birth years 1900-2057 only")
    # Allowed 7th digits per century class, padded with -1.
    table = np.array([[0, 1, 2, 3, -1, -1], [0, 1, 2, 3, 4, 9],
                      [4, 5, 6, 7, 8, 9], [5, 6, 7, 8, -1, -1]])
    cls = np.where(year < 2000, np.where(yy <= 36, 0, 1), np.where(yy <= 36, 2, 3))
    n7 = (table[cls] >= 0).sum(axis=1)
    cap = n7 * 10 * 5
    key = birth.astype(np.int64) * 2 + male
    order = np.lexsort((rng.random(n), key))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = _rank_in_group(key[order])
    if (rank >= cap).any():
        raise ValueError("too many people born on one day for unique CPR numbers")
    offset = rng.integers(0, 300, size=n)
    # One offset per (day, sex) group: take the offset of the group's first member.
    group_first = np.empty(n, dtype=np.int64)
    sorted_first = np.maximum.accumulate(
        np.where(np.r_[True, key[order][1:] != key[order][:-1]], np.arange(n), 0))
    group_first[order] = order[sorted_first]
    combo = (offset[group_first] + rank * 7) % cap  # 7 is coprime with 200 and 300
    d7 = table[cls, combo // 50]
    d9 = (combo % 50) // 5
    d10 = 2 * (combo % 5) + male.astype(np.int64)
    six = (dates.dt.day().to_numpy().astype(np.int64) * 10000
           + dates.dt.month().to_numpy().astype(np.int64) * 100 + yy)
    serial = d7 * 1000 + slot * 100 + d9 * 10 + d10
    return _fmt_cpr(pl.Series(six), pl.Series(serial))


def ldl_mean(age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Non-carrier mean LDL (mmol/L) by age and sex (DOMAIN.md "Synthetic population")."""
    return np.where(male, np.interp(age, LDL_MEAN_AGES, LDL_MEAN_MEN),
                    np.interp(age, LDL_MEAN_AGES, LDL_MEAN_WOMEN))


def _untreated_ldl(age: np.ndarray, male: np.ndarray, personal: np.ndarray,
                   fh_effect: np.ndarray, secondary: np.ndarray,
                   fh_child_factor: float = FH_CHILD_FACTOR) -> np.ndarray:
    """True untreated LDL at an age: mean + spread + FH variant(s) + secondary causes."""
    child = age < 18
    spread = np.where(child, LDL_SD_CHILD_FACTOR, 1.0) * personal
    fh = fh_effect * np.where(child, fh_child_factor, 1.0)
    value = ldl_mean(age, male) + spread + fh + secondary
    return np.clip(value, LDL_MIN, LDL_MAX)



def _statin_reduction(atc: np.ndarray, mg: np.ndarray) -> np.ndarray:
    """NICE reduction for each (ATC, dose); 0 where the pair is not in the table."""
    out = np.zeros(len(atc))
    for code, doses in STATIN_REDUCTION.items():
        for dose, r in doses.items():
            out[(atc == code) & (mg == dose)] = r
    return out


# =======================================================================================
# People and families
# =======================================================================================
@dataclass
class _People:
    """Person arrays (index = person), in family order and cut to n_people."""

    birth: np.ndarray  # day number (days since 1970-01-01)
    male: np.ndarray
    mother: np.ndarray  # index, or -1 for founders
    father: np.ndarray
    family: np.ndarray  # 0.. in order of appearance
    founder: np.ndarray  # founder couples and the partners who marry in
    generation: np.ndarray  # 0 founder couple, 1 their children and partners, 2 grandchildren
    branch: np.ndarray  # the founders' child a person belongs to (-1 for the couple)


def _family_batch(rng: np.random.Generator, n_couples: int, fam0: int,
                  end_day: int) -> dict[str, np.ndarray]:
    """Founder couples, their children, the children's partners and grandchildren."""
    c = n_couples
    fam = np.arange(c, dtype=np.int64) + fam0
    father_birth = _uniform_day(rng, np.full(c, _day(FOUNDER_BIRTH_FIRST)),
                                np.full(c, _day(FOUNDER_BIRTH_LAST)))
    gap = np.clip(rng.normal(SPOUSE_GAP_MEAN_YEARS, SPOUSE_GAP_SD_YEARS, c),
                  *SPOUSE_GAP_RANGE_YEARS)
    mother_birth = _add_years(father_birth, gap)
    last_birth = min(end_day, _day(LAST_BIRTH))

    # Children of the founder couples.
    n_kids = rng.poisson(CHILDREN_PER_COUPLE, c)
    kid_couple = np.repeat(np.arange(c), n_kids)
    kid_birth = _add_years(mother_birth[kid_couple],
                           rng.uniform(*MOTHER_AGE_AT_BIRTH, len(kid_couple)))
    kid_male = rng.random(len(kid_couple)) < MALE_SHARE
    keep = kid_birth <= last_birth
    kid_couple, kid_birth, kid_male = kid_couple[keep], kid_birth[keep], kid_male[keep]
    kid_rank = _rank_in_group(kid_couple)
    k = len(kid_couple)

    # Partners of adult children: new founders of the opposite sex, adults themselves.
    pgap = np.clip(rng.normal(SPOUSE_GAP_MEAN_YEARS, SPOUSE_GAP_SD_YEARS, k),
                   *SPOUSE_GAP_RANGE_YEARS)
    partner_birth = _add_years(kid_birth, np.where(kid_male, pgap, -pgap))
    partnered = ((_years(end_day - kid_birth) >= PARTNER_MIN_AGE)
                 & (_years(end_day - partner_birth) >= PARTNER_MIN_AGE)
                 & (rng.random(k) < PARTNER_PROBABILITY))
    pk = np.flatnonzero(partnered)
    npk = len(pk)
    partner_birth = partner_birth[pk]
    partner_male = ~kid_male[pk]

    # Grandchildren of each partnered child.
    woman_birth = np.where(kid_male[pk], partner_birth, kid_birth[pk])
    n_gc = rng.poisson(GRANDCHILDREN_PER_COUPLE, npk)
    gc_pair = np.repeat(np.arange(npk), n_gc)
    gc_birth = _add_years(woman_birth[gc_pair],
                          rng.uniform(*MOTHER_AGE_AT_BIRTH_G2, len(gc_pair)))
    gc_male = rng.random(len(gc_pair)) < MALE_SHARE
    keep = gc_birth <= last_birth
    gc_pair, gc_birth, gc_male = gc_pair[keep], gc_birth[keep], gc_male[keep]
    gc_rank = _rank_in_group(gc_pair)
    g = len(gc_pair)

    # Local indices: fathers, mothers, children, partners, grandchildren.
    i_father = np.arange(c)
    i_mother = c + np.arange(c)
    i_kid = 2 * c + np.arange(k)
    i_partner = 2 * c + k + np.arange(npk)
    kid_of_pair = i_kid[pk]
    gc_mother = np.where(kid_male[pk], i_partner, kid_of_pair)[gc_pair]
    gc_father = np.where(kid_male[pk], kid_of_pair, i_partner)[gc_pair]
    none = np.full(2 * c, -1, dtype=np.int64)
    return {
        "birth": np.concatenate([father_birth, mother_birth, kid_birth, partner_birth,
                                 gc_birth]),
        "male": np.concatenate([np.ones(c, bool), np.zeros(c, bool), kid_male,
                                partner_male, gc_male]),
        "mother": np.concatenate([none, i_mother[kid_couple], np.full(npk, -1), gc_mother]),
        "father": np.concatenate([none, i_father[kid_couple], np.full(npk, -1), gc_father]),
        "family": np.concatenate([fam, fam, fam[kid_couple], fam[kid_couple[pk]],
                                  fam[kid_couple[pk]][gc_pair]]),
        "founder": np.concatenate([np.ones(2 * c, bool), np.zeros(k, bool),
                                   np.ones(npk, bool), np.zeros(g, bool)]),
        "generation": np.concatenate([np.zeros(2 * c, np.int8), np.ones(k + npk, np.int8),
                                      np.full(g, 2, np.int8)]),
        # Sort keys for the family order: branch (child), role, rank.
        "branch": np.concatenate([none, kid_rank, kid_rank[pk], kid_rank[pk][gc_pair]]),
        "role": np.concatenate([np.zeros(c, np.int64), np.ones(c, np.int64),
                                np.zeros(k, np.int64), np.ones(npk, np.int64),
                                np.full(g, 2, np.int64)]),
        "rank": np.concatenate([np.zeros(2 * c + k + npk, np.int64), gc_rank]),
    }


def _family_tree(rng: np.random.Generator, n_people: int, end_day: int) -> _People:
    """Whole families until n_people is reached; the last family is cut short.

    People are ordered: the founder couple, then each child followed by their partner and
    their children, so any prefix of a family holds both parents of everyone in it.
    """
    batch = max(16, n_people // 5)
    parts: list[dict[str, np.ndarray]] = []
    total, fam0 = 0, 0
    while total < n_people:
        part = _family_batch(rng, batch, fam0, end_day)
        for parent in ("mother", "father"):
            part[parent] = np.where(part[parent] >= 0, part[parent] + total, -1)
        parts.append(part)
        total += len(part["birth"])
        fam0 += batch
    a = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((a["rank"], a["role"], a["branch"], a["family"]))[:n_people]
    new_index = np.full(total, -1, dtype=np.int64)
    new_index[order] = np.arange(n_people)

    def remap(parent: np.ndarray) -> np.ndarray:
        out = np.where(parent >= 0, new_index[np.maximum(parent, 0)], -1)
        if ((parent >= 0) & (out < 0)).any():  # the prefix property would be broken
            raise AssertionError("cutting the last family left a parent out")
        return out

    _, family = np.unique(a["family"][order], return_inverse=True)
    return _People(birth=a["birth"][order], male=a["male"][order],
                   mother=remap(a["mother"][order]), father=remap(a["father"][order]),
                   family=family.astype(np.int64), founder=a["founder"][order],
                   generation=a["generation"][order], branch=a["branch"][order])


def _first_degree_min(p: _People, value: np.ndarray) -> np.ndarray:
    """Per person, the minimum of `value` over parents, children and full siblings.

    The person's own value takes part in the sibling minimum; callers use the result only
    where the own value is +inf, so that does no harm.
    """
    out = np.full(len(value), np.inf)
    idx = np.flatnonzero(p.mother >= 0)
    out[idx] = np.minimum(value[p.mother[idx]], value[p.father[idx]])
    np.minimum.at(out, p.mother[idx], value[idx])  # children
    np.minimum.at(out, p.father[idx], value[idx])
    sib = np.full(len(value), np.inf)  # siblings share both parents, so key on the mother
    np.minimum.at(sib, p.mother[idx], value[idx])
    out[idx] = np.minimum(out[idx], sib[p.mother[idx]])
    return out


def _by_rate_table(values: np.ndarray, table: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Rate for each value from ((upper bound, rate), ...) in increasing bounds."""
    bounds = np.array([b for b, _ in table])
    rates = np.array([r for _, r in table])
    return rates[np.minimum(np.searchsorted(bounds, values, side="right"), len(rates) - 1)]


# =======================================================================================
# The population
# =======================================================================================
def generate_population(n_people: int, seed: int, region: str, start: date = DEFAULT_START,
                        end: date = DEFAULT_END,
                        carrier_rate: float | None = None,
                        panel_rate_factor: float = 1.0,
                        world: WorldParams = DEFAULT_WORLD) -> Population:
    """Simulate one region: families, genes, LDL, treatment, diagnoses, tests and labs.

    `world` holds every uncertain assumption (fh_screening/worlds.py, docs/worlds.md);
    `carrier_rate`, when given, overrides the world's. `panel_rate_factor` scales every
    lipid-panel rate (the benchmarks use it to match a stated number of lab results per
    adult) on top of the world's own scale; 1.0 gives the documented rates.
    Deterministic for its arguments. Everything is drawn per person or per panel with
    numpy, in a fixed order, from one Generator seeded by (seed, crc32(region)); each
    world mechanism that the default world switches off (statin response, adherence, the
    polygenic tail, panel dispersion, LDL-raising drugs) draws from its own stream
    (`worlds.world_rng`), so the default world's draws are those of the generator before
    worlds existed, and one mechanism does not move another's.
    """
    if n_people < 2:
        raise ValueError("n_people must be at least 2")
    if not start < end:
        raise ValueError("start must be before end")
    w = world
    if carrier_rate is None:
        carrier_rate = w.carrier_rate
    rkey = region_key(region)
    rng = np.random.default_rng([seed, rkey])
    start_day, end_day = _day(start), _day(end)
    p = _family_tree(rng, n_people, end_day)
    n = n_people
    male = p.male
    big = np.iinfo(np.int64).max  # "no date" for int day arrays
    has = np.flatnonzero(p.mother >= 0)

    # --- Death: late in life; parents outlive the births of their children ---------
    death = _add_years(p.birth, np.maximum(
        rng.normal(np.where(male, DEATH_AGE_MEAN[True], DEATH_AGE_MEAN[False]),
                   DEATH_AGE_SD), DEATH_AGE_MIN))
    np.maximum.at(death, p.mother[has], p.birth[has] + 1)
    np.maximum.at(death, p.father[has], p.birth[has] + 1)
    deceased = death <= end_day
    last_day = np.where(deceased, death, end_day)  # last day of follow-up
    age_last = _years(last_day - p.birth)

    # --- FH alleles (effect sizes; 0 = normal) and the polygenic score --------------
    allele_m = np.zeros(n)
    allele_p = np.zeros(n)
    poly_z = np.zeros(n)
    founders = np.flatnonzero(p.founder)
    carrier_founder = rng.random(len(founders)) < carrier_rate
    effects = rng.lognormal(np.log(w.fh_effect_median), w.fh_effect_sigma, len(founders))
    allele_m[founders] = np.where(carrier_founder, effects, 0.0)
    poly_z[founders] = rng.standard_normal(len(founders))
    for generation in (1, 2):  # parents before children
        gen = np.flatnonzero(~p.founder & (p.generation == generation))
        mo, fa = p.mother[gen], p.father[gen]
        allele_m[gen] = np.where(rng.random(len(gen)) < 0.5, allele_m[mo], allele_p[mo])
        allele_p[gen] = np.where(rng.random(len(gen)) < 0.5, allele_m[fa], allele_p[fa])
        # Polygenic inheritance: mid-parent value plus segregation (variance stays 1).
        poly_z[gen] = (poly_z[mo] + poly_z[fa]) / 2 + rng.normal(0, np.sqrt(0.5), len(gen))
    fh_effect = allele_m + allele_p
    carrier = fh_effect > 0
    personal = w.polygenic_sd * poly_z + w.individual_sd * rng.standard_normal(n)
    # The polygenic tail (world stream): some founders carry a large polygenic load,
    # passed on as the mid-parent value like the score, so high LDL clusters in families
    # without any FH variant (Talmud 2013, Khera 2016; docs/worlds.md).
    poly_shift = np.zeros(n)
    if w.polygenic_tail_share > 0:
        tail_rng = world_rng(seed, rkey, "polygenic_tail")
        tail = tail_rng.random(len(founders)) < w.polygenic_tail_share
        shift = tail_rng.lognormal(np.log(w.polygenic_tail_shift_median),
                                   w.polygenic_tail_shift_sigma, len(founders))
        poly_shift[founders] = np.where(tail, shift, 0.0)
        for generation in (1, 2):
            gen = np.flatnonzero(~p.founder & (p.generation == generation))
            poly_shift[gen] = (poly_shift[p.mother[gen]] + poly_shift[p.father[gen]]) / 2
        personal = personal + poly_shift
    polygenic_high = w.polygenic_sd * poly_z + poly_shift >= POLYGENIC_HIGH_MMOL

    # Hypothyroidism, persistent over the window (a synthetic simplification).
    hypothyroid = rng.random(n) < np.where(
        age_last < 18, HYPOTHYROID_RATE_CHILDREN,
        np.where(male, HYPOTHYROID_RATE_MEN, HYPOTHYROID_RATE_WOMEN))
    adult = age_last >= 18
    nephrotic = adult & (rng.random(n) < NEPHROTIC_RATE)
    cholestatic = adult & ~nephrotic & (rng.random(n) < CHOLESTASIS_RATE)
    secondary = (HYPOTHYROID_LDL_RISE * hypothyroid
                 + SECONDARY_LDL_RISE * (nephrotic | cholestatic))
    # The person's untreated level in mid-life (or now, for the young): drives care.
    ldl_ref = _untreated_ldl(np.minimum(age_last, 60.0), male, personal, fh_effect, secondary,
                             w.fh_child_factor)

    # --- Coronary heart disease -----------------------------------------------------
    def by_group(table: dict[tuple[bool, bool], Any], pos: int | None = None) -> np.ndarray:
        pick = (lambda v: v) if pos is None else (lambda v: v[pos])
        return np.select([carrier & male, carrier & ~male, ~carrier & male],
                         [pick(table[(True, True)]), pick(table[(True, False)]),
                          pick(table[(False, True)])], pick(table[(False, False)]))

    pre_risk = by_group(PREMATURE_CHD_RISK)
    pre_risk = np.where(carrier, pre_risk, np.minimum(
        pre_risk * np.exp(PREMATURE_CHD_LDL_SLOPE * (ldl_ref - 3.4)), 0.5))
    premature = rng.random(n) < pre_risk
    event_age = rng.uniform(by_group(PREMATURE_CHD_AGES, 0), by_group(PREMATURE_CHD_AGES, 1))
    later = ~premature & (rng.random(n) < np.where(male, LATER_CHD_RISK[True],
                                                   LATER_CHD_RISK[False]))
    later_age = np.where(male, rng.uniform(*LATER_CHD_AGES[True], n),
                         rng.uniform(*LATER_CHD_AGES[False], n))
    event_day = _add_years(p.birth, np.where(later, later_age, event_age))
    has_chd = (premature | later) & (event_day <= last_day)
    chd_day = np.where(has_chd, event_day, big)
    premature_chd = premature & has_chd
    chd_code = np.where(rng.random(n) < CHD_MI_SHARE, CHD_CODES[0], CHD_CODES[1])

    # --- Known FH (E78.0): index cases, then cascade among first-degree relatives ---
    dx_lo = np.maximum(_add_years(p.birth, KNOWN_FH_MIN_AGE), _day(KNOWN_FH_EARLIEST))
    can_dx = dx_lo <= last_day
    index_rate = np.where(premature_chd, KNOWN_FH_INDEX_RATE_CHD, w.known_fh_index_rate)
    cascade_rate = np.full(n, w.known_fh_cascade_rate)
    if w.older_diagnosis_factor != 1.0:  # undiagnosed carriers at older ages (issue 19)
        older = p.birth < _day(date(int(w.older_cohort_born_before), 1, 1))
        index_rate = np.where(older, index_rate * w.older_diagnosis_factor, index_rate)
        cascade_rate = np.where(older, cascade_rate * w.older_diagnosis_factor, cascade_rate)
    index = carrier & can_dx & (rng.random(n) < index_rate)
    dx_day = _uniform_day(rng, np.minimum(dx_lo, last_day), last_day)
    known_day = np.where(index, dx_day, np.inf)
    relative_index = _first_degree_min(p, known_day)
    cascade_day = np.maximum(relative_index + np.floor(
        rng.uniform(*CASCADE_DELAY_YEARS, n) * DAYS_PER_YEAR), p.birth + 2 * DAYS_PER_YEAR)
    cascade = (carrier & ~index & (rng.random(n) < cascade_rate)
               & (cascade_day <= last_day))
    known_day = np.where(cascade, np.floor(cascade_day), known_day)
    # A few non-carriers with high (polygenic) LDL are coded E78.0 too.
    weight = np.exp(ldl_ref - 3.4)
    adult_nc = ~carrier & can_dx
    # (weighted by LDL; scaled so that the rate holds over all non-carriers)
    nc_rate = (KNOWN_FH_NONCARRIER_RATE * (~carrier).sum() * weight
               / max(weight[adult_nc].sum(), 1e-9))
    nc_known = adult_nc & (rng.random(n) < nc_rate)
    known_day = np.where(nc_known, dx_day, known_day)
    known = np.isfinite(known_day)
    known_day_i = np.where(known, known_day, 0).astype(np.int64)

    # --- Lipid-lowering treatment ---------------------------------------------------
    start_fh = np.maximum(known_day_i + rng.integers(0, 181, n),
                          _add_years(p.birth, STATIN_MIN_AGE_FH))
    treat_fh = known & (rng.random(n) < TREATED_RATE_KNOWN_FH) & (start_fh <= last_day)
    start_chd = np.where(has_chd, chd_day, 0) + rng.integers(0, 31, n)
    treat_chd = has_chd & (rng.random(n) < TREATED_RATE_CHD) & (start_chd <= last_day)
    general_rate = _by_rate_table(age_last, TREATED_RATE_BY_AGE)
    general_rate = np.minimum(np.where(ldl_ref >= 5.0,
                                       general_rate * w.gp_treat_high_ldl_factor,
                                       general_rate), TREATED_MAX_RATE)
    g_lo = np.maximum(_add_years(p.birth, STATIN_MIN_AGE),
                      start_day - int(w.statin_history_years * DAYS_PER_YEAR))
    g_hi = last_day - 30
    treat_gen = (rng.random(n) < general_rate) & (g_lo <= g_hi)
    start_gen = _uniform_day(rng, np.minimum(g_lo, g_hi), g_hi)
    s1_start = np.minimum.reduce([np.where(treat_fh, start_fh, big),
                                  np.where(treat_chd, start_chd, big),
                                  np.where(treat_gen, start_gen, big)])
    treated = s1_start < big
    child_start = treated & (_years(s1_start - p.birth) < 18)
    regimen = np.where(child_start, 2, np.where(treat_fh | treat_chd, 0, 1))
    s1_atc = np.empty(n, dtype="<U7")
    s1_mg = np.zeros(n, dtype=np.int64)
    for r, options in enumerate((STATINS_HIGH, STATINS_MODERATE, STATIN_CHILD)):
        pick = _choose(rng, options, n)
        rows = regimen == r
        s1_atc[rows] = np.array([o[0] for o in options])[pick[rows]]
        s1_mg[rows] = np.array([o[1] for o in options])[pick[rows]]
    # Then: a second course at the next dose of the same drug, a stop, or neither.
    fate = rng.random(n)
    s2_mg = s1_mg.copy()
    for atc, doses in STATIN_REDUCTION.items():
        ladder = sorted(doses)
        for lower, higher in zip(ladder, ladder[1:], strict=False):
            s2_mg[(s1_atc == atc) & (s1_mg == lower)] = higher
    s1_from = np.where(treated, s1_start, 0)
    end_escalate = _add_years(s1_from, rng.uniform(0.5, 4.0, n))
    end_stop = _add_years(s1_from, rng.uniform(0.3, 6.0, n))
    escalate = (treated & (fate < STATIN_ESCALATE_RATE) & (s2_mg != s1_mg)
                & (end_escalate < last_day))
    stop = (treated & (fate >= STATIN_ESCALATE_RATE)
            & (fate < STATIN_ESCALATE_RATE + STATIN_STOP_RATE) & (end_stop < last_day))
    ongoing_end = np.where(deceased, death, big)  # the last course ends at death
    s1_end = np.where(escalate, end_escalate, np.where(stop, end_stop, ongoing_end))
    s2_start = np.where(escalate, s1_end + 1, big)
    s2_end = np.where(escalate, ongoing_end, big)
    s1_red = np.where(treated, _statin_reduction(s1_atc, s1_mg), 0.0)
    s2_red = np.where(escalate, _statin_reduction(s1_atc, s2_mg), 0.0)
    eze_rate = np.where(treat_fh, EZETIMIBE_RATE["known_fh"],
                        np.where(treat_chd, EZETIMIBE_RATE["chd"], EZETIMIBE_RATE["other"]))
    eze_start = _add_years(np.where(treated, s1_start, 0), rng.uniform(0.25, 3.0, n))
    eze = treated & ~stop & (rng.random(n) < eze_rate) & (eze_start <= last_day)
    eze_start = np.where(eze, eze_start, big)
    eze_end = np.where(eze, ongoing_end, big)

    def reduction_at(person: np.ndarray, day: np.ndarray,
                     taken: np.ndarray | None = None) -> np.ndarray:
        """Combined LDL reduction active on a day: nominal (the NICE table, the way the
        pipeline estimates it) or, with `taken`, each drug's nominal reduction times the
        person's response and adherence on that sample."""
        def active(s: np.ndarray, e: np.ndarray) -> np.ndarray:
            return (s[person] <= day) & (day <= e[person])

        statin = np.maximum(np.where(active(s1_start, s1_end), s1_red[person], 0.0),
                            np.where(active(s2_start, s2_end), s2_red[person], 0.0))
        ez = np.where(active(eze_start, eze_end), EZETIMIBE_REDUCTION, 0.0)
        if taken is not None:
            statin, ez = np.minimum(statin * taken, 1.0), np.minimum(ez * taken, 1.0)
        return np.minimum(1 - (1 - statin) * (1 - ez), MAX_REDUCTION)

    # Statin response (Boekholdt 2014) and partial adherence (Chowdhury 2013), each from
    # its own world stream; 1.0 (what the NICE table assumes) in the default world.
    response = np.ones(n)
    if w.statin_response_sd > 0:
        response = np.clip(1 + w.statin_response_sd * world_rng(
            seed, rkey, "statin_response").standard_normal(n), 0.0, 2.0)
    adherence = np.ones(n)
    partial = np.zeros(n, bool)
    adh_rng = None
    if w.partial_adherence_share > 0:
        adh_rng = world_rng(seed, rkey, "adherence")
        partial = adh_rng.random(n) < w.partial_adherence_share
        adherence = np.where(partial, adh_rng.uniform(
            w.partial_adherence_low, w.partial_adherence_high, n), 1.0)

    # --- Genetic tests (accurate, for a biased subset) -------------------------------
    t_known = known & (rng.random(n) < w.genetic_test_rate_known_fh)
    t_known_day = np.minimum(known_day_i + rng.integers(0, 366, n), last_day)
    rel_known = _first_degree_min(p, np.where(known, known_day_i, np.inf))
    t_rel_day = np.maximum(rel_known + np.floor(rng.uniform(0.2, 3.0, n) * DAYS_PER_YEAR),
                           p.birth + 365)
    t_rel = np.isfinite(rel_known) & (rng.random(n) < w.genetic_test_rate_relative)
    adult_lo = np.maximum(start_day, _add_years(p.birth, 18.0))
    ldl_rate = np.where(ldl_ref >= GENETIC_TEST_LDL_HIGH, w.genetic_test_rate_ldl_high,
                        np.where(ldl_ref >= GENETIC_TEST_LDL_RAISED,
                                 w.genetic_test_rate_ldl_raised, 0.0))
    ldl_rate = np.maximum(ldl_rate, np.where(premature_chd,
                                             w.genetic_test_rate_premature_chd, 0.0))
    t_ldl = (rng.random(n) < ldl_rate) & (adult_lo <= last_day)
    t_ldl_day = _uniform_day(rng, np.minimum(adult_lo, last_day), last_day)
    test_day = np.minimum.reduce([np.where(t_known, t_known_day, np.inf),
                                  np.where(t_rel, t_rel_day, np.inf),
                                  np.where(t_ldl, t_ldl_day, np.inf)])
    tested = test_day <= last_day
    test_day_i = np.where(tested, test_day, 0).astype(np.int64)

    # --- Lipid panels: thinned Poisson process over each person's follow-up ----------
    child_of_known = np.zeros(n, bool)
    child_of_known[has] = known[p.mother[has]] | known[p.father[has]]
    panel_factor = panel_rate_factor * w.panel_rate_scale
    mult = (np.where(treated, PANEL_MULT_TREATED, 1.0) * np.where(has_chd, PANEL_MULT_CHD, 1.0)
            * np.where(known, PANEL_MULT_KNOWN_FH, 1.0)) * panel_factor
    child_rate = np.where(child_of_known, PANEL_RATE_CHILD_OF_KNOWN_FH,
                          PANEL_RATES[0]) * panel_factor
    if w.panel_rate_dispersion > 0:  # patchy testing: some people are rarely sampled
        shape = 1 / w.panel_rate_dispersion ** 2
        frailty = world_rng(seed, rkey, "panel_dispersion").gamma(shape, 1 / shape, n)
        mult = mult * frailty
        child_rate = child_rate * frailty
    age_bounds = np.array(PANEL_AGE_BOUNDS)
    adult_rates = np.array(PANEL_RATES)

    def rate_at(person: np.ndarray, age: np.ndarray) -> np.ndarray:
        adult = adult_rates[np.searchsorted(age_bounds, age, side="right")] * mult[person]
        child = np.where(child_of_known[person] & (age < PANEL_CHILD_MIN_AGE), 0.0,
                         child_rate[person])
        return np.where(age < 18, child, adult)

    exp_lo = np.maximum(start_day, p.birth)
    exp_hi = last_day
    everyone = np.arange(n)
    # Adult rates rise with age and child rates are flat, so this bounds rate_at.
    rate_max = np.maximum(rate_at(everyone, _years(exp_hi - p.birth)),
                          np.where(_years(exp_lo - p.birth) < 18, child_rate, 0.0))
    years = np.where(exp_hi >= exp_lo, _years(exp_hi - exp_lo + 1), 0.0)
    cand = np.repeat(everyone, rng.poisson(rate_max * years))
    cand_day = _uniform_day(rng, exp_lo[cand], exp_hi[cand])
    accept = (rng.random(len(cand)) * rate_max[cand]
              < rate_at(cand, _years(cand_day - p.birth[cand])))
    persons, days = [cand[accept]], [cand_day[accept]]
    # A panel in the weeks before a statin start or an FH diagnosis inside the window.
    for event, eligible, share in ((s1_start, treated, w.pretreatment_panel_rate),
                                   (known_day_i, known, DIAGNOSTIC_PANEL_RATE)):
        pick = np.flatnonzero(eligible & (rng.random(n) < share))
        day = event[pick] - rng.integers(*PRETREATMENT_DAYS, len(pick))
        ok = (day >= exp_lo[pick]) & (day <= exp_hi[pick])
        persons.append(pick[ok])
        days.append(day[ok])
    span = end_day - start_day + 1
    uniq = np.unique(np.concatenate(persons) * span + (np.concatenate(days) - start_day))
    pp, pd_ = uniq // span, uniq % span + start_day  # one panel per person and day
    m = len(pp)
    ts = pd_ * US_PER_DAY + rng.integers(PANEL_FIRST_MINUTE, PANEL_LAST_MINUTE + 1,
                                         m) * US_PER_MINUTE

    # Values: untreated truth, lab noise, treatment (canonical units).
    age_t = _years(pd_ - p.birth[pp])
    ldl_true = _untreated_ldl(age_t, male[pp], personal[pp], fh_effect[pp], secondary[pp],
                              w.fh_child_factor)
    drug = _ldl_raising_drugs(w, seed, rkey, p.birth, start_day, last_day, death, deceased)
    drug_rise = np.zeros(m)
    if drug is not None:  # LDL-raising drugs raise LDL only while they are taken
        on_drug = (drug["start"][pp] <= pd_) & (pd_ <= drug["end"][pp])
        drug_rise = np.where(on_drug, drug["rise"][pp], 0.0)
        ldl_true = np.minimum(ldl_true + drug_rise, LDL_MAX)
    red_nominal = reduction_at(pp, pd_)
    red = red_nominal
    if w.statin_response_sd > 0 or w.partial_adherence_share > 0:
        taken = adherence[pp]
        if adh_rng is not None and w.adherence_sample_sd > 0:
            taken = np.where(partial[pp], np.clip(
                taken + w.adherence_sample_sd * adh_rng.standard_normal(m), 0.0, 1.0), taken)
        red = reduction_at(pp, pd_, taken * response[pp])
    ldl = np.maximum(ldl_true * (1 + w.lab_cv * rng.standard_normal(m)) * (1 - red), 0.2)
    hdl_person = np.maximum(np.where(male, HDL_MEAN_MEN, HDL_MEAN_WOMEN)
                            + HDL_SD * rng.standard_normal(n), HDL_MIN)
    hdl = np.maximum(hdl_person[pp] * (1 + w.lab_cv * rng.standard_normal(m)), HDL_MIN)
    tg_person = (np.log(np.where(male, TG_MEDIAN_MEN, TG_MEDIAN_WOMEN))
                 + TG_SIGMA_PERSON * rng.standard_normal(n))
    tg = np.minimum(np.exp(tg_person[pp] + TG_SIGMA_WITHIN * rng.standard_normal(m)), TG_MAX)
    tc = ldl + hdl + tg / 2.2 + TC_NOISE_SD * rng.standard_normal(m)
    tsh_person = np.where(
        hypothyroid, np.exp(rng.uniform(*np.log(TSH_HYPOTHYROID_RANGE), n)),
        np.exp(np.log(TSH_MEDIAN) + TSH_SIGMA_PERSON * rng.standard_normal(n)))
    tsh = tsh_person[pp] * np.exp(TSH_SIGMA_WITHIN * rng.standard_normal(m))
    tsh = np.where(hypothyroid[pp], np.maximum(tsh, TSH_HYPOTHYROID_MIN), tsh)
    tsh_share = np.where(hypothyroid[pp], TSH_SHARE_HYPOTHYROID,
                         np.where(tc > 7.0, TSH_SHARE_HIGH_TC, TSH_SHARE))
    if w.tsh_share_scale != 1.0:
        tsh_share = np.minimum(tsh_share * w.tsh_share_scale, 1.0)
    has_tsh = rng.random(m) < tsh_share
    has_liver = rng.random(m) < np.where((nephrotic | cholestatic)[pp],
                                         LIVER_KIDNEY_SHARE_SECONDARY, LIVER_KIDNEY_SHARE)
    k = int(has_liver.sum())
    alp, bili, alb = np.zeros(m), np.zeros(m), np.zeros(m)
    alp[has_liver] = ALP_MEDIAN * np.exp(ALP_SIGMA * rng.standard_normal(k))
    bili[has_liver] = np.maximum(
        BILIRUBIN_MEDIAN * np.exp(BILIRUBIN_SIGMA * rng.standard_normal(k)), 2)
    alb[has_liver] = np.clip(rng.normal(ALBUMIN_MEAN, ALBUMIN_SD, k), 25, 55)
    chol_panel = cholestatic[pp] & has_liver
    alp[chol_panel] = CHOLESTASIS_ALP_MEDIAN * np.exp(
        CHOLESTASIS_SIGMA * rng.standard_normal(int(chol_panel.sum())))
    bili[chol_panel] = CHOLESTASIS_BILIRUBIN_MEDIAN * np.exp(
        CHOLESTASIS_SIGMA * rng.standard_normal(int(chol_panel.sum())))
    neph_panel = nephrotic[pp] & has_liver
    alb[neph_panel] = np.clip(rng.normal(NEPHROTIC_ALBUMIN_MEAN, NEPHROTIC_ALBUMIN_SD,
                                         int(neph_panel.sum())), 10, 34)
    panel_values = (tc, hdl, tg, ldl, tsh, alp, bili, alb)  # in ANALYTES order

    # --- Frames, sorted by CPR (integer sort keys: fast at national scale) -----------
    cpr = _cpr_numbers(rng, p.birth, male, region_slot(region))
    cpr_rank = np.empty(n, dtype=np.int64)
    cpr_rank[cpr.arg_sort().to_numpy()] = np.arange(n)
    by_cpr = np.argsort(cpr_rank)
    practices = _practices_frame(rng, region)
    practice = _assign_practices(rng, p, age_last)

    patients = pl.DataFrame({
        "cpr": cpr, "birth_date": _days_to_date(p.birth),
        "sex": np.where(male, "M", "F"),
        "gp_practice_id": practices["gp_practice_id"].gather(practice),
        "deceased_date": _days_to_date(np.where(deceased, death, 0)),
    }).with_columns(pl.when(pl.Series(deceased)).then(pl.col("deceased_date"))
                    .otherwise(None).alias("deceased_date"))[by_cpr]

    # Panels sorted by (CPR, time); each panel's rows laid out in ANALYTES order at its
    # offset, so the long lab table is built sorted without sorting it.
    panel_order = np.lexsort((ts, cpr_rank[pp]))
    tsh_n = has_tsh[panel_order].astype(np.int64)
    liver_n = has_liver[panel_order].astype(np.int64)
    rows_per_panel = len(LIPIDS) + tsh_n + 3 * liver_n
    offset = np.cumsum(rows_per_panel) - rows_per_panel
    lab_rows = int(rows_per_panel.sum())
    lab_analyte = np.zeros(lab_rows, dtype=np.int8)
    lab_value = np.zeros(lab_rows)
    slots = [(offset + i, np.ones(m, bool)) for i in range(len(LIPIDS))]
    slots.append((offset + len(LIPIDS), tsh_n == 1))
    slots += [(offset + len(LIPIDS) + tsh_n + i, liver_n == 1) for i in range(3)]
    for a_ix, ((where, present), values) in enumerate(zip(slots, panel_values, strict=True)):
        lab_analyte[where[present]] = a_ix
        lab_value[where[present]] = np.round(values[panel_order][present],
                                             DECIMALS[ANALYTES[a_ix]])
    lab_panel = np.repeat(panel_order, rows_per_panel)
    lab = pl.DataFrame({
        "cpr": cpr.gather(pp[lab_panel]),
        "sampled_at": pl.Series(ts[lab_panel]).cast(pl.Datetime("us")),
        "analyte": pl.Series(ANALYTES, dtype=ANALYTE_ENUM).gather(lab_analyte),
        "value": lab_value,
    })
    del lab_panel, lab_analyte, lab_value
    panels = pl.DataFrame({
        "cpr": cpr.gather(pp[panel_order]),
        "sampled_at": pl.Series(ts[panel_order]).cast(pl.Datetime("us")),
        "ldl_untreated": ldl_true[panel_order], "reduction": red[panel_order],
        "reduction_nominal": red_nominal[panel_order],
        "ldl_raising_rise": drug_rise[panel_order],
    })

    def dates_or_null(days: np.ndarray) -> pl.Series:
        return pl.select(pl.when(pl.Series(days == big)).then(None).otherwise(
            _days_to_date(np.where(days == big, 0, days)))).to_series()

    def course(mask: np.ndarray, atc: np.ndarray, mg: np.ndarray, s: np.ndarray,
               e: np.ndarray) -> pl.DataFrame:
        ix = np.flatnonzero(mask)
        return pl.DataFrame({
            "cpr": cpr.gather(ix), "atc_code": np.asarray(atc)[ix].astype(str),
            "strength_mg": np.asarray(mg)[ix].astype(np.float64),
            "start_date": _days_to_date(s[ix]), "end_date": dates_or_null(e[ix]),
        })

    courses = [
        course(treated, s1_atc, s1_mg, s1_start, s1_end),
        course(escalate, s1_atc, s2_mg, s2_start, s2_end),
        course(eze, np.full(n, EZETIMIBE_ATC), np.full(n, EZETIMIBE_MG), eze_start, eze_end),
    ]
    if drug is not None:  # written only in worlds with LDL-raising drugs (rate > 0)
        courses.append(course(drug["on"], drug["atc"], drug["mg"], drug["start"], drug["end"]))
    prescriptions = pl.concat(courses).sort("cpr", "start_date", "atc_code")

    # Secondary causes are diagnosed at some point from 3 years before the window.
    cause_lo = np.maximum(_add_years(p.birth, 1.0), start_day - 3 * 365)
    cause_dx = cause_lo <= last_day
    cause_day = _uniform_day(rng, np.minimum(cause_lo, last_day), last_day)

    def dx(mask: np.ndarray, code: np.ndarray | str, day: np.ndarray) -> pl.DataFrame:
        ix = np.flatnonzero(mask)
        codes = np.broadcast_to(np.asarray(code), (n,))[ix].astype(str)
        return pl.DataFrame({"cpr": cpr.gather(ix), "icd10": codes,
                             "diagnosed_at": _days_to_date(day[ix])})

    diagnoses = pl.concat([
        dx(has_chd, chd_code, chd_day), dx(known, KNOWN_FH_CODE, known_day_i),
        dx(hypothyroid & cause_dx, HYPOTHYROID_CODE, cause_day),
        dx(nephrotic & cause_dx, NEPHROTIC_CODE, cause_day),
        dx(cholestatic & cause_dx, CHOLESTASIS_CODE, cause_day),
    ]).sort("cpr", "diagnosed_at", "icd10")

    tix = np.flatnonzero(tested)
    genetic_tests = pl.DataFrame({
        "cpr": cpr.gather(tix), "tested_at": _days_to_date(test_day_i[tix]),
        "result": np.where(carrier[tix], "positive", "negative"),
    }).sort("cpr", "tested_at")
    family_id = pl.select(pl.concat_str([
        pl.lit(f"{region_prefix(region)}-F"),
        pl.Series(p.family).cast(pl.String).str.zfill(6)])).to_series()
    truth = pl.DataFrame({
        "cpr": cpr, "region": np.full(n, region), "family_id": family_id,
        "fh_carrier": carrier, "polygenic_z": np.round(poly_z, 4),
        "hypothyroid": hypothyroid, "nephrotic": nephrotic, "cholestatic": cholestatic,
        "is_founder": p.founder, "generation": p.generation,
        "fh_alleles": ((allele_m > 0).astype(np.int8) + (allele_p > 0).astype(np.int8)),
        "ldl_untreated_midlife": np.round(ldl_ref, 2),
        # What the world did to each person (WORLD_TRUTH_COLUMNS, docs/worlds.md).
        "polygenic_shift": np.round(poly_shift, 3), "polygenic_high": polygenic_high,
        "statin_response": pl.Series(np.round(response, 4)).set(
            pl.Series(~treated), None),
        "adherence": pl.Series(np.round(adherence, 4)).set(pl.Series(~treated), None),
        "partial_adherent": partial & treated,
        "ldl_raising_atc": (pl.Series(drug["atc"], dtype=pl.String).set(
            pl.Series(~drug["on"]), None) if drug is not None
            else pl.Series([None] * n, dtype=pl.String)),
        "ldl_raising_rise": (np.round(drug["rise"], 3) if drug is not None else np.zeros(n)),
        "n_panels": np.bincount(pp, minlength=n).astype(np.int32),
        "n_panels_off_treatment": np.bincount(pp[red_nominal == 0],
                                              minlength=n).astype(np.int32),
    })[by_cpr]
    return Population(region=region, seed=seed, start=start, end=end,
                      carrier_rate=carrier_rate, patients=patients, practices=practices,
                      lab_results=lab, prescriptions=prescriptions, diagnoses=diagnoses,
                      relations=_relations_frame(p, cpr, _family_links(w, seed, rkey, p)),
                      genetic_tests=genetic_tests,
                      truth=truth, panels=panels, world=world)


def _ldl_raising_drugs(w: WorldParams, seed: int, rkey: int, birth: np.ndarray,
                       start_day: int, last_day: np.ndarray, death: np.ndarray,
                       deceased: np.ndarray) -> dict[str, np.ndarray] | None:
    """Who takes an LDL-raising drug (worlds.LDL_RAISING_DRUGS), when, and by how much.

    One course per person at most, started from two years before the lab window; a course
    that runs past the end of follow-up is open (no end date), or ends at death. None when
    the world has no such drugs, so the default world draws nothing and writes no rows.
    """
    if w.ldl_raising_drug_rate <= 0:
        return None
    n = len(birth)
    big = np.iinfo(np.int64).max
    g = world_rng(seed, rkey, "ldl_raising_drugs")
    lo = np.maximum(_add_years(birth, 18.0),
                    start_day - int(LDL_RAISING_EARLIEST_YEARS * DAYS_PER_YEAR))
    hi = last_day - 30
    on = (g.random(n) < w.ldl_raising_drug_rate) & (lo <= hi)
    kind = _choose(g, tuple((d[0], d[2]) for d in LDL_RAISING_DRUGS), n)
    start = _uniform_day(g, np.minimum(lo, hi), hi)
    median = np.array([d[4] for d in LDL_RAISING_DRUGS])[kind]
    length = g.lognormal(np.log(median), LDL_RAISING_COURSE_SIGMA)
    stop = _add_years(start, length)
    end = np.where(stop < last_day, stop, np.where(deceased, death, big))
    rise = (w.ldl_raising_drug_rise * np.array([d[3] for d in LDL_RAISING_DRUGS])[kind]
            * g.lognormal(0.0, LDL_RAISING_RISE_SIGMA, n))
    return {"on": on, "atc": np.array([d[0] for d in LDL_RAISING_DRUGS])[kind],
            "mg": np.array([d[1] for d in LDL_RAISING_DRUGS])[kind],
            "start": np.where(on, start, big), "end": np.where(on, end, big),
            "rise": np.where(on, rise, 0.0)}


def world_summary(pop: Population) -> dict[str, Any]:
    """What a world looks like, measured on one population (docs/worlds.md's table).

    Adults are people alive and at least 18 at the end of the extract. "Untreated LDL" is
    the true untreated mid-life level (truth `ldl_untreated_midlife`), which no extract
    shows. The nominal-correction error is what dividing an on-treatment LDL by the NICE
    reduction gets wrong when response and adherence vary (issue 19).
    """
    t = pop.truth.join(pop.patients.select("cpr", "birth_date", "deceased_date"), on="cpr")
    adult = ((pl.lit(pop.end) - pl.col("birth_date")).dt.total_days() / DAYS_PER_YEAR >= 18) \
        & pl.col("deceased_date").is_null()
    known = pop.diagnoses.filter(pl.col("icd10") == KNOWN_FH_CODE).select("cpr").unique()
    lipid_rx = pop.prescriptions.filter(pl.col("atc_code").str.starts_with("C10"))
    t = t.with_columns(
        adult.alias("adult"),
        pl.col("cpr").is_in(known["cpr"].implode()).alias("known_fh"),
        pl.col("cpr").is_in(lipid_rx["cpr"].unique().implode()).alias("treated"),
        pl.col("cpr").is_in(pop.genetic_tests["cpr"].unique().implode()).alias("tested"))
    adults = t.filter(pl.col("adult"))
    high = adults.filter(pl.col("ldl_untreated_midlife") >= 6.5)
    treated = adults.filter(pl.col("treated"))
    carriers = t.filter(pl.col("fh_carrier"))
    hidden = adults.filter(pl.col("fh_carrier") & ~pl.col("known_fh"))
    hidden_sampled = hidden.filter(pl.col("n_panels") > 0)
    sampled = adults.filter(pl.col("n_panels") > 0)
    ldl = pop.lab_results.filter(pl.col("analyte") == "ldl").select("cpr", "sampled_at",
                                                                     "value")
    on = pop.panels.filter(pl.col("reduction_nominal") > 0).join(
        ldl, on=["cpr", "sampled_at"])
    estimate_error = on.select((pl.col("value") / (1 - pl.col("reduction_nominal"))
                                - pl.col("ldl_untreated")).mean()).item()

    def share(part: pl.DataFrame | int, whole: pl.DataFrame | int) -> float | None:
        a = part if isinstance(part, int) else part.height
        b = whole if isinstance(whole, int) else whole.height
        return round(a / b, 4) if b else None

    return {
        "adults": adults.height,
        "adults_untreated_ldl_ge_6_5_per_100k": round(1e5 * high.height
                                                      / max(adults.height, 1), 1),
        "non_carrier_share_of_untreated_ldl_ge_6_5": share(
            high.filter(~pl.col("fh_carrier")), high),
        "polygenic_high_share_of_non_carriers_ge_6_5": share(
            high.filter(~pl.col("fh_carrier") & pl.col("polygenic_high")),
            high.filter(~pl.col("fh_carrier"))),
        "carriers_known_e78_0": share(carriers.filter(pl.col("known_fh")), carriers),
        "adults_treated": share(treated, adults),
        "treated_partially_adherent": share(treated.filter(pl.col("partial_adherent")),
                                            treated),
        "undiagnosed_adult_carriers": hidden.height,
        "undiagnosed_adult_carriers_treated": share(hidden.filter(pl.col("treated")),
                                                    hidden),
        "undiagnosed_adult_carriers_without_panel": share(
            hidden.filter(pl.col("n_panels") == 0), hidden),
        "undiagnosed_sampled_carriers_only_on_treatment": share(
            hidden_sampled.filter(pl.col("n_panels_off_treatment") == 0), hidden_sampled),
        "sampled_adults_with_one_panel": share(sampled.filter(pl.col("n_panels") == 1),
                                               sampled),
        "panels_per_adult": round(adults["n_panels"].sum() / max(adults.height, 1), 3),
        "on_treatment_panels_below_half_nominal": share(
            on.filter(pl.col("reduction") < 0.5 * pl.col("reduction_nominal")), on),
        "nominal_estimate_error_mmol_l": (None if estimate_error is None
                                          else round(estimate_error, 3)),
        "adults_genetic_tested": share(adults.filter(pl.col("tested")), adults),
        "adults_on_ldl_raising_drug": share(
            adults.filter(pl.col("ldl_raising_atc").is_not_null()), adults),
    }


def _practices_frame(rng: np.random.Generator, region: str) -> pl.DataFrame:
    """~15 GP practices, each referring to one of the region's lipid clinics."""
    pfx = region_prefix(region)
    combos = [f"{a} {b}" for a in PRACTICE_PREFIXES for b in PRACTICE_PLACES]
    names = [combos[i] for i in rng.permutation(len(combos))[:PRACTICES_PER_REGION]]
    clinics = [f"{pfx}-LK{1 + i % LIPID_CLINICS_PER_REGION}"
               for i in rng.permutation(PRACTICES_PER_REGION)]
    return pl.DataFrame({
        "gp_practice_id": [f"{pfx}{i + 1:04d}" for i in range(PRACTICES_PER_REGION)],
        "practice_name": names, "lipid_clinic_id": clinics,
    })


def _assign_practices(rng: np.random.Generator, p: _People, age_last: np.ndarray) -> np.ndarray:
    """Families share a practice; some adult children move; partners and children follow."""
    n = len(p.birth)
    weights = rng.dirichlet(np.full(PRACTICES_PER_REGION, PRACTICE_SIZE_CONCENTRATION))
    own = rng.choice(PRACTICES_PER_REGION, size=n, p=weights)
    moves = rng.random(n) < ADULT_CHILD_MOVES
    practice = np.full(n, -1, dtype=np.int64)
    first_of_family = np.r_[True, p.family[1:] != p.family[:-1]]
    family_head = np.maximum.accumulate(np.where(first_of_family, np.arange(n), 0))
    couple = p.generation == 0
    practice[couple] = own[family_head[couple]]
    kids = np.flatnonzero((p.generation == 1) & ~p.founder)
    practice[kids] = np.where((age_last[kids] >= 18) & moves[kids], own[kids],
                              practice[p.mother[kids]])
    # A partner comes right after the child they partner (family order), and follows them.
    partners = np.flatnonzero((p.generation == 1) & p.founder)
    practice[partners] = practice[partners - 1]
    grandkids = np.flatnonzero(p.generation == 2)
    practice[grandkids] = practice[p.mother[grandkids]]
    if (practice < 0).any():
        raise AssertionError("a person without a practice")
    return practice


def _family_links(w: WorldParams, seed: int, rkey: int, p: _People
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Which parent links the world's register holds (None: all, as in the default world,
    drawing nothing). People born before `parent_links_born_from` have none; of the others,
    each parent link is kept with probability `parent_link_share`."""
    if w.parent_links_born_from <= 1900.0 and w.parent_link_share >= 1.0:
        return None
    g = world_rng(seed, rkey, "family_links")
    born_from = _day(date(int(w.parent_links_born_from), 1, 1))
    recent = p.birth >= born_from
    n = len(p.birth)
    return (recent & (g.random(n) < w.parent_link_share),
            recent & (g.random(n) < w.parent_link_share))


def _relations_frame(p: _People, cpr: pl.Series,
                    links: tuple[np.ndarray, np.ndarray] | None = None) -> pl.DataFrame:
    """Parent/child and full-sibling links, each in both directions. `links`: per person,
    whether their mother and their father link is in the extract (None: all are);
    siblings are linked through a shared, linked mother, as the register derives them."""
    kid = np.flatnonzero(p.mother >= 0)
    keep_m, keep_f = links if links is not None else (np.ones(len(p.mother), bool),) * 2
    frames = []
    for parent, word, keep in ((p.mother, "mother", keep_m), (p.father, "father", keep_f)):
        linked = kid[keep[kid]]
        frames.append(pl.DataFrame({"a": linked, "b": parent[linked], "relation": word}))
        frames.append(pl.DataFrame({"a": parent[linked], "b": linked, "relation": "child"}))
    kid = kid[keep_m[kid]]
    kids = pl.DataFrame({"a": kid, "mother": p.mother[kid]})
    sib = kids.join(kids.rename({"a": "b"}), on="mother").filter(pl.col("a") != pl.col("b"))
    frames.append(sib.select("a", "b", pl.lit("sibling").alias("relation")))
    rel = pl.concat(frames)
    return pl.DataFrame({
        "cpr": cpr.gather(rel["a"].to_numpy()),
        "relative_cpr": cpr.gather(rel["b"].to_numpy()),
        "relation": rel["relation"],
    }).sort("cpr", "relation", "relative_cpr")


# =======================================================================================
# Writing a region's dialect
# =======================================================================================
def _language(dialect: RegionDialect) -> str:
    """'en' when the region's relation words are English, else 'da'."""
    return "en" if "mother" in dialect.values.get("relation", {"mother": ""}) else "da"


def _to_source_vocab(rng: np.random.Generator, values: pl.Series, dialect: RegionDialect,
                     kind: str, first_share: float = 0.8) -> pl.Series:
    """Canonical values in the region's vocabulary ([values.<kind>] read backwards).

    Where the region has several codes for one value (pathogenic and likely_pathogenic
    for positive) the first gets `first_share` of the rows, the others the rest.
    """
    inverse: dict[str, list[str]] = {}
    for source, canonical in dialect.values.get(kind, {}).items():
        inverse.setdefault(canonical, []).append(source)
    if not inverse:
        return values
    unmapped = set(values.unique().to_list()) - set(inverse)
    if unmapped:
        raise ValueError(f"{dialect.name}: no [values.{kind}] code for {sorted(unmapped)}")
    u = rng.random(values.len())
    choice = np.zeros(values.len(), dtype=np.int64)
    arr = values.to_numpy()
    for canonical, sources in inverse.items():
        if len(sources) > 1:
            rows = arr == canonical
            rest = (1 - first_share) / (len(sources) - 1)
            pick = np.where(u < first_share, 0, 1 + ((u - first_share) // rest).astype(int))
            choice[rows] = np.minimum(pick, len(sources) - 1)[rows]
    keys = {f"{c}\x00{i}": s for c, sources in inverse.items() for i, s in enumerate(sources)}
    key = pl.select(pl.concat_str([values, pl.lit("\x00"),
                                   pl.Series(choice).cast(pl.String)])).to_series()
    return key.replace_strict(keys, return_dtype=pl.String).alias(values.name)


def _icd10_style(codes: pl.Series, style: str) -> pl.Series:
    """Dotted ICD-10 ('E78.0') in the region's style ('DE780' for LPR)."""
    if style == "lpr":
        return pl.select(pl.lit("D") + codes.str.replace(".", "", literal=True)).to_series()\
            .alias(codes.name)
    if style == "dotted":
        return codes
    raise ValueError(f"unknown icd10_style {style!r}")


def lab_profile(dialect: RegionDialect) -> LabProfile:
    """The region's reporting habits, checked against its dialect's [lab_codes].

    A region without a profile reports every analyte under the first code its dialect
    lists for it, in the canonical unit: adding a region stays configuration.
    """
    profile = LAB_PROFILES.get(dialect.name)
    if profile is None:
        first: dict[str, tuple[tuple[str, float], ...]] = {}
        for code, analyte in dialect.lab_codes.items():
            first.setdefault(analyte, ((code, 1.0),))
        profile = LabProfile(codes=first)
    used = [(c, a) for a, opts in profile.codes.items() for c, _ in opts]
    used += [(c, a) for a, c in profile.fasting_codes.items()]
    used += [(c, a) for a, c in profile.mass_codes.items()]
    for code, analyte in used:
        if dialect.lab_codes.get(code) != analyte:
            raise ValueError(f"{dialect.name}: lab profile code {code} is not an {analyte} "
                             "code in the dialect's [lab_codes]")
    missing = set(ANALYTES) - set(profile.codes)
    if missing:
        raise ValueError(f"{dialect.name}: no lab code for {sorted(missing)}")
    if profile.reference_limits and set(profile.reference_limits) != set(ANALYTES):
        raise ValueError(f"{dialect.name}: reference_limits needs every analyte, not "
                         f"{sorted(profile.reference_limits)}")
    return profile


def _lab_source_rows(rng: np.random.Generator, pop: Population, dialect: RegionDialect,
                     units: dict[str, UnitRule]) -> tuple[pl.DataFrame, int]:
    """Lab rows as the region reports them: code, unit and value in that unit.

    Code and unit are chosen per panel (one lab, one habit per sample). Returns the rows
    (canonical column names plus helper columns `_decimals`, `_text`) and the number of
    panels without a reported LDL (the pipeline computes those by Friedewald).
    """
    profile = lab_profile(dialect)
    lab = pop.lab_results
    n = lab.height
    panel = lab.select(((pl.col("cpr") != pl.col("cpr").shift(1))
                        | (pl.col("sampled_at") != pl.col("sampled_at").shift(1)))
                       .fill_null(True).cum_sum() - 1).to_series().to_numpy()
    n_panels = int(panel.max()) + 1 if n else 0
    mass = (rng.random(n_panels) < profile.mass_share)[panel]
    fasting = (rng.random(n_panels) < profile.fasting_share)[panel]
    ldl_missing = (rng.random(n_panels) < profile.ldl_missing_share)[panel]
    if pop.world.ldl_missing_extra > 0:  # patchy testing: LDL left out more often
        extra = world_rng(pop.seed, region_key(dialect.name), "ldl_missing").random(n_panels)
        ldl_missing = ldl_missing | (extra < pop.world.ldl_missing_extra)[panel]
    u_panel = rng.random(n_panels)
    analyte = lab["analyte"].to_physical().to_numpy()
    value = lab["value"].to_numpy().astype(np.float64)  # a copy: mass units change it
    code_names = sorted({c for opts in profile.codes.values() for c, _ in opts}
                        | set(profile.fasting_codes.values()) | set(profile.mass_codes.values()))
    code_ix = {c: i for i, c in enumerate(code_names)}
    unit_names = sorted({units[a].unit for a in ANALYTES} | {profile.mass_unit})
    unit_ix = {u: i for i, u in enumerate(unit_names)}
    code = np.zeros(n, dtype=np.int16)
    unit = np.array([unit_ix[units[a].unit] for a in ANALYTES], dtype=np.int16)[analyte]
    decimals = np.array([DECIMALS[a] for a in ANALYTES], dtype=np.int8)[analyte]
    for a_ix, a in enumerate(ANALYTES):
        rows = np.flatnonzero(analyte == a_ix)
        options = profile.codes[a]
        cum = np.cumsum([w for _, w in options]) / sum(w for _, w in options)
        pick = np.minimum(np.searchsorted(cum, u_panel[panel[rows]], side="right"),
                          len(options) - 1)
        code[rows] = np.array([code_ix[c] for c, _ in options])[pick]
        if a in profile.fasting_codes:
            code[rows[fasting[rows]]] = code_ix[profile.fasting_codes[a]]
        if a in profile.mass_codes:
            mrows = rows[mass[rows]]
            code[mrows] = code_ix[profile.mass_codes[a]]
            unit[mrows] = unit_ix[profile.mass_unit]
            value[mrows] = np.round(value[mrows] / units[a].convert[profile.mass_unit])
            decimals[mrows] = 0
    drop = (analyte == ANALYTES.index("ldl")) & ldl_missing
    columns = {
        "cpr": lab["cpr"], "sampled_at": lab["sampled_at"],
        "source_code": pl.Series(code_names).gather(code),
        "source_value": value, "source_unit": pl.Series(unit_names).gather(unit),
        "_decimals": decimals,
    }
    if profile.reference_limits:  # the lab's interval in the canonical unit, per analyte
        for i, name in enumerate(profile.reference_columns):
            limits = np.array([profile.reference_limits[a][i] for a in ANALYTES])
            columns[name] = limits[analyte]
    frame = pl.DataFrame(columns).filter(~pl.Series(drop))  # sorted by CPR, time, analyte
    return frame, int(drop.sum())


def _fresh_cprs(rng: np.random.Generator, k: int) -> list[str]:
    """Valid CPR numbers of people in no region (8th digit UNKNOWN_PERSON_SLOT)."""
    birth = _uniform_day(rng, np.full(k, _day(date(1940, 1, 1))),
                         np.full(k, _day(date(1999, 12, 31))))
    return _cpr_numbers(rng, birth, rng.random(k) < 0.5, UNKNOWN_PERSON_SLOT).to_list()


def _invalid_cprs(valid: list[str]) -> list[str]:
    """CPR numbers broken as they are in practice: impossible dates, a lost digit."""
    out = []
    for i, c in enumerate(valid):
        if i % 3 == 0:
            out.append("3002" + c[4:])  # 30 February
        elif i % 3 == 1:
            out.append("32" + c[2:])  # day 32
        else:
            out.append(c[:-1])  # a digit lost: wrong length
    return out


def _lab_anomalies(rng: np.random.Generator, clean: pl.DataFrame, dialect: RegionDialect,
                   units: dict[str, UnitRule]) -> pl.DataFrame:
    """Bad lab rows, each failing exactly one ingest check (`_kind` says which).

    Each is a copy of a clean row (so person, time and code are otherwise valid) with
    one field broken, as labs and extract jobs break them.
    """
    total = max(len(LAB_ANOMALY_KINDS), round(LAB_ANOMALY_SHARE * clean.height))
    counts = {kind: max(1, int(share * total)) for kind, share in LAB_ANOMALY_KINDS}
    counts["unparseable_value"] += max(0, total - sum(counts.values()))
    if any(UNACCEPTED_UNIT in rule.convert for rule in units.values()):
        raise ValueError(f"{UNACCEPTED_UNIT} is accepted in units.toml: choose another")
    npu = any(c.startswith("NPU") for c in dialect.lab_codes)
    unknown_code = UNKNOWN_LAB_CODES["npu" if npu else "other"]
    if unknown_code in dialect.lab_codes:
        raise ValueError(f"{unknown_code} is a known lab code in {dialect.name}")
    csv = dialect.format == "csv"
    frames = []
    for kind, k in counts.items():
        base = clean[np.sort(rng.choice(clean.height, size=k, replace=False))]
        if kind == "unparseable_value":
            texts = [UNPARSEABLE_TEXTS[i] for i in rng.integers(0, len(UNPARSEABLE_TEXTS), k)]
            # Parquet's value column is a double: an unreadable result arrives as null.
            base = base.with_columns(pl.lit(None, dtype=pl.Float64).alias("source_value"),
                                     pl.Series("_text", texts if csv else [None] * k,
                                               dtype=pl.String))
        elif kind == "unit_not_accepted":
            base = base.with_columns(pl.lit(UNACCEPTED_UNIT).alias("source_unit"))
        elif kind == "unknown_lab_code":
            base = base.with_columns(pl.lit(unknown_code).alias("source_code"))
        elif kind == "invalid_cpr":
            base = base.with_columns(pl.Series("cpr", _invalid_cprs(base["cpr"].to_list())))
        elif kind == "person_not_in_patients":
            base = base.with_columns(pl.Series("cpr", _fresh_cprs(rng, k)))
        elif kind == "sample_date_in_future":
            base = base.with_columns(
                pl.col("sampled_at").dt.offset_by(f"{FUTURE_SAMPLE_SHIFT_YEARS}y"))
        else:  # pragma: no cover - a kind without a recipe
            raise ValueError(kind)
        frames.append(base.with_columns(pl.lit(kind).alias("_kind")))
    return pl.concat(frames, how="diagonal_relaxed")


def _other_anomalies(rng: np.random.Generator, table: str, clean: pl.DataFrame,
                     pop: Population, dialect: RegionDialect) -> pl.DataFrame:
    """A handful of bad rows for a non-lab table (OTHER_ANOMALIES)."""
    kind, k = OTHER_ANOMALIES[table]
    if table == "practices":  # a new practice without its lipid clinic
        base = clean.head(k).with_columns(
            pl.Series("gp_practice_id", [f"{region_prefix(pop.region)}9{i + 1:03d}"
                                         for i in range(k)]),
            pl.lit(None, dtype=pl.String).alias("lipid_clinic_id"))
        return base.with_columns(pl.lit(kind).alias("_kind"))
    base = clean[np.sort(rng.choice(clean.height, size=k, replace=False))]
    if table == "patients":
        base = base.with_columns(pl.Series("cpr", _invalid_cprs(base["cpr"].to_list())))
    elif table == "prescriptions":
        atc = [NON_LIPID_ATC[i % len(NON_LIPID_ATC)] for i in range(k)]
        base = base.with_columns(pl.Series("atc_code", [a for a, _ in atc]),
                                 pl.Series("strength_mg", [mg for _, mg in atc]),
                                 pl.lit(None, dtype=pl.Date).alias("end_date"))
    elif table == "diagnoses":  # the other region's ICD-10 style
        other = "dotted" if dialect.icd10_style == "lpr" else "lpr"
        base = base.with_columns(_icd10_style(
            pl.Series([KNOWN_FH_CODE, CHD_CODES[0], HYPOTHYROID_CODE] * k)[:k], other)
            .alias("icd10"))
    elif table == "relations":
        word = UNKNOWN_RELATIONS[_language(dialect)]
        assert word not in dialect.values.get("relation", {})
        base = base.with_columns(pl.lit(word).alias("relation"))
    elif table == "genetic_tests":
        word = UNKNOWN_GENETIC_RESULTS[_language(dialect)]
        assert word not in dialect.values.get("genetic_result", {})
        base = base.with_columns(pl.lit(word).alias("result"))
    return base.with_columns(pl.lit(kind).alias("_kind"))


def _interleave(rng: np.random.Generator, clean: pl.DataFrame,
                bad: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, list[int]]]:
    """The bad rows at random places among the clean ones (whose order is kept).

    Returns the rows in file order and, per kind, the 1-based data row numbers. Built
    from slices of the clean frame, so a national lab table is not copied or re-sorted.
    """
    total = clean.height + bad.height
    bad_pos = np.sort(rng.choice(total, size=bad.height, replace=False))
    bad = bad[rng.permutation(bad.height)]
    rows: dict[str, list[int]] = {}
    pieces = []
    taken = 0
    for j, (pos, kind) in enumerate(zip(bad_pos.tolist(), bad["_kind"].to_list(),
                                        strict=True)):
        rows.setdefault(kind, []).append(pos + 1)
        before = pos - j  # clean rows in front of this bad row
        pieces.append(clean.slice(taken, before - taken))
        pieces.append(bad.slice(j, 1).drop("_kind"))
        taken = before
    pieces.append(clean.slice(taken, clean.height - taken))
    return pl.concat(pieces, how="diagonal_relaxed"), rows


def _number_text(values: pl.Expr, decimals: pl.Expr, comma: bool) -> pl.Expr:
    """Numbers as a region writes them: whole numbers without decimals."""
    whole = (values.round(0) == values) | (decimals == 0)
    text = (pl.when(whole).then(values.round(0).cast(pl.Int64).cast(pl.String))
            .otherwise(values.cast(pl.String)))
    return text.str.replace(".", ",", literal=True) if comma else text


def _as_text(df: pl.DataFrame, dialect: RegionDialect) -> pl.DataFrame:
    """Every column as the CSV text the region writes (its date, time and number formats).

    Numbers are already rounded to their reporting precision; `_text` (a value that is not
    a number, such as "ikke målt") wins over the number.
    """
    comma = dialect.decimal == ","
    exprs = []
    for name, dtype in df.schema.items():
        if name.startswith("_"):
            continue
        col = pl.col(name)
        if dtype == pl.Date:
            e = col.dt.strftime(dialect.date_format)
        elif isinstance(dtype, pl.Datetime):
            e = col.dt.strftime(dialect.timestamp_format)
        elif dtype.is_numeric():
            decimals = pl.col("_decimals") if "_decimals" in df.columns else pl.lit(2)
            e = _number_text(col.cast(pl.Float64), decimals, comma)
            if "_text" in df.columns and name == "source_value":  # the result, not its limits
                e = pl.coalesce(pl.col("_text"), e)
        else:
            e = col
        exprs.append(e.cast(pl.String).fill_null("").alias(name))
    return df.select(exprs)


def file_name(pattern: str, end: date) -> str:
    """A file name that matches a dialect's glob: 'personer*.csv' -> 'personer_20260630.csv'."""
    name = pattern.replace("*", f"_{end:%Y%m%d}", 1).replace("*", "")
    if any(ch in name for ch in "?[]") or not fnmatch(name, pattern):
        raise ValueError(f"cannot derive a file name from the glob {pattern!r}")
    return name


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_csv(frame: pl.DataFrame, dialect: RegionDialect, columns: dict[str, str],
               path: Path) -> None:
    """The region's CSV (its delimiter, encoding and formats), in chunks of rows so that
    the text copy of a national lab table never has to fit in memory at once."""
    with path.open("wb") as fh:
        for start in range(0, max(frame.height, 1), CSV_CHUNK_ROWS):
            text = _as_text(frame.slice(start, CSV_CHUNK_ROWS), dialect)
            out = text.select([pl.col(c).alias(s) for c, s in columns.items()
                               if c in text.columns])
            data = out.write_csv(separator=dialect.delimiter, quote_style="necessary",
                                 line_terminator="\n", include_header=start == 0)
            fh.write(data.encode(dialect.encoding))


def _source_frames(rng: np.random.Generator, pop: Population, dialect: RegionDialect,
                   units: dict[str, UnitRule]) -> tuple[dict[str, pl.DataFrame], int]:
    """Each table in the region's codes and vocabulary, still with canonical column names."""
    lab, ldl_dropped = _lab_source_rows(rng, pop, dialect, units)
    frames = {
        "practices": pop.practices,
        "patients": pop.patients.with_columns(
            _to_source_vocab(rng, pop.patients["sex"], dialect, "sex")),
        "lab_results": lab,
        "prescriptions": pop.prescriptions,
        "diagnoses": pop.diagnoses.with_columns(
            _icd10_style(pop.diagnoses["icd10"], dialect.icd10_style)),
        "relations": pop.relations.with_columns(
            _to_source_vocab(rng, pop.relations["relation"], dialect, "relation")),
        "genetic_tests": pop.genetic_tests.with_columns(
            _to_source_vocab(rng, pop.genetic_tests["result"], dialect, "genetic_result")),
    }
    return frames, ldl_dropped


def write_region(pop: Population, dialect: RegionDialect, out_dir: Path,
                 anomalies: bool = True) -> dict[str, Any]:
    """Write one region's extract files in its dialect; return the region's manifest.

    File and column names, codes and vocabularies come from the dialect. The manifest
    holds every file's data rows and sha256 and, per anomaly kind, its file, count and
    1-based data row numbers (header excluded), so the quarantine can be checked row by
    row. The anomalies exist only in the files, never in `pop`.
    """
    rng = np.random.default_rng([pop.seed, region_key(dialect.name), 2])
    units = load_units()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, ldl_dropped = _source_frames(rng, pop, dialect, units)
    manifest: dict[str, Any] = {
        "region": dialect.name, "display_name": dialect.display_name,
        "format": dialect.format,
        "encoding": dialect.encoding if dialect.format == "csv" else None,
        "ldl_not_reported_panels": ldl_dropped, "files": {}, "anomalies": [],
    }
    for table, frame in frames.items():
        rows: dict[str, list[int]] = {}
        if anomalies:
            bad = (_lab_anomalies(rng, frame, dialect, units) if table == "lab_results"
                   else _other_anomalies(rng, table, frame, pop, dialect))
            frame, rows = _interleave(rng, frame, bad)
        name = file_name(dialect.files[table], pop.end)
        path = out_dir / name
        columns = dict(dialect.columns.get(table, {}))
        if table == "lab_results":  # columns the export carries that ingest does not read
            columns |= {c: c for c in lab_profile(dialect).reference_columns}
        if dialect.format == "csv":
            _write_csv(frame, dialect, columns, path)
        else:
            out = frame.select([pl.col(c).alias(s) for c, s in columns.items()
                                if c in frame.columns]).rechunk()
            pq.write_table(out.to_arrow(), path, compression="zstd")
            del out
        manifest["files"][name] = {"table": table, "rows": frame.height,
                                   "sha256": _sha256(path)}
        for kind, positions in sorted(rows.items()):
            manifest["anomalies"].append({"table": table, "file": name, "kind": kind,
                                          "count": len(positions), "rows": positions})
    return manifest


def write_samples(out_dir: Path, people_per_region: int = 4000, seed: int = DEFAULT_SEED,
                  regions: tuple[str, ...] | None = None,
                  world: WorldParams = DEFAULT_WORLD) -> dict[str, Any]:
    """The shipped sample data: <out_dir>/<region>/..., truth.csv and manifest.json.

    The manifest lists every file (path relative to out_dir: table, data rows, sha256)
    and, per region, the injected anomalies and a summary of the population. Files are
    byte-identical for the same arguments: rows are sorted, and no file holds a clock.

    In any world but the default, truth.csv also holds WORLD_TRUTH_COLUMNS (what the world
    did to each person), `world.json` holds the world (`worlds.load_world` reads it), and
    the manifest names the world and measures it per region (`world_summary`). The default
    world writes exactly what the generator wrote before worlds existed.
    """
    out_dir = Path(out_dir)
    if regions is None:  # every configured region (config/regions/*.toml)
        from fh_screening.config import list_regions

        regions = tuple(list_regions())
    slots = {r: region_slot(r) for r in regions}
    if len(set(slots.values())) != len(slots):
        raise ValueError(f"regions share a CPR slot (crc32 % 9): {slots}")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "generator": "fh_screening.synth", "seed": seed,
        "people_per_region": people_per_region, "start": DEFAULT_START.isoformat(),
        "end": DEFAULT_END.isoformat(), "carrier_rate": world.carrier_rate,
        "files": {}, "regions": {},
    }
    default = world.is_default
    if not default:
        manifest["world"] = world.to_record()
    truths = []
    for region in regions:
        dialect = load_region(region)
        folder = out_dir / region
        _remove_extract_files(folder, dialect.files.values())
        pop = generate_population(people_per_region, seed, region, world=world)
        written = write_region(pop, dialect, folder)
        for name, meta in written.pop("files").items():
            manifest["files"][f"{region}/{name}"] = meta
        manifest["regions"][region] = {**written, "summary": pop.summary()}
        if not default:
            manifest["regions"][region]["world_summary"] = world_summary(pop)
        truths.append(pop.truth)
    columns = TRUTH_COLUMNS if default else (*TRUTH_COLUMNS, *WORLD_TRUTH_COLUMNS)
    truth = pl.concat(truths).select(*columns).sort("region", "cpr")
    truth_path = out_dir / "truth.csv"
    truth_path.write_bytes(truth.write_csv(line_terminator="\n").encode("utf-8"))
    manifest["files"][truth_path.name] = {"table": "truth", "rows": truth.height,
                                          "sha256": _sha256(truth_path)}
    world_path = out_dir / "world.json"
    if not default:
        save_world(world, world_path)
        manifest["files"][world_path.name] = {"table": "world", "rows": 1,
                                              "sha256": _sha256(world_path)}
    elif world_path.exists():  # left by an earlier run in another world
        world_path.unlink()
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8")
    return manifest


TRUTH_COLUMNS = ("cpr", "region", "family_id", "fh_carrier", "polygenic_z", "hypothyroid")
# Written to truth.csv only in worlds other than the default (docs/worlds.md): the
# untreated truth and what the world's mechanisms did to each person.
WORLD_TRUTH_COLUMNS = ("ldl_untreated_midlife", "polygenic_shift", "polygenic_high",
                       "statin_response", "adherence", "partial_adherent", "ldl_raising_atc",
                       "ldl_raising_rise", "n_panels", "n_panels_off_treatment")


def split_at(pop: Population, cut: date) -> tuple[Population, Population]:
    """The population as extracted on `cut` and the extract of the months after it.

    Why: an incremental (monthly) run must meet a store that already holds the earlier
    extracts, with new files that hold only what happened since. The first part keeps
    every event up to `cut` (courses still running then have no end date yet, deaths after
    it are not known yet); the second holds the later lab results, prescriptions started,
    diagnoses and genetic tests, and, as a patients snapshot, only the people whose record
    changed (they died). Practices and family links do not change between the two.
    """
    if not pop.start < cut < pop.end:
        raise ValueError(f"cut {cut} must lie inside the population's window")
    day = pl.lit(cut)
    after = pl.col("sampled_at").cast(pl.Date) > day
    base = replace(
        pop, end=cut,
        patients=pop.patients.with_columns(
            pl.when(pl.col("deceased_date") > day).then(None)
            .otherwise(pl.col("deceased_date")).alias("deceased_date")),
        lab_results=pop.lab_results.filter(~after),
        prescriptions=pop.prescriptions.filter(pl.col("start_date") <= day).with_columns(
            pl.when(pl.col("end_date") > day).then(None)
            .otherwise(pl.col("end_date")).alias("end_date")),
        diagnoses=pop.diagnoses.filter(pl.col("diagnosed_at") <= day),
        genetic_tests=pop.genetic_tests.filter(pl.col("tested_at") <= day),
        panels=pop.panels.filter(pl.col("sampled_at").cast(pl.Date) <= day))
    month = replace(
        pop, start=cut,
        patients=pop.patients.filter(pl.col("deceased_date") > day),
        practices=pop.practices.head(0),
        lab_results=pop.lab_results.filter(after),
        prescriptions=pop.prescriptions.filter(pl.col("start_date") > day),
        diagnoses=pop.diagnoses.filter(pl.col("diagnosed_at") > day),
        relations=pop.relations.head(0),
        genetic_tests=pop.genetic_tests.filter(pl.col("tested_at") > day),
        panels=pop.panels.filter(pl.col("sampled_at").cast(pl.Date) > day))
    return base, month


def _remove_extract_files(folder: Path, patterns: Iterable[str]) -> None:
    """Old extract files would be ingested beside the new ones: remove them first."""
    if not folder.is_dir():
        return
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_file():
                path.unlink()
