"""Configuration: region dialects, unit conversions and clinical thresholds.

Everything a region differs in (file format, column names, codes, units, encodings) lives
in `config/regions/<region>.toml`, so that adding a region is configuration, not code.
Clinical thresholds live in `config/thresholds.toml`, one value per rule with its source.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"
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

    def source_column(self, table: str, canonical: str) -> str | None:
        """The region's column name for a canonical column, or None if the region lacks it."""
        return self.columns.get(table, {}).get(canonical)


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
    """Load and check one region's dialect file."""
    check_region_name(name)
    path = config_dir / "regions" / f"{name}.toml"
    raw = _read_toml(path)
    try:
        head = raw["region"]
        if head["name"] != name:
            raise ConfigError(f"{path}: [region] name {head['name']!r} does not match file name")
        fmt = head["format"]
        if fmt not in ("csv", "parquet"):
            raise ConfigError(f"{path}: [region] format must be 'csv' or 'parquet', not {fmt!r}")
        files = dict(raw["files"])
        missing = [t for t in TABLES if t not in files]
        if missing:
            raise ConfigError(f"{path}: [files] lacks {', '.join(missing)}")
        columns = {t: dict(c) for t, c in raw.get("columns", {}).items()}
        for table in TABLES:
            if table != "practices" and "cpr" not in columns.get(table, {}):
                raise ConfigError(f"{path}: [columns.{table}] needs a 'cpr' column")
        return RegionDialect(
            name=name,
            display_name=head.get("display_name", name),
            format=fmt,
            files=files,
            columns=columns,
            lab_codes=dict(raw["lab_codes"]),
            values={k: dict(v) for k, v in raw.get("values", {}).items()},
            encoding=head.get("encoding", "utf-8"),
            delimiter=head.get("delimiter", ","),
            decimal=head.get("decimal", "."),
            date_format=head.get("date_format", "%Y-%m-%d"),
            timestamp_format=head.get("timestamp_format", "%Y-%m-%d %H:%M:%S"),
            icd10_style=head.get("icd10_style", "dotted"),
            source_path=path,
        )
    except KeyError as exc:
        raise ConfigError(f"{path}: missing required key {exc}") from exc


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
    path = config_dir / "units.toml"
    raw = _read_toml(path)
    rules = {}
    for analyte, spec in raw.items():
        plausible = spec.get("plausible", {})
        if ("above" in plausible) == ("min" in plausible):
            raise ConfigError(f"{path}: [{analyte}] plausible needs one of 'above' or 'min'")
        rule = UnitRule(analyte, spec["unit"], {u: float(f) for u, f in spec["convert"].items()},
                        low=float(plausible.get("above", plausible.get("min"))),
                        low_inclusive="min" in plausible,
                        high=float(plausible.get("max", float("inf"))))
        if not rule.low < rule.high:
            raise ConfigError(f"{path}: [{analyte}] plausible range is empty")
        rules[analyte] = rule
    return rules


def load_thresholds(config_dir: Path = CONFIG_DIR) -> dict[str, Any]:
    """Clinical thresholds: one TOML file, each value commented with its source."""
    return _read_toml(config_dir / "thresholds.toml")


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
    new referrals per run; `[default]` for clinics not named."""
    data = _read_toml(config_dir / "clinics.toml")
    default = data.get("default", {})
    if not isinstance(default.get("capacity_per_run"), int) or default["capacity_per_run"] < 0:
        raise ConfigError(f"{config_dir / 'clinics.toml'}: [default] capacity_per_run must "
                          "be a whole number of referrals, 0 or more")
    for clinic, entry in data.get("clinics", {}).items():
        cap = entry.get("capacity_per_run", default["capacity_per_run"])
        if not isinstance(cap, int) or cap < 0:
            raise ConfigError(f"{config_dir / 'clinics.toml'}: [clinics.{clinic}] "
                              "capacity_per_run must be a whole number of referrals, 0 or more")
    return data
