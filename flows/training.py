"""Prefect flow that trains the risk model: build the training worlds, then train.

Thin like the screening flows: each task calls one `fh_screening.training` function. By
default the model learns across several synthetic worlds (see training.py for why); a
region passes its own store folder (`store_home`) and, having no truth table, gets
label-only metrics in the card.
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


@task(name="synthesise-world", task_run_name="synthesise-world-{world_seed}")
def world_task(work: str, world_seed: int, people_per_region: int, seed: int,
               regions: list[str]) -> tuple[str, str, str]:
    """One world simulated and ingested; returns (store home, truth file, set name)."""
    from fh_screening.worlds import draw_world

    folder = Path(work) / f"world-{world_seed}"
    ws, truth = training.synthesise_world(folder, draw_world(world_seed), people_per_region,
                                          seed, tuple(regions), get_run_logger().info)
    return str(ws.home), str(truth), f"world-{world_seed}"


@task(name="train-model")
def train_task(stores: list[tuple[str, str | None, str]], regions: list[str],
               models_dir: str, description: str, label: str | None = None
               ) -> dict[str, Any]:
    sets = [training.training_set(Workspace(Path(home)), regions, None,
                                  Path(truth) if truth else None, name)
            for home, truth, name in stores]
    return training.train(sets, Path(models_dir), description=description, label=label,
                          progress=get_run_logger().info)


@task(name="train-from-returns")
def returns_train_task(store_home: str, regions: list[str], models_dir: str) -> dict[str, Any]:
    """A candidate trained on the clinics' returns, promoted only by the held-out rule."""
    from fh_screening.model import load_model
    from fh_screening.promotion import train_from_returns

    return train_from_returns(Workspace(Path(store_home)), regions, Path(models_dir),
                              load_model(Path(models_dir)))


@flow(name="fh-screening-train", log_prints=True)
def training_flow(work: str, models_dir: str = str(MODELS_DIR), store_home: str | None = None,
                  people_per_region: int = training.TRAINING_PEOPLE_PER_REGION,
                  seed: int = training.TRAINING_SEED,
                  regions: list[str] | None = None,
                  world_seeds: list[int] | None = None,
                  label: str | None = None) -> dict[str, Any]:
    from fh_screening.cli import world_description

    regions = sorted(regions or list_regions())
    if label == "returns":
        if store_home is None:
            raise ValueError("label 'returns' needs a screening store (store_home)")
        card = returns_train_task(store_home, regions, models_dir)
        create_markdown_artifact(key="model-card", markdown=Path(
            models_dir, card["version"], "model_card.md").read_text(),
            description=f"fh-screening model {card['version']} (clinic returns)")
        return card
    if store_home is None:
        worlds = tuple(world_seeds or training.TRAINING_WORLD_SEEDS)
        # each world its own population seed, as training.world_sets numbers them
        stores = [world_task(work, w, people_per_region, seed + i, regions)
                  for i, w in enumerate(worlds)]
        description = world_description(worlds, people_per_region, seed, regions)
    else:
        stores = [(store_home, None, "store")]
        description = f"The screening store at {store_home}."
    card = train_task(stores, regions, models_dir, description, label)
    create_markdown_artifact(key="model-card", markdown=Path(models_dir, card["version"],
                                                             "model_card.md").read_text(),
                             description=f"fh-screening model {card['version']}")
    return card
