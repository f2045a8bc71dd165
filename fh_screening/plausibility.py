"""What a human record can show (issue 20): the age limit, per-drug strength ranges and
the share of a file one reason may quarantine before the file is refused whole.

The limits are data: `config/plausibility.toml` and the code list
`config/code_lists/drug_strengths.csv` (one row per ATC code or group, with its source).
Ingest loads them into temp tables and parameters; the checks are in `sql/ingest/`.
"""

from __future__ import annotations

import csv
import tomllib
from dataclasses import dataclass
from pathlib import Path

from fh_screening.config import CONFIG_DIR, ConfigError


@dataclass(frozen=True)
class StrengthRange:
    """Plausible strength (mg) of one drug or drug group, matched by ATC prefix."""

    atc_prefix: str
    drug: str
    min_mg: float
    max_mg: float
    source: str

    def label(self) -> str:
        return f"{self.min_mg:g}-{self.max_mg:g} mg for {self.drug}"


@dataclass(frozen=True)
class Plausibility:
    max_age_years: int
    refuse_share_above: float
    refuse_min_rows: int
    strengths: tuple[StrengthRange, ...]


def load_strengths(path: Path) -> tuple[StrengthRange, ...]:
    """The code list; prefixes must not overlap, so a code matches at most one row."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        found = tuple(StrengthRange(r["atc_prefix"].strip().upper(), r["drug"].strip(),
                                    float(r["min_mg"]), float(r["max_mg"]), r["source"].strip())
                      for r in rows)
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not a drug strength code list ({exc})") from exc
    for i, a in enumerate(found):
        if not (0 < a.min_mg <= a.max_mg) or not a.source:
            raise ConfigError(f"{path}: {a.atc_prefix}: needs 0 < min_mg <= max_mg and a source")
        for b in found[i + 1:]:
            if a.atc_prefix.startswith(b.atc_prefix) or b.atc_prefix.startswith(a.atc_prefix):
                raise ConfigError(f"{path}: {a.atc_prefix} and {b.atc_prefix} overlap")
    return found


def load_plausibility(config_dir: Path = CONFIG_DIR) -> Plausibility:
    from fh_screening.config_schema import PlausibilityFile, validate

    path = config_dir / "plausibility.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        validate(PlausibilityFile, raw, path)
        return Plausibility(
            max_age_years=int(raw["age"]["max_years"]["value"]),
            refuse_share_above=float(raw["file"]["refuse_share_above"]["value"]),
            refuse_min_rows=int(raw["file"]["min_rows"]["value"]),
            strengths=load_strengths(config_dir / "code_lists" / "drug_strengths.csv"))
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
