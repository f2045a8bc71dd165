"""The schema of the configuration files, and the sentences that refuse a mistake in them.

Why: a typo in a region file (`timestamp_fromat`, or `"LDL"` for `"ldl"` under
`[lab_codes]`) used to be accepted, and the run then quarantined every row it touched and
exited 0 with different lists. One pydantic schema per file now says which keys exist,
what type each holds and which values are allowed; the loaders in `fh_screening.config`
validate every file against it before any command touches the store, and
`docs/configuration.md` is generated from the same schema (`python -m
fh_screening.config_schema`; a test keeps the two identical).

A mistake is refused with one sentence per problem that names the file, the section and
the key, and suggests the nearest known key or value ("did you mean ...?").
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

# ---------------------------------------------------------------------------------------
# Canonical vocabulary the files map into
# ---------------------------------------------------------------------------------------
# The canonical tables and the columns a region extract can supply for each (the others
# of the store are derived at ingest).
SOURCE_COLUMNS: dict[str, tuple[str, ...]] = {
    "practices": ("gp_practice_id", "practice_name", "lipid_clinic_id"),
    "patients": ("cpr", "birth_date", "sex", "gp_practice_id", "deceased_date"),
    "lab_results": ("cpr", "sampled_at", "source_code", "source_value", "source_unit"),
    "prescriptions": ("cpr", "atc_code", "strength_mg", "start_date", "end_date"),
    "diagnoses": ("cpr", "icd10", "diagnosed_at"),
    "relations": ("cpr", "relative_cpr", "relation"),
    "genetic_tests": ("cpr", "tested_at", "result"),
}
COLUMN_MEANING = {
    "cpr": "the person's CPR number (DDMMYY-SSSS or DDMMYYSSSS)",
    "birth_date": "birth date (else derived from the CPR number)",
    "sex": "sex code, mapped by [values.sex] (else derived from the CPR number)",
    "gp_practice_id": "GP practice id",
    "deceased_date": "date of death, empty while alive",
    "practice_name": "the practice's name",
    "lipid_clinic_id": "the lipid clinic the practice refers to (a key of clinics.toml)",
    "sampled_at": "when the sample was taken (timestamp)",
    "source_code": "lab code, mapped to an analyte by [lab_codes]",
    "source_value": "the result as reported",
    "source_unit": "the result's unit (converted by config/units.toml)",
    "atc_code": "ATC code of the drug",
    "strength_mg": "strength in mg",
    "start_date": "first day of the prescription",
    "end_date": "last day of the prescription, empty while running",
    "icd10": "ICD-10 code (style by [region] icd10_style)",
    "diagnosed_at": "date of the diagnosis",
    "relative_cpr": "the relative's CPR number",
    "relation": "what the relative is to the person, mapped by [values.relation]",
    "tested_at": "date of the genetic test",
    "result": "the test's result, mapped by [values.genetic_result]",
}
CANONICAL_VALUES: dict[str, tuple[str, ...]] = {
    "sex": ("M", "F"),
    "relation": ("mother", "father", "child", "sibling"),
    "genetic_result": ("positive", "negative", "uncertain"),
}
RULE_SETS = ("ldl_age_band", "dlcn", "medped", "simon_broome")
PRIORITY_TIERS = ("high", "standard")


class Strict(BaseModel):
    """Every section: unknown keys refused, no silent type conversion ("20" is not 20)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _create(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    from pydantic import create_model

    return create_model(name, __base__=Strict, **fields)


# ---------------------------------------------------------------------------------------
# config/regions/<region>.toml
# ---------------------------------------------------------------------------------------
class RegionHead(Strict):
    """[region]: what the region is and how its files are written."""

    name: str = Field(description="the region's name; must equal the file name without "
                                  "`.toml` (lower-case letters, digits, '-' or '_')")
    display_name: str | None = Field(None, description="name shown on lists and reports "
                                                       "(default: `name`)")
    format: Literal["csv", "parquet"] = Field(description="file format of every table")
    encoding: str = Field("utf-8", description="CSV text encoding (utf-8, latin-1, ...)")
    delimiter: str = Field(",", min_length=1, max_length=1,
                           description="CSV field separator, one character")
    decimal: Literal[".", ","] = Field(".", description="CSV decimal separator")
    date_format: str = Field("%Y-%m-%d", description="CSV dates, strftime codes "
                                                     "(`%d-%m-%Y`)")
    timestamp_format: str = Field("%Y-%m-%d %H:%M:%S",
                                  description="CSV timestamps, strftime codes")
    icd10_style: Literal["dotted", "lpr"] = Field(
        "dotted", description="'dotted' (E78.0) or 'lpr' (DE780, the national patient "
                              "register's style)")
    time_zone: str = Field("Europe/Copenhagen",
                           description="IANA zone of text timestamps without an offset "
                                       "(`UTC` for a UTC export); a timestamp with an "
                                       "offset (format `%z`: `Z`, `+01:00`) carries its own. "
                                       "Both are converted to Europe/Copenhagen")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (KeyError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as "
                             "'Europe/Copenhagen' or 'UTC')") from None
        return value


class TableFormats(Strict):
    """[formats.<table>]: this table's own date and timestamp formats, where an export
    writes its tables differently; the [region] formats serve the others."""

    date_format: str | None = Field(None, description="as [region] date_format")
    timestamp_format: str | None = Field(None, description="as [region] timestamp_format")


Formats = _create("Formats", {t: (TableFormats | None, Field(None, description=f"the {t} "
                                                                               "table"))
                              for t in ("patients", "lab_results", "prescriptions",
                                        "diagnoses", "genetic_tests")})
Formats.__doc__ = "[formats.<table>]: per-table date and timestamp formats."


class CodeMaps(Strict):
    """[code_maps]: code lists that translate the region's own drug and diagnosis codes
    (`config/code_lists/<name>.csv`, each row with its source and version)."""

    drugs: str | None = Field(None, description="code list: the region's drug code -> ATC "
                                                "code and strength (columns source_code, "
                                                "atc_code, strength_mg, name, source, "
                                                "version)")
    diagnoses: str | None = Field(None, description="code list: the region's diagnosis code "
                                                    "(SNOMED CT, local) -> dotted ICD-10 "
                                                    "(columns source_code, icd10, name, "
                                                    "source, version)")


def _table_model(table: str, columns: tuple[str, ...], required: tuple[str, ...]) -> type:
    fields: dict[str, Any] = {
        c: (str, Field(description=COLUMN_MEANING[c])) if c in required
        else (str | None, Field(None, description=COLUMN_MEANING[c])) for c in columns}
    model = typing.cast(type, _create(f"Columns_{table}", fields))
    model.__doc__ = f"[columns.{table}]: canonical column -> the region's column name."
    return model


# Every table but practices needs the CPR column (it identifies the person).
COLUMN_MODELS = {t: _table_model(t, cols, () if t == "practices" else ("cpr",))
                 for t, cols in SOURCE_COLUMNS.items()}

Columns = _create("Columns", {t: (COLUMN_MODELS[t], Field(description=f"the {t} table"))
                              if t != "practices" else
                              (COLUMN_MODELS[t] | None, Field(None, description="the "
                                                              "practices table"))
                              for t in SOURCE_COLUMNS})
Columns.__doc__ = "[columns.<table>]: how the region names each canonical column."

Files = _create("Files", {t: (str, Field(description=f"glob of the {t} files in the "
                                                      "region's extract folder"))
                          for t in SOURCE_COLUMNS})
Files.__doc__ = ("[files]: table -> glob of its files. Each matching file is ingested once "
                 "(by checksum).")


def _value_map(kind: str) -> Any:
    allowed = Literal[CANONICAL_VALUES[kind]]  # type: ignore[valid-type]
    return (dict[str, allowed] | None,  # type: ignore[valid-type]
            Field(None, description=f"the region's code -> canonical {kind} "
                                    f"({', '.join(CANONICAL_VALUES[kind])})"))


Values = _create("Values", {k: _value_map(k) for k in CANONICAL_VALUES})
Values.__doc__ = "[values.<kind>]: the region's codes for canonical values."


class RegionFile(Strict):
    """A region's dialect: `config/regions/<region>.toml`."""

    region: RegionHead
    files: Files  # type: ignore[valid-type]
    columns: Columns  # type: ignore[valid-type]
    values: Values = Field(default_factory=lambda: Values())  # type: ignore[valid-type]
    formats: Formats = Field(default_factory=lambda: Formats())  # type: ignore[valid-type]
    code_maps: CodeMaps = Field(default_factory=CodeMaps)
    lab_codes: dict[str, str] = Field(
        description="lab code -> analyte; the analytes are the sections of "
                    "config/units.toml (ldl, hdl, total_chol, ...)")

    @field_validator("lab_codes")
    @classmethod
    def _known_analytes(cls, codes: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        analytes = sorted((info.context or {}).get("analytes", ()))
        if not analytes:
            return codes
        for code, analyte in codes.items():
            if analyte not in analytes:
                raise ValueError(f"{code!r} = {analyte!r}: {analyte!r} is not an analyte"
                                 f"{_did_you_mean(analyte, analytes)}; the analytes are "
                                 f"those of config/units.toml: {', '.join(analytes)}")
        return codes

    @model_validator(mode="after")
    def _mapped_diagnoses_are_dotted(self) -> RegionFile:
        if self.code_maps.diagnoses and self.region.icd10_style != "dotted":
            raise ValueError("[code_maps] diagnoses gives dotted ICD-10 codes: set [region] "
                             "icd10_style = 'dotted'")
        return self

    @model_validator(mode="after")
    def _name_matches_file(self, info: ValidationInfo) -> RegionFile:
        expected = (info.context or {}).get("region")
        if expected is not None and self.region.name != expected:
            raise ValueError(f"[region] name {self.region.name!r} does not match the file "
                             f"name ({expected!r})")
        return self


# ---------------------------------------------------------------------------------------
# config/units.toml and config/plausibility.toml
# ---------------------------------------------------------------------------------------
class PlausibleRange(Strict):
    """The range a converted value must fall in; beyond it a value is a unit or typing
    error. Exactly one lower bound."""

    above: float | None = Field(None, description="exclusive lower bound")
    min: float | None = Field(None, description="inclusive lower bound")
    max: float | None = Field(None, description="inclusive upper bound (default: none)")

    @model_validator(mode="after")
    def _one_lower_bound(self) -> PlausibleRange:
        if (self.above is None) == (self.min is None):
            raise ValueError("plausible needs one of 'above' or 'min'")
        low = self.above if self.above is not None else self.min
        if self.max is not None and not low < self.max:  # type: ignore[operator]
            raise ValueError("plausible range is empty")
        return self


class UnitSpec(Strict):
    """[<analyte>]: one analyte's canonical unit and accepted source units."""

    unit: str = Field(description="canonical unit the store keeps")
    convert: dict[str, float] = Field(description="accepted source unit -> factor into the "
                                                  "canonical unit; any other unit is "
                                                  "quarantined")
    plausible: PlausibleRange = Field(default_factory=lambda: PlausibleRange(above=0.0),
                                      description="range of a possible human result")


class UnitsFile(RootModel[dict[str, UnitSpec]]):
    """`config/units.toml`: one section per analyte (the names [lab_codes] maps to)."""


class NumberThreshold(Strict):
    """A number with its unit and source (every clinical threshold and limit)."""

    value: float = Field(description="the number (an integer where the unit counts things)")
    unit: str
    source: str = Field(min_length=1)
    note: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _not_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("a threshold is a number, not true/false")
        return value


class TextThreshold(Strict):
    """A text setting with its unit and source (an ATC prefix)."""

    value: str
    unit: str
    source: str = Field(min_length=1)
    note: str | None = None


Plausibility = _create("PlausibilityAge", {"max_years": (NumberThreshold, Field(
    description="a living person older than this, or a death at a greater age, is a "
                "wrong date"))})
PlausibilityFile_ = _create("PlausibilityFileSection", {
    "refuse_share_above": (NumberThreshold, Field(
        description="a file in which one reason quarantines more than this share of rows "
                    "is refused whole")),
    "min_rows": (NumberThreshold, Field(description="files with fewer data rows are judged "
                                                    "row by row only"))})


class PlausibilityFile(Strict):
    """`config/plausibility.toml`: limits of what a human record can show."""

    age: Plausibility  # type: ignore[valid-type]
    file: PlausibilityFile_  # type: ignore[valid-type]


# ---------------------------------------------------------------------------------------
# config/thresholds.toml
# ---------------------------------------------------------------------------------------
# Each key is a threshold {value, unit, source[, note]}; its meaning and source are in the
# file and in docs/criteria.md (generated from it).
THRESHOLD_KEYS: dict[str, tuple[str, ...]] = {
    "ldl": ("friedewald_max_tg", "sampson_max_tg"),
    "referral": ("child_max_age", "child_ldl_above", "young_adult_max_age",
                 "young_adult_ldl_above", "adult_ldl_at_least", "high_priority_ldl_at_least",
                 "rerefer_ldl_rise_at_least"),
    "secondary_causes": ("window_days", "tsh_above", "triglycerides_above", "albumin_below",
                         "alp_above", "bilirubin_above"),
    "treatment": ("effect_onset_days", "max_reduction", "class_default_reduction"),
    "ldl_evidence": ("within_person_sd", "on_treatment_effect_fraction", "on_treatment_sd",
                     "interval_z"),
    "homozygous": ("adult_ldl_above", "child_ldl_above"),
    "dlcn": ("ldl_8_points_at_least", "ldl_5_points_at_least", "ldl_3_points_at_least",
             "ldl_1_point_at_least", "premature_men_before", "premature_women_before",
             "own_chd_points", "own_other_vascular_points", "family_points",
             "family_child_points", "child_under", "dna_points", "definite_above",
             "probable_at_least", "possible_at_least", "refer_above"),
    "percentiles": ("percentile", "min_people"),
    "simon_broome": ("adult_from_age", "adult_tc_above", "adult_ldl_above", "child_tc_above",
                     "child_ldl_above", "family_mi_first_degree_before",
                     "family_mi_second_degree_before", "family_tc_adult_above",
                     "family_tc_child_above"),
    "cascade": ("paediatric_test_by_age",),
    "model": ("refer_probability_at_least", "high_probability_at_least",
              "explain_probability_at_least"),
}


class Drug(Strict):
    """[treatment.drugs.<ATC>]: LDL reduction of one lipid-lowering drug by daily dose."""

    name: str = Field(description="the drug's name on lists")
    doses: dict[str, float] = Field(description="daily dose in mg (as text) -> reduction")
    default: float = Field(ge=0, le=1, description="reduction when the dose is unknown")
    source: str = Field(min_length=1, description="where the reductions come from")


class FallbackBand(Strict):
    from_age: int
    to_age: int
    M: float
    F: float


class PercentileFallback(Strict):
    """[percentiles.fallback]: 95th LDL percentiles by sex and age band (mmol/L)."""

    source: str
    bands: list[FallbackBand]


class MedpedBand(Strict):
    from_age: int
    to_age: int
    first: float
    second: float
    third: float
    general: float


_EXTRA_THRESHOLD_FIELDS: dict[str, dict[str, Any]] = {
    "treatment": {
        "statin_atc_prefix": (TextThreshold, Field(description="ATC prefix of the statins")),
        "drugs": (dict[str, Drug], Field(description="ATC code -> reduction by dose")),
    },
    "percentiles": {"fallback": (PercentileFallback, Field(
        description="fallback percentile table"))},
    "cascade": {
        "relations": (list[Literal[CANONICAL_VALUES["relation"]]],  # type: ignore[misc]
                      Field(description="first-degree relations listed for index cases")),
        "index_flagged_tiers": (list[Literal[PRIORITY_TIERS]],  # type: ignore[misc]
                                Field(description="priority tiers of flagged patients that "
                                                  "are cascade index cases")),
    },
}
THRESHOLD_SECTIONS: dict[str, type[BaseModel]] = {
    section: _create(f"Thresholds_{section}", {
        **{k: (NumberThreshold, Field(description="see its `note` and docs/criteria.md"))
           for k in keys},
        **_EXTRA_THRESHOLD_FIELDS.get(section, {})})
    for section, keys in THRESHOLD_KEYS.items()}
THRESHOLD_SECTIONS["flagging"] = _create("Thresholds_flagging", {
    "rules": (list[Literal[RULE_SETS]],  # type: ignore[valid-type]
              Field(description="rule sets whose result flags a person"))})
THRESHOLD_SECTIONS["medped"] = _create("Thresholds_medped", {
    "source": (str, Field(description="where the cut-offs come from")),
    "bands": (list[MedpedBand], Field(description="total-cholesterol cut-offs by age band"))})

ThresholdsFile = _create("ThresholdsFile", {
    s: (m, Field(description=(m.__doc__ or "").strip() or s))
    for s, m in THRESHOLD_SECTIONS.items()})
ThresholdsFile.__doc__ = "`config/thresholds.toml`: every number the criteria use."


# ---------------------------------------------------------------------------------------
# config/clinics.toml
# ---------------------------------------------------------------------------------------
Capacity = Annotated[int, Field(ge=0)]


class ClinicDefault(Strict):
    """[default]: for clinics not named under [clinics]."""

    capacity_per_run: Capacity = Field(description="new referrals listed per run, in rank "
                                                   "order; the rest wait in a backlog")


class Clinic(Strict):
    """[clinics.<id>]: one lipid clinic as lists and letters show it."""

    name: str
    address: str | None = None
    phone: str | None = None
    capacity_per_run: Capacity | None = Field(None, description="as [default] (default: "
                                                                "[default]'s)")


class ClinicsFile(Strict):
    """`config/clinics.toml`: lipid clinics by their id in the practices extracts."""

    default: ClinicDefault
    clinics: dict[str, Clinic] = Field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# Validation with readable sentences
# ---------------------------------------------------------------------------------------
def _did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not near:
        near = [c for c in choices if c.lower() == word.lower()]
    return f" (did you mean {near[0]!r}?)" if near else ""


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes an annotation can hold (through Optional, dict and list)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict, Annotated):
        args = typing.get_args(annotation)
        if origin is dict:
            args = args[1:]
        elif origin is Annotated:
            args = args[:1]
        return [m for a in args for m in _unwrap(a)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _steps(annotation: Any, container: bool = False) -> list[tuple[bool, Any]]:
    """(behind a dict or list, model) for each model class an annotation can hold: a dict
    key or list index in the error location comes before that model's own keys."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return [s for a in args for s in _steps(a, container)]
    if origin is Annotated:
        return _steps(args[0], container)
    if origin is dict:
        return _steps(args[1], True)
    if origin is list:
        return _steps(args[0], True)
    if isinstance(annotation, type) and issubclass(annotation, RootModel):
        return _steps(annotation.model_fields["root"].annotation, container)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [(container, annotation)]
    return []


def _keys_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed in the section at `loc` (for "did you mean")."""
    current = _steps(model)
    for part in loc:
        nxt: list[tuple[bool, Any]] = []
        for container, m in current:
            if container:
                nxt.append((False, m))
            elif isinstance(part, str) and part in m.model_fields:
                nxt += _steps(m.model_fields[part].annotation)
        current = nxt
    return [k for container, m in current if not container for k in m.model_fields]


def _section(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return f"[{'.'.join(parts)}]" if parts else "top level"


def _sentence(model: type[BaseModel], error: Any) -> str:
    loc = tuple(p for p in error["loc"] if p != "root")
    kind, msg = error["type"], error["msg"]
    where, key = loc[:-1], loc[-1] if loc else None
    if kind == "extra_forbidden":
        return (f"{_section(where)} unknown key {key!r}"
                f"{_did_you_mean(str(key), _keys_at(model, where))}")
    if kind == "missing":
        return f"{_section(where)} missing required key {key!r}"
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        if key in ("lab_codes",) or not loc:
            return f"{_section(loc)} {text}" if loc else text
        if text.startswith(str(key)):
            return f"{_section(where)} {text}"
        return f"{_section(where)} {key!r}: {text}"
    if kind == "literal_error":
        expected = msg.removeprefix("Input should be ")
        got = error.get("input")
        choices = [c.strip(" '") for c in expected.replace(" or ", ", ").split(",")]
        return (f"{_section(where if not isinstance(key, int) else loc[:-2])} "
                f"{_key_text(loc)}: {got!r} is not allowed{_did_you_mean(str(got), choices)}; "
                f"use {expected}")
    got = error.get("input")
    kind_of = _toml_type(got)
    article = "an" if kind_of[0] in "aeiou" else "a"
    shown = "" if isinstance(got, dict) else f" (got {got!r}, {article} {kind_of})"
    return f"{_section(where)} {_key_text(loc)}: {msg[:1].lower()}{msg[1:]}{shown}"


def _key_text(loc: tuple[Any, ...]) -> str:
    if loc and isinstance(loc[-1], int):
        return f"{loc[-2]!r} item {loc[-1] + 1}" if len(loc) > 1 else f"item {loc[-1] + 1}"
    return repr(loc[-1]) if loc else "value"


def _toml_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
            dict: "table"}.get(type(value), type(value).__name__)


def validate(model: type[BaseModel], raw: Any, path: Path, *,
             context: dict[str, Any] | None = None) -> Any:
    """`raw` (a parsed TOML file) checked against `model`; ConfigError naming the file and
    each offending key otherwise."""
    from fh_screening.config import ConfigError

    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        problems = list(dict.fromkeys(_sentence(model, e) for e in exc.errors()))
        raise ConfigError(f"{_shown_path(path)}: " + "; ".join(problems)) from None


def _shown_path(path: Path) -> str:
    """Paths inside the project as `config/...` (what the operator edits)."""
    from fh_screening.config import PROJECT_ROOT

    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------
# docs/configuration.md
# ---------------------------------------------------------------------------------------
DOC_PATH_PARTS = ("docs", "configuration.md")
FILES_DOC = (
    ("config/regions/<region>.toml", RegionFile),
    ("config/units.toml", UnitsFile),
    ("config/plausibility.toml", PlausibilityFile),
    ("config/thresholds.toml", ThresholdsFile),
    ("config/clinics.toml", ClinicsFile),
)


def _type_text(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a!r}`".replace("'", '"') for a in args)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return " \\| ".join(_type_text(a) for a in inner)
    if origin is Annotated:
        return _type_text(args[0])
    if origin is dict:
        return f"table of {_type_text(args[1])}"
    if origin is list:
        return f"list of {_type_text(args[0])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"NumberThreshold": "threshold (number)",
                "TextThreshold": "threshold (text)"}.get(annotation.__name__, "section")
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        annotation, str(annotation))


def _default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "(empty)"
    return "-" if field.default is None else f"`{field.default!r}`".replace("'", '"')


def _section_rows(model: type[BaseModel], prefix: str) -> list[str]:
    """Markdown for one section and, after it, its sub-sections."""
    lines: list[str] = []
    subs: list[tuple[str, type[BaseModel]]] = []
    rows = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        models = [m for m in _unwrap(annotation)
                  if m.__name__ not in ("NumberThreshold", "TextThreshold")]
        key = name
        if models and typing.get_origin(annotation) is dict:
            subs.append((f"{prefix}.{name}.<key>" if prefix else f"{name}.<key>", models[0]))
            continue
        if models and typing.get_origin(annotation) is list:
            subs.append((f"{prefix}.{name}[]" if prefix else f"{name}[]", models[0]))
            continue
        if models:
            subs.append((f"{prefix}.{name}" if prefix else name, models[0]))
            continue
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{key}` | {_type_text(annotation)} | {_default_text(field)} | "
                    f"{meaning} |")
    if rows:
        doc = " ".join((model.__doc__ or "").split())
        lines += [f"### `[{prefix}]`" if prefix else "### top level", ""]
        if prefix and doc and not doc.startswith(("Create a new model", "Usage docs")):
            lines += [doc, ""]
        lines += ["| key | type | default | meaning |", "|---|---|---|---|", *rows, ""]
    for sub_prefix, sub in subs:
        lines += _section_rows(sub, sub_prefix)
    return lines


def configuration_markdown() -> str:
    """docs/configuration.md: every key of every configuration file, from the schema."""
    out = [
        "# Configuration reference",
        "",
        "Generated from `fh_screening/config_schema.py` by `python -m "
        "fh_screening.config_schema`; do not edit by hand (a test keeps the two identical).",
        "",
        "Every command checks every file against this schema before it touches the store. "
        "An unknown key, a value of the wrong type (`\"20\"` is not `20`) or an unknown "
        "analyte, rule set or canonical value is refused with a sentence that names the "
        "file, the section and the key, for example:",
        "",
        "    fh-screening: config/regions/x.toml: [region] unknown key 'timestamp_fromat' "
        "(did you mean 'timestamp_format'?)",
        "",
        "Threshold entries are `{ value, unit, source, note }`; their meaning and source are "
        "in the file itself and in [criteria.md](criteria.md). `fh-screening check --region "
        "R --extract-dir D` reads a delivery with a region's configuration and writes "
        "nothing ([onboarding.md](onboarding.md)).",
        "",
    ]
    for title, model in FILES_DOC:
        out += [f"## `{title}`", "", " ".join((model.__doc__ or "").split()), ""]
        if issubclass(model, RootModel):
            out += ["Each section is an analyte:", ""]
            model = _unwrap(model.model_fields["root"].annotation)[0]
            out += _section_rows(model, "<analyte>")
        else:
            out += _section_rows(model, "")
    return "\n".join(out).rstrip() + "\n"


def write_doc(root: Path | None = None) -> Path:
    from fh_screening.config import PROJECT_ROOT

    path = (root or PROJECT_ROOT).joinpath(*DOC_PATH_PARTS)
    path.write_text(configuration_markdown(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_doc()}")
