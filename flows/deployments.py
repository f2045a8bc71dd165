"""Prefect deployments: one per configured region and one national, with cron schedules
in Europe/Copenhagen time, served by `fh-screening serve` (Prefect's `serve`).

Schedules and per-region overrides live in `config/deployments.toml`; a region added to
`config/regions/` gets a deployment without code. `serve` runs each flow run in its own
process against whatever Prefect API is configured (`PREFECT_API_URL`), so the runs, their
logs and artifacts appear in that server's UI.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fh_screening.config import CONFIG_DIR, ConfigError, check_region_name, list_regions

DEPLOYMENTS_FILE = CONFIG_DIR / "deployments.toml"
REGIONAL_FLOW = "fh-screening-region"
NATIONAL_FLOW = "fh-screening-national"
NATIONAL_DEPLOYMENT = "national"
# How a national run ingests its regions: on this machine's threads, one region at a time
# into the store, or staged in parallel on a Dask cluster and merged (flows/screening.py).
RUNNERS = ("threads", "dask")


@cache
def load_settings(path: Path = DEPLOYMENTS_FILE) -> dict[str, Any]:
    """Read and check `config/deployments.toml`."""
    from prefect.schedules import Cron

    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        tz = raw["timezone"]
        settings = {
            "timezone": tz,
            "regional": {"cron": raw["regional"]["cron"]},
            "national": {"cron": raw["national"]["cron"],
                         "max_concurrent_regions": int(raw["national"]
                                                       ["max_concurrent_regions"]),
                         # where the regions ingest (docs/operations.md); optional keys
                         "runner": str(raw["national"].get("runner", "threads")),
                         "dask_address": str(raw["national"].get("dask_address", "")),
                         "dask_workers": int(raw["national"].get("dask_workers", 2))},
            "regions": {check_region_name(r): dict(v) for r, v in raw.get("regions", {}).items()},
        }
        crons = [settings["regional"]["cron"], settings["national"]["cron"],
                 *(v["cron"] for v in settings["regions"].values() if "cron" in v)]
        ZoneInfo(tz)  # an unknown name raises ZoneInfoNotFoundError (a KeyError)
        for cron in crons:
            Cron(cron, timezone=tz)  # validates the expression
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if settings["national"]["max_concurrent_regions"] < 1:
        raise ConfigError(f"{path}: [national] max_concurrent_regions must be at least 1")
    if settings["national"]["runner"] not in RUNNERS:
        raise ConfigError(f"{path}: [national] runner must be one of {', '.join(RUNNERS)}, "
                          f"not {settings['national']['runner']!r}")
    if settings["national"]["dask_workers"] < 1:
        raise ConfigError(f"{path}: [national] dask_workers must be at least 1")
    return settings


def national_settings() -> dict[str, Any]:
    return load_settings()["national"]


def deployment_parameters(home: Path, extract_root: Path) -> dict[str, dict[str, Any]]:
    """Default parameters of every deployment, by deployment name (regions, then
    'national'). Paths are absolute: served runs execute in their own processes."""
    settings = load_settings()
    home, extract_root = home.resolve(), extract_root.resolve()
    params: dict[str, dict[str, Any]] = {}
    for region in list_regions():
        override = settings["regions"].get(region, {})
        params[region] = {"region": region, "home": str(home),
                          "extract_dir": str(override.get("extract_dir",
                                                          extract_root / region))}
    params[NATIONAL_DEPLOYMENT] = {"home": str(home), "extract_root": str(extract_root)}
    return params


def build_deployments(home: Path, extract_root: Path) -> list[Any]:
    """The runner deployments `prefect.serve` takes: one per region, one national."""
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from flows.screening import national_flow, regional_flow

    # Served runs import the flow by module path (the package is installed), so they do
    # not depend on the folder `serve` was started from.
    module = {"entrypoint_type": EntrypointType.MODULE_PATH}

    settings = load_settings()
    tz = settings["timezone"]
    params = deployment_parameters(home, extract_root)
    deployments = []
    for region in list_regions():
        cron = settings["regions"].get(region, {}).get("cron", settings["regional"]["cron"])
        deployments.append(regional_flow.to_deployment(
            name=region, schedules=[Cron(cron, timezone=tz)], parameters=params[region],
            tags=["fh-screening", "regional", region], **module,
            description=f"Monthly screening run for {region}: ingest new extracts, screen, "
                        "write referral, GP and cascade lists."))
    deployments.append(national_flow.to_deployment(
        name=NATIONAL_DEPLOYMENT, schedules=[Cron(settings["national"]["cron"], timezone=tz)],
        parameters=params[NATIONAL_DEPLOYMENT], tags=["fh-screening", "national"], **module,
        description="Monthly national run over every configured region (fanned out, "
                    f"at most {settings['national']['max_concurrent_regions']} at once)."))
    return deployments


def serve_deployments(home: Path, extract_root: Path, *, limit: int | None = None) -> None:
    """Serve every deployment until interrupted (blocks)."""
    from prefect import serve

    serve(*build_deployments(home, extract_root), limit=limit)
