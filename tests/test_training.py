"""Training end to end on a small synthetic population: determinism, the card's numbers,
and the Prefect training flow with its model-card artifact."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fh_screening.model import build_features, feature_matrix, feature_names, load_model
from fh_screening.store import connect
from fh_screening.training import synthesise_training_store, train

PEOPLE = 15_000  # per region: ~30 positive tests in all, enough to fit and to check


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    work = tmp_path_factory.mktemp("training")
    ws, truth = synthesise_training_store(work, PEOPLE, seed=11)
    card = train(ws, work / "models", regions=["midtjylland", "syddanmark"], truth_path=truth,
                 description="test population")
    return ws, truth, work / "models", card


def test_card_holds_the_held_out_numbers(small_store):
    _, _, models, card = small_store
    ev = card["evaluation"]
    assert card["training_data"]["label_positives"] >= 20
    assert card["training_data"]["true_carriers"] > card["training_data"]["label_positives"]
    for kind in ("logistic_regression", "gradient_boosting"):
        label = ev["candidates"][kind]["label (positive test)"]
        assert label["n"] == card["training_data"]["screened"]
        assert 0.85 < label["roc_auc"] <= 1.0
    assert {r["capacity_per_100k"] for r in ev["capacity"]} == {50, 100, 200}
    rankings = {r["ranking"] for r in ev["capacity"]}
    assert {"model", "DLCN >= 6", "Simon Broome", "LDL threshold"} <= rankings
    for row in ev["capacity"]:
        assert row["carriers_found"] <= row["referred"] <= row["slots"]
    assert [r["train"] for r in ev["cross_region"]] == ["midtjylland", "syddanmark"]
    tiers = {r["group"]: r for r in ev["tiers"]}
    added = tiers["added by the model (not flagged by a rule)"]["people"]
    assert added <= tiers["high"]["people"] + tiers["standard"]["people"]
    # Referred people are far likelier carriers than those left out.
    assert tiers["high"]["ppv"] > 10 * tiers["not referred"]["ppv"]
    assert (models / "CURRENT").read_text().strip() == card["version"]


def test_training_is_deterministic_and_the_saved_model_scores_the_same(
        small_store, prefect_harness, tmp_path):
    ws, truth, models, card = small_store
    from flows.training import training_flow

    again = training_flow(work=str(tmp_path), models_dir=str(tmp_path / "models"),
                          store_home=str(ws.home))
    # Same store, same seed: same model (the version is a hash of its predictions).
    assert again["version"] == card["version"]
    first, second = load_model(models), load_model(tmp_path / "models")
    con = connect(ws.store_path)
    try:
        features = build_features(con)
    finally:
        con.close()
    X = feature_matrix(features, feature_names(features))
    assert np.array_equal(first.estimator.predict_proba(X), second.estimator.predict_proba(X))
    # The flow trained on a store without a truth table: label metrics only, and equal.
    flow_card = json.loads((tmp_path / "models" / card["version"] / "model_card.json")
                           .read_text())
    for kind, by in card["evaluation"]["candidates"].items():
        assert flow_card["evaluation"]["candidates"][kind] == {
            "label (positive test)": by["label (positive test)"]}
    assert flow_card["evaluation"]["capacity"] == []
