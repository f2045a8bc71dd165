"""The binned route of tree_predict gives bit-for-bit the probabilities of scikit-learn's
own predict_proba, on the shipped model's members, for real features (the sample's
screened people), missing values, and values outside anything seen in training."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

from fh_screening import model
from fh_screening.model import load_model
from fh_screening.tree_predict import binned_route, member_probability


@pytest.fixture(scope="module")
def shipped():
    return load_model()


def _hostile_rows(reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Rows around the model's reference values, then with missing values, zeros,
    huge and tiny values, and exactly the trees' own thresholds."""
    n = 3000
    X = reference * rng.lognormal(0, 0.6, size=(n, len(reference)))
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:50] = 0.0
    X[50:100] = 1e12
    X[100:150] = -1e12
    return X


def test_the_binned_route_applies_to_every_shipped_member(shipped):
    assert all(binned_route(m) is not None for m in shipped.estimator.members)


def test_binned_probabilities_equal_predict_proba_exactly(shipped):
    rng = np.random.default_rng(7)
    X = _hostile_rows(shipped.reference, rng)
    for member in shipped.estimator.members:
        est = member.calibrated_classifiers_[0].estimator
        # every tree's own thresholds: the values where the two routes could disagree
        nodes = np.concatenate([t.nodes for (t,) in est._predictors])
        splits = nodes[nodes["is_leaf"] == 0]
        at = np.tile(shipped.reference, (len(splits), 1))
        at[np.arange(len(splits)), splits["feature_idx"]] = splits["num_threshold"]
        rows = np.vstack([X, at, np.nextafter(at, np.inf)])
        expected = member.predict_proba(rows)[:, 1]
        for threads in (1, 2):
            got = member_probability(member, rows, threads)
            assert np.array_equal(got, expected)
    assert 0 < expected.min() < expected.max() < 1


def test_other_members_fall_back_to_predict_proba():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)
    member = CalibratedClassifierCV(LogisticRegression(), cv=3).fit(X, y)
    assert binned_route(member) is None
    assert np.array_equal(member_probability(member, X), member.predict_proba(X)[:, 1])
    assert member_probability(member, X[:0]).shape == (0,)


def test_a_large_batch_cut_into_blocks_on_two_threads_gives_the_numbers_of_one(
        shipped, monkeypatch):
    ensemble = shipped.estimator
    rng = np.random.default_rng(11)
    X = np.vstack([_hostile_rows(shipped.reference, rng) for _ in range(9)])  # 27,000 rows
    assert len(X) >= model.PARALLEL_ROWS_AT_LEAST
    blocks = []
    on_one = type(ensemble)._on_one_thread

    def spy(self, rows):
        blocks.append(len(rows))
        return on_one(self, rows)

    monkeypatch.setattr(type(ensemble), "_on_one_thread", spy)
    monkeypatch.setenv(model.MODEL_THREADS_ENV, "1")
    one = ensemble.member_probabilities(X)
    assert blocks == [27_000]
    monkeypatch.setenv(model.MODEL_THREADS_ENV, "2")
    two = ensemble.member_probabilities(X)
    assert sorted(blocks[1:]) == [13_500, 13_500]
    assert np.array_equal(one, two)
    assert one.shape == (len(ensemble.members), 27_000)
    expected = np.stack([m.predict_proba(X[:500])[:, 1] for m in ensemble.members])
    assert np.array_equal(two[:, :500], expected)


def test_explanations_in_batches_equal_one_prediction_per_feature(shipped, monkeypatch):
    """The changed copies of every feature predicted together, in batches of people,
    give what one prediction per feature gave (the route before issue 23's change)."""
    rng = np.random.default_rng(5)
    X = _hostile_rows(shipped.reference, rng)[140:147]  # 7 people, some extreme values
    k = X.shape[1]
    monkeypatch.setattr(model, "EXPLAIN_ROWS_PER_CALL", 3 * k)  # batches of 3, 3 and 1
    got = model.contributions(shipped.estimator, X, shipped.reference)
    base = model._logit(shipped.estimator.predict_proba(X)[:, 1])
    expected = np.zeros_like(X)
    for j in range(k):
        changed = X.copy()
        changed[:, j] = shipped.reference[j]
        expected[:, j] = base - model._logit(shipped.estimator.predict_proba(changed)[:, 1])
    assert np.array_equal(got, expected)
    assert np.abs(got).max() > 0.1  # some feature moved someone's odds


def _boosted(max_leaf_nodes: int, seed: int = 2):
    """A small calibrated member trained on data with missing values that mean something
    (so some splits send them left and some right)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(3000, 4))
    y = ((X[:, 0] + 0.5 * X[:, 1] + rng.normal(size=3000)) > 0.8).astype(int)
    X[rng.random(X.shape) < 0.2] = np.nan
    y[np.isnan(X[:, 2]) & (rng.random(3000) < 0.5)] = 1  # missing in feature 2: often a carrier
    est = HistGradientBoostingClassifier(max_iter=30, max_leaf_nodes=max_leaf_nodes,
                                         random_state=seed)
    member = CalibratedClassifierCV(est, method="sigmoid", cv=3, ensemble=False).fit(X, y)
    return member, X


def test_trees_as_byte_codes_add_up_to_scikit_learns_raw_scores_exactly(shipped):
    from fh_screening.tree_predict import _compiled_trees, _raw_scores

    member, X = _boosted(max_leaf_nodes=8)
    est = member.calibrated_classifiers_[0].estimator
    trees = _compiled_trees(est)
    assert trees is not None and len(trees) == 30
    nodes = np.concatenate([t.nodes for (t,) in est._predictors])
    assert set(nodes["missing_go_to_left"][nodes["is_leaf"] == 0]) == {0, 1}
    assert np.array_equal(_raw_scores(est, X, 1), est._raw_predict(X).ravel())
    assert np.array_equal(member_probability(member, X), member.predict_proba(X)[:, 1])
    for m in shipped.estimator.members:  # the shipped model takes this route
        assert all(_compiled_trees(e) is not None for e, _ in binned_route(m))


def test_a_tree_of_more_than_eight_splits_leaves_the_member_on_scikit_learns_walk():
    from fh_screening.tree_predict import _compiled_trees, _raw_scores

    member, X = _boosted(max_leaf_nodes=16)
    est = member.calibrated_classifiers_[0].estimator
    assert _compiled_trees(est) is None
    assert np.array_equal(_raw_scores(est, X, 1), est._raw_predict(X).ravel())
    assert np.array_equal(member_probability(member, X), member.predict_proba(X)[:, 1])
