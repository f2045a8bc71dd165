"""docs/criteria.md must be exactly what the thresholds render."""

from fh_screening.config import load_thresholds
from fh_screening.criteria_doc import DOC_PATH, render


def test_committed_criteria_doc_matches_config():
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/criteria.md is stale: run `fh-screening criteria-doc`")


def test_every_threshold_names_a_source():
    for section, entries in load_thresholds().items():
        for key, entry in entries.items():
            if isinstance(entry, dict) and "value" in entry:
                assert entry.get("source"), f"{section}.{key} has no source"
                assert entry.get("unit"), f"{section}.{key} has no unit"


def test_doc_shows_values_from_config():
    thresholds = load_thresholds()
    thresholds["dlcn"]["refer_above"]["value"] = 99
    assert "| `refer_above` | 99 | points |" in render(thresholds)
