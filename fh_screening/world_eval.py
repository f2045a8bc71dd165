"""`fh-screening evaluate`: the shipped model on worlds training never saw, beside the
simple rankings a clinician would use, at fixed clinic capacity.

Why a separate command: the model card's numbers come from worlds held out one at a time
during training, and those worlds still shaped the choice of model. The worlds here are
drawn from other seeds and touch nothing but this report. Each is simulated, ingested and
screened exactly as a run (`pipeline.screen_step` with the model), and then every way of
choosing fills the same slots per 100,000 screened adults: the run's list (urgent, high,
then probability), the model's probability alone, DLCN points then untreated LDL, and the
highest LDL measured off treatment. The truth says who really carries FH; the label-only
numbers (against positive genetic tests) are shown as what a region would see, never as
the headline. An external population with a truth table (`--extract-root`, `--truth`)
is measured the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from fh_screening import model_eval
from fh_screening.evaluate import load_truth
from fh_screening.privacy import load_key
from fh_screening.store import Workspace, connect, mark_demo_workspace
from fh_screening.training import WORLD_REGIONS, capacity_over_sets

Progress = Callable[[str], None]

EVALUATION_WORLD_SEEDS = (101, 102, 103, 104, 105)  # never in training.TRAINING_WORLD_SEEDS
EVALUATION_SEED = 20261201  # population seeds: not training's, not the samples'
EVALUATION_PEOPLE_PER_REGION = 50_000
# Issue 19's bar, over the held-out worlds: the list finds at least LIST_OVER_DLCN times
# the carriers of DLCN-then-LDL at 100 per 100,000, never fewer than the best simple
# ranking at any capacity; calibration error at most half the carrier rate; mean
# predicted within 30 % of it.
LIST_OVER_DLCN = 1.5
MAX_CALIBRATION_ERROR_SHARE = 0.5
MAX_MEAN_PREDICTED_OFF = 0.3

RESULT_COLUMNS = (
    "select s.person_id, m.fh_probability as probability, m.fh_probability_low, "
    "m.fh_probability_high, m.priority_tier, "
    "len(s.exclusions) = 0 or s.tier = 'urgent' as referable, s.dlcn_points, "
    "s.index_untreated_ldl, s.max_off_treatment_ldl, s.flagged, "
    "coalesce(s.genetic_positive, false) as label "
    "from screening_results s join model_scores m using (person_id)")


def screened_frame(ws: Workspace, regions: list[str], as_of: date | None, truth_path: Path,
                   model: str | None, name: str) -> tuple[pl.DataFrame, int]:
    """Screen the store as a run does (the model scores everyone) and return each screened
    person's probability, tier, simple-ranking columns and truth; and the adults."""
    from fh_screening.pipeline import latest_sample_date, screen_step

    as_of = as_of or latest_sample_date(ws, regions)
    screen_step(ws, regions, as_of, model, full=True)
    con = connect(ws.store_path)
    try:
        frame = con.sql(RESULT_COLUMNS).pl()
        adults = con.execute(
            "select count(*) from patients where region in (select unnest($r)) and "
            "(deceased_date is null or deceased_date > $d) and "
            "date_sub('year', birth_date, $d) >= 18", {"r": regions, "d": as_of}
        ).fetchall()[0][0]
    finally:
        con.close()
    truth = load_truth(truth_path, load_key(ws.key_path))
    keep = ["person_id", "fh_carrier"]
    if "ldl_untreated_midlife" in truth.columns:
        truth = truth.rename({"ldl_untreated_midlife": "true_untreated_ldl"})
        keep.append("true_untreated_ldl")
    frame = (frame.join(truth.select(keep), on="person_id", how="left")
             .with_columns(pl.col("fh_carrier").fill_null(False).cast(pl.Boolean),
                           set=pl.lit(name)).sort("person_id"))
    return frame, adults


def measure(frames: dict[str, tuple[pl.DataFrame, int]]) -> dict[str, Any]:
    """Every number of the report from the screened frames of each population."""
    all_rows = pl.concat([f for f, _ in frames.values()], how="diagonal_relaxed")
    adults = {name: n for name, (_, n) in frames.items()}
    capacity, per_set = capacity_over_sets(all_rows.filter(pl.col("referable")), adults)

    def metrics(frame: pl.DataFrame) -> dict[str, Any]:
        p = frame["probability"].to_numpy()
        return {"truth (carrier)": model_eval.scores(frame["fh_carrier"].to_numpy(), p),
                "label (positive test), what a region would see":
                    model_eval.scores(frame["label"].to_numpy(), p)}

    return {
        "populations": {name: {"adults": n, "screened": f.height,
                               "carriers": int(f["fh_carrier"].sum()), **metrics(f)}
                        for name, (f, n) in frames.items()},
        "pooled": metrics(all_rows), "adults": sum(adults.values()),
        "capacity": capacity, "capacity_per_population": per_set,
        "verdict": verdict(capacity, metrics(all_rows)["truth (carrier)"]),
    }


def verdict(capacity: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """Issue 19's bar, each part with the numbers it was judged on."""
    found = {(r["capacity_per_100k"], r["ranking"]): r["carriers_found"] for r in capacity}
    checks = []
    dlcn = found.get((100, "DLCN points, then untreated LDL"), 0)
    listed = found.get((100, "the run's list"), 0)
    checks.append({"check": f"at 100 per 100,000 the list finds >= {LIST_OVER_DLCN}x the "
                            "carriers of DLCN then LDL",
                   "value": f"{listed} vs {dlcn} ({listed / dlcn:.2f}x)" if dlcn else
                   f"{listed} vs 0", "passed": listed >= LIST_OVER_DLCN * dlcn})
    for cap in model_eval.CAPACITIES:
        best = max(found.get((cap, r), 0) for r in model_eval.SIMPLE_RANKINGS)
        mine = found.get((cap, "the run's list"), 0)
        checks.append({"check": f"at {cap} per 100,000 the list finds no fewer than the best "
                                "simple ranking", "value": f"{mine} vs {best}",
                       "passed": mine >= best})
    rate, mean_p, ece = truth["observed_rate"], truth["mean_predicted"], truth["calibration_error"]
    checks.append({"check": "calibration error at most half the carrier rate",
                   "value": f"{ece:.5f} vs {rate:.5f} / 2",
                   "passed": ece <= MAX_CALIBRATION_ERROR_SHARE * rate})
    checks.append({"check": "mean predicted within 30 % of the carrier rate",
                   "value": f"{mean_p:.5f} vs {rate:.5f} ({mean_p / rate:.2f}x)",
                   "passed": abs(mean_p / rate - 1) <= MAX_MEAN_PREDICTED_OFF})
    return {"checks": checks, "passed": all(c["passed"] for c in checks)}


def evaluate_worlds(work: Path, model: str | None = None,
                    world_seeds: tuple[int, ...] = EVALUATION_WORLD_SEEDS,
                    people_per_region: int = EVALUATION_PEOPLE_PER_REGION,
                    seed: int = EVALUATION_SEED,
                    regions: tuple[str, ...] = WORLD_REGIONS,
                    progress: Progress | None = None) -> dict[str, Any]:
    """Simulate each held-out world, screen it with the model, measure them all."""
    from fh_screening.model import load_model_ref
    from fh_screening.training import TRAINING_WORLD_SEEDS, synthesise_world
    from fh_screening.worlds import draw_world

    overlap = sorted(set(world_seeds) & set(TRAINING_WORLD_SEEDS))
    if overlap:
        raise ValueError(f"world seeds {overlap} are training worlds: evaluate on others")
    loaded = load_model_ref(model)
    frames, worlds = {}, {}
    for i, world_seed in enumerate(world_seeds):
        world = draw_world(world_seed)
        ws, truth = synthesise_world(work / f"world-{world_seed}", world, people_per_region,
                                     seed + i, regions, progress)
        name = f"world-{world_seed}"
        frames[name] = screened_frame(ws, sorted(regions), None, truth, model, name)
        worlds[name] = world_summary(world)
    report = measure(frames)
    return {"model_version": loaded.version, "kind": "held-out synthetic worlds",
            "people_per_region": people_per_region, "regions": list(regions),
            "population_seeds_from": seed, "worlds": worlds, **report}


def evaluate_extracts(work: Path, extract_root: Path, truth_path: Path, regions: list[str],
                      model: str | None = None, progress: Progress | None = None
                      ) -> dict[str, Any]:
    """An existing population (extracts per region, and a truth CSV with `cpr` and
    `fh_carrier`), ingested into a fresh workspace under `work` and measured."""
    from fh_screening.model import load_model_ref
    from fh_screening.pipeline import ingest_step

    loaded = load_model_ref(model)
    ws = Workspace(work / "external")
    # a test population with a truth table, never patients: its workspace may use a demo key
    mark_demo_workspace(ws)
    for region in regions:
        ingest_step(ws, region, extract_root / region, progress=progress)
    frames = {"external": screened_frame(ws, sorted(regions), None, truth_path, model,
                                         "external")}
    return {"model_version": loaded.version, "kind": f"external population {extract_root}",
            "regions": regions, **measure(frames)}


def world_summary(world: Any) -> dict[str, Any]:
    """The world's assumptions as plain values, for the report."""
    if hasattr(world, "as_dict"):
        return world.as_dict()
    if hasattr(world, "model_dump"):
        return world.model_dump()
    from dataclasses import asdict, is_dataclass

    return asdict(world) if is_dataclass(world) else {"world": str(world)}


def report_markdown(report: dict[str, Any]) -> str:
    """The evaluation for people: the verdict first, then the tables behind it."""
    lines = [f"# Evaluation of {report['model_version']} on {report['kind']}", ""]
    v = report["verdict"]
    lines += [f"**Verdict: {'passed' if v['passed'] else 'not passed'}.**", "",
              "| check | measured | passed |", "|---|---|---|"]
    lines += [f"| {c['check']} | {c['value']} | {'yes' if c['passed'] else 'no'} |"
              for c in v["checks"]]
    lines += ["", f"## Carriers found at fixed clinic capacity ({report['adults']:,} adults, "
                  "slots per 100,000 adults of each population, summed)", "",
              model_eval.capacity_markdown(report["capacity"]), "",
              "## Model scores against the truth, and what a region would see", "",
              "| population | outcome | n | positives | roc_auc | average_precision | "
              "calibration_error | mean_predicted | observed_rate |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [("pooled", report["pooled"]), *report["populations"].items()]
    for name, by in rows:
        for outcome, m in by.items():
            if not isinstance(m, dict):
                continue
            lines.append(f"| {name} | {outcome} | {m['n']} | {m['positives']} | "
                         f"{m['roc_auc']} | {m['average_precision']} | "
                         f"{m['calibration_error']} | {m['mean_predicted']} | "
                         f"{m['observed_rate']} |")
    if report.get("worlds"):
        lines += ["", "## The worlds (drawn by fh_screening.worlds.draw_world)", "",
                  "```json", json.dumps(report["worlds"], indent=1, sort_keys=True,
                                        default=str), "```"]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md = out.with_suffix(".json"), out.with_suffix(".md")
    js.write_text(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    md.write_text(report_markdown(report))
    return js, md
