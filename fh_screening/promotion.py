"""Learning from the clinics' returns (issue 21): a model trained on returned outcomes,
promoted only when it beats the current model on returns held out from its training.

Labels (`return_labels`): a lipid clinic's latest finding for a referred patient or a
listed relative (confirmed FH or a positive test = 1; not FH, a secondary cause or a
negative test = 0); people without one but with a genetic test in the extracts are
labelled by the test (positive = 1, else 0). Open and unanswered referrals, and people
never tested, have no label and are left out (not counted as negative: a referral not
yet seen says nothing, and "untested = negative" is the bias docs/model.md measures).

The rule (`decide`): whole families with a returned label are held out (a third, by a
seeded draw), the candidate is trained on every other label, and both the candidate and
the current model score the held-out returns. The candidate is promoted only when its
average precision there is higher than the current model's by more than `MIN_GAIN`, with
at least `MIN_HELD_OUT_POSITIVES` confirmed cases held out; otherwise it is kept beside
the current model, unused. Both sets of numbers and the decision go into the candidate's
card (JSON and Markdown).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fh_screening import model_eval
from fh_screening.model import (
    CARD_FILE,
    CURRENT_FILE,
    LoadedModel,
    feature_matrix,
    load_model,
)
from fh_screening.store import Workspace, connect

HELD_OUT_SHARE = 1 / 3
# Strictly better on the held-out returns; a tie keeps the model clinics already know.
MIN_GAIN = 0.0
# Below this many confirmed cases held out, average precision is too noisy to decide on.
MIN_HELD_OUT_POSITIVES = 5
METRIC = "average_precision"


def return_labels(ws: Workspace) -> pl.DataFrame:
    """(person_id, return_label) from the clinics' latest findings."""
    con = connect(ws.store_path, read_only=True)
    try:
        return con.sql(
            "select person_id, max(case finding when 'confirmed' then 1 else 0 end) "
            "as return_label from current_returns where kind in ('referral', 'relative') "
            "and finding in ('confirmed', 'negative') group by person_id").pl()
    finally:
        con.close()


def require_returns(ws: Workspace) -> int:
    """The number of returned findings (confirmed or not FH) in the store; a clear
    refusal when there is no store or no finding yet, before any training work starts."""
    if not ws.store_path.is_file():
        raise ValueError(f"no screening store at {ws.store_path}: --label returns learns "
                         "from the clinics' returns in a workspace that has run screenings")
    con = connect(ws.store_path, read_only=True)
    try:
        rows, findings = con.execute(
            "select count(*), count(*) filter (where kind in ('referral', 'relative') and "
            "finding in ('confirmed', 'negative')) from current_returns").fetchall()[0]
    finally:
        con.close()
    if not findings:
        raise ValueError(
            f"no clinic returns with a finding in the store at {ws.home} ({rows} returned "
            "row(s), none confirmed FH or not FH yet): nothing to learn from or to judge a "
            "new model on. Returns are read by `fh-screening run` from "
            "<home>/returns/<clinic>/; train with the default label until they come back")
    return int(findings)


def labelled(frame: pl.DataFrame, returns: pl.DataFrame) -> pl.DataFrame:
    """The training frame's people with a label: a return, else a genetic test."""
    out = frame.join(returns, on="person_id", how="left").with_columns(
        pl.col("return_label").is_not_null().alias("from_return"),
        pl.when(pl.col("return_label").is_not_null()).then(pl.col("return_label") == 1)
        .when(pl.col("tested")).then(pl.col("label"))
        .otherwise(None).alias("label"))
    return out.filter(pl.col("label").is_not_null()).drop("return_label")


def split(frame: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(training rows, held-out returns): a share of the families with a returned label is
    held out whole; their other members are left out of training too."""
    families = np.array(sorted(set(frame.filter(pl.col("from_return"))["family"].to_list())))
    rng = np.random.default_rng(seed)
    held = set(rng.permutation(families)[: max(1, round(len(families) * HELD_OUT_SHARE))]
               .tolist()) if len(families) else set()
    in_held = pl.col("family").is_in(list(held))
    return frame.filter(~in_held), frame.filter(in_held & pl.col("from_return"))


def held_out_scores(model: LoadedModel, held_out: pl.DataFrame) -> dict[str, Any]:
    X = feature_matrix(held_out, model.features)
    p = model.estimator.predict_proba(X)[:, 1]
    return {"version": model.version,
            **model_eval.scores(held_out["label"].cast(pl.Int64).to_numpy(), p)}


def decide(candidate: dict[str, Any], current: dict[str, Any], *,
           min_gain: float = MIN_GAIN,
           min_positives: int = MIN_HELD_OUT_POSITIVES) -> dict[str, Any]:
    """The rule, on the two models' held-out numbers: promote or not, and why."""
    positives = candidate["positives"]
    new, old = candidate[METRIC], current[METRIC]
    if positives < min_positives or new is None or old is None:
        return {"promoted": False,
                "why": f"{positives} confirmed case(s) held out (at least {min_positives} "
                       "needed, with both outcomes): too few returns to decide; the current "
                       "model stays"}
    if new > old + min_gain:
        return {"promoted": True,
                "why": f"{METRIC.replace('_', ' ')} on the held-out returns {new:.4f} "
                       f"against {old:.4f} for the current model (more than +{min_gain})"}
    return {"promoted": False,
            "why": f"{METRIC.replace('_', ' ')} on the held-out returns {new:.4f} is not "
                   f"above the current model's {old:.4f} by more than {min_gain}; the "
                   "current model stays"}


def train_from_returns(ws: Workspace, regions: list[str], models_dir: Path,
                       current: LoadedModel, *, seed: int = 42, min_gain: float = MIN_GAIN,
                       as_of: date | None = None) -> dict[str, Any]:
    """Train a candidate on the returns (and tests), judge it against `current` on
    held-out returns, record the decision in its card, and promote it by the rule."""
    from fh_screening.training import TrainingSet, train, training_set

    base = training_set(ws, regions, as_of, None, name="returns")
    frame = labelled(base.frame, return_labels(ws))
    training, held_out = split(frame, seed)
    if not held_out.height:
        raise ValueError("no clinic returns with a finding yet: nothing to learn from or to "
                         "judge a new model on")
    card = train([TrainingSet("returns", training, base.features, base.adults, base.as_of)],
                 models_dir, label="returns", seed=seed, make_current=False,
                 description=(f"The screening store at {ws.home}: {training.height} people "
                              f"labelled by a clinic's return or a genetic test "
                              f"({int(training['from_return'].sum())} returns); "
                              f"{held_out.height} returns of whole families held out to "
                              "judge promotion."))
    candidate = load_model(models_dir, card["version"])
    numbers = {"candidate": held_out_scores(candidate, held_out),
               "current": held_out_scores(current, held_out)}
    decision = decide(numbers["candidate"], numbers["current"], min_gain=min_gain)
    promotion = {"held_out": f"{held_out.height} returns of {held_out['family'].n_unique()} "
                             f"families, not used in training (seed {seed})",
                 "metric": METRIC, "min_gain": min_gain,
                 "min_held_out_positives": MIN_HELD_OUT_POSITIVES, **numbers, **decision}
    record(candidate.path, promotion)
    if decision["promoted"]:
        pointer = models_dir / f".{CURRENT_FILE}.tmp"
        pointer.write_text(candidate.version + "\n")
        pointer.replace(models_dir / CURRENT_FILE)
    return {**card, "promotion": promotion}


def record(folder: Path, promotion: dict[str, Any]) -> None:
    """The decision and both models' held-out numbers in the candidate's card."""
    path = folder / CARD_FILE
    card = json.loads(path.read_text())
    card["promotion"] = promotion
    path.write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    rows = [f"| {name} | {n['version']} | {n['n']} | {n['positives']} | "
            f"{n['average_precision']} | {n['roc_auc']} | {n['brier']} |"
            for name, n in (("candidate (this model)", promotion["candidate"]),
                            ("current", promotion["current"]))]
    md = folder / "model_card.md"
    md.write_text(md.read_text() + "\n## Promotion (clinic returns held out)\n\n"
                  f"Held out: {promotion['held_out']}.\n\n"
                  "| model | version | returns | confirmed | average precision | ROC AUC | "
                  "Brier |\n|---|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) +
                  f"\n\n**{'Promoted' if promotion['promoted'] else 'Not promoted'}**: "
                  f"{promotion['why']}.\n")
