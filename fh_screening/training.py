"""Training the risk model: data, candidate comparison, honest evaluation, the artifact.

Why a synthetic training population by default: the shipped sample (8,000 people) holds
six positive genetic tests, far too few to fit anything, and real labels must not enter
the repository. `fh-screening train` therefore simulates a larger population with a seed
that is not the samples' (so the samples stay unseen), runs it through the same ingest
and criteria as a screening run, and trains on that store. A region with its own data
trains on its own store instead (`--store`), with the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sklearn

from fh_screening import model_eval
from fh_screening.criteria import run_criteria
from fh_screening.evaluate import load_truth
from fh_screening.model import (
    ARTIFACT_FORMAT,
    MODEL_NAME,
    REASON_DTYPE,
    build_features,
    feature_matrix,
    feature_names,
    fit_model,
    model_version,
    out_of_fold,
    save_model,
)
from fh_screening.privacy import load_key
from fh_screening.store import Workspace, connect, mark_demo_workspace

log = logging.getLogger(__name__)
Progress = Callable[[str], None]

TRAINING_SEED = 20261126  # not the samples' seed (20261125): the samples stay unseen
TRAINING_PEOPLE_PER_REGION = 100_000
MODEL_SEED = 42
SELECTION_METRIC = "average_precision"  # on genetic-test labels, held-out families

LABEL = ("a positive genetic test for an FH variant by the as-of date "
         "(genetic_tests.result = 'positive'); everyone screened but not tested positive "
         "counts as negative (positive-unlabelled: untested carriers are labelled 0)")
INTENDED_USE = (
    "Rank people already screened by fh-screening (one or more LDL results in a regional "
    "extract) by their probability of carrying FH, so that lipid-clinic referral slots "
    "go to likely carriers first. It supports, never replaces, the clinical criteria "
    "(DLCN, Simon Broome) and a clinician's judgement; it is not a diagnosis.")
LIMITS = [
    "Trained and measured on synthetic populations (fh_screening.synth); real regions "
    "must retrain on their own data (`fh-screening train --store`) and re-check the card "
    "before use.",
    "The probability is calibrated to the label (a positive genetic test), which only a "
    "biased minority ever get: it understates the probability of carrying FH for people "
    "who resemble the untested (see Label bias).",
    "People with known FH, a positive test or a secondary cause are scored but never "
    "referred by the model (exclusions in sql/model/priority.sql).",
    "Children are few in lipid-panel data; the model's numbers for children are not "
    "measured separately.",
    "Reasons are model-agnostic attributions (one feature reset to its population median "
    "at a time), not causal statements.",
]


def synthesise_training_store(work: Path, people_per_region: int = TRAINING_PEOPLE_PER_REGION,
                              seed: int = TRAINING_SEED,
                              regions: tuple[str, ...] = ("syddanmark", "midtjylland"),
                              progress: Progress | None = None) -> tuple[Workspace, Path]:
    """Simulate extracts into `<work>/extracts` and ingest them into `<work>/store`
    through the same ingest and validation as a screening run. Returns the workspace and
    the truth table's path."""
    from fh_screening.pipeline import ingest_step
    from fh_screening.synth import write_samples

    say = progress or (lambda _msg: None)
    extracts = work / "extracts"
    say(f"simulating {people_per_region:,} people per region (seed {seed})")
    write_samples(extracts, people_per_region=people_per_region, seed=seed, regions=regions)
    ws = Workspace(work / "store")
    mark_demo_workspace(ws)  # synthetic people: the one kind of workspace with a demo key
    for region in regions:
        say(f"ingesting the training extracts of {region}")
        ingest_step(ws, region, extracts / region, progress=progress)
    return ws, extracts / "truth.csv"


def training_frame(ws: Workspace, regions: list[str], as_of: date | None,
                   truth_path: Path | None) -> tuple[pl.DataFrame, list[str], int, date]:
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
            "coalesce(genetic_tested, false) as tested, len(exclusions) = 0 as referable, "
            "exclusions, "
            "dlcn_points, simon_broome, flagged, tier, index_untreated_ldl as rank_ldl "
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
    frame = features.with_columns(family=pl.Series(families)).join(
        info, on="person_id", how="left")
    if truth_path is not None:
        key = load_key(ws.key_path)
        truth = load_truth(truth_path, key).select("person_id", "fh_carrier")
        frame = frame.join(truth, on="person_id", how="left").with_columns(
            pl.col("fh_carrier").fill_null(False))
    return frame.sort("person_id"), feature_names(features), adults, as_of


def _priority(frame: pl.DataFrame, prob: np.ndarray, thresholds: dict[str, Any]) -> pl.DataFrame:
    """The evaluation frame with `probability` and the tier of sql/model/priority.sql,
    run by that same SQL file in a scratch DuckDB (one rule, one place)."""
    import duckdb

    from fh_screening.criteria import threshold_params
    from fh_screening.store import run_sql

    scored = frame.with_columns(probability=pl.Series(prob))
    con = duckdb.connect()
    try:
        run_sql(con, "schema/store")
        people = scored.select("person_id", "region", "flagged", "tier", "exclusions")
        # priority.sql scores the people of the screening (int_screening_results, scope_b)
        # and clears stale rows of people no longer screened (screening_results).
        for name in ("screening_results", "int_screening_results"):
            con.register(name, people)
        con.register("scope_b", people.select("person_id"))
        con.register("model_probabilities", scored.select(
            "person_id", fh_probability="probability",
            model_reason_features=pl.lit([], dtype=REASON_DTYPE)))
        run_sql(con, "model/priority", {**threshold_params({"model": thresholds}),
                                        "regions": scored["region"].unique().to_list(),
                                        "as_of": date(2000, 1, 1), "model_version": "eval"})
        tiers = con.sql("select person_id, priority_tier from model_scores").pl()
    finally:
        con.close()
    return scored.join(tiers, on="person_id", how="left", maintain_order="left")


def tier_table(referable: pl.DataFrame) -> list[dict[str, Any]]:
    """People, true carriers and PPV per priority tier, and for the model's additions
    (referred only because of the probability): the evidence behind the tier thresholds."""
    groups = {
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


def evaluate(frame: pl.DataFrame, names: list[str], adults: int, seed: int,
             thresholds: dict[str, Any], progress: Progress | None = None) -> dict[str, Any]:
    """All held-out numbers for the card; picks the model kind by SELECTION_METRIC."""
    say = progress or (lambda _msg: None)
    X = feature_matrix(frame, names)
    y = frame["label"].to_numpy().astype(int)
    groups = frame["family"].to_numpy()
    truth = frame["fh_carrier"].to_numpy().astype(int) if "fh_carrier" in frame.columns else None
    tested = frame["tested"].to_numpy()

    def outcomes(p: np.ndarray, idx: np.ndarray | None = None) -> dict[str, Any]:
        """Metrics of predictions `p` for the people `idx` (all when None)."""
        sel = slice(None) if idx is None else idx
        out = {"label (positive test)": model_eval.scores(y[sel], p)}
        if truth is not None:
            out["truth (carrier)"] = model_eval.scores(truth[sel], p)
        return out

    oof: dict[str, np.ndarray] = {}
    candidates = {}
    for kind in ("logistic_regression", "gradient_boosting"):
        say(f"cross-validating {kind} (5 folds held out by family)")
        oof[kind] = out_of_fold(kind, X, y, groups, seed)
        candidates[kind] = outcomes(oof[kind])
    selected = max(candidates, key=lambda k: candidates[k]["label (positive test)"]
                   [SELECTION_METRIC] or 0.0)
    p = oof[selected]

    say("cross-region: training on one region, testing on the other")
    regions = sorted(frame["region"].unique().to_list())
    cross = []
    for train_region in regions:
        for test_region in regions:
            if train_region == test_region:
                continue
            tr = (frame["region"] == train_region).to_numpy()
            te = (frame["region"] == test_region).to_numpy()
            model = fit_model(selected, X[tr], y[tr], groups[tr], seed)
            pred = model.predict_proba(X[te])[:, 1]
            cross.append({"train": train_region, "test": test_region,
                          "metrics": outcomes(pred, np.flatnonzero(te))})

    say("label bias: training on tested people only")
    tested_only = np.full(len(y), np.nan)
    from sklearn.model_selection import StratifiedGroupKFold
    for tr, te in StratifiedGroupKFold(5, shuffle=True, random_state=seed).split(X, y, groups):
        keep = tr[tested[tr]]
        model = fit_model(selected, X[keep], y[keep], groups[keep], seed)
        tested_only[te] = model.predict_proba(X[te])[:, 1]
    label_bias = {
        f"{selected}, untested as negative (used)": outcomes(p),
        f"{selected}, trained on tested people only": outcomes(tested_only),
        f"{selected}, used model, scored on tested people only": outcomes(
            p[tested], np.flatnonzero(tested)),
    }

    reliability = {"vs label (positive test)": model_eval.reliability(y, p)}
    capacity: list[dict[str, Any]] = []
    tiers: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    if truth is not None:
        reliability["vs truth (carrier)"] = model_eval.reliability(truth, p)
        referable = _priority(frame, p, thresholds).filter(pl.col("referable"))
        capacity = model_eval.capacity_table(referable, adults, outcome="fh_carrier")
        curve = model_eval.capacity_table(referable, adults, model_eval.PLOT_CAPACITIES,
                                          outcome="fh_carrier")
        tiers = tier_table(referable)
        tested_rank = _priority(frame, tested_only, thresholds).filter(pl.col("referable"))
        for row in model_eval.capacity_table(tested_rank, adults, outcome="fh_carrier"):
            if row["ranking"] == "model":
                capacity.append({**row, "ranking": "model trained on tested only"})
        capacity.sort(key=lambda r: r["capacity_per_100k"])
    return {
        "adults": adults, "selected": selected, "candidates": candidates,
        "cross_region": cross, "label_bias": label_bias, "reliability": reliability,
        "capacity": capacity, "capacity_curve": curve, "tiers": tiers,
        "label_bias_note": (
            "Labels are positive genetic tests; testing follows known FH, relatives of known "
            "FH and high LDL, so most carriers are untested and labelled negative. The model "
            "is trained on everyone screened (untested = negative) and selected on labels, "
            "which a region can do with its own data. The synthetic truth then measures the "
            "bias: metrics against true carrier status, against labels, and on the tested "
            "subset only (what a study of tested people would report), and a model trained "
            "on tested people only." if truth is not None else
            "No truth table: metrics are against genetic-test labels only."),
    }


def train(ws: Workspace, models_dir: Path, *, regions: list[str], truth_path: Path | None,
          description: str, as_of: date | None = None, seed: int = MODEL_SEED,
          make_current: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate the candidates, fit the chosen one on everyone, write the artifact."""
    from fh_screening.config import load_thresholds

    say = progress or (lambda _msg: None)
    thresholds = load_thresholds()["model"]
    frame, names, adults, as_of = training_frame(ws, regions, as_of, truth_path)
    if int(frame["label"].sum()) < 20:
        raise ValueError(f"only {int(frame['label'].sum())} positive genetic tests in the "
                         "store: too few to train a model (need at least 20)")
    evaluation = evaluate(frame, names, adults, seed, thresholds, progress)
    selected = evaluation["selected"]
    say(f"fitting {selected} on all {frame.height:,} screened people")
    X = feature_matrix(frame, names)
    y = frame["label"].to_numpy().astype(int)
    estimator = fit_model(selected, X, y, frame["family"].to_numpy(), seed)
    reference = {n: float(np.nanmedian(X[:, j])) if np.isfinite(X[:, j]).any() else 0.0
                 for j, n in enumerate(names)}
    card = {
        "name": MODEL_NAME,
        "version": model_version(estimator, X, names),
        "artifact_format": ARTIFACT_FORMAT,
        "sklearn_version": sklearn.__version__,
        "features": names,
        "reference_values": reference,
        "label": LABEL,
        "intended_use": INTENDED_USE,
        "limits": LIMITS,
        "calibration": "Platt scaling (CalibratedClassifierCV, sigmoid, 3 family-grouped folds)",
        "selected": {"kind": selected, "metric": f"{SELECTION_METRIC} on genetic-test labels, "
                                                 "held-out families"},
        "seed": seed,
        "training_data": {
            "description": description, "as_of": as_of.isoformat(), "regions": regions,
            "screened": frame.height, "tested": int(frame["tested"].sum()),
            "label_positives": int(frame["label"].sum()),
            "true_carriers": int(frame["fh_carrier"].sum()) if "fh_carrier" in frame.columns
            else None,
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
