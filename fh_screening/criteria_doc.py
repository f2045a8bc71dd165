"""docs/criteria.md, generated from config/thresholds.toml so the two cannot drift.

A clinician reads the rules here; a test fails when the file is not what this renders.
Regenerate with `fh-screening criteria-doc`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fh_screening.config import PROJECT_ROOT, load_thresholds

DOC_PATH = PROJECT_ROOT / "docs" / "criteria.md"

INTRO = """# Screening criteria

*Generated from `config/thresholds.toml` by `fh-screening criteria-doc`; do not edit by hand.*

Each person with an LDL value is scored on their **index sample**: the one with the
highest untreated-LDL estimate. LDL is the lab's reported value, else Friedewald, else
Sampson/NIH (method kept). Measurements taken on lipid-lowering drugs (ATC C10 active on
the sample date) are divided by (1 - r), r from the drug table below; several drugs
combine as 1 - prod(1 - r), capped.

A person is **flagged** when any rule set listed under *Which rule sets flag* fires: of
the LDL age-band rule, DLCN above the NICE referral score, Simon Broome definite or
possible, and MEDPED. Simon Broome is computed and shown for every person but does not
flag by default: it classifies patients already suspected of FH, and as a population
screen it flagged 82 people at a PPV of 0.07 on the synthetic sample. Flagged people with an
**exclusion** (a secondary cause near the index sample, a known FH diagnosis E78.0, or a
positive genetic test) are listed with the reason but not referred; known cases become
cascade index cases. **High** priority: DLCN definite, or untreated LDL at or above the
high-priority level.

Items routine data cannot give (tendon xanthoma, arcus cornealis, a relative's xanthoma,
DNA when never tested) are shown as *not available*, never scored as zero. Family history
uses linked relatives: first-degree (parents, siblings, children) and second-degree
(grandparents, aunts and uncles, grandchildren, nieces and nephews). The 95th percentile
of LDL by sex and age band is computed from each run's population (index untreated LDL,
one value per person); bands with too few people use the fallback table.
"""

SECTIONS = {
    "flagging": "Which rule sets flag",
    "ldl": "LDL calculation",
    "referral": "LDL age-band rule, priority and re-referral",
    "secondary_causes": "Secondary causes (exclusions)",
    "treatment": "Untreated-LDL estimate",
    "dlcn": "Dutch Lipid Clinic Network score",
    "percentiles": "LDL percentiles",
    "simon_broome": "Simon Broome",
    "medped": "MEDPED",
    "cascade": "Cascade testing",
}


def _entries_table(entries: dict[str, Any]) -> list[str]:
    rows = ["| setting | value | unit | meaning | source |", "|---|---:|---|---|---|"]
    for key, e in entries.items():
        if isinstance(e, dict) and "value" in e:
            rows.append(f"| `{key}` | {e['value']} | {e['unit']} | {e.get('note', '')} | "
                        f"{e['source']} |")
        elif isinstance(e, list) and all(isinstance(v, str) for v in e):
            rows.append(f"| `{key}` | {', '.join(e)} | | | config comment |")
    return rows if len(rows) > 2 else []


def render(thresholds: dict[str, Any] | None = None) -> str:
    t = thresholds or load_thresholds()
    out = [INTRO]
    for section, title in SECTIONS.items():
        entries = t[section]
        out += [f"## {title}", ""]
        out += _entries_table(entries)
        if section == "treatment":
            out += ["", "| ATC | drug | reduction by daily dose | if dose unknown | source |",
                    "|---|---|---|---:|---|"]
            for atc, d in entries["drugs"].items():
                doses = ", ".join(f"{mg} mg: {r:.0%}" for mg, r in d["doses"].items()) or "-"
                out.append(f"| {atc} | {d['name']} | {doses} | {d['default']:.0%} | "
                           f"{d['source']} |")
        if section == "percentiles":
            fb = entries["fallback"]
            out += ["", f"Fallback 95th percentiles (mmol/L), {fb['source']}:", "",
                    "| age | men | women |", "|---|---:|---:|"]
            out += [f"| {b['from_age']}-{b['to_age']} | {b['M']} | {b['F']} |"
                    for b in fb["bands"]]
        if section == "medped":
            out += [f"Total-cholesterol cut-offs (mmol/L), {entries['source']}; met when an "
                    "untreated value is at or above the cut-off for the age at that sample "
                    "and the closest relative with known FH:", "",
                    "| age | first-degree | second-degree | third-degree | general |",
                    "|---|---:|---:|---:|---:|"]
            out += [f"| {b['from_age']}-{b['to_age']} | {b['first']} | {b['second']} | "
                    f"{b['third']} | {b['general']} |" for b in entries["bands"]]
            out += ["", "Third-degree relatives are not derived from the relation data "
                    "(the column is shown for completeness)."]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write(path: Path = DOC_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
