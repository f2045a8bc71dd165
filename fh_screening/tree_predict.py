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

Each tree is then read column-wise rather than walked row by row (`_compile`): a tree of at
most 8 splits (the model's trees have 8 leaves) sends a row to the leaf named by its 8
split decisions, so the decisions are packed into one byte per row, 131,072 rows at a time
(`bin <= threshold` on a column, numpy's vectorised comparison), and the byte indexes a
table of up to 256 leaf values. A missing value is the missing bin, the last, which is above
every threshold; a split sending missing values left compares a copy of the column whose
missing bin is 0, which is at or below every threshold. The leaf values are added tree by
tree in scikit-learn's order, so the sums are the same to the bit. The 601,238 screened
people of the 1M benchmark through the six members on two threads: 3.39 s against 7.12 s
with `predict_binned` (0.48x, `benchmarks/tree_predict_ab.py`). A tree of more splits, or a
threshold at the missing bin, leaves the member on `predict_binned`.
"""

from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass
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


SPLITS_PER_BYTE = 8  # a tree's decisions for a row fit one byte when it has at most 8 splits
BLOCK_ROWS = 131_072  # rows read per tree at a time, per prediction thread


@dataclass(frozen=True)
class _Tree:
    """One tree as a byte code: bit i of a row's code is set when split i sends it left."""

    splits: tuple[tuple[int, int, int], ...]  # per split: column (see _add_trees), threshold, bit
    values: np.ndarray  # the leaf value reached by each code


def _compile(nodes: np.ndarray, missing_bin: int, features: int) -> _Tree | None:
    """The tree's leaf value for each pattern of split decisions, or None when it does not
    fit a byte (more than 8 splits, or a threshold at the missing bin)."""
    split = np.flatnonzero(nodes["is_leaf"] == 0)
    if len(split) > SPLITS_PER_BYTE or (nodes["bin_threshold"][split] >= missing_bin).any():
        return None
    bit = np.zeros(len(nodes), dtype=np.int64)
    bit[split] = np.arange(len(split))
    codes = np.arange(2 ** len(split))
    node = np.zeros(len(codes), dtype=np.int64)
    for _ in range(len(split)):  # one level down per step; a path has at most every split
        left = (codes >> bit[node]) & 1 == 1
        at_split = nodes["is_leaf"][node] == 0
        node = np.where(at_split, np.where(left, nodes["left"][node], nodes["right"][node]),
                        node)
    splits = tuple((int(nodes["feature_idx"][i]) + features * bool(nodes["missing_go_to_left"][i]),
                    int(nodes["bin_threshold"][i]), int(bit[i])) for i in split)
    return _Tree(splits, nodes["value"][node].astype(np.float64))


_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_compiling = threading.Lock()


def _compiled_trees(est: HistGradientBoostingClassifier) -> list[_Tree] | None:
    """The estimator's trees as byte codes, compiled once per loaded model (both prediction
    threads share them); None when one tree does not fit a byte."""
    with _compiling:
        if est not in _compiled:
            missing_bin = est._bin_mapper.missing_values_bin_idx_
            features = est._bin_mapper.n_bins_non_missing_.shape[0]
            trees = [_compile(tree.nodes, missing_bin, features) for (tree,) in est._predictors]
            _compiled[est] = None if any(t is None for t in trees) else trees
        return _compiled[est]


def _add_trees(raw: np.ndarray, trees: list[_Tree], binned: np.ndarray,
               missing_bin: int) -> None:
    """raw += each tree's leaf value, tree by tree, for rows of `binned` (rows x features).
    A split reads row f of the columns (feature f, missing values in the missing bin, above
    every threshold) or row F + f (the same with missing values in bin 0, at or below every
    threshold) when it sends missing values left."""
    columns = np.empty((2 * binned.shape[1], len(binned)), dtype=binned.dtype)  # C order:
    columns[:binned.shape[1]] = binned.T  # a feature's bins side by side
    columns[binned.shape[1]:] = binned.T
    missing_left = columns[binned.shape[1]:]
    missing_left[missing_left == missing_bin] = 0
    n = min(BLOCK_ROWS, len(raw))
    code, decision, value = np.empty(n, np.uint8), np.empty(n, np.uint8), np.empty(n)
    for start in range(0, len(raw), BLOCK_ROWS):
        block = columns[:, start:start + BLOCK_ROWS]
        m = block.shape[1]
        c, d, v, r = code[:m], decision[:m], value[:m], raw[start:start + m]
        for tree in trees:  # numpy's vectorised loops, a few per split (packbits across
            c[:] = 0        # the splits' rows was 8x slower)
            for column, threshold, bit in tree.splits:
                np.less_equal(block[column], threshold, out=d, casting="unsafe")
                np.left_shift(d, bit, out=d)
                np.bitwise_or(c, d, out=c)
            np.take(tree.values, c, out=v)
            np.add(r, v, out=r)


def _raw_scores(est: HistGradientBoostingClassifier, X: np.ndarray, threads: int) -> np.ndarray:
    """`est._raw_predict(X)` on bins: the baseline plus each tree, in its order."""
    X = est._preprocess_X(X, reset=False)
    mapper = copy.copy(est._bin_mapper)
    mapper.n_threads = threads  # the fitted mapper keeps the training machine's threads
    binned = mapper.transform(X)
    raw = np.zeros(len(X), dtype=est._baseline_prediction.dtype)
    raw += est._baseline_prediction.ravel()[0]
    missing_bin = est._bin_mapper.missing_values_bin_idx_
    trees = _compiled_trees(est)
    if trees is not None:
        _add_trees(raw, trees, binned, missing_bin)
        return raw
    binned = np.ascontiguousarray(binned)  # a row's bins side by side
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
