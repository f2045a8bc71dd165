"""Worlds (fh_screening/worlds.py): reproducible draws inside their priors, the default
world's shipped samples unchanged, each mechanism moving the population the way its
documentation says, and docs/worlds.md current.

Each mechanism test simulates the same seed twice, once in the default world and once with
only that mechanism switched on: the mechanisms draw from their own streams, so the
difference between the two populations is the mechanism alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date
from functools import cache

import polars as pl
import pytest

from fh_screening.config import SAMPLES_DIR
from fh_screening.synth import (
    DEFAULT_END,
    DEFAULT_SEED,
    Population,
    generate_population,
    write_samples,
)
from fh_screening.worlds import (
    DEFAULT_WORLD,
    PARAMETERS,
    central_world,
    draw_world,
    info,
    load_world,
    save_world,
)

PEOPLE = 20_000
SEED = 77
REGION = "syddanmark"


@cache
def population(**changes: float) -> Population:
    """One small population of the default world, with `changes` to its parameters."""
    world = DEFAULT_WORLD.model_copy(update=changes) if changes else DEFAULT_WORLD
    return generate_population(PEOPLE, SEED, REGION, world=world)


# ---------------------------------------------------------------------------------------
# Drawing worlds
# ---------------------------------------------------------------------------------------
def test_draw_world_is_reproducible_from_its_seed():
    a, b = draw_world(7), draw_world(7)
    assert a == b and a.world_id == b.world_id
    assert a.drawn_from_seed == 7 and a.name == "drawn-7"
    other = draw_world(8)
    assert other.world_id != a.world_id
    # every parameter differs between two seeds (continuous uniform draws)
    assert all(getattr(a, k) != getattr(other, k) for k in PARAMETERS)


@pytest.mark.parametrize("seed", range(40))
def test_every_drawn_parameter_lies_in_its_prior_range(seed):
    world = draw_world(seed)
    for name in PARAMETERS:
        lo, hi = info(name)["prior"]
        assert lo <= getattr(world, name) <= hi, (seed, name, getattr(world, name), lo, hi)
    assert world.partial_adherence_low <= world.partial_adherence_high


def test_central_world_is_the_middle_of_every_prior():
    world = central_world()
    for name in PARAMETERS:
        lo, hi = info(name)["prior"]
        assert getattr(world, name) == pytest.approx((lo + hi) / 2, rel=1e-4), name


def test_a_saved_world_reads_back_and_an_edited_one_is_refused(tmp_path):
    world = draw_world(3)
    for suffix in (".json", ".toml"):
        path = save_world(world, tmp_path / f"w{suffix}")
        assert load_world(path) == world
    edited = json.loads((tmp_path / "w.json").read_text())
    edited["parameters"]["carrier_rate"] = 0.01
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    with pytest.raises(ValueError, match="does not match its values"):
        load_world(tmp_path / "edited.json")


# ---------------------------------------------------------------------------------------
# The default world is the generator before worlds: the shipped samples, byte for byte
# ---------------------------------------------------------------------------------------
def test_default_world_writes_the_shipped_samples_unchanged(tmp_path):
    shipped = json.loads((SAMPLES_DIR / "manifest.json").read_text())
    manifest = write_samples(tmp_path, people_per_region=shipped["people_per_region"],
                             seed=shipped["seed"], world=DEFAULT_WORLD)
    assert shipped["seed"] == DEFAULT_SEED and shipped["end"] == DEFAULT_END.isoformat()
    assert manifest == shipped  # the same files, rows, checksums, anomalies and summaries
    for name, meta in shipped["files"].items():
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        assert digest == meta["sha256"] == hashlib.sha256(
            (SAMPLES_DIR / name).read_bytes()).hexdigest(), name
    assert not (tmp_path / "world.json").exists()


# ---------------------------------------------------------------------------------------
# Each mechanism changes the population in the direction it says
# ---------------------------------------------------------------------------------------
def _adults(pop: Population) -> pl.DataFrame:
    return pop.truth.join(pop.patients.select("cpr", "birth_date", "deceased_date"),
                          on="cpr").filter(
        ((pl.lit(pop.end) - pl.col("birth_date")).dt.total_days() / 365.25 >= 18)
        & pl.col("deceased_date").is_null())


def on_treatment_reduction(pop: Population) -> float:
    """Mean reduction an on-treatment sample really had (the truth behind the lab value)."""
    return pop.panels.filter(pl.col("reduction_nominal") > 0)["reduction"].mean()


def measured_reduction(pop: Population) -> float:
    """Mean 1 - measured LDL / untreated LDL over on-treatment samples (what the lab shows,
    lab noise included)."""
    ldl = pop.lab_results.filter(pl.col("analyte") == "ldl").select(
        "cpr", "sampled_at", pl.col("value").alias("ldl"))
    on = pop.panels.filter(pl.col("reduction_nominal") > 0).join(ldl, on=["cpr", "sampled_at"])
    return on.select((1 - pl.col("ldl") / pl.col("ldl_untreated")).mean()).item()


def response_spread(pop: Population) -> float:
    """SD of achieved / nominal reduction over on-treatment samples."""
    on = pop.panels.filter(pl.col("reduction_nominal") > 0)
    return on.select((pl.col("reduction") / pl.col("reduction_nominal")).std()).item()


def non_carrier_share_above_6_5(pop: Population) -> float:
    """Of all non-carrier adults, the share with true untreated LDL > 6.5 mmol/L."""
    nc = _adults(pop).filter(~pl.col("fh_carrier"))
    return (nc["ldl_untreated_midlife"] > 6.5).mean()


def older_carriers_diagnosed(pop: Population) -> float:
    known = pop.diagnoses.filter(pl.col("icd10") == "E78.0")["cpr"].unique()
    older = pop.truth.join(pop.patients.select("cpr", "birth_date"), on="cpr").filter(
        pl.col("fh_carrier") & (pl.col("birth_date") < date(1960, 1, 1)))
    return older["cpr"].is_in(known.implode()).mean()


def panels_per_person(pop: Population) -> float:
    return pop.panels.height / pop.patients.height


def single_panel_share(pop: Population) -> float:
    sampled = pop.truth.filter(pl.col("n_panels") > 0)
    return (sampled["n_panels"] == 1).mean()


def tsh_per_panel(pop: Population) -> float:
    return (pop.lab_results["analyte"] == "tsh").sum() / pop.panels.height


def ldl_raising_rise(pop: Population) -> float:
    """Mean LDL rise from LDL-raising drugs over all samples (0 without such drugs)."""
    return pop.panels["ldl_raising_rise"].mean()


def ldl_raising_prescriptions(pop: Population) -> int:
    return pop.prescriptions.filter(~pl.col("atc_code").str.starts_with("C10")).height


def parent_links(pop: Population) -> int:
    return pop.relations.filter(pl.col("relation").is_in(["mother", "father"])).height


def carriers(pop: Population) -> int:
    return int(pop.truth["fh_carrier"].sum())


def genetic_tests(pop: Population) -> int:
    return pop.genetic_tests.height


def treated_high_ldl(pop: Population) -> float:
    """Share of adults with true untreated LDL >= 5 who ever had a lipid-lowering drug."""
    treated = pop.prescriptions.filter(pl.col("atc_code").str.starts_with("C10"))["cpr"]
    high = _adults(pop).filter(pl.col("ldl_untreated_midlife") >= 5.0)
    return high["cpr"].is_in(treated.unique().implode()).mean()


def lab_noise(pop: Population) -> float:
    """SD of measured / true untreated LDL over off-treatment samples without a drug."""
    ldl = pop.lab_results.filter(pl.col("analyte") == "ldl").select(
        "cpr", "sampled_at", pl.col("value").alias("ldl"))
    off = pop.panels.filter(pl.col("reduction") == 0).join(ldl, on=["cpr", "sampled_at"])
    return off.select((pl.col("ldl") / pl.col("ldl_untreated")).std()).item()


# (changes to the default world, the measure, +1: it must rise, -1: it must fall,
#  the least relative change that counts as "measurably")
MECHANISMS: dict[str, tuple[dict[str, float], Callable[[Population], float], int, float]] = {
    "partial adherence lowers the achieved on-treatment reduction": (
        {"partial_adherence_share": 0.4, "partial_adherence_low": 0.0,
         "partial_adherence_high": 0.7}, on_treatment_reduction, -1, 0.10),
    "partial adherence lowers the measured on-treatment reduction": (
        {"partial_adherence_share": 0.4, "partial_adherence_low": 0.0,
         "partial_adherence_high": 0.7}, measured_reduction, -1, 0.10),
    "statin response variation spreads the achieved reduction": (
        {"statin_response_sd": 0.25}, response_spread, 1, 1.0),
    "a polygenic tail raises the share of non-carriers with LDL > 6.5": (
        {"polygenic_tail_share": 0.03}, non_carrier_share_above_6_5, 1, 1.0),
    "older undiagnosed carriers: fewer older carriers diagnosed": (
        {"older_diagnosis_factor": 0.3}, older_carriers_diagnosed, -1, 0.3),
    "patchy testing: fewer panels": ({"panel_rate_scale": 0.5}, panels_per_person, -1, 0.3),
    "panel dispersion: more people with a single panel": (
        {"panel_rate_dispersion": 1.5}, single_panel_share, 1, 0.2),
    "fewer TSH results": ({"tsh_share_scale": 0.4}, tsh_per_panel, -1, 0.3),
    "LDL-raising drugs raise LDL while taken": (
        {"ldl_raising_drug_rate": 0.05}, ldl_raising_rise, 1, 1.0),
    "LDL-raising drugs are written as prescriptions": (
        {"ldl_raising_drug_rate": 0.05}, ldl_raising_prescriptions, 1, 1.0),
    "parent links only from a birth year": (
        {"parent_links_born_from": 1970.0}, parent_links, -1, 0.1),
    "a share of parent links missing": ({"parent_link_share": 0.6}, parent_links, -1, 0.2),
    "a higher carrier rate gives more carriers": ({"carrier_rate": 1 / 150}, carriers, 1, 0.2),
    "more genetic testing of high LDL": (
        {"genetic_test_rate_ldl_high": 0.9, "genetic_test_rate_ldl_raised": 0.6},
        genetic_tests, 1, 0.2),
    "GPs treat high LDL more often": (
        {"gp_treat_high_ldl_factor": 5.0}, treated_high_ldl, 1, 0.2),
    "a larger lab CV adds noise": ({"lab_cv": 0.10}, lab_noise, 1, 0.2),
}


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_each_mechanism_moves_the_population_the_way_it_says(name):
    changes, measure, direction, least = MECHANISMS[name]
    before, after = measure(population()), measure(population(**changes))
    if before == 0:
        assert direction == 1 and after > 0, (name, before, after)
        return
    change = (after - before) / abs(before)
    assert change * direction >= least, (name, before, after)


def test_a_mechanism_leaves_the_main_stream_alone():
    """Partial adherence changes on-treatment samples only: the same people, panels and
    untreated truth, and the same off-treatment lab values."""
    base, partial = population(), population(partial_adherence_share=0.4)
    assert base.patients.equals(partial.patients)
    assert base.panels.select("cpr", "sampled_at", "ldl_untreated").equals(
        partial.panels.select("cpr", "sampled_at", "ldl_untreated"))
    off = base.panels.filter(pl.col("reduction_nominal") == 0).select("cpr", "sampled_at")
    values = [p.lab_results.join(off, on=["cpr", "sampled_at"]).sort(
        "cpr", "sampled_at", "analyte") for p in (base, partial)]
    assert values[0].height > 1000 and values[0].equals(values[1])


def test_extra_missing_ldl_leaves_more_panels_without_ldl(tmp_path):
    shares = []
    for i, world in enumerate((DEFAULT_WORLD, DEFAULT_WORLD.model_copy(
            update={"ldl_missing_extra": 0.2}))):
        manifest = write_samples(tmp_path / str(i), people_per_region=1500, seed=SEED,
                                 regions=(REGION,), world=world)
        region = manifest["regions"][REGION]
        shares.append(region["ldl_not_reported_panels"] / region["summary"]["lipid_panels"])
    assert shares[1] - shares[0] >= 0.15, shares


# ---------------------------------------------------------------------------------------
# docs/worlds.md
# ---------------------------------------------------------------------------------------
def test_committed_worlds_doc_is_current():
    from fh_screening.worlds_doc import DOC_PATH, render

    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/worlds.md is stale: run `fh-screening worlds-doc`")


def test_worlds_doc_lists_every_parameter_with_unit_prior_and_source():
    from fh_screening.worlds_doc import DOC_PATH

    text = DOC_PATH.read_text(encoding="utf-8")
    for name in PARAMETERS:
        m = info(name)
        row = next(line for line in text.splitlines() if f"| `{name}` |" in line)
        assert m["unit"] in row and m["source"] in row, name
        assert m["unit"] and m["source"], name
