"""The binned route of tree_predict gives bit-for-bit the probabilities of scikit-learn's
own predict_proba, on the shipped model's members, for real features (the sample's
screened people), missing values, and values outside anything seen in training."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

from fh_screening.model import load_model
from fh_screening.tree_predict import _binned_route, member_probability


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
    assert all(_binned_route(m) is not None for m in shipped.estimator.members)


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
    assert _binned_route(member) is None
    assert np.array_equal(member_probability(member, X), member.predict_proba(X)[:, 1])
    assert member_probability(member, X[:0]).shape == (0,)
