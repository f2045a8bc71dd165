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

## Untreated LDL as evidence

Each person with an LDL value is judged on **one estimate of their untreated LDL, with its
uncertainty**, built from all their usable samples; never on the highest of several noisy
estimates (which picks exactly the inflated ones). LDL per sample is the lab's reported
value, else Friedewald, else Sampson/NIH (method kept).

- **Samples off treatment** are measurements of the person's usual level, varying only by
  within-person biological and analytical variation (`within_person_sd`).
- **Samples on treatment** (a lipid-lowering drug, ATC C10, that started at least
  `effect_onset_days` before the sample and had not ended) are divided by 1 - f x r: r is
  the nominal reduction (NICE table below; statins are one class, so two open statin
  prescriptions are a switch and the one started last counts; ezetimibe and PCSK9
  inhibitors combine as 1 - prod(1 - r), capped), and f (`on_treatment_effect_fraction`)
  the share of it achieved in practice, because response varies between people
  (Boekholdt 2014) and about half of patients take their statin only partly (Chowdhury
  2013). Such an estimate is uncertain (`on_treatment_sd`), and the samples of one regimen
  share that uncertainty (one person's response).
- The samples combine on the log scale by inverse variance: a person with samples before
  and after starting a drug is judged almost entirely on their own off-treatment values,
  and their **observed response** (how much lower on treatment) is shown. The estimate
  comes with an **80 % interval**; clinicians see the measured value, the estimate and
  the interval. The GP chart keeps each sample's nominal estimate, measured / (1 - r).
- A sample taken while a **possible secondary cause** was present (the nearest TSH,
  albumin, ALP with bilirubin within `window_days` pointing to a cause, very high
  triglycerides on the sample, or a drug that raises LDL: `config/code_lists/ldl_raising_drugs.csv`)
  is set aside when the person has samples without one; only when every sample has a
  cause is the person excluded from referral (the cause is named).

The **index sample** shown is the latest sample of the best kind (off treatment if any);
the age bands use the age at it. A measured LDL or an estimate in the **homozygous range**
(above 13 mmol/L in adults, 11 in children) makes the person **urgent**: listed first,
always, whatever the clinic's capacity, with any secondary cause shown.

## Rules

A person is **flagged** when any rule set listed under *Which rule sets flag* fires: of
the LDL age-band rule, DLCN above the NICE referral score, Simon Broome definite or
possible, and MEDPED. Simon Broome is computed and shown for every person but does not
flag by default: it classifies patients already suspected of FH, and as a population
screen it flagged 82 people at a PPV of 0.07 on the synthetic sample. Flagged people with an
**exclusion** (a secondary cause at every LDL sample, a known FH diagnosis E78.0, or a
positive genetic test) are listed with the reason but not referred; known cases become
cascade index cases. **High** priority: DLCN definite, or an untreated-LDL estimate at or
above the high-priority level.

Items routine data cannot give (tendon xanthoma, arcus cornealis, a relative's xanthoma,
DNA when never tested) are shown as *not available*, never scored as zero. Family history
uses linked relatives: first-degree (parents, siblings, children) and second-degree
(grandparents, aunts and uncles, grandchildren, nieces and nephews). The 95th percentile
of LDL by sex and age band is computed from each run's population (untreated-LDL
estimates, one per person); bands with too few people use the fallback table.
"""

SECTIONS = {
    "flagging": "Which rule sets flag",
    "ldl": "LDL calculation",
    "referral": "LDL age-band rule, priority and re-referral",
    "secondary_causes": "Secondary causes (exclusions)",
    "treatment": "Treatment (the nominal reduction)",
    "ldl_evidence": "How sure an untreated-LDL estimate is",
    "homozygous": "Possible homozygous FH (urgent)",
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
