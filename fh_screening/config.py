"""Configuration: region dialects, unit conversions and clinical thresholds.

Everything a region differs in (file format, column names, codes, units, encodings) lives
in `config/regions/<region>.toml`, so that adding a region is configuration, not code.
Clinical thresholds live in `config/thresholds.toml`, one value per rule with its source.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# $FH_CONFIG_DIR: a configuration folder outside the installation (an operator's own
# regions and clinics; tests of refused configuration), else the shipped config/.
CONFIG_DIR = Path(os.environ.get("FH_CONFIG_DIR") or PROJECT_ROOT / "config")
SQL_DIR = PROJECT_ROOT / "sql"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
SAMPLES_DIR = PROJECT_ROOT / "data_samples"

# The canonical tables a region extract is mapped into, in ingest order (practices and
# patients first so that later tables can be checked against them).
TABLES = (
    "practices",
    "patients",
    "lab_results",
    "prescriptions",
    "diagnoses",
    "relations",
    "genetic_tests",
)

LOCAL_TIME_ZONE = "Europe/Copenhagen"  # the store's times are Danish local time
_REGION_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class ConfigError(ValueError):
    """A configuration file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class RegionDialect:
    """How one region's extract files look, and how they map to the canonical schema."""

    name: str
    display_name: str
    format: str  # "csv" or "parquet"
    files: dict[str, str]
    columns: dict[str, dict[str, str]]
    lab_codes: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    date_format: str = "%Y-%m-%d"
    timestamp_format: str = "%Y-%m-%d %H:%M:%S"
    icd10_style: str = "dotted"
    source_path: Path | None = None
    # Per-table formats ([formats.<table>]) over the region's; the zone of text timestamps
    # without an offset; the code maps' rows ([code_maps], config/code_lists/).
    formats: dict[str, dict[str, str]] = field(default_factory=dict)
    time_zone: str = LOCAL_TIME_ZONE
    drug_map: tuple[CodeMapRow, ...] = ()
    diagnosis_map: tuple[CodeMapRow, ...] = ()

    def source_column(self, table: str, canonical: str) -> str | None:
        """The region's column name for a canonical column, or None if the region lacks it."""
        return self.columns.get(table, {}).get(canonical)

    def date_format_for(self, table: str) -> str:
        return self.formats.get(table, {}).get("date_format") or self.date_format

    def timestamp_format_for(self, table: str) -> str:
        return self.formats.get(table, {}).get("timestamp_format") or self.timestamp_format


@dataclass(frozen=True)
class CodeMapRow:
    """One row of a code map: the region's code, what it stands for, and the row's source."""

    source_code: str
    target: str  # an ATC code (drugs) or a dotted ICD-10 code (diagnoses)
    strength_mg: float | None
    name: str
    source: str
    version: str


_ATC = re.compile(r"^[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}$")
_ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
CODE_MAP_COLUMNS = {"drugs": ("source_code", "atc_code", "strength_mg", "name", "source",
                              "version"),
                    "diagnoses": ("source_code", "icd10", "name", "source", "version")}


def load_code_map(name: str, kind: str, config_dir: Path = CONFIG_DIR) -> tuple[CodeMapRow, ...]:
    """A code map (`config/code_lists/<name>.csv`): the region's drug codes to ATC codes
    with strength, or its diagnosis codes (SNOMED CT, local) to dotted ICD-10. Every row
    names its source and version, so a clinician can review the map and a run's lineage
    (the config hash) changes with it. A code listed twice, a target that is not an ATC
    or ICD-10 code, or a row without source and version is refused with its line."""
    import csv

    check_region_name(name.replace("_", "-"))  # a file name, not a path
    path = config_dir / CODELISTS_DIR / f"{name}.csv"
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except FileNotFoundError as exc:
        raise ConfigError(f"code list not found: {path}") from exc
    wanted = CODE_MAP_COLUMNS[kind]
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ConfigError(f"{path}: a {kind} code map needs the column(s) {', '.join(missing)}")
    target_col, shape = ("atc_code", _ATC) if kind == "drugs" else ("icd10", _ICD10)
    seen: set[str] = set()
    out = []
    for line, row in enumerate(rows, start=2):
        code = (row["source_code"] or "").strip()
        target = (row[target_col] or "").strip().upper()
        if not code or code in seen:
            raise ConfigError(f"{path}, line {line}: source_code {code!r} is empty or listed "
                              "twice")
        if not shape.match(target):
            raise ConfigError(f"{path}, line {line}: {target_col} {target!r} is not "
                              + ("an ATC code" if kind == "drugs" else "a dotted ICD-10 code"))
        if not (row["source"] or "").strip() or not (row["version"] or "").strip():
            raise ConfigError(f"{path}, line {line}: source and version are required")
        strength = (row.get("strength_mg") or "").strip()
        try:
            mg = float(strength) if strength else None
        except ValueError:
            raise ConfigError(f"{path}, line {line}: strength_mg {strength!r} is not a "
                              "number") from None
        seen.add(code)
        out.append(CodeMapRow(code, target, mg, row["name"].strip(), row["source"].strip(),
                              row["version"].strip()))
    return tuple(out)


def check_region_name(name: str) -> str:
    """Region names become file and folder names, so they must not be able to escape them."""
    if not _REGION_NAME.match(name):
        raise ConfigError(
            f"invalid region name {name!r}: use lower-case letters, digits, '-' or '_'"
        )
    return name


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def load_region(name: str, config_dir: Path = CONFIG_DIR) -> RegionDialect:
    """Load one region's dialect file, checked against the schema
    (`fh_screening.config_schema.RegionFile`): an unknown key, a wrong type or an unknown
    analyte is refused with the file and key, before anything reads an extract."""
    from fh_screening.config_schema import RegionFile, validate

    check_region_name(name)
    path = config_dir / "regions" / f"{name}.toml"
    raw = _read_toml(path)
    analytes = sorted(_read_toml(config_dir / "units.toml"))
    spec = validate(RegionFile, raw, path, context={"region": name, "analytes": analytes})
    head = spec.region
    return RegionDialect(
        name=name,
        display_name=head.display_name or name,
        format=head.format,
        # The file's own order (validated above): the synthetic writer follows it.
        files=dict(raw["files"]),
        columns={t: dict(c) for t, c in raw["columns"].items()},
        lab_codes=dict(spec.lab_codes),
        values={k: dict(v) for k, v in raw.get("values", {}).items()},
        encoding=head.encoding,
        delimiter=head.delimiter,
        decimal=head.decimal,
        date_format=head.date_format,
        timestamp_format=head.timestamp_format,
        icd10_style=head.icd10_style,
        source_path=path,
        formats={t: {k: v for k, v in f.items() if v is not None}
                 for t, f in spec.formats.model_dump().items() if f is not None},
        time_zone=head.time_zone,
        drug_map=(load_code_map(spec.code_maps.drugs, "drugs", config_dir)
                  if spec.code_maps.drugs else ()),
        diagnosis_map=(load_code_map(spec.code_maps.diagnoses, "diagnoses", config_dir)
                       if spec.code_maps.diagnoses else ()),
    )


def list_regions(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Names of all configured regions, sorted (the national run's fan-out)."""
    return sorted(p.stem for p in (config_dir / "regions").glob("*.toml"))


@dataclass(frozen=True)
class UnitRule:
    """Canonical unit of an analyte, the factors from each accepted source unit, and the
    range a converted value must fall in (`low` < value <= `high`, or `low` <= value when
    `low_inclusive`); a value outside it is a unit or typing error (a mg/dL result in a
    mmol/L column, 99999), not a patient's result."""

    analyte: str
    unit: str
    convert: dict[str, float]
    low: float = 0.0
    low_inclusive: bool = True
    high: float = float("inf")

    def range_text(self) -> str:
        return f"{'[' if self.low_inclusive else '('}{self.low:g}, {self.high:g}] {self.unit}"


def load_units(config_dir: Path = CONFIG_DIR) -> dict[str, UnitRule]:
    """Canonical units, conversions and plausible ranges, checked against the schema."""
    from fh_screening.config_schema import UnitsFile, validate

    path = config_dir / "units.toml"
    spec = validate(UnitsFile, _read_toml(path), path)
    rules = {}
    for analyte, unit in spec.root.items():
        p = unit.plausible
        rules[analyte] = UnitRule(analyte, unit.unit, dict(unit.convert),
                                  low=p.above if p.above is not None else p.min,
                                  low_inclusive=p.above is None,
                                  high=p.max if p.max is not None else float("inf"))
    return rules


def load_thresholds(config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Clinical thresholds: one TOML file, each value commented with its source, checked
    against the schema (a misspelt or mistyped threshold is refused, never ignored). The
    file's values are returned as written (an integer stays an integer for the SQL)."""
    from fh_screening.config_schema import ThresholdsFile, validate

    path = config_dir / "thresholds.toml"
    raw = _read_toml(path)
    validate(ThresholdsFile, raw, path)
    return raw


CODELISTS_DIR = "code_lists"


def load_codelist(name: str, config_dir: Path = CONFIG_DIR) -> list[dict[str, str]]:
    """A code list (`config/code_lists/<name>.csv`, one row per code with its source), as
    OpenSAFELY keeps them: data a clinician can review, not constants in code."""
    import csv

    path = config_dir / CODELISTS_DIR / f"{name}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, start=2):
        if not all((row.get(k) or "").strip() for k in ("atc_prefix", "source")):
            raise ValueError(f"{path}, line {i}: atc_prefix and source are required")
    return rows


def accepted_atc_prefixes(config_dir: Path = CONFIG_DIR) -> list[str]:
    """ATC codes a prescriptions extract may carry: lipid-lowering drugs (C10) and the
    drugs that raise LDL (a possible secondary cause)."""
    return ["C10", *sorted(r["atc_prefix"] for r in load_codelist("ldl_raising_drugs",
                                                                   config_dir))]


def load_clinics(config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Lipid clinics (`config/clinics.toml`): name, address, phone and the capacity for
    new referrals per run; `[default]` for clinics not named. Checked against the schema
    (a capacity must be a whole number of referrals, 0 or more)."""
    from fh_screening.config_schema import ClinicsFile, validate

    path = config_dir / "clinics.toml"
    data = _read_toml(path)
    validate(ClinicsFile, data, path)
    return data


def check_configuration(regions: list[str] | None = None,
                        config_dir: Path = CONFIG_DIR) -> None:
    """Every configuration file a run reads, checked before anything touches the store:
    a national run must not ingest two regions and then stop at a typo in the third."""
    from fh_screening.plausibility import load_plausibility

    load_units(config_dir)
    load_thresholds(config_dir)
    load_clinics(config_dir)
    load_plausibility(config_dir)
    for region in regions if regions is not None else list_regions(config_dir):
        load_region(region, config_dir)
