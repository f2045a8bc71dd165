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
