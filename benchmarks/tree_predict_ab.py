"""The ensemble's prediction with its trees read as byte codes (fh_screening/tree_predict.py)
against scikit-learn's own walk of the binned trees (`predict_binned`), alternately in one
process, on the features of a benchmark store's screened people (issue 23).

    .venv/bin/python benchmarks/tree_predict_ab.py /var/tmp/fhb/1M --pairs 3

The folder is one that benchmarks/national.py generated and ran a full run in; its store is
opened read-only. Prints each route's times, the medians, the ratio (byte codes /
scikit-learn's walk) and whether every member's probabilities are the same to the bit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def features_of(store: Path):
    """The model's feature matrix of everyone in the store's `screening_results`."""
    import duckdb

    from fh_screening import model
    from fh_screening.store import run_sql

    con = duckdb.connect(str(store), read_only=True)
    try:
        run_sql(con, "schema/macros")
        frame = model.build_features(con)
    finally:
        con.close()
    return model.feature_matrix(frame, model.feature_names(frame))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args(argv)
    import numpy as np

    from fh_screening import tree_predict
    from fh_screening.model import load_model, prediction_threads

    X = features_of(args.folder / "workspace" / "store.duckdb")
    ensemble = load_model().estimator
    compiled = tree_predict._compiled_trees
    routes = {"byte codes": compiled, "walk": lambda est: None}  # walk: predict_binned
    times: dict[str, list[float]] = {name: [] for name in routes}
    results = {}
    for _ in range(args.pairs):
        for name, route in routes.items():
            tree_predict._compiled_trees = route
            try:
                t0 = time.perf_counter()
                with prediction_threads(len(X)):
                    results[name] = ensemble.member_probabilities(X)
                times[name].append(time.perf_counter() - t0)
            finally:
                tree_predict._compiled_trees = compiled
    same = np.array_equal(*results.values())
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"{len(X):,} people x {len(ensemble.members)} members")
    for name, t in times.items():
        print(f"{name}: {', '.join(f'{x:.2f}' for x in t)} s (median {medians[name]:.2f} s)")
    print(f"ratio (byte codes / walk) {medians['byte codes'] / medians['walk']:.2f}")
    print("same probabilities to the bit" if same else "PROBABILITIES DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
