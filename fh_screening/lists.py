"""What the clinicians' lists have in common: their language, the return columns a clinic
fills in, and the clinic's name, address and phone (issue 21).

Lists follow the run's `--language` (Danish by default): column titles come from the
catalogue's `[col]` section, coded values (priority, status, yes/no, sex) from `[value]`;
the store keeps the codes. A returned workbook is read back by the same titles and
choices, in any catalogue language (fh_screening/returns.py), so a clinic may return a
Danish or an English sheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from fh_screening.config import load_clinics
from fh_screening.i18n import Translator, catalogue, languages

# The columns a clinic fills in, with their choices (codes; the words per language are
# `returns.<field>_<code>`). `None`: not a drop-down (a number or a date).
RETURN_FIELDS: dict[str, tuple[str, ...] | None] = {
    "contact": ("seen", "declined", "not_reached"),
    "diagnosis": ("fh_confirmed", "not_fh", "secondary_cause"),
    "dlcn": None,
    "genetic_test": ("positive", "negative", "uncertain", "not_done"),
    "treatment": ("yes", "no"),
    "consent": ("yes", "letter_only", "no"),
    "date": None,
}
# Highest DLCN score possible: the group maxima added up (LDL 8, DNA 8, examination 6,
# own history 2, family history 2; EAS 2013, docs/criteria.md).
DLCN_MAX = 26
EARLIEST_OUTCOME = date(2000, 1, 1)
LATEST_OUTCOME = date(2100, 12, 31)

# Which return columns each kind of row carries.
REFERRAL_RETURNS = ("contact", "diagnosis", "dlcn", "genetic_test", "treatment", "consent",
                    "date")
RELATIVE_RETURNS = ("contact", "diagnosis", "dlcn", "genetic_test", "treatment", "date")
FAMILY_RETURNS = ("consent", "date")

VALUE_COLUMNS = {"priority": "priority", "status": "status"}
# More coded values the SQL returns and the lists word (catalogue key prefix; codes with
# spaces or a slash become the key's underscore form, or the mapping's key)
CODED_COLUMNS: dict[str, tuple[str, dict[str, str]]] = {
    "ldl_evidence": ("value.evidence_", {"off treatment": "off",
                                         "on treatment only": "on_only",
                                         "off and on treatment": "both"}),
    "index_ldl_method": ("value.method_", {}),
    "dlcn_category": ("reason.dlcn_", {}),
    "relation": ("value.relation_", {}),
}
# Columns holding ', '-separated codes (rule sets, genetic test results)
CODE_LIST_COLUMNS = {"flagged_by": "value.rule_", "genetic_test": "value.test_"}


def _code_key(prefix: str, code: str, special: dict[str, str]) -> str:
    return prefix + special.get(code, code.replace("/", "_").replace(" ", "_").replace("-", "_"))
BOOLEAN_COLUMNS = ("already_diagnosed", "already_referred")


def return_column(field: str) -> str:
    return f"ret_{field}"


def choice_text(field: str, code: str, t: Translator) -> str:
    return t(f"returns.{field}_{code}")


def with_return_columns(frame: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    """Empty return columns at the end, for the clinic to fill in."""
    return frame.with_columns(pl.lit(None, dtype=pl.String).alias(return_column(f))
                              for f in fields)


def validations(t: Translator, fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """xlsxwriter data validations per (translated) column title."""
    out: dict[str, dict[str, Any]] = {}
    for field in fields:
        title = t(f"col.{return_column(field)}")
        choices = RETURN_FIELDS[field]
        if choices is not None:
            out[title] = {"validate": "list",
                          "source": [choice_text(field, c, t) for c in choices]}
        elif field == "dlcn":
            out[title] = {"validate": "integer", "criteria": "between", "minimum": 0,
                          "maximum": DLCN_MAX}
        else:
            out[title] = {"validate": "date", "criteria": "between",
                          "minimum": EARLIEST_OUTCOME, "maximum": LATEST_OUTCOME}
    return out


def localise(frame: pl.DataFrame, t: Translator) -> pl.DataFrame:
    """Coded values in words and columns under their titles, in the reader's language."""
    out = localise_values(frame, t)
    return out.rename({c: t(f"col.{c}") for c in out.columns})


def localise_values(frame: pl.DataFrame, t: Translator) -> pl.DataFrame:
    """Coded values (priority, status, sex, degree, yes/no) in the reader's words."""
    out = frame
    for column, prefix in VALUE_COLUMNS.items():
        if column in out.columns and out.schema[column] == pl.String:
            codes = [c for c in out[column].unique().drop_nulls().to_list()]
            mapping = {c: t(f"value.{prefix}_{c.replace('-', '_')}") for c in codes}
            out = out.with_columns(pl.col(column).replace_strict(mapping, default=None))
    for column, (prefix, special) in CODED_COLUMNS.items():
        if column in out.columns and out.schema[column] == pl.String:
            codes = out[column].unique().drop_nulls().to_list()
            out = out.with_columns(pl.col(column).replace_strict(
                {c: t(_code_key(prefix, c, special)) for c in codes}, default=None,
                return_dtype=pl.String))
    for column, prefix in CODE_LIST_COLUMNS.items():
        if column in out.columns and out.schema[column] == pl.String:
            texts = {v: ", ".join(t(_code_key(prefix, c, {})) for c in v.split(", ") if c)
                     for v in out[column].unique().drop_nulls().to_list()}
            out = out.with_columns(pl.col(column).replace_strict(texts, default=None,
                                                                 return_dtype=pl.String))
    if "sex" in out.columns:
        out = out.with_columns(pl.col("sex").replace_strict(
            {"M": t("value.sex_M"), "F": t("value.sex_F")}, default=pl.col("sex")))
    if "degree" in out.columns:
        out = out.with_columns(pl.col("degree").replace_strict(
            {"first": t("value.degree_first"), "second": t("value.degree_second")},
            default=pl.col("degree")))
    for column in BOOLEAN_COLUMNS:
        if column in out.columns:
            out = out.with_columns(pl.when(pl.col(column)).then(pl.lit(t("value.yes")))
                                   .otherwise(pl.lit(t("value.no"))).alias(column))
    return out


def column_names(lang: str) -> dict[str, str]:
    """Title -> internal column name of one language."""
    return {title: key.removeprefix("col.") for key, title in catalogue(lang).items()
            if key.startswith("col.")}


def all_column_names() -> dict[str, str]:
    """Title -> internal name over every language (how returns are read back)."""
    out: dict[str, str] = {}
    for lang in languages():
        out.update({k.casefold(): v for k, v in column_names(lang).items()})
    return out


def read_back(frame: pl.DataFrame, lang: str) -> pl.DataFrame:
    """A list as written (titles) with internal column names again (tests, returns)."""
    names = column_names(lang)
    return frame.rename({c: names.get(c, c) for c in frame.columns})


@dataclass(frozen=True)
class Clinic:
    """How a lipid clinic appears on its lists and letters (config/clinics.toml)."""

    clinic_id: str
    name: str
    address: str | None
    phone: str | None

    def contact(self, t: Translator) -> str:
        if self.address and self.phone:
            return t("lists.clinic_contact", name=self.name, address=self.address,
                     phone=self.phone)
        return self.name


def clinic(clinic_id: str | None) -> Clinic:
    """The clinic's name, address and phone; its id where the configuration has none."""
    cid = clinic_id or "unassigned"
    entry = load_clinics().get("clinics", {}).get(cid, {})
    return Clinic(cid, entry.get("name") or cid, entry.get("address"), entry.get("phone"))
