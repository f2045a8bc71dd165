"""Training the risk model across a family of synthetic worlds, and its honest evaluation.

Why worlds: the first model was trained and tested on one generator's population and
looked excellent there (AUC 0.97, PPV 0.80 at clinic capacity); on a population written
independently, with the noise of real practice, it was no better than the DLCN score and
its probabilities were 2.4x too high. A figure measured on the world a model was built for
cannot be trusted. So `fh-screening train` draws several worlds from the generator's
uncertain assumptions (`fh_screening.worlds`: statin response and adherence, the polygenic
tail, diagnosis and testing habits, ...), runs each through the same ingest and criteria
as a screening run, and holds whole worlds out: every number in the card comes from a
world the model it measures never saw. `fh-screening evaluate` then measures the shipped
model on further worlds that training never touched (`fh_screening.world_eval`).

Label: on synthetic worlds the truth (carrier or not) is known, so the model learns and
is calibrated to carrying FH, not to the rarer and biased positive genetic test. A region
training on its own store (`--store`) has only test results: then the label is a positive
test and the card says so; the label-only metrics are what a region would see.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sklearn

from fh_screening import drift, model_eval
from fh_screening.criteria import run_criteria
from fh_screening.evaluate import load_truth
from fh_screening.model import (
    ARTIFACT_FORMAT,
    MODEL_NAME,
    REASON_DTYPE,
    Ensemble,
    build_features,
    feature_matrix,
    feature_names,
    fit_model,
    model_version,
    save_model,
)
from fh_screening.privacy import load_key
from fh_screening.store import Workspace, connect, mark_demo_workspace

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

TRAINING_SEED = 20261126  # not the samples' seed (20261125): the samples stay unseen
# Worlds drawn for training (fh_screening.worlds.draw_world); evaluation uses others
# (world_eval.EVALUATION_WORLD_SEEDS), never these.
TRAINING_WORLD_SEEDS = (1, 2, 3, 4, 5, 6)
# The dialects a synthetic world is written in: the recipe of the shipped model and its
# evaluation. Fixed, not "every configured region": adding a region to config/ must not
# change what `train`, `evaluate` or `drift-reference` rebuild (docs/architecture.md).
WORLD_REGIONS: tuple[str, ...] = ("syddanmark", "midtjylland")
TRAINING_PEOPLE_PER_REGION = 25_000
MODEL_SEED = 42
SELECTION_METRIC = "average_precision"  # against the outcome, on held-out worlds
KINDS = ("logistic_regression", "gradient_boosting")

LABELS = {
    "truth": ("carrying an FH variant (the synthetic truth); the probability is calibrated "
              "to the carrier rate of the training worlds"),
    "test": ("a positive genetic test for an FH variant by the as-of date "
             "(genetic_tests.result = 'positive'); everyone screened but not tested positive "
             "counts as negative (positive-unlabelled: untested carriers are labelled 0)"),
    "returns": ("a lipid clinic's returned finding (FH confirmed clinically or a positive "
                "test = 1; not FH, a secondary cause or a negative test = 0), else a genetic "
                "test in the extracts; people without either are left out "
                "(fh_screening/promotion.py)"),
}
INTENDED_USE = (
    "Rank people already screened by fh-screening (one or more LDL results in a regional "
    "extract) by their probability of carrying FH, so that lipid-clinic referral slots "
    "go to likely carriers first. It supports, never replaces, the clinical criteria "
    "(DLCN, Simon Broome) and a clinician's judgement; it is not a diagnosis.")
LIMITS = [
    "Trained and measured on synthetic worlds (fh_screening.synth with assumptions drawn "
    "by fh_screening.worlds); a real region differs from all of them. Its own numbers "
    "come only from clinic returns and genetic tests, which are biased toward people "
    "already suspected.",
    "The probability's range is the spread of the members, each trained without one "
    "world: how much the answer depends on the assumptions learnt from. It does not "
    "cover everything a real region can differ in.",
    "People with known FH, a positive test or a secondary cause are scored but never "
    "referred by the model (exclusions in sql/model/priority.sql).",
    "Children are few in lipid-panel data; the model's numbers for children are not "
    "measured separately.",
    "Reasons are model-agnostic attributions (one feature reset to its population median "
    "at a time), not causal statements.",
]


@dataclass
class TrainingSet:
    """One world's (or one store's) screened people, with what training needs."""

    name: str
    frame: pl.DataFrame
    features: list[str]
    adults: int
    as_of: date


# ---------------------------------------------------------------------------------------
# Data: worlds through the real ingest and criteria
# ---------------------------------------------------------------------------------------
def synthesise_world(work: Path, world: Any, people_per_region: int, seed: int,
                     regions: tuple[str, ...] = WORLD_REGIONS,
                     progress: Progress | None = None) -> tuple[Workspace, Path]:
    """Simulate one world's extracts into `<work>/extracts` and ingest them into
    `<work>/store` through the same ingest and validation as a screening run. Returns
    the workspace and the truth table's path."""
    from fh_screening.pipeline import ingest_step
    from fh_screening.synth import write_samples

    say = progress or (lambda _msg: None)
    extracts = work / "extracts"
    say(f"simulating {people_per_region:,} people per region (seed {seed}, world "
        f"{getattr(world, 'name', 'default')})")
    write_samples(extracts, people_per_region=people_per_region, seed=seed, regions=regions,
                  world=world)
    ws = Workspace(work / "store")
    mark_demo_workspace(ws)  # synthetic people: the one kind of workspace with a demo key
    write_synthetic_key(ws, seed)
    for region in regions:
        say(f"ingesting the extracts of {region}")
        ingest_step(ws, region, extracts / region, progress=progress)
    return ws, extracts / "truth.csv"


def write_synthetic_key(ws: Workspace, seed: int) -> None:
    """A synthetic workspace's pseudonym key, derived from its population seed: the same
    seed gives the same pseudonyms, so the rows' order, the folds and the model are the
    same on every machine (a random demo key would change them). Synthetic people only:
    a real region's key is never derived from anything."""
    import hashlib
    import os

    if ws.key_path.exists():
        return
    ws.key_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(ws.key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(hashlib.sha256(f"fh-screening synthetic world {seed}".encode()).hexdigest()
                 + "\n")


def training_set(ws: Workspace, regions: list[str], as_of: date | None,
                 truth_path: Path | None, name: str = "store") -> TrainingSet:
    """Features, labels, families and the columns the evaluation ranks by, per screened
    person; plus the number of adults (the capacity denominator) and the as-of date."""
    from fh_screening.model import family_groups
    from fh_screening.pipeline import latest_sample_date

    as_of = as_of or latest_sample_date(ws, regions)
    con = connect(ws.store_path)
    try:
        run_criteria(con, as_of=as_of, regions=regions)
        features = build_features(con)
        info = con.sql(
            "select person_id, coalesce(genetic_positive, false) as label, "
            "coalesce(genetic_tested, false) as tested, "
            "len(exclusions) = 0 or tier = 'urgent' as referable, exclusions, "
            "dlcn_points, simon_broome, flagged, tier, "
            "index_untreated_ldl as rank_ldl "
            "from screening_results").pl()
        adults = con.execute(
            "select count(*) from patients where region in (select unnest($r)) and "
            "(deceased_date is null or deceased_date > $d) and "
            "date_sub('year', birth_date, $d) >= 18", {"r": regions, "d": as_of}
        ).fetchall()[0][0]
        families = family_groups(con, features["person_id"].to_list())
    finally:
        con.close()
    # Families are numbered in the features' order, so attach them before any join; the
    # final sort fixes the row order (joins need not keep it), which the folds depend on.
    frame = features.with_columns(family=pl.Series(families), set=pl.lit(name)).join(
        info, on="person_id", how="left")
    if truth_path is not None:
        key = load_key(ws.key_path)
        truth = load_truth(truth_path, key)
        keep = ["person_id", "fh_carrier"]
        if "ldl_untreated_midlife" in truth.columns:
            truth = truth.rename({"ldl_untreated_midlife": "true_untreated_ldl"})
            keep.append("true_untreated_ldl")
        frame = frame.join(truth.select(keep), on="person_id", how="left").with_columns(
            pl.col("fh_carrier").fill_null(False))
    return TrainingSet(name, frame.sort("person_id"), feature_names(features), adults, as_of)


def world_sets(work: Path, world_seeds: tuple[int, ...] = TRAINING_WORLD_SEEDS,
               people_per_region: int = TRAINING_PEOPLE_PER_REGION, seed: int = TRAINING_SEED,
               regions: tuple[str, ...] = WORLD_REGIONS,
               progress: Progress | None = None) -> list[TrainingSet]:
    """One training set per drawn world, each simulated with its own population seed."""
    from fh_screening.worlds import draw_world

    sets = []
    for i, world_seed in enumerate(world_seeds):
        world = draw_world(world_seed)
        ws, truth = synthesise_world(work / f"world-{world_seed}", world, people_per_region,
                                     seed + i, regions, progress)
        sets.append(training_set(ws, sorted(regions), None, truth, name=f"world-{world_seed}"))
    return sets


def combine(sets: list[TrainingSet]) -> pl.DataFrame:
    """One frame of all sets; families numbered apart per set (a family is in one world)."""
    frames, offset = [], 0
    for s in sets:
        frames.append(s.frame.with_columns(pl.col("family") + offset))
        offset += int(s.frame["family"].max() or 0) + 1
    return pl.concat(frames, how="diagonal_relaxed")


# ---------------------------------------------------------------------------------------
# Held-out evaluation and the members of the model
# ---------------------------------------------------------------------------------------
def held_out_splits(frame: pl.DataFrame, y: np.ndarray, seed: int
                    ) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, train rows, test rows): one world left out at a time when there are several
    worlds, else five folds of whole families (a single store)."""
    names = frame["set"].to_numpy()
    worlds = sorted(set(names.tolist()))
    if len(worlds) > 1:
        return [(w, np.flatnonzero(names != w), np.flatnonzero(names == w)) for w in worlds]
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(5, shuffle=True, random_state=seed)
    return [(f"fold {i + 1}", tr, te) for i, (tr, te) in
            enumerate(folds.split(np.zeros(len(y)), y, frame["family"].to_numpy()))]


def calibration_groups(frame: pl.DataFrame, rows: np.ndarray) -> np.ndarray:
    """Worlds when the training rows hold three or more (the calibration then sees
    worlds the model did not learn from), else families."""
    sets = frame["set"].to_numpy()[rows]
    if len(set(sets.tolist())) >= 3:
        return np.unique(sets, return_inverse=True)[1]
    return frame["family"].to_numpy()[rows]


def _priority(frame: pl.DataFrame, prob: np.ndarray, low: np.ndarray, high: np.ndarray,
              thresholds: dict[str, Any]) -> pl.DataFrame:
    """The evaluation frame with `probability` and the tier of sql/model/priority.sql,
    run by that same SQL file in a scratch DuckDB (one rule, one place)."""
    import duckdb

    from fh_screening.criteria import threshold_params
    from fh_screening.store import run_sql

    scored = frame.with_columns(probability=pl.Series(prob)).with_row_index("_row")
    con = duckdb.connect()
    try:
        run_sql(con, "schema/store")
        # person ids repeat across worlds: the scratch key is the row
        people = scored.select(person_id="_row", region=pl.lit("eval"), flagged="flagged",
                               tier="tier", exclusions="exclusions")
        # priority.sql scores the people of the screening (int_screening_results, scope_b)
        # and clears stale rows of people no longer screened (screening_results).
        for name in ("screening_results", "int_screening_results"):
            con.register(name, people)
        con.register("scope_b", people.select("person_id"))
        con.register("model_probabilities", pl.DataFrame({
            "person_id": scored["_row"], "fh_probability": prob, "fh_probability_low": low,
            "fh_probability_high": high}).with_columns(
                model_reason_features=pl.lit([], dtype=REASON_DTYPE)))
        run_sql(con, "model/priority", {**threshold_params({"model": thresholds}),
                                        "regions": ["eval"], "as_of": date(2000, 1, 1),
                                        "model_version": "eval"})
        tiers = con.sql("select person_id as _row, priority_tier from model_scores").pl()
    finally:
        con.close()
    return (scored.join(tiers.with_columns(pl.col("_row").cast(pl.UInt32)), on="_row",
                        how="left", maintain_order="left").drop("_row"))


def tier_table(referable: pl.DataFrame) -> list[dict[str, Any]]:
    """People, true carriers and PPV per priority tier, and for the model's additions
    (referred only because of the probability): the evidence behind the tier thresholds."""
    groups = {
        "urgent": pl.col("priority_tier") == "urgent",
        "high": pl.col("priority_tier") == "high",
        "standard": pl.col("priority_tier") == "standard",
        "added by the model (not flagged by a rule)": pl.col("priority_tier").is_not_null()
        & ~pl.col("flagged"),
        "flagged by a rule": pl.col("flagged"),
        "not referred": pl.col("priority_tier").is_null(),
    }
    rows = []
    for name, cond in groups.items():
        part = referable.filter(cond)
        found = int(part["fh_carrier"].sum())
        rows.append({"group": name, "people": part.height, "carriers": found,
                     "ppv": round(found / part.height, 3) if part.height else None})
    return rows


def capacity_over_sets(scored: pl.DataFrame, adults: dict[str, int],
                       capacities: tuple[int, ...] = model_eval.CAPACITIES
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The capacity table per set (slots from that set's adults) and summed over sets:
    each world's clinics fill their own slots."""
    per_set, total = [], {}
    for name, n_adults in sorted(adults.items()):
        part = scored.filter(pl.col("set") == name)
        for row in model_eval.capacity_table(part, n_adults, capacities, outcome="fh_carrier"):
            per_set.append({"set": name, **row})
            key = (row["capacity_per_100k"], row["ranking"])
            agg = total.setdefault(key, {"capacity_per_100k": key[0], "ranking": key[1],
                                         "slots": 0, "referred": 0, "carriers_found": 0})
            for k in ("slots", "referred", "carriers_found"):
                agg[k] += row[k]
    summed = [{**r, "ppv": round(r["carriers_found"] / r["referred"], 3) if r["referred"]
               else None} for r in total.values()]
    summed.sort(key=lambda r: (r["capacity_per_100k"], -r["carriers_found"]))
    return summed, per_set


def evaluate(frame: pl.DataFrame, names: list[str], adults: dict[str, int], label: str,
             seed: int, thresholds: dict[str, Any], progress: Progress | None = None
             ) -> dict[str, Any]:
    """Held-out predictions of both candidates, the choice, and every number for the
    card; also returns the chosen kind's members (one per held-out split)."""
    say = progress or (lambda _msg: None)
    X = feature_matrix(frame, names)
    tests = frame["label"].to_numpy().astype(int)
    truth = frame["fh_carrier"].to_numpy().astype(int) if "fh_carrier" in frame.columns else None
    y = truth if label == "truth" else tests
    splits = held_out_splits(frame, y, seed)

    def outcomes(p: np.ndarray, idx: np.ndarray | None = None) -> dict[str, Any]:
        sel = slice(None) if idx is None else idx
        out = {"label (positive test)": model_eval.scores(tests[sel], p)}
        if truth is not None:
            out["truth (carrier)"] = model_eval.scores(truth[sel], p)
        return out

    oof: dict[str, np.ndarray] = {}
    members: dict[str, list[Any]] = {}
    candidates, per_split = {}, {}
    for kind in KINDS:
        say(f"fitting {kind} with each of {len(splits)} held-out parts left out")
        pred = np.full(len(y), np.nan)
        members[kind] = []
        for _, tr, te in splits:
            model = fit_model(kind, X[tr], y[tr], calibration_groups(frame, tr), seed, names)
            pred[te] = model.predict_proba(X[te])[:, 1]
            members[kind].append(model)
        oof[kind] = pred
        candidates[kind] = outcomes(pred)
        per_split[kind] = [{"held_out": name, **outcomes(pred[te], te)} for name, _, te in splits]
    target = "truth (carrier)" if label == "truth" else "label (positive test)"
    selected = max(KINDS, key=lambda k: candidates[k][target][SELECTION_METRIC] or 0.0)
    p = oof[selected]

    reliability = {"vs label (positive test)": model_eval.reliability(tests, p)}
    capacity: list[dict[str, Any]] = []
    capacity_per_set: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    tiers: list[dict[str, Any]] = []
    if truth is not None:
        reliability["vs truth (carrier)"] = model_eval.reliability(truth, p)
        # the held-out probability's range: the other members are not held out from the
        # person, so the card's range is the spread over the splits' members it shows
        scored = _priority(frame, p, p, p, thresholds).filter(pl.col("referable"))
        capacity, capacity_per_set = capacity_over_sets(scored, adults)
        curve, _ = capacity_over_sets(scored, adults, model_eval.PLOT_CAPACITIES)
        tiers = tier_table(scored)
    return {
        "adults": sum(adults.values()), "adults_per_set": adults, "selected": selected,
        "label": label, "held_out": "worlds" if len(adults) > 1 else "families",
        "candidates": candidates, "per_held_out": per_split[selected],
        "reliability": reliability, "capacity": capacity,
        "capacity_per_set": capacity_per_set, "capacity_curve": curve, "tiers": tiers,
        "members": members[selected],
    }


def train(sets: list[TrainingSet], models_dir: Path, *, description: str,
          label: str | None = None, seed: int = MODEL_SEED, make_current: bool = True,
          progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate the candidates on held-out worlds (or families), keep the chosen one's
    members as the model, write the artifact and its card."""
    from fh_screening.config import load_thresholds

    say = progress or (lambda _msg: None)
    thresholds = load_thresholds()["model"]
    frame = combine(sets)
    names = sets[0].features
    if any(s.features != names for s in sets):
        raise ValueError("the training sets were built with different features")
    has_truth = "fh_carrier" in frame.columns
    label = label or ("truth" if has_truth else "test")
    if label == "truth" and not has_truth:
        raise ValueError("label 'truth' needs a truth table (synthetic worlds only)")
    positives = int(frame["fh_carrier" if label == "truth" else "label"].sum())
    if positives < 20:
        raise ValueError(f"only {positives} positive labels ({label}): too few to train a "
                         "model (need at least 20)")
    adults = {s.name: s.adults for s in sets}
    evaluation = evaluate(frame, names, adults, label, seed, thresholds, progress)
    estimator = Ensemble(evaluation.pop("members"))
    X = feature_matrix(frame, names)
    reference = {n: float(np.nanmedian(X[:, j])) if np.isfinite(X[:, j]).any() else 0.0
                 for j, n in enumerate(names)}
    card = {
        "name": MODEL_NAME,
        "version": model_version(estimator, X, names),
        "artifact_format": ARTIFACT_FORMAT,
        "sklearn_version": sklearn.__version__,
        "features": names,
        "reference_values": reference,
        # what every run's features are compared with (fh_screening/drift.py)
        drift.CARD_KEY: drift.training_distribution(X, names),
        "label": LABELS[label],
        "intended_use": INTENDED_USE,
        "limits": LIMITS,
        "calibration": ("Platt scaling (CalibratedClassifierCV, sigmoid, 3 folds grouped by "
                        "world, or by family within one store)"),
        "members": (f"{len(estimator.members)} members, each fitted with one "
                    f"{'world' if len(sets) > 1 else 'fold of families'} left out; the "
                    "probability is their mean, its range their lowest to highest"),
        "selected": {"kind": evaluation["selected"],
                     "metric": f"{SELECTION_METRIC} against the {label} on held-out "
                               f"{evaluation['held_out']}"},
        "seed": seed,
        "training_data": {
            "description": description, "as_of": max(s.as_of for s in sets).isoformat(),
            "sets": [s.name for s in sets],
            "screened": frame.height, "tested": int(frame["tested"].sum()),
            "label_positives": int(frame["label"].sum()),
            "true_carriers": int(frame["fh_carrier"].sum()) if has_truth else None,
        },
        "tier_thresholds": {k: v["value"] for k, v in thresholds.items()},
        "evaluation": {k: v for k, v in evaluation.items() if k != "capacity_curve"},
    }
    calibration_png, capacity_png = model_eval.plot_png(evaluation)
    folder = save_model(estimator, card, models_dir, {
        "model_card.md": model_eval.card_markdown(card).encode(),
        "calibration.png": calibration_png, "capacity.png": capacity_png,
    }, make_current=make_current)
    say(f"model {card['version']} written to {folder}")
    return card



def add_training_distribution(folder: Path, sets: list[TrainingSet]) -> dict[str, Any]:
    """Give a model trained before cards kept it the training data's feature distribution
    (fh_screening/drift.py), rebuilt from the same training sets, without refitting (the
    model file and its version stay as they are). Refused when the rebuilt data are not
    the model's: a different number of screened people or different feature medians."""
    import json
    import os

    from fh_screening.model import CARD_FILE

    path = folder / CARD_FILE
    card = json.loads(path.read_text())
    names = card["features"]
    if any(s.features != names for s in sets):
        raise ValueError(f"{folder.name}: the rebuilt training sets have other features "
                         "than the model (the feature SQL changed since): retrain instead")
    frame = combine(sets)
    X = feature_matrix(frame, names)
    stated = card["training_data"]["screened"]
    medians = {n: float(np.nanmedian(X[:, j])) if np.isfinite(X[:, j]).any() else 0.0
               for j, n in enumerate(names)}
    differ = [n for n in names if not np.isclose(medians[n], card["reference_values"][n])]
    if frame.height != stated or differ:
        raise ValueError(f"{folder.name}: the rebuilt training data are not the model's "
                         f"({frame.height:,} people screened against {stated:,} in its card; "
                         f"medians differ for {', '.join(differ) or 'no feature'}): the "
                         "generator or criteria changed since; retrain instead")
    card[drift.CARD_KEY] = drift.training_distribution(X, names)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return card
