"""docs/worlds.md, generated from `fh_screening.worlds` so the two cannot drift.

Why generated: every parameter's unit, prior range and source live in one place, the
`WorldParams` fields; a hand-written copy would go stale the first time a prior is moved.
The measured table (what each world looks like on one simulated population) is computed
here too, from a fixed seed, so it is reproducible and a test can check the committed
file is what this renders. Regenerate with `fh-screening worlds-doc`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fh_screening.config import PROJECT_ROOT

DOC_PATH = PROJECT_ROOT / "docs" / "worlds.md"

# The measured table: one region's population per world, small enough that the test of
# this file takes seconds (0.5 s per world), large enough for ~120 carriers per world.
MEASURE_PEOPLE = 30_000
MEASURE_SEED = 20261203
MEASURE_REGION = "syddanmark"

# Measured quantities shown, with what the literature or issue 19 says where it says
# something (blank: a synthetic quantity with no published figure to compare).
MEASURES: dict[str, tuple[str, str]] = {
    "adults_untreated_ldl_ge_6_5_per_100k": (
        "adults with true untreated LDL >= 6.5 mmol/L, per 100,000", ""),
    "non_carrier_share_of_untreated_ldl_ge_6_5": (
        "of those, share without an FH variant",
        "about half or more (Talmud 2013, Khera 2016; issue 19)"),
    "polygenic_high_share_of_non_carriers_ge_6_5": (
        "of those non-carriers, share with a high polygenic load (>= 1.5 mmol/L)", ""),
    "carriers_known_e78_0": ("carriers diagnosed (E78.0)",
                             "most undiagnosed, ~15-20 % known (DOMAIN.md)"),
    "undiagnosed_adult_carriers_treated": ("undiagnosed adult carriers on a statin", ""),
    "undiagnosed_adult_carriers_without_panel": (
        "undiagnosed adult carriers never sampled", ""),
    "undiagnosed_sampled_carriers_only_on_treatment": (
        "undiagnosed sampled carriers with on-treatment samples only", ""),
    "adults_treated": ("adults ever on a lipid-lowering drug", ""),
    "treated_partially_adherent": ("treated people taking their drug only partly",
                                   "about 30 % (issue 19); about half by days covered "
                                   "(Chowdhury 2013)"),
    "on_treatment_panels_below_half_nominal": (
        "on-treatment samples with less than half the nominal reduction", ""),
    "nominal_estimate_error_mmol_l": (
        "mean error of measured / (1 - nominal reduction), mmol/L",
        "1.4 mmol/L on the independent population (issue 19)"),
    "panels_per_adult": ("lipid panels per adult over the window", ""),
    "sampled_adults_with_one_panel": ("sampled adults with a single panel", ""),
    "adults_genetic_tested": ("adults with a genetic test", ""),
    "adults_on_ldl_raising_drug": ("adults on an LDL-raising drug at some time", ""),
}

INTRO = """# Synthetic worlds

*Generated from `fh_screening/worlds.py` by `fh-screening worlds-doc`; do not edit by hand.*

## What a world is

The synthetic generator (`fh_screening/synth.py`) makes assumptions the literature leaves
uncertain: how much a statin lowers one person's LDL, how many take it only partly, how
much of very high LDL is polygenic, how often carriers are diagnosed, how patchily people
are tested, how complete the register's family links are. A **world** is one set of
values for all of them: a `WorldParams` (frozen, named by `world_id`, a hash of its values).

Why (issue 19): a risk model trained and tested on one world, the generator's own, looked
excellent there (ROC AUC 0.97, PPV 0.80 at clinic capacity) and was no better than the
DLCN score on an independently written population with the noise of real practice. A
figure measured on the world a model was built for cannot be trusted. So:

- `draw_world(seed)` draws every parameter from its **prior range** (uniform, or
  log-uniform where marked), each parameter from its own random stream, so adding a
  parameter later leaves the other draws of a seed unchanged. Values are rounded to five
  significant digits.
- `fh-screening train` draws worlds 1-6 and trains across them, holding whole worlds out
  for the card's numbers; `fh-screening evaluate` measures the model on worlds 101-105,
  which training never saw (docs/model.md).
- `DEFAULT_WORLD` is the generator as it was before worlds existed: the shipped samples
  (`data_samples/`) and every earlier test depend on it byte for byte. Its new mechanisms
  are switched off (response variation, partial adherence, the polygenic tail, patchy
  testing, LDL-raising drugs, missing family links), so it is **not** a realistic world:
  it is the friendly one the lesson warns about, kept for reproducibility.
- `central_world()` puts every parameter at the middle of its prior range.

Each mechanism the default world switches off draws from its own stream
(`worlds.world_rng`: seed, region, mechanism), so switching one on changes neither the
default world's draws nor another mechanism's: the difference between two populations of
the same seed is the mechanism alone (tests/test_worlds.py measures each one that way).

A world is saved beside a simulated extract as `world.json` (`save_world`, TOML when the
file ends in `.toml`); `load_world` reads it back and refuses a file whose `world_id` no
longer matches its values. In any world but the default, `truth.csv` also holds what the
world did to each person (untreated mid-life LDL, polygenic shift, statin response,
adherence, LDL-raising drug, panels), and the manifest measures the world per region
(`synth.world_summary`, the quantities of the table below).

## Parameters

Default: the value in `DEFAULT_WORLD` (the generator before worlds). Prior range: what
`draw_world` draws from. Sources marked *synthetic assumption* have no published figure
behind them; they are ranges wide enough that the model cannot rely on one value.

"""

MECHANISMS_TEXT = """## How the mechanisms act

- **Polygenic tail** (`polygenic_tail_*`): a share of founders carries a large polygenic
  LDL shift (lognormal), inherited as the mid-parent value like the polygenic score, so
  very high LDL clusters in families without any FH variant. The prior range of the share
  (0.8-3 % of founders) is meant to give what Talmud 2013 and Khera 2016 found: about half
  or more of adults with untreated LDL >= 6.5 mmol/L carry no FH variant. The table's
  second row measures it in every world (the default world, without the tail, is far
  below).
- **Statin response** (`statin_response_sd`): each treated person's reduction is the
  nominal (NICE) one times their own factor N(1, sd), clipped to 0-2 (Boekholdt 2014).
- **Partial adherence** (`partial_adherence_*`, `adherence_sample_sd`): a share of treated
  people take their drug only partly, each with their own mean adherence on [low, high]
  that varies from sample to sample (Chowdhury 2013; issue 19). The pipeline cannot see
  either: it divides by the nominal reduction (docs/criteria.md, *Untreated LDL as
  evidence*), so the table's nominal-estimate error grows with these two.
- **Older undiagnosed carriers** (`older_*`): people born before the cohort year are
  diagnosed (index and cascade) at a lower rate.
- **Patchy testing** (`panel_rate_*`, `pretreatment_panel_rate`, `tsh_share_scale`,
  `ldl_missing_extra`): fewer panels overall, a person-level gamma multiplier (some people
  are rarely sampled), fewer panels before a statin start, fewer TSH results, and panels
  written without LDL (the pipeline then computes Friedewald).
- **LDL-raising drugs** (`ldl_raising_drug_*`): courses of ciclosporin, prednisolone,
  hydrochlorothiazide, isotretinoin or darunavir (DOMAIN.md) raise LDL while taken and are
  written as prescriptions the pipeline reads as possible secondary causes.
- **Family links** (`parent_links_*`, `parent_link_share`): the register links parents
  only for people born from a year on, and not always (DOMAIN.md, *Family contact and
  consent*), so family history and cascade see fewer relatives.
- **Genetic testing** (`genetic_test_rate_*`): who is tested, biased toward people already
  suspected; the label a region sees.
"""


def measured_worlds() -> dict[str, Any]:
    """(name -> world) of the table: default, central, training and evaluation worlds."""
    from fh_screening.training import TRAINING_WORLD_SEEDS
    from fh_screening.world_eval import EVALUATION_WORLD_SEEDS
    from fh_screening.worlds import DEFAULT_WORLD, central_world, draw_world

    worlds: dict[str, Any] = {"default": DEFAULT_WORLD, "central": central_world()}
    for group, seeds in (("training", TRAINING_WORLD_SEEDS),
                         ("evaluation", EVALUATION_WORLD_SEEDS)):
        for seed in seeds:
            worlds[f"{group} {seed}"] = draw_world(seed)
    return worlds


def measure(people: int = MEASURE_PEOPLE, seed: int = MEASURE_SEED
            ) -> dict[str, dict[str, Any]]:
    """`synth.world_summary` of one population per world (same seed and region)."""
    from fh_screening.synth import generate_population, world_summary

    return {name: world_summary(generate_population(people, seed, MEASURE_REGION,
                                                    world=world))
            for name, world in measured_worlds().items()}


def _value(v: Any) -> str:
    return "-" if v is None else f"{v:g}"


def _range(values: list[Any]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "-"
    return f"{min(present):g}-{max(present):g}"


def measured_table(summaries: dict[str, dict[str, Any]]) -> str:
    """Rows: measured quantities; columns: default, central, the range over the training
    worlds and over the evaluation worlds, and the published figure where there is one."""
    training = [s for n, s in summaries.items() if n.startswith("training ")]
    evaluation = [s for n, s in summaries.items() if n.startswith("evaluation ")]
    rows = ["| measured on one population | default | central | training worlds | "
            "evaluation worlds | published / issue 19 |", "|---|---:|---:|---|---|---|"]
    for key, (label, published) in MEASURES.items():
        rows.append(f"| {label} | {_value(summaries['default'][key])} | "
                    f"{_value(summaries['central'][key])} | "
                    f"{_range([s[key] for s in training])} | "
                    f"{_range([s[key] for s in evaluation])} | {published} |")
    return "\n".join(rows) + "\n"


def render(summaries: dict[str, dict[str, Any]] | None = None) -> str:
    from fh_screening.training import TRAINING_WORLD_SEEDS
    from fh_screening.world_eval import EVALUATION_WORLD_SEEDS
    from fh_screening.worlds import parameter_table

    summaries = summaries if summaries is not None else measure()
    adults = summaries["default"]["adults"]
    return "\n".join([
        INTRO + parameter_table(),
        MECHANISMS_TEXT,
        "## What the worlds look like",
        "",
        f"Each world simulated once for {MEASURE_PEOPLE:,} people of {MEASURE_REGION} "
        f"(population seed {MEASURE_SEED}, about {adults:,} adults alive at the end of the "
        f"extract), measured by `synth.world_summary`. Training worlds: draw_world seeds "
        f"{', '.join(map(str, TRAINING_WORLD_SEEDS))}; evaluation worlds: seeds "
        f"{', '.join(map(str, EVALUATION_WORLD_SEEDS))} (lowest to highest over each "
        "group). \"Untreated LDL\" is the true untreated mid-life level, which no extract "
        "shows; a population of this size holds about 120 carriers, so carrier shares "
        "move by a few points from seed to seed.",
        "",
        measured_table(summaries).rstrip(),
        "",
    ])


def write(path: Path = DOC_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
