"""Feature drift: does this run's population look like the data the model learnt from?

Why (issue 21, item 5): a model's probabilities mean what its card says only for people
like those it was trained on. A region whose lab changes its LDL method, whose extract
loses the prescriptions, or whose population simply differs from the synthetic worlds
moves the features the model reads; the run's lists would still look normal. So the
model keeps, per feature, the training data's distribution (quantile bins and the share
missing, `training_distribution`, stored in the card at training time), and every run
measures its screened people against it with the population stability index and warns,
naming the features, when one has moved.

PSI per feature: sum over bins of (run share - training share) x ln(run share / training
share), bins fixed by the training deciles plus one bin for missing values. The usual rule
of thumb (Siddiqi 2006, *Credit Risk Scorecards*): below 0.1 no real
change, 0.1-0.25 a moderate shift, above 0.25 a major shift that calls for a look at the
data and, if it is real, retraining. The check names features, not people, and reads
only the features the model already computes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Above this PSI a feature has drifted (the usual rule of thumb; module docstring).
PSI_DRIFTED = 0.25
PSI_SOURCE = ("population stability index > 0.25: a major shift (the usual rule of "
              "thumb; Siddiqi 2006, Credit Risk Scorecards)")
# Decile edges: ten bins where a feature has that many distinct values, fewer where it
# has fewer (a yes/no feature gets two), plus the missing bin.
QUANTILES = tuple(q / 10 for q in range(1, 10))
# An empty bin would make ln(a / e) infinite: shares are floored at this (a common
# convention; with ten bins it caps one empty bin's term at about 0.1 x ln(0.1 / 1e-4)).
SHARE_FLOOR = 1e-4
EDGE_DIGITS = 6  # edges rounded so the card stays readable (JSON)
CARD_KEY = "feature_distribution"
NO_DISTRIBUTION = ("no training distribution in this model; retrain to enable drift "
                   "checks (or add one to its card: `fh-screening drift-reference`)")


def _edges(values: np.ndarray) -> list[float]:
    """Bin edges from the training values' deciles (distinct; none without values)."""
    present = values[np.isfinite(values)]
    if not len(present):
        return []
    qs = np.quantile(present, QUANTILES, method="lower")
    return sorted({round(float(q), EDGE_DIGITS) for q in qs})


def _shares(values: np.ndarray, edges: list[float]) -> tuple[list[float], float]:
    """(share in each bin, share missing). Bins: (-inf, e1], (e1, e2], ..., (ek, inf)."""
    n = len(values)
    if not n:
        return [0.0] * (len(edges) + 1), 0.0
    finite = np.isfinite(values)
    counts = np.bincount(np.searchsorted(np.asarray(edges, dtype=float), values[finite],
                                         side="left"), minlength=len(edges) + 1)
    return [float(c) / n for c in counts], float((~finite).sum()) / n


def training_distribution(X: np.ndarray, names: list[str]) -> dict[str, Any]:
    """Per feature: the bin edges and the training data's shares (the card's record)."""
    features = {}
    for j, name in enumerate(names):
        edges = _edges(X[:, j])
        shares, missing = _shares(X[:, j], edges)
        features[name] = {"edges": edges, "shares": [round(s, 6) for s in shares],
                          "missing": round(missing, 6)}
    return {"rows": int(X.shape[0]), "bins": "training deciles, plus missing",
            "features": features}


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, SHARE_FLOOR), max(a, SHARE_FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def check(X: np.ndarray, names: list[str], card: dict[str, Any],
          threshold: float = PSI_DRIFTED) -> dict[str, Any]:
    """The run's features against the card's training distribution: PSI per feature,
    the drifted ones (largest first), and a sentence for the summary."""
    reference = card.get(CARD_KEY)
    if not reference:
        return {"checked": False, "message": NO_DISTRIBUTION, "drifted": []}
    if not len(X):
        return {"checked": False, "message": "no one screened: nothing to compare",
                "drifted": []}
    values: dict[str, float] = {}
    for j, name in enumerate(names):
        ref = reference["features"].get(name)
        if ref is None:
            continue
        shares, missing = _shares(X[:, j], ref["edges"])
        values[name] = round(psi([*ref["shares"], ref["missing"]], [*shares, missing]), 4)
    unknown = [n for n in names if n not in reference["features"]]
    drifted = sorted((n for n, v in values.items() if v > threshold),
                     key=lambda n: (-values[n], n))
    if drifted:
        listed = ", ".join(f"{n} (PSI {values[n]:.2f})" for n in drifted)
        message = (f"feature drift: {len(drifted)} of {len(values)} features differ from "
                   f"the model's training data by PSI > {threshold:g}: {listed}. Check "
                   "the extracts (units, codes, missing tables) before trusting the "
                   "model's ranking; if the population really differs, retrain")
    else:
        top = max(values, key=lambda n: values[n]) if values else None
        message = (f"no feature drift: all {len(values)} features within PSI {threshold:g} "
                   "of the model's training data"
                   + (f" (largest: {top}, {values[top]:.2f})" if top else ""))
    return {"checked": True, "threshold": threshold, "source": PSI_SOURCE,
            "rows": int(X.shape[0]), "training_rows": reference.get("rows"),
            "psi": values, "drifted": drifted, "not_in_training_record": unknown,
            "message": message}
