"""Command line: `fh-screening demo | run | serve | train | drift-reference | evaluate | synth |
criteria-doc | worlds-doc`.

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
from fh_screening.quality import QualityGateFailed, run_notes
from fh_screening.stages import reporting_steps
from fh_screening.store import (
    DEFAULT_HOME,
    NotADemoWorkspace,
    StoreBusy,
    StoreDamaged,
    StoreFormatError,
    Workspace,
    mark_demo_workspace,
)
from fh_screening.training import TRAINING_PEOPLE_PER_REGION, TRAINING_SEED, TRAINING_WORLD_SEEDS
from fh_screening.world_eval import (
    EVALUATION_PEOPLE_PER_REGION,
    EVALUATION_SEED,
    EVALUATION_WORLD_SEEDS,
)

# Exit codes (README "Exit codes", `--help`): 2 is argparse's usage error and nothing else.
EXIT_OK, EXIT_USAGE, EXIT_REFUSED, EXIT_REGION_FAILED, EXIT_STORE = 0, 2, 3, 4, 5
EXIT_CODES_HELP = """exit codes:
  0  the run completed (its lists are written)
  2  usage error: an unknown option, a missing --home or --extract-root (argparse)
  3  configuration or input refused: a config file, region, run id, model or pseudonym
     key; an extract that cannot be read; a critical expectation failed; nothing to
     screen. Nothing was changed by the refused part
  4  a region failed: its quality gate (too much quarantined) or its own error; a
     national run wrote the other regions' lists and names the failed ones
  5  the store or the disk: the store is in use, damaged or does not balance, the vault
     is missing or damaged, the disk is full or read-only

docs/operations.md has what to do for each."""


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


class TerminalProgress:
    """The plain progress line of `demo` and `run` on stderr (the summary goes to stdout):
    redrawn in place on a terminal, one line per step otherwise (logs, CI)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, stage_name: str, done: int, total: int, what: str) -> None:
        width = 20
        filled = width * done // max(total, 1)
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {stage_name} {done}/{total}: "
                f"{what}")
        if self.tty:
            end = "\n" if done >= total else ""
            self.stream.write(f"\r{line[:100]:<100}{end}")
        else:
            self.stream.write(f"progress {line}\n")
        self.stream.flush()


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
    notes = run_notes(result)
    if notes:
        print("\nNotes:")
        for note in notes:
            print(f"  {note}")
    drift = result.get("drift")
    if drift:  # the model's features against its training data (fh_screening/drift.py)
        print(f"\n{'WARNING: ' if drift['drifted'] else ''}{drift['message']}")
    o = result["outputs"]
    print(f"\nOutputs in {out}/")
    print(f"  referrals/   {len(o['referrals'])} lipid-clinic list(s), "
          f"{sum(o['referrals'].values())} patient(s), {o['re_referrals']} re-referral(s)")
    print(f"  gp_reports/  {len(o['gp_reports'])} practice report(s), "
          f"{sum(o['gp_reports'].values())} patient(s)")
    print(f"  cascade/     {len(o['cascade'])} cascade list(s), "
          f"{sum(o['cascade'].values())} relative(s), {o['family_letters']} family letter(s)")
    print("  run_summary.json")
    if result.get("data_docs"):
        print(f"  GX Data Docs: {result['data_docs']}")
    if result.get("analysis_snapshot"):
        print(f"  snapshot for ad-hoc SQL: {result['analysis_snapshot']}")
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

    regions = sorted(args.regions or (list_regions() if args.store else training.WORLD_REGIONS))
    work = Path(args.home) / "training"
    worlds = tuple(args.worlds)
    label = check_label(args.label, args.store)
    if label == "returns":
        from fh_screening.promotion import require_returns

        require_returns(Workspace(Path(args.store)))  # before any work: refuse clearly
    if args.no_prefect:
        if label == "returns":
            from fh_screening.model import load_model
            from fh_screening.promotion import train_from_returns

            models = Path(args.models_dir)
            return train_from_returns(Workspace(Path(args.store)), regions, models,
                                      load_model(models))
        if args.store:
            sets = [training.training_set(Workspace(Path(args.store)), regions, None, None)]
            description = f"The screening store at {args.store}."
        else:
            sets = training.world_sets(work, worlds, args.people, args.seed, tuple(regions),
                                       progress=print)
            description = world_description(worlds, args.people, args.seed, regions)
        return training.train(sets, Path(args.models_dir), description=description,
                              label=label, progress=print)
    prefect_environment(Path(args.home))
    from flows.training import training_flow

    return training_flow(work=str(work), models_dir=args.models_dir, store_home=args.store,
                         people_per_region=args.people, seed=args.seed, regions=regions,
                         world_seeds=list(worlds), label=label)


def cmd_drift_reference(args: argparse.Namespace) -> Path:
    """Rebuild a model's training sets and record their feature distribution in its card
    (models trained before cards kept one); no refitting."""
    from fh_screening import training
    from fh_screening.model import load_model_ref

    loaded = load_model_ref(args.model)
    regions = sorted(args.regions or (list_regions() if args.store else training.WORLD_REGIONS))
    if args.store:
        sets = [training.training_set(Workspace(Path(args.store)), regions, None, None)]
    else:
        sets = training.world_sets(Path(args.home) / "training-reference", tuple(args.worlds),
                                   args.people, args.seed, tuple(regions), progress=print)
    training.add_training_distribution(loaded.path, sets)
    return loaded.path


def check_label(label: str | None, store: str | None) -> str | None:
    """The label asked for, refused when the data cannot give it: the truth exists only
    for synthetic worlds, returns only in a screening store."""
    if label == "truth" and store:
        raise ConfigError("--label truth needs synthetic worlds (a store has no truth "
                          "table): drop --store, or use --label test or returns")
    if label == "returns" and not store:
        raise ConfigError("--label returns learns from the lipid clinics' returns in a "
                          "screening store: give --store <workspace>")
    return label


def trained_sentence(card: dict[str, Any], models_dir: Path) -> str:
    """What `train` did, in one sentence: written, and current or kept beside it."""
    where = models_dir / card["version"]
    promotion = card.get("promotion")
    if promotion is None:
        return (f"model {card['version']} written to {where} (selected: "
                f"{card['selected']['kind']}); it is now models/CURRENT")
    verdict = ("promoted: it is now models/CURRENT" if promotion["promoted"] else
               "not promoted: the current model stays, this one is kept beside it unused")
    return (f"model {card['version']} trained on clinic returns, written to {where}; "
            f"{verdict}. {promotion['why']}")


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """Held-out worlds (default) or an external population; writes the report."""
    from fh_screening import world_eval

    regions = sorted(args.regions or (list_regions() if args.extract_root
                                      else world_eval.WORLD_REGIONS))
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


def ui_settings(api_url: str) -> tuple[str, dict[str, str]]:
    """The UI address for an API address, and the settings that make the Prefect UI work
    on it: the server's UI calls `PREFECT_SERVER_UI_API_URL` (default port 4200, so on
    any other port it is blank until that is set: STACK.md), and `PREFECT_UI_URL` makes
    the links in this process's logs point at the right port."""
    api = api_url.rstrip("/")
    ui = api.removesuffix("/api")
    return ui, {"PREFECT_UI_URL": ui, "PREFECT_SERVER_UI_API_URL": api}


def check_server_ui(api_url: str, fetch: Any = None) -> str | None:
    """A sentence when the server's UI calls another API than `api_url` (it reads
    `<ui>/ui-settings`), else None; `fetch(url) -> dict` is for tests."""
    ui, wanted = ui_settings(api_url)
    if fetch is None:
        import httpx

        def fetch(url: str) -> dict[str, Any]:
            return httpx.get(url, timeout=10).json()
    try:
        seen = (fetch(f"{ui}/ui-settings") or {}).get("api_url")
    except Exception:  # an old server without the endpoint: nothing to compare
        return None
    if seen and seen.rstrip("/") != wanted["PREFECT_SERVER_UI_API_URL"]:
        return (f"the Prefect UI at {ui} calls the API at {seen}, not {api_url}: it will be "
                "blank. Restart the server with "
                f"PREFECT_SERVER_UI_API_URL={wanted['PREFECT_SERVER_UI_API_URL']} "
                "(docs/operations.md, \"The Prefect UI on another port\")")
    return None


def cmd_serve(args: argparse.Namespace) -> None:
    """Serve the regional and national deployments against the configured Prefect API
    (`PREFECT_API_URL`, e.g. a local `prefect server start`) until interrupted."""
    home = Path(args.home)
    prefect_environment(home)
    api_url = os.environ.get("PREFECT_API_URL")
    if api_url:
        for name, value in ui_settings(api_url)[1].items():
            os.environ.setdefault(name, value)
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        # Without a server Prefect would start a temporary one that dies with this process
        # and whose UI nobody can open: refuse instead.
        raise ConfigError("serve needs a Prefect server: start one (`prefect server start`) "
                          "and set PREFECT_API_URL, e.g. http://127.0.0.1:4200/api")
    ui, _ = ui_settings(PREFECT_API_URL.value())
    print(f"fh-screening serve: Prefect UI at {ui}", flush=True)
    mismatch = check_server_ui(PREFECT_API_URL.value())
    if mismatch:
        print(f"fh-screening: warning: {mismatch}", file=sys.stderr, flush=True)
    from flows.deployments import serve_deployments

    serve_deployments(home, Path(args.extract_root), limit=args.limit)


def cmd_synth(args: argparse.Namespace) -> dict[str, Any]:
    from fh_screening.synth import write_samples

    return write_samples(Path(args.out), people_per_region=args.people, seed=args.seed,
                         regions=tuple(args.regions or list_regions()))


class VersionAction(argparse.Action):
    """`--version`: the package version and, in a checkout, its git commit (what a run
    records as code_version), looked up only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from fh_screening.pipeline import code_version

        print(f"fh-screening {code_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fh-screening", description=__doc__.splitlines()[0],
                                     epilog=EXIT_CODES_HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction, nargs=0,
                        help="print the version (and git commit in a checkout) and exit")
    parser.add_argument("--home",
                        help="workspace folder: store, vault, outputs ($FH_HOME if not given; "
                             f"`demo`, `train` and `evaluate` default to {DEFAULT_HOME}, "
                             "`run` and `serve` need it)")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command")

    demo = sub.add_parser("demo", help="run the national flow on the shipped sample data")
    demo.set_defaults(regions=None, as_of=None, run_id=None, extract_root=str(SAMPLES_DIR),
                      no_prefect=False, model=None, language=DEFAULT_LANGUAGE, dask=None,
                      full=False)

    run = sub.add_parser("run", help="ingest new extracts, screen, write the lists")
    run.add_argument("--regions", nargs="+", help="regions to run (default: all configured)")
    run.add_argument("--extract-root", help="folder with one sub-folder of extracts per region "
                                            "(required: the synthetic samples are the demo's)")
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
    train.add_argument("--label", choices=("truth", "test", "returns"),
                       help="what the model learns to predict: truth = carrying FH (synthetic "
                            "worlds only; their default), test = a positive genetic test "
                            "(a store's default), returns = the lipid clinics' returned "
                            "findings in --store (else a genetic test), trained on all but a "
                            "third of the returned families and promoted to models/CURRENT "
                            "only when it beats the current model on those held out "
                            "(docs/model.md)")
    train.add_argument("--regions", nargs="+")
    train.add_argument("--models-dir", default=str(MODELS_DIR),
                       help="where model folders go (default: %(default)s)")
    train.add_argument("--no-prefect", action="store_true",
                       help="train directly instead of through the Prefect flow")

    reference = sub.add_parser(
        "drift-reference", help="record the training data's feature distribution in a "
                                "model's card, for the runs' drift check, by rebuilding its "
                                "training sets (no refitting; ~5 min for the default worlds)")
    reference.add_argument("--model", help="model folder (default: models/CURRENT)")
    reference.add_argument("--people", type=int, default=TRAINING_PEOPLE_PER_REGION,
                           help="as the model was trained (default: %(default)s)")
    reference.add_argument("--seed", type=int, default=TRAINING_SEED,
                           help="as the model was trained (default: %(default)s)")
    reference.add_argument("--worlds", type=int, nargs="+", default=list(TRAINING_WORLD_SEEDS),
                           help="as the model was trained (default: %(default)s)")
    reference.add_argument("--store", help="the store the model was trained on, if any")
    reference.add_argument("--regions", nargs="+")

    serve = sub.add_parser(
        "serve", help="serve the scheduled Prefect deployments (one per region, one national) "
                      "against the configured Prefect API; runs until interrupted")
    serve.add_argument("--extract-root",
                       help="folder with one sub-folder of extracts per region (required; "
                            "per-region overrides in config/deployments.toml)")
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
    sub.add_parser("worlds-doc", help="regenerate docs/worlds.md from fh_screening.worlds "
                                      "(simulates one small population per world, ~10 s)")

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


def require_explicit_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """`run` and `serve` act on real extracts: they need the workspace and the extract
    folder named (no silent fallback to ./workspace or the synthetic data_samples/, which
    would screen synthetic people or write a real run into the demo's workspace). A
    missing path is a usage error (exit 2); the other commands keep their defaults."""
    if args.home is None:
        args.home = os.environ.get("FH_HOME") or None
    if args.command in ("run", "serve"):
        if args.home is None:
            parser.error(f"{args.command} needs --home (or $FH_HOME): the workspace folder "
                         "that holds the store, the vault and the pseudonym key; the default "
                         f"{DEFAULT_HOME} is the demo's")
        if args.extract_root is None:
            parser.error(f"{args.command} needs --extract-root: the folder with one "
                         "sub-folder of extracts per region (the synthetic samples in "
                         f"{SAMPLES_DIR} are for `fh-screening demo`)")
    if args.home is None:
        args.home = str(DEFAULT_HOME)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:  # a bare `fh-screening`: what it can do, not an error
        parser.print_help()
        return EXIT_OK
    require_explicit_paths(parser, args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in ("demo", "run", "serve", "train", "evaluate"):
            # Every configuration file, before anything touches a store (docs/configuration.md).
            check_configuration(getattr(args, "regions", None) or None)
        if args.command in ("demo", "run"):
            with reporting_steps(TerminalProgress()):
                result = cmd_run(args)
            _print_summary(result, Path(args.home))
        elif args.command == "train":
            card = cmd_train(args)
            print(trained_sentence(card, Path(args.models_dir)))
        elif args.command == "drift-reference":
            print(f"training distribution recorded in {cmd_drift_reference(args)}/model_card.json")
        elif args.command == "serve":
            cmd_serve(args)
        elif args.command == "evaluate":
            cmd_evaluate(args)
        elif args.command == "check":
            from fh_screening.check import dry_run, format_report

            report = dry_run(args.region, Path(args.extract_dir))
            print(format_report(report))
            return EXIT_OK if report.ok else EXIT_REFUSED
        elif args.command == "criteria-doc":
            from fh_screening.criteria_doc import write

            print(f"wrote {write()}")
        elif args.command == "worlds-doc":
            from fh_screening import worlds_doc

            print(f"wrote {worlds_doc.write()}")
        else:
            manifest = cmd_synth(args)
            print(json.dumps({k: v for k, v in manifest.items() if k != "files"}, indent=2,
                             default=str))
    except (StoreBusy, StoreDamaged, StoreFormatError, VaultError, AccountingError) as exc:
        print(f"fh-screening: {exc}", file=sys.stderr)
        return EXIT_STORE
    except (ConfigError, FileNotFoundError, IngestError, PseudonymKeyError,
            ModelError, ValueError, NotADemoWorkspace, NothingToScreen) as exc:
        print(f"fh-screening: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except (OSError, duckdb.IOException) as exc:
        # A disk that is full, read-only or not ours: a sentence, not a traceback. Every
        # write is all or nothing (store transactions, output folders renamed in place).
        print(f"fh-screening: {disk_sentence(exc)}", file=sys.stderr)
        return EXIT_STORE
    except Exception as exc:
        # ValidationFailed carries a readable report; import it only when it happened.
        if type(exc).__name__ == "ValidationFailed":
            print(f"fh-screening: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        # A national run where some regions failed (the others' outputs were written),
        # or a region's file above its quality gate.
        if type(exc).__name__ == "RegionsFailed" or isinstance(exc, QualityGateFailed):
            print(f"fh-screening: {exc}", file=sys.stderr)
            return EXIT_REGION_FAILED
        raise
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
