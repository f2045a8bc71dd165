"""Feature drift (fh_screening/drift.py): hand-made distributions, the card's record, and
the run summary (JSON, CLI text, Prefect markdown) naming the drifted features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fh_screening import drift
from fh_screening.drift import NO_DISTRIBUTION, PSI_DRIFTED, check, psi, training_distribution

NAMES = ["ldl", "treated", "hdl"]


def training_matrix(n: int = 20_000, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ldl = rng.normal(3.5, 1.0, n)
    treated = (rng.random(n) < 0.2).astype(float)
    hdl = rng.normal(1.4, 0.3, n)
    hdl[rng.random(n) < 0.1] = np.nan  # 10 % missing
    return np.column_stack([ldl, treated, hdl])


@pytest.fixture(scope="module")
def card() -> dict:
    return {drift.CARD_KEY: training_distribution(training_matrix(), NAMES)}


def test_psi_by_hand():
    # (0.5 - 0.25) ln(0.5/0.25) + (0.5 - 0.75) ln(0.5/0.75)
    assert psi([0.25, 0.75], [0.5, 0.5]) == pytest.approx(
        0.25 * math.log(2) - 0.25 * math.log(2 / 3))
    assert psi([0.2, 0.8], [0.2, 0.8]) == 0.0
    # an empty bin is floored, not infinite
    assert math.isfinite(psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))


def test_the_record_has_decile_bins_and_the_missing_share(card):
    rec = card[drift.CARD_KEY]
    assert rec["rows"] == 20_000
    ldl = rec["features"]["ldl"]
    assert len(ldl["edges"]) == 9 and ldl["missing"] == 0
    assert ldl["shares"] == pytest.approx([0.1] * 10, abs=0.002)
    treated = rec["features"]["treated"]
    assert treated["edges"] == [0.0, 1.0]  # a yes/no feature: two bins (and an empty third)
    assert treated["shares"][:2] == pytest.approx([0.8, 0.2], abs=0.01)
    assert rec["features"]["hdl"]["missing"] == pytest.approx(0.1, abs=0.01)
    assert sum(rec["features"]["hdl"]["shares"]) + rec["features"]["hdl"]["missing"] == \
        pytest.approx(1.0)


def test_the_same_population_again_has_not_drifted(card):
    result = check(training_matrix(seed=2), NAMES, card)
    assert result["checked"] and result["drifted"] == []
    assert max(result["psi"].values()) < 0.01
    assert result["message"].startswith("no feature drift: all 3 features within PSI 0.25")


def test_a_shifted_feature_is_flagged_and_named(card):
    X = training_matrix(seed=3)
    X[:, 0] += 1.0  # LDL one SD higher (a unit or method change)
    result = check(X, NAMES, card)
    assert result["drifted"] == ["ldl"]
    assert result["psi"]["ldl"] > 0.5 and result["psi"]["treated"] < 0.01
    assert "1 of 3 features" in result["message"] and "ldl (PSI" in result["message"]


def test_a_changed_share_and_more_missing_values_are_flagged(card):
    X = training_matrix(seed=4)
    X[:, 1] = (np.random.default_rng(5).random(len(X)) < 0.5).astype(float)  # 20 % -> 50 %
    X[np.random.default_rng(6).random(len(X)) < 0.5, 2] = np.nan  # HDL missing in half
    result = check(X, NAMES, card)
    assert set(result["drifted"]) == {"treated", "hdl"}
    assert result["drifted"][0] == max(result["drifted"], key=lambda f: result["psi"][f])
    assert "ldl" not in result["drifted"]


def test_a_small_shift_stays_below_the_threshold(card):
    X = training_matrix(seed=7)
    X[:, 0] += 0.1
    result = check(X, NAMES, card)
    assert 0.005 < result["psi"]["ldl"] < PSI_DRIFTED and result["drifted"] == []


def test_a_model_without_a_training_distribution_says_so():
    result = check(training_matrix(), NAMES, {"features": NAMES})
    assert result == {"checked": False, "message": NO_DISTRIBUTION, "drifted": []}
    assert NO_DISTRIBUTION.startswith(
        "no training distribution in this model; retrain to enable drift checks")


def test_the_run_summary_names_the_drifted_features(capsys, tmp_path):
    from fh_screening.cli import _print_summary
    from fh_screening.run_report import summary_markdown

    X = training_matrix(seed=3)
    X[:, 0] += 1.0
    card = {drift.CARD_KEY: training_distribution(training_matrix(), NAMES)}
    result = {"run_id": "r1", "as_of": "2026-06-30", "regions": ["x"], "code_version": "c",
              "model_version": "m", "ingest": {"x": {"rows_accepted": 1,
                                                    "rows_quarantined": 0}},
              "screening": {"x": {}}, "drift": check(X, NAMES, card),
              "outputs": {"referrals": {}, "gp_reports": {}, "cascade": {},
                          "re_referrals": 0, "family_letters": 0}}
    md = summary_markdown(result)
    assert "## Feature drift against the model's training data" in md
    assert "**Warning:** feature drift: 1 of 3 features" in md and "| ldl |" in md
    _print_summary(result, tmp_path)
    assert "WARNING: feature drift: 1 of 3 features" in capsys.readouterr().out
    result["drift"] = check(X, NAMES, {})
    assert NO_DISTRIBUTION in summary_markdown(result)
    _print_summary(result, tmp_path)
    out = capsys.readouterr().out
    assert "no training distribution in this model" in out and "WARNING" not in out


def test_a_run_reports_its_drift_in_the_summary(output_runs):
    """The committed model's card holds its training distribution (recorded by
    `fh-screening drift-reference`): each run's summary gives the PSI of every feature
    and names those above 0.25 (the shipped samples are the default world, whose
    register links every parent: the relatives' counts differ from the training worlds')."""
    import json

    from fh_screening.model import load_model

    assert load_model().card.get(drift.CARD_KEY)
    result = output_runs.first["drift"]
    assert result["checked"] and len(result["psi"]) == len(load_model().features)
    assert result["drifted"] == sorted(
        (f for f, v in result["psi"].items() if v > PSI_DRIFTED),
        key=lambda f: (-result["psi"][f], f))
    stored = json.loads((output_runs.folder("r1") / "run_summary.json").read_text())
    assert stored["drift"] == result
    for feature in result["drifted"]:
        assert f"{feature} (PSI" in result["message"]


def test_a_model_without_the_record_says_so_in_a_run(output_runs):
    from fh_screening.model import load_model
    from fh_screening.pipeline import feature_drift
    from fh_screening.store import connect

    loaded = load_model()
    loaded.card.pop(drift.CARD_KEY, None)
    con = connect(output_runs.ws.store_path)
    try:
        assert feature_drift(con, loaded, rescored_everyone=False) == {
            "checked": False, "message": NO_DISTRIBUTION, "drifted": []}
    finally:
        con.close()


def test_a_run_compares_everyone_screened_with_the_card(output_runs):
    """`pipeline.feature_drift` on the store of two real runs: against a record of that
    population itself nothing drifts; against one whose LDL was 1 mmol/L lower, the
    LDL features are flagged."""
    from fh_screening.model import load_model
    from fh_screening.pipeline import feature_drift
    from fh_screening.store import connect

    loaded = load_model()
    con = connect(output_runs.ws.store_path)
    try:
        from fh_screening.model import build_features, feature_matrix

        features = build_features(con)
        X = feature_matrix(features, loaded.features)
        screened = con.execute("select count(*) from screening_results").fetchall()[0][0]
        assert len(X) == screened > 1000
        loaded.card[drift.CARD_KEY] = training_distribution(X, loaded.features)
        same = feature_drift(con, loaded, rescored_everyone=False)
        assert same["checked"] and same["drifted"] == [] and same["rows"] == screened
        lower = X.copy()
        lower[:, loaded.features.index("index_untreated_ldl")] -= 1.0
        loaded.card[drift.CARD_KEY] = training_distribution(lower, loaded.features)
        shifted = feature_drift(con, loaded, rescored_everyone=False)
        assert "index_untreated_ldl" in shifted["drifted"]
    finally:
        con.close()


def test_an_incremental_run_of_a_large_population_compares_a_fixed_sample(output_runs):
    """Above `sample_people` screened, an incremental run's drift check builds the
    features of a hash sample (a constant cost, not one growing with the population):
    the same people every call, about the asked size, and the verdict of the whole
    population on a record of that population."""
    from fh_screening.model import build_features, feature_matrix, load_model
    from fh_screening.pipeline import feature_drift
    from fh_screening.store import connect

    loaded = load_model()
    con = connect(output_runs.ws.store_path)
    try:
        X = feature_matrix(build_features(con), loaded.features)
        screened = len(X)
        loaded.card[drift.CARD_KEY] = training_distribution(X, loaded.features)
        whole = feature_drift(con, loaded, rescored_everyone=False)
        first = feature_drift(con, loaded, rescored_everyone=False, sample_people=1000)
        again = feature_drift(con, loaded, rescored_everyone=False, sample_people=1000)
    finally:
        con.close()
    assert whole["rows"] == screened and "sampled_from" not in whole
    k = -(-screened // 1000)
    assert first["sampled_from"] == screened and first == again
    assert screened / k * 0.8 < first["rows"] < screened / k * 1.2
    assert f"a fixed sample of {first['rows']:,} of the {screened:,} screened" in first["message"]
    assert first["drifted"] == whole["drifted"] == []
    assert max(first["psi"].values()) < 0.1
