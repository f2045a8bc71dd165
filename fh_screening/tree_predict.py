"""The ensemble's members predicted on binned features: the same numbers, sooner.

Why: scoring a national run is one prediction per screened person through six members of
200 gradient-boosted trees each (1M people: 28 s of a 128 s run on one thread; 6M: three
minutes). scikit-learn's `predict_proba` walks every tree over the raw float64 matrix
(280 bytes a person); each member's tree nodes also hold the split as a bin index, so
binning the matrix once per member (uint8, 35 bytes a person) and walking the trees with
`predict_binned` does the same comparisons on data that stays in cache: 1.4-1.5x faster
per member, measured on 200,000 people of the 1M benchmark (docs/scale.md).

It is exact, not an approximation: a value's bin is the first bin whose upper edge is at
or above it, and a node's raw threshold is its bin's upper edge, so `x <= threshold` and
`bin(x) <= bin_threshold` agree for every value, and missing values go to the missing
bin, which follows the node's `missing_go_to_left` in both routes. The raw scores are
summed in the order scikit-learn sums them, and the calibrator is the member's own, so
the probabilities are bit-for-bit those of `predict_proba` (tests/test_tree_predict.py
compares them on real features with missing and extreme values).

It uses scikit-learn internals (`_bin_mapper`, `_predictors`, `_baseline_prediction`),
which is safe only because the version is pinned and a model refuses to load under any
other (model.load_model); a member of any other shape (the logistic candidate, several
calibration folds, categorical features) falls back to `predict_proba`.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV, _SigmoidCalibration
from sklearn.ensemble import HistGradientBoostingClassifier


def binned_route(member: Any) -> list[tuple[HistGradientBoostingClassifier, Any]] | None:
    """The (trees, calibrator) pairs of a member this module can predict, else None."""
    if not isinstance(member, CalibratedClassifierCV):
        return None
    pairs = []
    for calibrated in member.calibrated_classifiers_:
        est = calibrated.estimator
        if (not isinstance(est, HistGradientBoostingClassifier)
                or calibrated.method != "sigmoid" or est.n_trees_per_iteration_ != 1
                or len(calibrated.calibrators) != 1
                or not isinstance(calibrated.calibrators[0], _SigmoidCalibration)
                or list(calibrated.classes) != [0, 1] or list(est.classes_) != [0, 1]
                or (est.is_categorical_ is not None and est.is_categorical_.any())):
            return None
        pairs.append((est, calibrated.calibrators[0]))
    return pairs


def _raw_scores(est: HistGradientBoostingClassifier, X: np.ndarray, threads: int) -> np.ndarray:
    """`est._raw_predict(X)` walked on bins: the baseline plus each tree, in its order."""
    X = est._preprocess_X(X, reset=False)
    mapper = copy.copy(est._bin_mapper)
    mapper.n_threads = threads  # the fitted mapper keeps the training machine's threads
    binned = np.ascontiguousarray(mapper.transform(X))  # a row's bins side by side
    raw = np.zeros(len(X), dtype=est._baseline_prediction.dtype)
    raw += est._baseline_prediction.ravel()[0]
    missing_bin = est._bin_mapper.missing_values_bin_idx_
    for (tree,) in est._predictors:
        raw += tree.predict_binned(binned, missing_bin, threads)
    return raw


def member_probability(member: Any, X: np.ndarray, threads: int = 1) -> np.ndarray:
    """P(carrier) per row of X from one ensemble member, as `member.predict_proba(X)[:, 1]`
    gives it; on `threads` OpenMP threads where the binned route applies."""
    if not len(X):
        return np.zeros(0)
    pairs = binned_route(member)
    if pairs is None:
        return member.predict_proba(X)[:, 1]
    total = np.zeros(len(X))
    for est, calibrator in pairs:  # CalibratedClassifierCV averages its folds
        total += calibrator.predict(_raw_scores(est, X, threads))
    return total / len(pairs)
