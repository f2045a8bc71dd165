"""Command line: `fh-screening demo | run | serve | train | evaluate | synth | criteria-doc`.

`demo` and `run` go through the Prefect flows (a temporary local Prefect API starts by
itself when none is configured); `run --no-prefect` calls the same pipeline steps
directly. Prefect is imported only inside those commands, so the library stays free of it.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from fh_screening.accounting import AccountingError
from fh_screening.config import SAMPLES_DIR, ConfigError, check_configuration, list_regions
from fh_screening.i18n import DEFAULT_LANGUAGE, languages
from fh_screening.ingest import IngestError
from fh_screening.model import MODELS_DIR, ModelError
from fh_screening.pipeline import NothingToScreen
from fh_screening.privacy import PseudonymKeyError, VaultError, redact_cpr
from fh_screening.store import (
    DEFAULT_HOME,
    NotADemoWorkspace,
    StoreBusy,
    StoreDamaged,
    Workspace,
    mark_demo_workspace,
)
from fh_screening.training import TRAINING_PEOPLE_PER_REGION, TRAINING_SEED, TRAINING_WORLD_SEEDS
from fh_screening.world_eval import (
    EVALUATION_PEOPLE_PER_REGION,
    EVALUATION_SEED,
    EVALUATION_WORLD_SEEDS,
)


def prefect_environment(home: Path) -> None:
    """Settings Prefect must see before it is imported (STACK.md): no telemetry on a
    closed network, room for the ephemeral API's slow start on 2 cores, and its database
    inside the workspace rather than the home folder."""
    os.environ.setdefault("PREFECT_HOME", str((home / "prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "60")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    # Prefect creates its home folder without parents; a fresh workspace has none yet.
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True, mode=0o700)


def disk_sentence(exc: BaseException) -> str:
    """What an I/O failure means for the operator (the file, the cause, what to do)."""
    where = getattr(exc, "filename", None)
    text = str(exc).lower()
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC or "no space left" in text:
        cause = "the disk is full: free space"
    elif code == errno.EROFS or "read-only file system" in text:
        cause = "the disk is read-only: point --home at a writable folder or remount it"
    elif code in (errno.EACCES, errno.EPERM) or "permission denied" in text:
        cause = "permission denied: give this user write access to the workspace"
    else:
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return (f"cannot use {redact_cpr(str(where)) if where else 'the workspace'}: {cause}, "
            "then run again. Nothing was half-written: the store keeps its last complete "
            "state and no partial output folder is left")


def _print_summary(result: dict[str, Any], home: Path) -> None:
    out = home / "output" / result["run_id"]
    print(f"\nfh-screening run {result['run_id']} (data up to {result['as_of']})")
    print(f"{'region':<14}{'accepted':>10}{'quarant.':>10}{'screened':>10}{'flagged':>9}"
          f"{'referred':>10}{'high':>6}")
    for region in result["regions"]:
        i, s = result["ingest"][region], result["screening"].get(region, {})
        print(f"{region:<14}{i['rows_accepted']:>10}{i['rows_quarantined']:>10}"
              f"{s.get('screened', 0):>10}{s.get('flagged', 0):>9}{s.get('referral', 0):>10}"
              f"{s.get('high_priority', 0):>6}")
    o = result["outputs"]
    print(f"\nOutputs in {out}/")
    print(f"  referrals/   {len(o['referrals'])} lipid-clinic list(s), "
          f"{sum(o['referrals'].values())} patient(s), {o['re_referrals']} re-referral(s)")
    print(f"  gp_reports/  {len(o['gp_reports'])} practice report(s), "
          f"{sum(o['gp_reports'].values())} patient(s)")
    print(f"  cascade/     {len(o['cascade'])} cascade list(s), "
          f"{sum(o['cascade'].values())} relative(s), {o['family_letters']} family letter(s)")
    print("  run_summary.json")
    if o.get("clinics"):
        print(f"\n{'lipid clinic':<14}{'listed':>8}{'backlog':>9}{'adults':>9}"
              f"{'listed per 100k adults':>24}")
        for clinic, c in o["clinics"].items():
            rate = "-" if c["listed_per_100k_adults"] is None else c["listed_per_100k_adults"]
            print(f"{clinic:<14}{c['listed']:>8}{c['backlog']:>9}{c['adults']:>9}{rate:>24}")


def cmd_run(args: argparse.Namespace) -> dict[str, Any]:
    home = Path(args.home)
    if args.command == "demo":
        # The one place a pseudonym key may be generated: a workspace of synthetic data.
        mark_demo_workspace(Workspace(home))
    regions = sorted(args.regions or list_regions())
    as_of = date.fromisoformat(args.as_of) if args.as_of else None
    extract_root = Path(args.extract_root) if args.extract_root else None
    if args.no_prefect and args.dask is not None:
        raise ConfigError("--dask runs the regions through Prefect's Dask task runner; "
                          "it cannot be combined with --no-prefect")
    if args.no_prefect:
        from fh_screening.pipeline import run_screening

        return run_screening(Workspace(home), regions, extract_root=extract_root, as_of=as_of,
                             run_id=args.run_id, model=args.model, progress=print,
                             language=args.language, full=args.full)
    prefect_environment(home)
    from flows.screening import national_flow, regional_flow

    if len(regions) == 1 and args.dask is None:
        return regional_flow(region=regions[0], home=str(home), as_of=as_of, run_id=args.run_id,
                             extract_dir=str(extract_root / regions[0]) if extract_root else None,
                             model=args.model, language=args.language, full=args.full)
    return national_flow(regions=regions, home=str(home), as_of=as_of, run_id=args.run_id,
                         extract_root=str(extract_root) if extract_root else None,
                         model=args.model, language=args.language,
                         runner="dask" if args.dask is not None else None,
                         dask_address=args.dask or None, full=args.full)


def cmd_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train across synthetic worlds (default) or on an existing store (--store)."""
    from fh_screening import training

    regions = sorted(args.regions or list_regions())
    work = Path(args.home) / "training"
    worlds = tuple(args.worlds)
    if args.no_prefect:
        if args.store:
            sets = [training.training_set(Workspace(Path(args.store)), regions, None, None)]
            description = f"The screening store at {args.store}."
        else:
            sets = training.world_sets(work, worlds, args.people, args.seed, tuple(regions),
                                       progress=print)
            description = world_description(worlds, args.people, args.seed, regions)
        return training.train(sets, Path(args.models_dir), description=description,
                              progress=print)
    prefect_environment(Path(args.home))
    from flows.training import training_flow

    return training_flow(work=str(work), models_dir=args.models_dir, store_home=args.store,
                         people_per_region=args.people, seed=args.seed, regions=regions,
                         world_seeds=list(worlds))


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Held-out worlds (default) or an external population; writes the report."""
    from fh_screening import world_eval

    regions = sorted(args.regions or list_regions())
    work = Path(args.home) / "evaluation"
    if args.extract_root:
        if not args.truth:
            raise ConfigError("--extract-root needs --truth (a CSV with cpr and fh_carrier)")
        report = world_eval.evaluate_extracts(work, Path(args.extract_root), Path(args.truth),
                                              regions, args.model, progress=print)
    else:
        if args.truth:
            raise ConfigError("--truth goes with --extract-root")
        report = world_eval.evaluate_worlds(work, args.model, tuple(args.worlds), args.people,
                                            args.seed, tuple(regions), progress=print)
    js, md = world_eval.write_report(report, Path(args.out))
    print(world_eval.report_markdown(report).split("\n## ")[0])
    print(f"report: {md} and {js}")
    return report


def world_description(worlds: tuple[int, ...], people: int, seed: int,
                      regions: list[str]) -> str:
    return (f"{len(worlds)} synthetic worlds (fh_screening.worlds.draw_world seeds "
            f"{', '.join(map(str, worlds))}; population seeds from {seed}; {people:,} people "
            f"in each of {', '.join(regions)} per world), ingested and screened like a real "
            "run.")


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the regional and national deployments against the configured Prefect API
    (`PREFECT_API_URL`, e.g. a local `prefect server start`) until interrupted."""
    home = Path(args.home)
    prefect_environment(home)
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # Without a server Prefect would start a temporary one that dies with this process
        # and whose UI nobody can open: refuse instead.
        raise ConfigError("serve needs a Prefect server: start one (`prefect server start`) "
                          "and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")
    from flows.deployments import serve_deployments

    serve_deployments(home, Path(args.extract_root), limit=args.limit)


def cmd_synth(args: argparse.Namespace) -> dict[str, Any]:
    from fh_screening.synth import write_samples

    return write_samples(Path(args.out), people_per_region=args.people, seed=args.seed,
                         regions=tuple(args.regions or list_regions()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fh-screening", description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=str(DEFAULT_HOME),
                        help="workspace folder: store, vault, outputs (default: %(default)s, "
                             "or $FH_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the national flow on the shipped sample data")
    demo.set_defaults(regions=None, as_of=None, run_id=None, extract_root=str(SAMPLES_DIR),
                      no_prefect=False, model=None, language=DEFAULT_LANGUAGE, dask=None,
                      full=False)

    run = sub.add_parser("run", help="ingest new extracts, screen, write the lists")
    run.add_argument("--regions", nargs="+", help="regions to run (default: all configured)")
    run.add_argument("--extract-root", help="folder with one sub-folder of extracts per region "
                                            f"(default: {SAMPLES_DIR})")
    run.add_argument("--as-of", help="screening date YYYY-MM-DD (default: last lab sample)")
    run.add_argument("--run-id", help="output folder name (default: <as-of>_<scope>)")
    run.add_argument("--no-prefect", action="store_true",
                     help="call the pipeline directly instead of through the Prefect flow")
    run.add_argument("--language", choices=languages(), default=DEFAULT_LANGUAGE,
                     help="language of the GP reports and family letters (default: %(default)s)")
    run.add_argument("--model", help="model folder (default: the one named in models/CURRENT)")
    run.add_argument("--full", action="store_true",
                     help="screen everyone again; by default a run after a screening of the "
                          "same regions, rules and model recomputes only the people whose "
                          "data changed and their families (docs/scale.md)")
    run.add_argument("--dask", nargs="?", const="", metavar="ADDRESS",
                     help="ingest the regions in parallel on a Dask cluster: the scheduler at "
                          "ADDRESS, else [national] dask_address in config/deployments.toml "
                          "(empty: a temporary local cluster); docs/operations.md")

    train = sub.add_parser("train", help="train, evaluate and save the risk model and its card")
    train.add_argument("--people", type=int, default=TRAINING_PEOPLE_PER_REGION,
                       help="synthetic people per region (default: %(default)s)")
    train.add_argument("--seed", type=int, default=TRAINING_SEED,
                       help="synthetic population seed (default: %(default)s, not the samples')")
    train.add_argument("--worlds", type=int, nargs="+", default=list(TRAINING_WORLD_SEEDS),
                       help="seeds of the synthetic worlds to train across (default: "
                            "%(default)s); evaluation worlds are kept apart")
    train.add_argument("--store", help="train on this workspace's store instead of a "
                                       "synthetic population (label-only metrics)")
    train.add_argument("--regions", nargs="+")
    train.add_argument("--models-dir", default=str(MODELS_DIR),
                       help="where model folders go (default: %(default)s)")
    train.add_argument("--no-prefect", action="store_true",
                       help="train directly instead of through the Prefect flow")

    serve = sub.add_parser(
        "serve", help="serve the scheduled Prefect deployments (one per region, one national) "
                      "against the configured Prefect API; runs until interrupted")
    serve.add_argument("--extract-root", default=str(SAMPLES_DIR),
                       help="folder with one sub-folder of extracts per region "
                            "(default: %(default)s; per-region overrides in "
                            "config/deployments.toml)")
    serve.add_argument("--limit", type=int, default=4,
                       help="flow runs executed at once by this process (default: %(default)s)")

    evaluate = sub.add_parser(
        "evaluate", help="measure the model on synthetic worlds training never saw (or on "
                         "an external population with a truth table), beside DLCN and LDL")
    evaluate.add_argument("--worlds", type=int, nargs="+", default=list(EVALUATION_WORLD_SEEDS),
                          help="held-out world seeds (default: %(default)s)")
    evaluate.add_argument("--people", type=int, default=EVALUATION_PEOPLE_PER_REGION,
                          help="synthetic people per region and world (default: %(default)s)")
    evaluate.add_argument("--seed", type=int, default=EVALUATION_SEED,
                          help="first population seed (default: %(default)s)")
    evaluate.add_argument("--model", help="model folder (default: models/CURRENT)")
    evaluate.add_argument("--extract-root", help="evaluate this population instead: one "
                                                 "sub-folder of extracts per region")
    evaluate.add_argument("--truth", help="with --extract-root: CSV with cpr and fh_carrier")
    evaluate.add_argument("--regions", nargs="+")
    evaluate.add_argument("--out", default="benchmarks/results/evaluation",
                          help="report path without suffix: .json and .md are written "
                               "(default: %(default)s)")

    sub.add_parser("criteria-doc", help="regenerate docs/criteria.md from the thresholds")

    check = sub.add_parser(
        "check", help="dry run of one region's delivery: column mapping, codes and units "
                      "seen, what would be quarantined and why; writes nothing")
    check.add_argument("--region", required=True)
    check.add_argument("--extract-dir", required=True, help="the region's delivery folder")

    synth = sub.add_parser("synth", help="write synthetic regional extracts")
    synth.add_argument("--out", default=str(SAMPLES_DIR))
    synth.add_argument("--people", type=int, default=4000, help="people per region")
    synth.add_argument("--seed", type=int, default=20261125)
    synth.add_argument("--regions", nargs="+")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in ("demo", "run", "serve", "train", "evaluate"):
            # Every configuration file, before anything touches a store (docs/configuration.md).
            check_configuration(getattr(args, "regions", None) or None)
        if args.command in ("demo", "run"):
            result = cmd_run(args)
            _print_summary(result, Path(args.home))
        elif args.command == "train":
            card = cmd_train(args)
            print(f"model {card['version']} written to {Path(args.models_dir) / card['version']}"
                  f" (selected: {card['selected']['kind']}); it is now models/CURRENT")
        elif args.command == "serve":
            cmd_serve(args)
        elif args.command == "evaluate":
            cmd_evaluate(args)
        elif args.command == "check":
            from fh_screening.check import dry_run, format_report

            report = dry_run(args.region, Path(args.extract_dir))
            print(format_report(report))
            return 0 if report.ok else 2
        elif args.command == "criteria-doc":
            from fh_screening.criteria_doc import write

            print(f"wrote {write()}")
        else:
            manifest = cmd_synth(args)
            print(json.dumps({k: v for k, v in manifest.items() if k != "files"}, indent=2,
                             default=str))
    except (ConfigError, StoreBusy, FileNotFoundError, IngestError, PseudonymKeyError,
            ModelError, AccountingError, ValueError, VaultError, NotADemoWorkspace,
            StoreDamaged, NothingToScreen) as exc:
        print(f"fh-screening: {exc}", file=sys.stderr)
        return 2
    except (OSError, duckdb.IOException) as exc:
        # A disk that is full, read-only or not ours: a sentence, not a traceback. Every
        # write is all or nothing (store transactions, output folders renamed in place).
        print(f"fh-screening: {disk_sentence(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:
        # ValidationFailed carries a readable report; import it only when it happened.
        if type(exc).__name__ == "ValidationFailed":
            print(f"fh-screening: {exc}", file=sys.stderr)
            return 3
        # A national run where some regions failed (the others' outputs were written).
        if type(exc).__name__ == "RegionsFailed":
            print(f"fh-screening: {exc}", file=sys.stderr)
            return 4
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
