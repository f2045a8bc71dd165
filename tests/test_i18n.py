"""String catalogues: every language has every string with the same placeholders."""

from __future__ import annotations

import string

import pytest

from fh_screening.i18n import (
    FEATURE_VALUES,
    Translator,
    catalogue,
    feature_text,
    languages,
    model_reason_text,
    odds_text,
    probability_text,
)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_danish_and_english_have_the_same_strings_and_placeholders():
    assert languages() == ["da", "en"]
    da, en = catalogue("da"), catalogue("en")
    assert set(da) == set(en)
    for key in da:
        assert placeholders(da[key]) == placeholders(en[key]), key
        assert da[key].strip(), key


def test_translator_fills_placeholders_and_fails_loudly():
    t = Translator("en")
    assert t("gp.age_sex", age=42, sex="woman") == "42 years, woman"
    assert Translator("da")("gp.age_sex", age=42, sex="kvinde") == "42 år, kvinde"
    with pytest.raises(KeyError, match="catalogue 'en' has no string 'gp.nope'"):
        t("gp.nope")
    with pytest.raises(ValueError, match="no catalogue for language 'fr'"):
        Translator("fr")


def test_numbers_follow_the_readers_convention():
    assert Translator("da").number(5.55, 1) in ("5,5", "5,6")
    assert Translator("da").number(8.73) == "8,7"
    assert Translator("en").number(8.73) == "8.7"
    assert Translator("en").number(None) == "-"


# A worked example of the risk model's reasons as stored in model_scores (feature, value,
# odds ratio) and as each language words them.
MODEL_REASONS = [
    {"feature": "index_untreated_ldl", "value": 7.64, "odds_ratio": 77.1},
    {"feature": "max_off_treatment_ldl", "value": 7.2, "odds_ratio": 4.0},
    {"feature": "fdr_known_fh", "value": 1.0, "odds_ratio": 2.5},
    {"feature": "ldl_slope_per_year", "value": 0.153, "odds_ratio": 1.34},
    {"feature": "max_treatment_reduction", "value": 0.37, "odds_ratio": 17.4},
    {"feature": "male", "value": 0.0, "odds_ratio": 1.1},
]


def test_model_reasons_in_english():
    t = Translator("en")
    assert [model_reason_text(r, t) for r in MODEL_REASONS] == [
        "untreated LDL estimated at 7.6 mmol/L (raises the odds more than 50-fold)",
        "highest LDL measured off treatment 7.2 mmol/L (raises the odds about 4-fold)",
        "a first-degree relative diagnosed with FH (raises the odds about 2.5-fold)",
        "LDL changing +0.15 mmol/L per year (raises the odds by about 30 %)",
        "treatment strong enough to lower LDL 37 % (raises the odds about 17-fold)",
        "female (raises the odds by about 10 %)",
    ]
    assert t("reason.model", reason=model_reason_text(MODEL_REASONS[0], t)) == (
        "risk model: untreated LDL estimated at 7.6 mmol/L (raises the odds more than "
        "50-fold)")


def test_model_reasons_in_danish_with_a_decimal_comma():
    t = Translator("da")
    assert [model_reason_text(r, t) for r in MODEL_REASONS] == [
        "ubehandlet LDL skønnet til 7,6 mmol/L (mere end 50 gange højere odds)",
        "højeste LDL målt uden behandling 7,2 mmol/L (ca. 4 gange højere odds)",
        "en førstegradsslægtning med diagnosen FH (ca. 2,5 gange højere odds)",
        "LDL ændrer sig +0,15 mmol/L pr. år (ca. 30 % højere odds)",
        "behandling, der er stærk nok til at sænke LDL 37 % (ca. 17 gange højere odds)",
        "kvinde (ca. 10 % højere odds)",
    ]
    assert t("reason.model", reason=model_reason_text(MODEL_REASONS[0], t)) == (
        "risikomodel: ubehandlet LDL skønnet til 7,6 mmol/L (mere end 50 gange højere odds)")


@pytest.mark.parametrize(("odds_ratio", "en", "da"), [
    (1.1, "by about 10 %", "ca. 10 % højere"),
    (1.94, "by about 90 %", "ca. 90 % højere"),
    (1.95, "about 2-fold", "ca. 2 gange"),
    (3.3, "about 3.5-fold", "ca. 3,5 gange"),
    (9.8, "about 10-fold", "ca. 10 gange"),
    (50.4, "about 50-fold", "ca. 50 gange"),
    (50.6, "more than 50-fold", "mere end 50 gange"),
    (1e6, "more than 50-fold", "mere end 50 gange"),
])
def test_odds_ratios_read_as_rounded_folds_capped_at_50(odds_ratio, en, da):
    assert en in odds_text(odds_ratio, Translator("en"))
    assert da in odds_text(odds_ratio, Translator("da"))


def test_every_model_feature_has_words_in_every_language():
    """The shipped model's features, yes and no for flags: a reason can always be worded."""
    from fh_screening.model import MODELS_DIR, load_model

    features = load_model(MODELS_DIR).features
    assert set(features) == set(FEATURE_VALUES)
    for lang in languages():
        t = Translator(lang)
        for feature in features:
            for value in (0.0, 1.0):
                assert model_reason_text(
                    {"feature": feature, "value": value, "odds_ratio": 2.0}, t).strip()
    with pytest.raises(KeyError, match="no wording for model feature 'nope'"):
        feature_text("nope", 1.0, Translator("en"))


@pytest.mark.parametrize(("p", "low", "high", "en", "da"), [
    (0.23, 0.151, 0.31, "23 % (15 % to 31 %)", "23 % (15 % til 31 %)"),
    (0.004, 0.001, 0.012, "< 1 % (< 1 % to 1 %)", "< 1 % (< 1 % til 1 %)"),
    (0.0, None, None, "< 1 %", "< 1 %"),  # never "0 %" beside "consider referral"
])
def test_probability_with_its_range_never_shows_zero(p, low, high, en, da):
    assert probability_text(p, low, high, Translator("en")) == en
    assert probability_text(p, low, high, Translator("da")) == da

