"""String catalogues for what patients and GPs read: Danish by default, English on request.

One template per document; its words live in `fh_screening/locales/<lang>.toml`, so a
translation is a new file, not a new template. Lookups of a missing key fail loudly
rather than printing a key name into a letter.
"""

from __future__ import annotations

import tomllib
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

    def number(self, value: float | None, digits: int = 1) -> str:
        """A decimal in the reader's convention (Danish uses a decimal comma)."""
        if value is None:
            return "-"
        text = f"{value:.{digits}f}"
        return text.replace(".", ",") if self.lang == "da" else text
