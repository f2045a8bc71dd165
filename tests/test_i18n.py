"""String catalogues: every language has every string with the same placeholders."""

from __future__ import annotations

import string

import pytest

from fh_screening.i18n import Translator, catalogue, languages


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
