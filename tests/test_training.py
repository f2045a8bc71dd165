"""Training end to end on small synthetic worlds: held-out worlds, the card's numbers,
determinism, the members' range, and the Prefect training flow on a store without truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fh_screening.model import build_features, feature_matrix, feature_names, load_model
from fh_screening.store import connect
from fh_screening.training import train, world_sets

PEOPLE = 8_000  # per region and world: three worlds hold about 90 screened carriers
WORLDS = (1, 2, 3)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("training")
    sets = world_sets(work, WORLDS, PEOPLE, seed=11)
    card = train(sets, work / "models", description="test worlds")
    return sets, work / "models", card


def test_every_number_comes_from_a_held_out_world(trained):
    sets, models, card = trained
    ev = card["evaluation"]
    assert [s.name for s in sets] == ["world-1", "world-2", "world-3"]
    assert ev["held_out"] == "worlds" and ev["label"] == "truth"
    assert [r["held_out"] for r in ev["per_held_out"]] == ["world-1", "world-2", "world-3"]
    assert card["training_data"]["true_carriers"] >= 60
    for kind in ("logistic_regression", "gradient_boosting"):
        truth = ev["candidates"][kind]["truth (carrier)"]
        assert truth["n"] == card["training_data"]["screened"]
        assert 0.85 < truth["roc_auc"] <= 1.0
        # calibrated to the carrier rate, not to the rarer positive test
        assert truth["mean_predicted"] == pytest.approx(truth["observed_rate"], rel=0.5)
    assert {r["capacity_per_100k"] for r in ev["capacity"]} == {50, 100, 200}
    rankings = {r["ranking"] for r in ev["capacity"]}
    assert {"the run's list", "model probability", "DLCN points, then untreated LDL",
            "highest LDL measured off treatment"} <= rankings
    for row in ev["capacity"]:
        assert row["carriers_found"] <= row["referred"] <= row["slots"]
    # each world fills its own slots: the summed table adds the per-world ones
    per_world = [r for r in ev["capacity_per_set"] if r["capacity_per_100k"] == 100
                 and r["ranking"] == "the run's list"]
    summed = next(r for r in ev["capacity"] if r["capacity_per_100k"] == 100
                  and r["ranking"] == "the run's list")
    assert summed["carriers_found"] == sum(r["carriers_found"] for r in per_world)
    tiers = {r["group"]: r for r in ev["tiers"]}
    assert tiers["high"]["ppv"] > 10 * tiers["not referred"]["ppv"]
    assert (models / "CURRENT").read_text().strip() == card["version"]


def test_the_model_is_one_member_per_held_out_world_and_shows_their_range(trained):
    sets, models, card = trained
    loaded = load_model(models)
    assert len(loaded.estimator.members) == len(WORLDS)
    X = feature_matrix(sets[0].frame, sets[0].features)
    mean, low, high = loaded.estimator.predict_range(X)
    assert np.all(low <= mean + 1e-12) and np.all(mean <= high + 1e-12)
    assert np.allclose(mean, loaded.estimator.predict_proba(X)[:, 1])
    assert float(np.max(high - low)) > 0  # members differ: the range says something


def test_training_is_deterministic(trained, tmp_path):
    sets, models, card = trained
    again = train(sets, tmp_path / "models", description="test worlds", make_current=False)
    assert again["version"] == card["version"]
    first, second = load_model(models), load_model(tmp_path / "models", again["version"])
    X = feature_matrix(sets[1].frame, sets[1].features)
    assert np.array_equal(first.estimator.predict_proba(X), second.estimator.predict_proba(X))


def test_a_store_without_truth_trains_on_tests_through_the_flow(prefect_harness, tmp_path):
    """A region's own store has no truth: the flow trains on positive genetic tests,
    holding out families, and the card has label-only metrics and no capacity table.
    (The default world tests more people than the drawn ones: ~30 positive tests.)"""
    from fh_screening.store import Workspace
    from fh_screening.training import synthesise_world
    from fh_screening.worlds import DEFAULT_WORLD
    from flows.training import training_flow

    ws, _ = synthesise_world(tmp_path / "region", DEFAULT_WORLD, 15_000, seed=11)
    card = training_flow(work=str(tmp_path), models_dir=str(tmp_path / "models"),
                         store_home=str(ws.home))
    ev = card["evaluation"]
    assert ev["label"] == "test" and ev["held_out"] == "families"
    assert [r["held_out"] for r in ev["per_held_out"]] == [f"fold {i}" for i in range(1, 6)]
    for by in ev["candidates"].values():
        assert set(by) == {"label (positive test)"}
    assert ev["capacity"] == []
    saved = json.loads((tmp_path / "models" / card["version"] / "model_card.json").read_text())
    assert saved["label"].startswith("a positive genetic test")
    assert len(load_model(tmp_path / "models", card["version"]).estimator.members) == 5
    con = connect(Workspace(ws.home).store_path)
    try:
        names = feature_names(build_features(con))
    finally:
        con.close()
    assert names == saved["features"]


def test_world_commands_keep_the_world_dialects_whatever_regions_are_configured(
        monkeypatch, tmp_path):
    """A third shipped region (issue 22) must not change what `evaluate` and
    `drift-reference` rebuild: the shipped model's worlds are written in two dialects."""
    from fh_screening import cli, world_eval
    from fh_screening import training as training_module
    from fh_screening.config import list_regions

    class Captured(Exception):
        pass

    def capture(position):
        def called(*args, **kwargs):
            raise Captured(args[position])
        return called

    assert len(list_regions()) >= 3
    # evaluate_worlds(work, model, worlds, people, seed, regions); world_sets(work, worlds,
    # people, seed, regions)
    monkeypatch.setattr(world_eval, "evaluate_worlds", capture(5))
    monkeypatch.setattr(training_module, "world_sets", capture(4))
    parser = cli.build_parser()
    for argv in (["--home", str(tmp_path), "evaluate"],
                 ["--home", str(tmp_path), "drift-reference"]):
        args = parser.parse_args(argv)
        run = cli.cmd_evaluate if args.command == "evaluate" else cli.cmd_drift_reference
        with pytest.raises(Captured) as got:
            run(args)
        assert tuple(got.value.args[0]) == tuple(sorted(training_module.WORLD_REGIONS)), argv
