"""Prefect flow that trains the risk model: build the training store, then train.

Thin like the screening flows: each task calls one `fh_screening.training` function. By
default the training store is a synthetic population (see training.py for why); a region
passes its own store folder (`store_home`) and, having no truth table, gets label-only
metrics in the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from fh_screening import training
from fh_screening.config import list_regions
from fh_screening.model import MODELS_DIR
from fh_screening.store import Workspace


@task(name="synthesise-training-store")
def synthesise_task(work: str, people_per_region: int, seed: int,
                    regions: list[str]) -> tuple[str, str]:
    ws, truth = training.synthesise_training_store(
        Path(work), people_per_region, seed, tuple(regions), progress=get_run_logger().info)
    return str(ws.home), str(truth)


@task(name="train-model")
def train_task(store_home: str, models_dir: str, regions: list[str], truth: str | None,
               description: str) -> dict[str, Any]:
    return training.train(Workspace(Path(store_home)), Path(models_dir), regions=regions,
                          truth_path=Path(truth) if truth else None, description=description,
                          progress=get_run_logger().info)


@flow(name="fh-screening-train", log_prints=True)
def training_flow(work: str, models_dir: str = str(MODELS_DIR), store_home: str | None = None,
                  people_per_region: int = training.TRAINING_PEOPLE_PER_REGION,
                  seed: int = training.TRAINING_SEED,
                  regions: list[str] | None = None) -> dict[str, Any]:
    regions = sorted(regions or list_regions())
    if store_home is None:
        store_home, truth = synthesise_task(work, people_per_region, seed, regions)
        description = (f"Synthetic population (fh_screening.synth, seed {seed}, "
                       f"{people_per_region:,} people in each of {', '.join(regions)}), "
                       "ingested and screened like a real run.")
    else:
        truth, description = None, f"The screening store at {store_home}."
    card = train_task(store_home, models_dir, regions, truth, description)
    create_markdown_artifact(key="model-card", markdown=Path(models_dir, card["version"],
                                                             "model_card.md").read_text(),
                             description=f"fh-screening model {card['version']}")
    return card
