"""Crash points: inert unless named, and a misspelt one is an error rather than a test
that silently never crashes (the crashes themselves: tests/test_crash_safety.py)."""

from __future__ import annotations

import pytest

from fh_screening import faults


def test_unset_or_other_points_do_nothing(monkeypatch):
    monkeypatch.delenv(faults.ENV, raising=False)
    faults.checkpoint("ingest.before_commit")
    monkeypatch.setenv(faults.ENV, "output.renamed@3")
    faults.checkpoint("ingest.before_commit")  # another point: no effect, not counted
    assert faults._seen["ingest.before_commit"] == 0


@pytest.mark.parametrize("spec", ["ingest.before_comit", "output.renamed@0",
                                  "output.renamed:explode", "output.renamed@x"])
def test_a_misspelt_fault_is_an_error(monkeypatch, spec):
    monkeypatch.setenv(faults.ENV, spec)
    with pytest.raises(ValueError, match=r"expected <point>\[@<n>\]"):
        faults.checkpoint("output.renamed")


def test_every_point_is_reached_in_the_code():
    from pathlib import Path

    source = "".join(p.read_text() for p in Path(faults.__file__).parent.glob("*.py")
                     if p.name != "faults.py")
    for point in faults.POINTS:
        assert f'checkpoint("{point}")' in source, point
