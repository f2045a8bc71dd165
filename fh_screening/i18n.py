"""String catalogues for what patients and GPs read: Danish by default, English on request.

One template per document; its words live in `fh_screening/locales/<lang>.toml`, so a
translation is a new file, not a new template. Lookups of a missing key fail loudly
rather than printing a key name into a letter.

The risk model's reasons are stored as data (feature, value, odds ratio; `model_scores`)
and worded here, at output time, in the reader's language (`model_reason_text`).
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LANGUAGE = "da"


def languages() -> list[str]:
    """The languages a catalogue exists for, sorted."""
    return sorted(p.stem for p in LOCALES_DIR.glob("*.toml"))


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All strings of one language, keyed 'section.key'."""
    if lang not in languages():
        raise ValueError(f"no catalogue for language {lang!r}: choose one of "
                         f"{', '.join(languages())}")
    with (LOCALES_DIR / f"{lang}.toml").open("rb") as fh:
        return _flatten(tomllib.load(fh))


class Translator:
    """`t("gp.title", practice=...)`: the catalogue string with its placeholders filled."""

    def __init__(self, lang: str = DEFAULT_LANGUAGE) -> None:
        self.lang = lang
        self.strings = catalogue(lang)

    def __call__(self, key: str, **values: Any) -> str:
        try:
            text = self.strings[key]
        except KeyError:
            raise KeyError(f"catalogue {self.lang!r} has no string {key!r}") from None
        return text.format(**values) if values else text

    def number(self, value: float | None, digits: int = 1, *, signed: bool = False) -> str:
        """A decimal in the reader's convention (Danish uses a decimal comma); `signed`
        writes a + before positive values."""
        if value is None:
            return "-"
        text = f"{value:{'+' if signed else ''}.{digits}f}"
        return text.replace(".", ",") if self.lang == "da" else text


# ---------------------------------------------------------------------------------------
# The risk model's reasons in words
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Shown:
    """How a feature's value appears in its reason: `digits` after the decimal mark, after
    multiplying by `scale`, with a + sign when `signed`."""

    digits: int = 1
    scale: float = 1.0
    signed: bool = False


# Yes/no features: the catalogue has `feature.<name>_yes` and `feature.<name>_no`; every
# other feature has `feature.<name>` with a `{value}` placeholder, shown as given here.
FLAG = None
FEATURE_VALUES: dict[str, Shown | None] = {
    "age_at_index": Shown(0),
    "male": FLAG,
    "index_untreated_ldl": Shown(1),
    "untreated_ldl_low": Shown(1),
    "untreated_ldl_se": Shown(2),
    "off_treatment_samples": Shown(0),
    "on_treatment_samples": Shown(0),
    "max_off_treatment_ldl": Shown(1),
    "max_measured_ldl": Shown(1),
    "observed_reduction": Shown(0, scale=100),
    "ldl_slope_per_year": Shown(2, signed=True),
    "ldl_history_years": Shown(0),
    "ldl_samples": Shown(0),
    "max_untreated_tc": Shown(1),
    "median_hdl": Shown(1),
    "median_triglycerides": Shown(1),
    "treated_at_index": FLAG,
    "ever_treated": FLAG,
    "max_treatment_reduction": Shown(0, scale=100),
    "set_aside_samples": Shown(0),
    "high_tsh": FLAG,
    "low_albumin": FLAG,
    "cholestasis": FLAG,
    "very_high_triglycerides": FLAG,
    "ldl_raising_drug": FLAG,
    "premature_chd": FLAG,
    "premature_other_vascular": FLAG,
    "first_degree_relatives": Shown(0),
    "fdr_premature_chd": FLAG,
    "fdr_ldl_above_p95": FLAG,
    "child_ldl_above_p95": FLAG,
    "fdr_known_fh": FLAG,
    "sdr_known_fh": FLAG,
    "fdr_max_untreated_ldl": Shown(1),
    "fdr_with_ldl": Shown(0),
}

# Above this the odds ratio is shown as "more than 50-fold": one feature reset at a time
# at the far end of the model's range is not precise enough for a bigger number to mean
# anything to the reader (docs/model.md).
ODDS_FOLD_SHOWN_UP_TO = 50


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def odds_text(odds_ratio: float, t: Translator) -> str:
    """An odds ratio in words a clinician reads at a glance: "by about 30 %" below 2,
    "about 2.5-fold" (halves) below 10, "about 17-fold" up to 50, then "more than 50-fold"."""
    if odds_ratio < 1.95:
        return t("model.odds_percent", percent=_half_up((odds_ratio - 1) * 10) * 10)
    if odds_ratio < 9.75:
        fold = _half_up(odds_ratio * 2) / 2
        return t("model.odds_fold", fold=t.number(fold, 0 if fold.is_integer() else 1))
    fold = _half_up(odds_ratio)
    if fold > ODDS_FOLD_SHOWN_UP_TO:
        return t("model.odds_above", fold=ODDS_FOLD_SHOWN_UP_TO)
    return t("model.odds_fold", fold=fold)


def feature_text(feature: str, value: float, t: Translator) -> str:
    """A feature's value in plain words, e.g. "untreated LDL averages 7.6 mmol/L"."""
    if feature not in FEATURE_VALUES:
        raise KeyError(f"no wording for model feature {feature!r}")
    shown = FEATURE_VALUES[feature]
    if shown is FLAG:
        return t(f"feature.{feature}_{'yes' if value else 'no'}")
    return t(f"feature.{feature}",
             value=t.number(value * shown.scale, shown.digits, signed=shown.signed))


def model_reason_text(reason: Mapping[str, Any], t: Translator) -> str:
    """One stored model reason ({feature, value, odds_ratio}) as a sentence, e.g.
    "untreated LDL averages 7.6 mmol/L (raises the odds more than 50-fold)"."""
    return t("model.reason", feature=feature_text(reason["feature"], reason["value"], t),
             odds=odds_text(reason["odds_ratio"], t))


# Below this a probability is shown as "< 1 %", never as "0 %": a listed patient's
# probability is small, not nil, and a "0 %" beside "consider referral" reads as a
# contradiction.
PROBABILITY_FLOOR_SHOWN = 0.01


def percent_text(p: float, t: Translator) -> str:
    if p < PROBABILITY_FLOOR_SHOWN:
        return t("model.percent_below", floor=t.number(100 * PROBABILITY_FLOOR_SHOWN, 0))
    return t("model.percent", value=t.number(100 * p, 0))


def probability_text(p: float | None, low: float | None, high: float | None,
                     t: Translator) -> str:
    """A probability with the spread of the model's members, e.g. "23 % (15 % to 31 %)"."""
    if p is None:
        return ""
    if low is None or high is None:
        return percent_text(p, t)
    return t("model.probability_range", value=percent_text(p, t),
             low=percent_text(low, t), high=percent_text(high, t))

