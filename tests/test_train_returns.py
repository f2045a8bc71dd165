"""`fh-screening train --label returns` (issue 21, item 5) on a small store: refused with a
sentence while no clinic has returned a finding; once the synthetic clinics have answered
the run's referral workbooks from the truth, a candidate is trained on the returns and
promoted or kept by the held-out rule, and the CLI says which."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from fh_screening import clinic_sim
from fh_screening.cli import main
from fh_screening.config import load_region
from fh_screening.model import MODELS_DIR, current_version
from fh_screening.pipeline import ingest_step, output_step, returns_step, screen_step
from fh_screening.store import Workspace
from fh_screening.synth import generate_population, write_region

REGION = "midtjylland"
AS_OF = date(2026, 6, 30)
PEOPLE = 5000
CARRIER_RATE = 0.03


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Workspace, Path, dict[str, dict]]:
    """A small synthetic region screened once (run r1), returns not yet read, and its
    truth. Carriers are made common (3 %) so that a few thousand people give the 20
    positive labels training needs."""
    root = tmp_path_factory.mktemp("train-returns")
    pop = generate_population(PEOPLE, 5, REGION, carrier_rate=CARRIER_RATE)
    write_region(pop, load_region(REGION), root / "extracts" / REGION, anomalies=False)
    truth = {r["cpr"]: r for r in pop.truth.select("cpr", "fh_carrier", "hypothyroid")
             .iter_rows(named=True)}
    ws = Workspace(root / "home")
    # the run's steps without Great Expectations (a fixed ~9 s; ingest's checks still run)
    ingest_step(ws, REGION, root / "extracts" / REGION, validate=False)
    summary = screen_step(ws, [REGION], AS_OF)
    output_step(ws, "r1", AS_OF, [REGION], summary)
    return ws, root, truth


def models_copy(root: Path) -> Path:
    """The committed model as the current one, in a folder of the test's own."""
    models = root / "models"
    if not models.exists():
        version = current_version(MODELS_DIR)
        models.mkdir()
        shutil.copytree(MODELS_DIR / version, models / version)
        (models / "CURRENT").write_text(version + "\n")
    return models


def train_cli(ws: Workspace, models: Path, *extra: str) -> list[str]:
    return ["--home", str(ws.home), "train", "--label", "returns", "--store", str(ws.home),
            "--regions", REGION, "--models-dir", str(models), "--no-prefect", *extra]


def test_train_on_returns_is_refused_while_no_clinic_has_returned_a_finding(store, capsys):
    # exit 3: a refused input (cli.EXIT_REFUSED); 2 is argparse's usage error only
    ws, root, _ = store
    models = models_copy(root)
    before = sorted(p.name for p in models.iterdir())
    assert main(train_cli(ws, models)) == 3
    err = capsys.readouterr().err
    assert "no clinic returns with a finding in the store" in err
    assert "Traceback" not in err and "nothing to learn from" in err
    assert sorted(p.name for p in models.iterdir()) == before  # nothing trained or written


def test_label_returns_needs_a_store_and_truth_needs_worlds(tmp_path, capsys):
    assert main(["--home", str(tmp_path), "train", "--label", "returns", "--no-prefect"]) == 3
    assert "give --store" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "train", "--label", "truth", "--store",
                 str(tmp_path), "--no-prefect"]) == 3
    assert "needs synthetic worlds" in capsys.readouterr().err
    assert main(["--home", str(tmp_path), "train", "--label", "returns", "--store",
                 str(tmp_path / "nowhere"), "--no-prefect"]) == 3
    assert "no screening store at" in capsys.readouterr().err


def test_train_on_returns_trains_a_candidate_and_applies_the_rule(store, capsys,
                                                                  monkeypatch):
    """Only the logistic candidate is fitted here: the gradient-boosted one costs a minute
    on a loaded machine and adds nothing to what the command wires together (the model
    choice itself is tested in tests/test_training.py and tests/test_loop_e2e.py)."""
    from fh_screening import training

    monkeypatch.setattr(training, "KINDS", ("logistic_regression",))
    ws, root, truth = store
    every = clinic_sim.ClinicBehaviour(answer_rate=1.0, delay_weights=(1.0, 0.0, 0.0))
    returns = ws.home / "returns"
    # month 1: every referral of r1 answered with its result
    answered = clinic_sim.answer_referrals(ws.output_dir / "r1", 0, 1,
                                           [AS_OF, date(2026, 7, 31)], truth, returns, every)
    assert sum(answered.values()) >= 15
    read = returns_step(ws, returns)
    assert read["files_read"] == len(answered)
    models = models_copy(root)
    current = current_version(models)
    assert main(train_cli(ws, models)) == 0
    out = capsys.readouterr().out
    candidates = [p for p in models.iterdir() if p.is_dir() and p.name != current]
    assert len(candidates) == 1
    card = json.loads((candidates[0] / "model_card.json").read_text())
    p = card["promotion"]
    assert card["label"].startswith("a lipid clinic's returned finding")
    assert p["candidate"]["version"] == candidates[0].name
    assert p["current"]["version"] == current and p["candidate"]["n"] == p["current"]["n"] > 0
    assert current_version(models) == (candidates[0].name if p["promoted"] else current)
    assert f"model {candidates[0].name} trained on clinic returns" in out
    assert ("promoted: it is now models/CURRENT" if p["promoted"] else "not promoted") in out
    assert p["why"] in out
