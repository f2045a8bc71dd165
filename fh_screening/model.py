"""The FH risk model: features from the criteria tables, fitting, safe storage, scoring.

Why a model beside the rules: lipid clinics have a fixed number of referral slots, and the
rules (DLCN, Simon Broome, an LDL cut-off) either fire or not; a calibrated probability
ranks everyone, so the slots go to the likeliest carriers first. The features are built in
SQL (`sql/model/features.sql`) from what the criteria layer computed; this module fits a
scikit-learn estimator over them, stores it with skops (no pickle: only the types on
`TRUSTED_TYPES` can be loaded), and scores a run. Evaluation and the model card live in
`model_eval.py`, training orchestration in `training.py`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl
import sklearn
import skops.io as sio
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from fh_screening.config import PROJECT_ROOT
from fh_screening.store import run_sql
from fh_screening.tree_predict import binned_route, member_probability

MODELS_DIR = PROJECT_ROOT / "models"
CURRENT_FILE = "CURRENT"
MODEL_FILE = "model.skops"
CARD_FILE = "model_card.json"
MODEL_NAME = "fh-risk"
# Bumped when the feature SQL or the artifact layout changes incompatibly. Format 2: the
# file holds a list of member models (one per held-out world or fold), averaged.
ARTIFACT_FORMAT = 2
ID_COLUMNS = ("person_id", "region")
# Decimals kept of a probability and an odds ratio (model_scores): see score_run.
DIGITS = 10

# The only types a model file may contain. skops by default trusts every scikit-learn
# estimator; this list is stricter: exactly what the two candidate models, their
# calibration wrapper and plain data are made of. Every type named anywhere in the file's
# schema is checked against it before loading, so a tampered or foreign file is refused
# and cannot run code on load.
TRUSTED_TYPES = [
    "builtins.bool",
    "builtins.dict",
    "builtins.float",
    "builtins.int",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._label.LabelEncoder",
]


def types_in_skops(data: bytes) -> set[str]:
    """Every `module.Class` named in a skops file's schema (read as JSON, not loaded)."""
    try:
        schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ModelError(f"not a skops model file ({exc})") from exc
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__class__" in node and "__module__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


class ModelError(RuntimeError):
    """The model is missing, unreadable, untrusted or does not fit this code's features."""


# ---------------------------------------------------------------------------------------
# Features and labels
# ---------------------------------------------------------------------------------------
def build_features(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The feature frame of the people screened now (after `run_criteria`: those it
    recomputed), sorted by person; on a connection that did not screen, of everyone in
    `screening_results`."""
    try:
        con.execute("select 1 from int_screening_results limit 0").fetchall()
    except duckdb.CatalogException:
        con.execute("create temp view int_screening_results as "
                    "select * from screening_results")
    run_sql(con, "model/features")
    return con.sql("select * from model_features").pl()


def feature_names(features: pl.DataFrame) -> list[str]:
    return [c for c in features.columns if c not in ID_COLUMNS]


def feature_matrix(features: pl.DataFrame, names: list[str]) -> np.ndarray:
    """Float matrix in the model's feature order; nulls become NaN (imputed by the model)."""
    return features.select(pl.col(n).cast(pl.Float64) for n in names).to_numpy()


def family_groups(con: duckdb.DuckDBPyConnection, person_ids: list[int]) -> np.ndarray:
    """A family number per person: connected components of the `relations` graph, so
    that evaluation can hold out whole families (relatives share genes and features).
    Nodes are numbered by polars joins, not Python loops: a national store has millions
    of links."""
    people = pl.DataFrame({"node": person_ids}, schema={"node": pl.Int64}).with_row_index("i")
    edges = con.sql("select person_id, relative_id from relations").pl()
    others = (pl.concat([edges["person_id"], edges["relative_id"]]).unique(maintain_order=True)
              .to_frame("node").join(people, on="node", how="anti"))
    nodes = pl.concat([people, others.with_row_index("i", offset=people.height)
                       .select("i", "node")])
    index = edges.join(nodes.rename({"node": "person_id", "i": "a"}), on="person_id",
                       maintain_order="left").join(
        nodes.rename({"node": "relative_id", "i": "b"}), on="relative_id",
        maintain_order="left")
    graph = coo_matrix((np.ones(index.height), (index["a"].to_numpy(), index["b"].to_numpy())),
                       shape=(nodes.height, nodes.height))
    _, labels = connected_components(graph, directed=False)
    return labels[: len(person_ids)]


# ---------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------
# Features whose rise can only make FH more likely (+1) or less likely (-1), given the
# others: the gradient-boosted candidate is held to these directions, so it cannot learn
# a quirk of the synthetic worlds that contradicts the clinical evidence (say, a dip in
# risk between two LDL values). Everything else is left free.
MONOTONE = {
    "index_untreated_ldl": 1, "untreated_ldl_low": 1, "max_off_treatment_ldl": 1,
    "max_measured_ldl": 1, "max_untreated_tc": 1, "premature_chd": 1,
    "fdr_premature_chd": 1, "fdr_ldl_above_p95": 1, "child_ldl_above_p95": 1,
    "fdr_known_fh": 1, "sdr_known_fh": 1, "fdr_max_untreated_ldl": 1,
    "high_tsh": -1, "low_albumin": -1, "cholestasis": -1, "very_high_triglycerides": -1,
    "ldl_raising_drug": -1,
}


def candidate_estimators(seed: int, names: list[str] | None = None
                         ) -> dict[str, Callable[[], Any]]:
    """The models compared (uncalibrated). Regularisation is deliberately strong: carriers
    are few (hundreds per world), and a smooth ranking generalises across worlds."""
    monotone = [MONOTONE.get(n, 0) for n in names] if names else None
    return {
        "logistic_regression": lambda: Pipeline([
            ("impute", SimpleImputer(strategy="median", add_indicator=True)),
            ("scale", StandardScaler()),
            ("model", LogisticRegression(C=0.1, max_iter=5000)),
        ]),
        "gradient_boosting": lambda: HistGradientBoostingClassifier(
            learning_rate=0.05, max_iter=200, max_leaf_nodes=8, min_samples_leaf=100,
            l2_regularization=1.0, early_stopping=False, random_state=seed,
            monotonic_cst=monotone),
    }


def calibrated(make: Callable[[], Any], groups: np.ndarray, y: np.ndarray, seed: int,
               X: np.ndarray) -> CalibratedClassifierCV:
    """Platt (sigmoid) calibration on grouped folds: with few positives isotonic
    regression overfits, and grouping (by world, else by family) keeps the calibration
    set out of what the model learnt from. `ensemble=False`: one estimator fitted on all
    data, calibrated on its out-of-fold predictions."""
    splits = list(StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=seed)
                  .split(X, y, groups))
    return CalibratedClassifierCV(make(), method="sigmoid", cv=splits, ensemble=False)


def fit_model(kind: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray,
              seed: int, names: list[str] | None = None) -> CalibratedClassifierCV:
    make = candidate_estimators(seed, names)[kind]
    model = calibrated(make, groups, y, seed, X)
    model.fit(X, y)
    return model


def out_of_fold(kind: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, seed: int,
                n_splits: int = 5) -> np.ndarray:
    """Probabilities for every person from a model that never saw their family."""
    pred = np.full(len(y), np.nan)
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in folds.split(X, y, groups):
        model = fit_model(kind, X[train], y[train], groups[train], seed)
        pred[test] = model.predict_proba(X[test])[:, 1]
    return pred


class Ensemble:
    """The stored model: members fitted each without one world (or fold), averaged.

    The members' spread is shown beside the probability as its uncertainty: how much it
    depends on which worlds (assumptions) the model learnt from. It is not a confidence
    interval for the person; docs/model.md says what it is and is not."""

    def __init__(self, members: list[Any]):
        if not members:
            raise ModelError("a model needs at least one member")
        self.members = list(members)

    def member_probabilities(self, X: np.ndarray) -> np.ndarray:
        """One row per member; on binned features where that is exact (tree_predict).
        A large batch is cut into one block of rows per prediction thread (below): each
        row is predicted on its own, so the blocks give the very numbers one call gives."""
        workers = model_threads()
        if workers < 2 or len(X) < PARALLEL_ROWS_AT_LEAST or not all(
                binned_route(m) for m in self.members):
            return self._on_one_thread(X)
        with ThreadPoolExecutor(workers, thread_name_prefix="fh-predict") as pool:
            blocks = list(pool.map(self._on_one_thread, np.array_split(X, workers)))
        return np.concatenate(blocks, axis=1)

    def _on_one_thread(self, X: np.ndarray) -> np.ndarray:
        return np.stack([member_probability(m, X) for m in self.members])  # one OpenMP thread

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.member_probabilities(X).mean(axis=0)
        return np.column_stack([1 - p, p])

    def predict_range(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, lowest and highest member probability per person."""
        each = self.member_probabilities(X)
        return each.mean(axis=0), each.min(axis=0), each.max(axis=0)


# ---------------------------------------------------------------------------------------
# Reasons: the features that raised this person's probability most
# ---------------------------------------------------------------------------------------
# A reason is stored as data, not words: which feature, the person's value, and the odds
# ratio (how much the odds fall when that feature is reset to the population median).
# fh_screening/i18n.py words it in the reader's language when the outputs are written.
REASON_DTYPE = pl.List(pl.Struct({"feature": pl.String, "value": pl.Float64,
                                  "odds_ratio": pl.Float64}))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


EXPLAIN_ROWS_PER_CALL = 1_000_000  # changed rows per call: 280 MB of features at 35 features


def contributions(model: Any, X: np.ndarray, reference: np.ndarray,
                  base_probability: np.ndarray | None = None) -> np.ndarray:
    """Per person and feature: how much the log-odds drop when that one feature is set to
    the training population's typical value. Model-agnostic (works for both candidates)
    and exact for the logistic model up to the calibration's monotone rescaling.
    `base_probability`: the model's probability for X when the caller has it already
    (score_run: from the ensemble's prediction for everyone), so it is not predicted twice.
    All features' changed copies go through the model in one call per batch of people (one
    block of rows per feature), so a large explanation runs on every prediction thread."""
    n, k = X.shape
    out = np.zeros((n, k))
    with prediction_threads(n):
        if base_probability is None:
            base_probability = model.predict_proba(X)[:, 1]
        base = _logit(base_probability)
        step = max(EXPLAIN_ROWS_PER_CALL // max(k, 1), 1)
        for start in range(0, n, step):
            rows = X[start:start + step]
            m = len(rows)
            changed = np.tile(rows, (k, 1))  # feature j's copy: rows j*m .. (j+1)*m - 1
            for j in range(k):
                changed[j * m:(j + 1) * m, j] = reference[j]
            reset = model.predict_proba(changed)[:, 1].reshape(k, m).T
            out[start:start + m] = base[start:start + m, None] - _logit(reset)
    return out


# Predictions run on one OpenMP thread each. Each call of a gradient-boosting predictor
# with more starts a team of OpenMP threads; on a 2-core machine shared with other work,
# starting and spin-waiting them costs more than the trees save: the 5,470 sample people
# took 57 s to screen with the default threads and 4.7 s with one; 31 small explanation
# calls at 6M 20.5 s against 0.9 s (docs/scale.md, "Profile"). A batch of at least
# PARALLEL_ROWS_AT_LEAST rows is instead cut into $FH_MODEL_THREADS blocks (default: two,
# or the machine's cores if fewer), each predicted on a Python thread of its own: the tree
# walks release the GIL, and a thread that waits for a core sleeps instead of spinning
# (docs/scale.md, "The model's predictions on two threads"). The predictions are the same
# whatever the threads (each row is summed on its own; tests/test_tree_predict.py).
MODEL_THREADS_ENV = "FH_MODEL_THREADS"
PARALLEL_ROWS_AT_LEAST = 20_000  # below this a block's set-up is a large share


def prediction_threads(rows: int):
    """A context limiting OpenMP to one thread for a prediction over `rows` rows (the
    routes that are not cut into blocks, such as the logistic candidate's); a no-op for an
    empty batch."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    if rows == 0:
        return nullcontext()
    return threadpool_limits(limits=1, user_api="openmp")


def model_threads() -> int:
    """$FH_MODEL_THREADS, default min(2, cores), at least 1: the blocks a large
    prediction is cut into."""
    default = min(2, os.cpu_count() or 1)
    return max(int(os.environ.get(MODEL_THREADS_ENV, str(default))), 1)


def top_reasons(names: list[str], X: np.ndarray, contrib: np.ndarray, top: int = 3,
                min_odds_ratio: float = 1.1) -> pl.Series:
    """The top features that raised each person's odds, as a list of {feature, value,
    odds_ratio} per row of X (largest first); features that raised them by less than
    `min_odds_ratio` are not worth reading. Vectorised (numpy, polars): a national run
    explains hundreds of thousands of people."""
    n = len(X)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top]
    c = np.take_along_axis(contrib, order, axis=1)
    v = np.take_along_axis(X, order, axis=1)
    rows, ranks = np.nonzero((c >= math.log(min_odds_ratio)) & np.isfinite(v))  # row-major
    long = pl.DataFrame({
        "row": rows.astype(np.int64),
        "feature": pl.Series(names, dtype=pl.String).gather(order[rows, ranks]),
        "value": v[rows, ranks].astype(np.float64),
        "odds_ratio": np.round(np.exp(c[rows, ranks]), DIGITS).astype(np.float64),
    })
    per_row = long.group_by("row", maintain_order=True).agg(
        pl.struct("feature", "value", "odds_ratio").alias("reasons"))
    return (pl.DataFrame({"row": np.arange(n, dtype=np.int64)})
            .join(per_row, on="row", how="left", maintain_order="left")
            .select(pl.col("reasons").fill_null(pl.lit([], dtype=REASON_DTYPE))
                    .cast(REASON_DTYPE))
            .to_series())


# ---------------------------------------------------------------------------------------
# The artifact: skops file + card, versioned by content
# ---------------------------------------------------------------------------------------
@dataclass
class LoadedModel:
    version: str
    estimator: Any
    card: dict[str, Any]
    path: Path

    @property
    def features(self) -> list[str]:
        return list(self.card["features"])

    @property
    def reference(self) -> np.ndarray:
        return np.array([self.card["reference_values"][f] for f in self.features], dtype=float)


def model_version(estimator: Any, X: np.ndarray, names: list[str]) -> str:
    """Content-addressed: the same data, features and seed give the same version."""
    digest = hashlib.sha256()
    digest.update(json.dumps(names).encode())
    digest.update(sklearn.__version__.encode())
    digest.update(np.round(estimator.predict_proba(X)[:, 1], 12).tobytes())
    return f"{MODEL_NAME}-{digest.hexdigest()[:12]}"


def save_model(estimator: Any, card: dict[str, Any], models_dir: Path,
               extra_files: dict[str, bytes] | None = None, *, make_current: bool = True
               ) -> Path:
    """Write `<models_dir>/<version>/` atomically (temp folder, then rename) and point
    `CURRENT` at it. An existing folder of the same version is replaced."""
    version = card["version"]
    models_dir.mkdir(parents=True, exist_ok=True)
    final = models_dir / version
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=models_dir))
    try:
        members = estimator.members if isinstance(estimator, Ensemble) else [estimator]
        sio.dump(members, tmp / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
        card = {**card, "model_sha256": hashlib.sha256((tmp / MODEL_FILE).read_bytes())
                .hexdigest()}
        (tmp / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_current:
        pointer = models_dir / f".{CURRENT_FILE}.tmp"
        pointer.write_text(version + "\n")
        os.replace(pointer, models_dir / CURRENT_FILE)
    return final


def current_version(models_dir: Path) -> str:
    pointer = models_dir / CURRENT_FILE
    if not pointer.is_file():
        raise ModelError(f"no model: {pointer} does not exist; train one with "
                         "`fh-screening train` or pass --model")
    return pointer.read_text().strip()


def _checked_files(models_dir: Path, version: str) -> tuple[Path, dict[str, Any], bytes]:
    """The model folder, its card and the model file's bytes, after the checks that need
    no loading (milliseconds): the files exist, the card is valid JSON of this artifact
    format and scikit-learn version, and the file matches the card's checksum."""
    folder = models_dir / version
    model_path, card_path = folder / MODEL_FILE, folder / CARD_FILE
    for path in (model_path, card_path):
        if not path.is_file():
            raise ModelError(f"model {version}: {path} is missing")
    try:
        card = json.loads(card_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"model {version}: {card_path} is not valid JSON ({exc})") from exc
    if card.get("artifact_format") != ARTIFACT_FORMAT:
        raise ModelError(f"model {version}: artifact format {card.get('artifact_format')}, "
                         f"this code reads format {ARTIFACT_FORMAT}; retrain the model")
    if card.get("sklearn_version") != sklearn.__version__:
        raise ModelError(f"model {version} was trained with scikit-learn "
                         f"{card.get('sklearn_version')}, this is {sklearn.__version__}; "
                         "retrain the model with the pinned version")
    data = model_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != card.get("model_sha256"):
        raise ModelError(f"model {version}: {model_path} does not match the checksum in "
                         "its card (altered or corrupt)")
    return folder, card, data


def _loaded(folder: Path, card: dict[str, Any], data: bytes) -> LoadedModel:
    """The members of a checked model file, after the allow-list check of its types."""
    version, model_path = folder.name, folder / MODEL_FILE
    untrusted = sorted((types_in_skops(data) | set(sio.get_untrusted_types(data=data)))
                       - set(TRUSTED_TYPES))
    if untrusted:
        raise ModelError(f"model {version}: {model_path} contains types that are not on "
                         f"the allow-list, refusing to load: {', '.join(untrusted)}")
    members = sio.loads(data, trusted=TRUSTED_TYPES)  # the checked bytes, not a re-read
    if not isinstance(members, list):
        raise ModelError(f"model {version}: {model_path} does not hold a list of members")
    return LoadedModel(version=version, estimator=Ensemble(members), card=card, path=folder)


def load_model(models_dir: Path = MODELS_DIR, version: str | None = None) -> LoadedModel:
    """Load a model folder, refusing files that are untrusted, altered or made for
    another version of scikit-learn or of the feature set."""
    version = version or current_version(models_dir)
    return _loaded(*_checked_files(models_dir, version))


def _model_folder(ref: str | Path | None) -> tuple[Path, str]:
    """(models folder, version) of a model by folder, or of the current one when None."""
    if ref is None:
        return MODELS_DIR, current_version(MODELS_DIR)
    folder = Path(ref)
    if not folder.is_dir():
        raise ModelError(f"no model folder at {folder}")
    return folder.parent, folder.name


def load_model_ref(ref: str | Path | None) -> LoadedModel:
    """A model by folder (`models/fh-risk-<hash>`), or the current one when None."""
    return load_model(*_model_folder(ref))


# Loading the ensemble is Python work of 1.5-3 s (skops rebuilds six members of 200 trees,
# and imports the modules they need), paid once per run before scoring. A run starts it in
# a thread of its own at its first check (`start_loading`), and the ingest or the
# criteria, which run in DuckDB with the GIL released, go on meanwhile; the model stage
# then takes the loaded model (docs/scale.md, "Model loading off the critical path").
# The checks that need no loading run at once, so a missing, altered or incompatible
# model still fails the run before any work; the allow-list check runs in the thread,
# before anything is loaded, and its refusal fails the run at the model stage, before
# the screening commits. Loads are kept by folder and checksum of model file and card:
# the same bytes give the same members, and a changed file is a new key.
KEEP_LOADED = 2  # a run's model and one other (a served deployment may switch models)


@dataclass(frozen=True)
class PendingModel:
    """A model whose files passed the quick checks and which loads in the background."""
    version: str
    future: Future

    def result(self) -> LoadedModel:
        return self.future.result()


_loads: dict[tuple[str, str], Future] = {}
_loads_lock = threading.Lock()
_loader = ThreadPoolExecutor(1, thread_name_prefix="fh-model-load")


def start_loading(ref: str | Path | None) -> PendingModel:
    """Check a model's files now and load it in the background (`load_model_ref`'s
    errors, the allow-list's from `result()`); a model already loading or loaded in this
    process from the same bytes is shared."""
    folder, card, data = _checked_files(*_model_folder(ref))
    key = (str(folder.resolve()), hashlib.sha256(
        data + json.dumps(card, sort_keys=True).encode()).hexdigest())
    with _loads_lock:
        future = _loads.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = _loader.submit(_loaded, folder, card, data)
            _loads.pop(key, None)
            _loads[key] = future
            while len(_loads) > KEEP_LOADED:
                _loads.pop(next(iter(_loads)))
    return PendingModel(version=folder.name, future=future)


# ---------------------------------------------------------------------------------------
# Scoring a run
# ---------------------------------------------------------------------------------------
def check_features(model: LoadedModel, names: list[str]) -> None:
    if names != model.features:
        missing = [f for f in model.features if f not in names]
        extra = [f for f in names if f not in model.features]
        raise ModelError(
            f"model {model.version} does not fit this code's features "
            f"(missing: {missing or 'none'}, new: {extra or 'none'}, order differs: "
            f"{not missing and not extra}); retrain with `fh-screening train`")


def explained_people(con: duckdb.DuckDBPyConnection, features: pl.DataFrame,
                     prob: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Who gets reasons: the people an output can show (flagged by a rule, possible
    homozygous FH, or referred by the model: sql/outputs/triage.sql keeps no one else) at
    or above the floor for explanations. Each person explained costs one prediction per
    feature; at 1M people 5,984 were above the floor and 3,869 of them can be shown: the
    other reasons were computed for no reader (docs/scale.md). A boolean per row of `features`."""
    shown_by_rules = con.sql(
        "select person_id, flagged or coalesce(tier = 'urgent', false) as shown "
        "from int_screening_results").pl()
    shown = (features.select("person_id")
             .join(shown_by_rules, on="person_id", how="left", maintain_order="left")
             ["shown"].fill_null(False).to_numpy())
    return ((prob >= params["model_explain_probability_at_least"])
            & (shown | (prob >= params["model_refer_probability_at_least"])))


def score_run(con: duckdb.DuckDBPyConnection, model: LoadedModel, *, as_of: date,
              regions: list[str], params: dict[str, Any]) -> int:
    """Probability, reasons and priority for everyone in `screening_results`; replaces the
    screened regions' rows of `model_scores`. Returns the number of people scored."""
    features = build_features(con)
    names = feature_names(features)
    check_features(model, names)
    X = feature_matrix(features, names)
    if len(X):
        # Rounded far below anything shown: a linear model's matrix products differ in the
        # last bits with the size of the batch (BLAS kernels), and an incremental run
        # scores a smaller batch than a full one (tests/test_incremental.py)
        with prediction_threads(len(X)):
            raw, low, high = model.estimator.predict_range(X)
        prob, low, high = (np.round(v, DIGITS) for v in (raw, low, high))
    else:
        raw = prob = low = high = np.zeros(0)
    explain = np.flatnonzero(explained_people(con, features, prob, params))
    frame = pl.DataFrame({"person_id": features["person_id"], "fh_probability": prob,
                          "fh_probability_low": low, "fh_probability_high": high})
    if len(explain):
        base = raw[explain] if isinstance(model.estimator, Ensemble) else None
        contrib = contributions(model.estimator, X[explain], model.reference, base)
        explained = pl.DataFrame({
            "person_id": features["person_id"].gather(explain),
            "model_reason_features": top_reasons(names, X[explain], contrib)})
        frame = frame.join(explained, on="person_id", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=REASON_DTYPE).alias("model_reason_features"))
    frame = frame.with_columns(
        pl.col("model_reason_features").fill_null(pl.lit([], dtype=REASON_DTYPE)))
    con.register("model_probabilities", frame)
    try:
        run_sql(con, "model/priority", {**params, "as_of": as_of, "regions": sorted(regions),
                                        "model_version": model.version})
    finally:
        con.unregister("model_probabilities")
    return len(frame)
