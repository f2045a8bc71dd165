"""The risk model's building blocks: families, priority tiers, reasons, safe storage."""

from __future__ import annotations

import json
import math
import shutil
from datetime import date

import numpy as np
import polars as pl
import pytest
import skops.io as sio
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from fh_screening import model_eval
from fh_screening.config import load_thresholds
from fh_screening.criteria import run_criteria, threshold_params
from fh_screening.model import (
    ARTIFACT_FORMAT,
    CARD_FILE,
    MODEL_FILE,
    MODELS_DIR,
    REASON_DTYPE,
    ModelError,
    build_features,
    check_features,
    contributions,
    family_groups,
    feature_names,
    fit_model,
    load_model,
    load_model_ref,
    save_model,
    start_loading,
    top_reasons,
)
from fh_screening.store import run_sql


def _card(version: str, features: list[str]) -> dict:
    return {"version": version, "artifact_format": ARTIFACT_FORMAT,
            "sklearn_version": __import__("sklearn").__version__, "features": features,
            "reference_values": {f: 0.0 for f in features}}


@pytest.fixture
def toy():
    """Two features, a clear signal in the first; families of two."""
    rng = np.random.default_rng(0)
    n = 600
    X = np.column_stack([rng.normal(4, 1, n), rng.integers(0, 2, n).astype(float)])
    y = (X[:, 0] + rng.normal(0, 0.5, n) > 5.5).astype(int)
    groups = np.arange(n) // 2
    return X, y, groups


def test_family_groups_are_connected_components(con):
    a, b, c, d, x, y = range(1, 7)
    con.execute("insert into relations values (?, ?, 'child', 'r', 'f', 1), "
                "(?, ?, 'sibling', 'r', 'f', 2), (?, ?, 'mother', 'r', 'f', 3)",
                [a, b, b, c, x, y])
    groups = family_groups(con, [a, c, d, y, b])
    assert groups[0] == groups[1] == groups[4]  # a-b-c through b
    assert groups[2] not in (groups[0], groups[3])  # d has no relatives
    assert groups[3] != groups[0]  # y is in the x-y family


def test_priority_tiers_worked_example(con):
    """sql/model/priority.sql with the configured thresholds (refer >= 0.15, high >= 0.5):
    person 1 excluded -> none; 2 rules tier high but p 0.01 -> standard (the rules' tier no
    longer orders the list: docs/model.md); 3 flagged, p 0.01 -> standard;
    4 unflagged, p 0.6 -> high; 5 unflagged, p 0.2 -> standard; 6 unflagged, p 0.1 ->
    not referred; 7 (other region) untouched by the delete."""
    params = threshold_params(load_thresholds())
    assert params["model_refer_probability_at_least"] == 0.15
    assert params["model_high_probability_at_least"] == 0.5
    # The people screened now (sql/criteria/09) and the scope of the screening.
    con.execute("""create temp table int_screening_results as select * from (values
        (1, 'r', true,  'high',     ['known FH']),
        (2, 'r', true,  'high',     []::varchar[]),
        (3, 'r', true,  'standard', []::varchar[]),
        (4, 'r', false, null,       []::varchar[]),
        (5, 'r', false, null,       []::varchar[]),
        (6, 'r', false, null,       []::varchar[])
        ) t(person_id, region, flagged, tier, exclusions)""")
    con.execute("create table screening_results as select * from int_screening_results")
    con.execute("create temp table scope_b as select person_id from int_screening_results")
    con.execute("insert into model_scores (person_id, region, fh_probability, "
                "model_reason_features, priority_tier, refer, model_version, as_of) "
                "values (7, 'other', 0.9, [], 'high', true, 'v0', "
                "'2026-01-01'), (6, 'r', 0.9, [], 'high', true, 'old', '2026-01-01')")
    reason = {"feature": "fdr_known_fh", "value": 1.0, "odds_ratio": 2.5}
    probs = pl.DataFrame({"person_id": [1, 2, 3, 4, 5, 6],
                          "fh_probability": [0.9, 0.01, 0.01, 0.6, 0.2, 0.1],
                          "fh_probability_low": [0.8, 0.0, 0.0, 0.5, 0.1, 0.05],
                          "fh_probability_high": [0.95, 0.02, 0.02, 0.7, 0.3, 0.15],
                          "model_reason_features": [[], [], [], [reason], [], []]},
                         schema_overrides={"model_reason_features": REASON_DTYPE})
    con.register("model_probabilities", probs)
    run_sql(con, "model/priority", {**params, "regions": ["r"], "as_of": date(2026, 6, 30),
                                    "model_version": "v1"})
    got = dict((p, (t, r)) for p, t, r in con.execute(
        "select person_id, priority_tier, refer from model_scores").fetchall())
    assert got == {1: (None, False), 2: ("standard", True), 3: ("standard", True),
                   4: ("high", True), 5: ("standard", True), 6: (None, False),
                   7: ("high", True)}
    assert con.execute("select count(*) from model_scores where model_version = 'v1'"
                       ).fetchall()[0][0] == 6
    assert con.execute("select model_reason_features from model_scores where person_id = "
                       "4").fetchall() == [([reason],)]


def test_top_reasons_worked_example():
    names = ["index_untreated_ldl", "male", "fdr_known_fh"]
    X = np.array([[7.2, 1.0, 1.0]])
    contrib = np.array([[math.log(4.0), math.log(1.05), math.log(2.5)]])
    # Sorted by contribution; the male feature (odds ratio 1.05) is below the 1.1 floor.
    # Stored as data; tests/test_i18n.py checks the words.
    assert top_reasons(names, X, contrib).to_list() == [[
        {"feature": "index_untreated_ldl", "value": 7.2, "odds_ratio": pytest.approx(4.0)},
        {"feature": "fdr_known_fh", "value": 1.0, "odds_ratio": pytest.approx(2.5)}]]


def test_top_reasons_keeps_rows_aligned_and_empty_where_nothing_raised_the_odds():
    names = ["a", "b"]
    X = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0]])
    contrib = np.log(np.array([[1.0, 1.0],     # nothing above the 1.1 floor
                               [3.0, 9.0],     # b is the larger, but its value is missing
                               [2.0, 5.0]]))   # b first, then a
    got = top_reasons(names, X, contrib, top=2).to_list()
    assert got == [
        [],
        [{"feature": "a", "value": 3.0, "odds_ratio": pytest.approx(3.0)}],
        [{"feature": "b", "value": 6.0, "odds_ratio": pytest.approx(5.0)},
         {"feature": "a", "value": 5.0, "odds_ratio": pytest.approx(2.0)}],
    ]


def test_a_store_with_text_reasons_is_migrated(tmp_path):
    """Stores from before reasons became data had `model_reasons varchar[]` (English
    sentences): connecting replaces it by `model_reason_features`, and scoring works."""
    import duckdb

    from fh_screening.store import connect

    path = tmp_path / "old.duckdb"
    old = duckdb.connect(str(path))
    old.execute("""create table model_scores (person_id bigint not null primary key,
        region varchar not null, fh_probability double not null,
        model_reasons varchar[] not null, priority_tier varchar, refer boolean not null,
        model_version varchar not null, as_of date not null)""")
    old.execute("insert into model_scores values (10, 'r', 0.3, "
                "['untreated LDL 7.2 mmol/L at the index sample (odds x4.0)'], 'standard', "
                "true, 'v0', '2026-01-01')")
    old.close()
    con = connect(path)
    try:
        columns = [c for c, in con.execute(
            "select column_name from information_schema.columns "
            "where table_name = 'model_scores'").fetchall()]
        assert "model_reasons" not in columns and "model_reason_features" in columns
        assert con.execute("select person_id, model_reason_features from model_scores"
                           ).fetchall() == [(10, None)]
        con.execute("create table screening_results as select 11 as person_id, "
                    "'r' as region, true as flagged, 'standard' as tier, "
                    "[]::varchar[] as exclusions")
        con.execute("create temp table int_screening_results as "
                    "select * from screening_results")
        con.execute("create temp table scope_b as select person_id from screening_results")
        con.register("model_probabilities", pl.DataFrame(
            {"person_id": [11], "fh_probability": [0.2], "fh_probability_low": [0.1],
             "fh_probability_high": [0.3],
             "model_reason_features": [[{"feature": "male", "value": 1.0,
                                         "odds_ratio": 1.2}]]},
            schema_overrides={"model_reason_features": REASON_DTYPE}))
        run_sql(con, "model/priority", {**threshold_params(load_thresholds()),
                                        "regions": ["r"], "as_of": date(2026, 6, 30),
                                        "model_version": "v1"})
        assert con.execute("select person_id, priority_tier, model_reason_features "
                           "from model_scores").fetchall() == [
            (11, "standard", [{"feature": "male", "value": 1.0, "odds_ratio": 1.2}])]
    finally:
        con.close()
    con = connect(path)  # idempotent: a second connection changes nothing
    con.close()


def test_contributions_of_a_logistic_model_are_its_coefficient_times_change(toy):
    X, y, _ = toy
    lr = LogisticRegression().fit(X, y)
    reference = np.array([4.0, 0.0])
    got = contributions(lr, X[:5], reference)
    expected = (X[:5] - reference) * lr.coef_[0]
    assert np.allclose(got, expected, atol=1e-6)


def test_fit_is_deterministic_and_saved_model_scores_the_same(toy, tmp_path):
    X, y, groups = toy
    a = fit_model("gradient_boosting", X, y, groups, seed=3)
    b = fit_model("gradient_boosting", X, y, groups, seed=3)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    card = _card("fh-risk-test", ["index_untreated_ldl", "male"])
    save_model(a, card, tmp_path)
    assert (tmp_path / "CURRENT").read_text().strip() == "fh-risk-test"
    loaded = load_model(tmp_path)
    assert loaded.version == "fh-risk-test"
    assert np.array_equal(loaded.estimator.predict_proba(X), a.predict_proba(X))
    lr = fit_model("logistic_regression", X, y, groups, seed=3)
    save_model(lr, _card("fh-risk-lr", ["index_untreated_ldl", "male"]), tmp_path)
    assert np.array_equal(load_model_ref(tmp_path / "fh-risk-lr").estimator.predict_proba(X),
                          lr.predict_proba(X))


def test_model_with_an_untrusted_type_is_refused(tmp_path):
    folder = tmp_path / "fh-risk-evil"
    folder.mkdir()
    # A valid skops file, but of a type the allow-list does not name.
    sio.dump(DummyClassifier().fit([[0], [1]], [0, 1]), folder / MODEL_FILE)
    card = _card("fh-risk-evil", ["x"])
    card["model_sha256"] = __import__("hashlib").sha256(
        (folder / MODEL_FILE).read_bytes()).hexdigest()
    (folder / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="not on the allow-list.*DummyClassifier"):
        load_model(tmp_path, "fh-risk-evil")


def test_start_loading_checks_files_at_once_and_shares_a_load_of_the_same_bytes(toy, tmp_path):
    """The run starts the model's load at its first check (pipeline.run_screening, the
    flows) and takes it at the model stage: the quick checks fail at once, the allow-list
    refusal comes from result(), and a second start on the same bytes gets the same load."""
    X, y, groups = toy
    est = fit_model("logistic_regression", X, y, groups, seed=1)
    folder = save_model(est, _card("fh-risk-s", ["index_untreated_ldl", "male"]), tmp_path)
    first = start_loading(folder)
    assert first.version == "fh-risk-s"
    assert start_loading(folder).future is first.future
    loaded = first.result()
    assert np.array_equal(loaded.estimator.predict_proba(X), est.predict_proba(X))
    assert loaded.card["features"] == ["index_untreated_ldl", "male"]

    data = bytearray((folder / MODEL_FILE).read_bytes())
    data[-30] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the checksum"):
        start_loading(folder)  # at once, not from result()

    evil = tmp_path / "fh-risk-evil"
    evil.mkdir()
    sio.dump(DummyClassifier().fit([[0], [1]], [0, 1]), evil / MODEL_FILE)
    card = {**_card("fh-risk-evil", ["x"]),
            "model_sha256": __import__("hashlib").sha256((evil / MODEL_FILE).read_bytes()
                                                         ).hexdigest()}
    (evil / CARD_FILE).write_text(json.dumps(card))
    pending = start_loading(evil)
    with pytest.raises(ModelError, match="not on the allow-list.*DummyClassifier"):
        pending.result()
    with pytest.raises(ModelError, match="no model folder"):
        start_loading(tmp_path / "nowhere")


def test_altered_missing_or_foreign_models_are_clear_errors(toy, tmp_path):
    X, y, groups = toy
    with pytest.raises(ModelError, match="no model: .*CURRENT does not exist"):
        load_model(tmp_path)
    with pytest.raises(ModelError, match="no model folder"):
        load_model_ref(tmp_path / "nowhere")
    est = fit_model("logistic_regression", X, y, groups, seed=1)
    folder = save_model(est, _card("fh-risk-a", ["index_untreated_ldl", "male"]), tmp_path)
    data = bytearray((folder / MODEL_FILE).read_bytes())
    data[-30] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="does not match the checksum"):
        load_model(tmp_path)
    folder = save_model(est, {**_card("fh-risk-b", ["a"]), "sklearn_version": "0.1"}, tmp_path)
    with pytest.raises(ModelError, match="trained with scikit-learn 0.1"):
        load_model(tmp_path)
    save_model(est, _card("fh-risk-c", ["index_untreated_ldl", "male"]), tmp_path)
    loaded = load_model(tmp_path)
    with pytest.raises(ModelError, match=r"missing: \['male'\], new: \['female'\]"):
        check_features(loaded, ["index_untreated_ldl", "female"])


def test_shipped_model_loads_and_fits_the_feature_sql(con):
    """models/CURRENT names a model this code can use: its features are exactly the
    columns sql/model/features.sql produces (here over an empty store)."""
    loaded = load_model(MODELS_DIR)
    assert loaded.version == (MODELS_DIR / "CURRENT").read_text().strip()
    run_criteria(con, as_of=date(2026, 6, 30), regions=["syddanmark"])
    names = feature_names(build_features(con))
    check_features(loaded, names)
    assert names == loaded.features and len(names) == 35
    card = loaded.card
    assert card["evaluation"]["selected"] == card["selected"]["kind"]
    assert {"model_card.md", "calibration.png", "capacity.png"} <= {
        p.name for p in loaded.path.iterdir()}


def test_capacity_table_worked_example():
    """200 adults, capacity 1,000 per 100k -> 2 slots.
    The run's list chooses among the referred (a, b, e): e is urgent, so e then a (high):
    both carriers, 2 found. The model alone takes the two highest probabilities (a, b): 1.
    DLCN then LDL: c (7 points), then b (5): 1. Highest LDL off treatment: d (9.5), then c
    (8.0); a has none measured off treatment (nulls last): 2. The untreated estimate: d
    (9.0), c (8.0): 2."""
    frame = pl.DataFrame({
        "person_id": ["a", "b", "c", "d", "e"],
        "probability": [0.9, 0.8, 0.3, 0.1, 0.05],
        "priority_tier": ["high", "standard", None, None, "urgent"],
        "dlcn_points": [3, 5, 7, 2, 4],
        "index_untreated_ldl": [5.0, 6.0, 8.0, 9.0, 4.0],
        "max_off_treatment_ldl": [None, 6.0, 8.0, 9.5, 4.0],
        "fh_carrier": [True, False, True, True, True],
    })
    rows = {r["ranking"]: r for r in model_eval.capacity_table(frame, 200, (1000,),
                                                              outcome="fh_carrier")}
    assert rows["the run's list"] == {"capacity_per_100k": 1000, "slots": 2,
                                      "ranking": "the run's list", "referred": 2,
                                      "carriers_found": 2, "ppv": 1.0}
    assert (rows["model probability"]["carriers_found"], rows["model probability"]["ppv"]) == (
        1, 0.5)
    assert rows["DLCN points, then untreated LDL"]["carriers_found"] == 1
    assert rows["highest LDL measured off treatment"]["carriers_found"] == 2
    assert rows["untreated-LDL estimate"]["carriers_found"] == 2


def test_calibration_error_worked_example():
    """Equal-width bins of 0.1: [0.05, 0.05] observed 0/2 -> |0.05 - 0| = 0.05 for 2 people;
    [0.95, 0.95] observed 1/2 -> |0.95 - 0.5| = 0.45 for 2 people: (2 x 0.05 + 2 x 0.45)/4
    = 0.25."""
    y = np.array([0, 0, 1, 0])
    p = np.array([0.05, 0.05, 0.95, 0.95])
    assert model_eval.calibration_error(y, p) == pytest.approx(0.25)
    assert model_eval.calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_shipped_card_markdown_matches_its_json():
    loaded = load_model(MODELS_DIR)
    assert (loaded.path / "model_card.md").read_text() == model_eval.card_markdown(loaded.card)


def test_copying_a_model_folder_keeps_it_loadable(tmp_path):
    """Model folders are self-contained: copy one elsewhere and load it there."""
    src = load_model(MODELS_DIR).path
    shutil.copytree(src, tmp_path / src.name)
    assert load_model_ref(tmp_path / src.name).version == src.name
