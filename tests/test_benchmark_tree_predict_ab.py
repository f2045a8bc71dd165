"""benchmarks/tree_predict_ab.py times the byte-code route against scikit-learn's walk on a
store's screened people and says whether the probabilities are the same (issue 23)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from fh_screening import tree_predict
from fh_screening.config import PROJECT_ROOT, SAMPLES_DIR
from fh_screening.pipeline import ingest_step, screen_step
from fh_screening.store import Workspace

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
import tree_predict_ab  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("size")
    ws = Workspace(root / "workspace")
    ingest_step(ws, "syddanmark", SAMPLES_DIR / "syddanmark", validate=False)
    screen_step(ws, ["syddanmark"], date(2026, 6, 30))
    return root


def test_both_routes_run_and_give_the_same_probabilities(folder, capsys):
    assert tree_predict_ab.main([str(folder), "--pairs", "2"]) == 0
    out = capsys.readouterr().out
    people = int(out.splitlines()[0].split()[0].replace(",", ""))
    assert people > 1000
    assert out.count(" s (median ") == 2
    assert "same probabilities to the bit" in out
    assert tree_predict._compiled_trees.__name__ == "_compiled_trees"  # restored


def test_a_route_that_changes_a_probability_is_reported(folder, capsys, monkeypatch):
    real = tree_predict._add_trees

    def off_by_one_leaf(raw, trees, binned, missing_bin):
        real(raw, trees, binned, missing_bin)
        raw[0] += 1e-9

    monkeypatch.setattr(tree_predict, "_add_trees", off_by_one_leaf)
    assert tree_predict_ab.main([str(folder), "--pairs", "1"]) == 1
    assert "PROBABILITIES DIFFER" in capsys.readouterr().out
