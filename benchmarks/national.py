"""National-scale benchmark: synthetic populations of 100k, 1M and 6M people, full and
monthly incremental runs, per-stage wall time and peak memory, and the scan floor.

    .venv/bin/python benchmarks/national.py --sizes 100k 1M        # the committed report
    .venv/bin/python benchmarks/national.py --sizes 6M --work /big/disk

Why it is built this way:
- Generation is not timed: each size's extracts are written to disk first (both
  dialects: Syddanmark's latin-1 CSV and Midtjylland's Parquet, half the people each),
  and reused by later invocations with the same size and seed.
- Each measured run is a fresh process, so peak memory (RSS, sampled every 20 ms and
  attributed to the innermost stage, `fh_screening.stages`) belongs to that run alone.
- CPU seconds (user + sys) are measured beside the wall time, per stage (every thread of
  the run's process and its finished worker processes) and per process (the run, the peer
  script): on two cores, wall time against the script says who finishes first, CPU says
  how much work each does and so how far tuning the same work can go.
- The floor is one plain DuckDB scan of the same files (every column read, as text for
  CSV), the least any pipeline that reads them must pay.
- The incremental run is the month after the full run (`synth.split_at`): the month's
  files join the extract folders and the same pipeline runs again on the same store.
The pipeline runs without Prefect (the same library steps a flow calls), so the numbers
are the data work; Prefect adds seconds per run, not per row.

Writes benchmarks/results/national-<sizes>.json and .md (or --out).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
# This checkout's fh_screening, not the copy installed in the venv: a script's sys.path
# starts with its own folder, so without this an old-against-new comparison of two
# checkouts would time the installed code twice.
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
REGIONS = ("syddanmark", "midtjylland")  # CSV (latin-1, ';', decimal comma) and Parquet
SEED = 20261201
BASE_END = date(2026, 6, 30)    # the full run's extracts end here ...
MONTH_END = date(2026, 7, 31)   # ... and the incremental run's month ends here
# The synthetic panel rates give ~17 lab results per adult over ten years; the issue asks
# for about 10, so the benchmark population has 0.6 of the rates (measured: see report).
PANEL_RATE_FACTOR = 0.6
SIZES = {"100k": 100_000, "1M": 1_000_000, "6M": 6_000_000}
PEER = ROOT / "benchmarks" / "peer_pandas.py"
STAGE_ORDER = ("ingest", "validate", "criteria", "model", "outputs")


# ---------------------------------------------------------------------------------------
# Generation (not timed)
# ---------------------------------------------------------------------------------------
def generate(size: str, work: Path) -> Path:
    """Write base and month extracts for `size` under work/<size>/, once."""
    from fh_screening.config import load_region
    from fh_screening.synth import generate_population, split_at, write_region

    folder = work / size
    done = folder / "generated.json"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    people = SIZES[size] // len(REGIONS)
    info: dict[str, Any] = {"size": size, "people_per_region": people, "seed": SEED,
                            "panel_rate_factor": PANEL_RATE_FACTOR, "regions": {}}
    for region in REGIONS:
        t0 = time.perf_counter()
        pop = generate_population(people, SEED, region, end=MONTH_END,
                                  panel_rate_factor=PANEL_RATE_FACTOR)
        base, month = split_at(pop, BASE_END)
        del pop
        dialect = load_region(region)
        write_region(base, dialect, folder / "extracts" / region)
        write_region(month, dialect, folder / "month" / region, anomalies=False)
        adults = base.patients.filter(
            pl_years_between(base.patients["birth_date"], BASE_END) >= 18).height
        info["regions"][region] = {
            "people": base.patients.height, "adults": adults,
            "lab_results": base.lab_results.height,
            "lab_results_month": month.lab_results.height,
            "generate_seconds": round(time.perf_counter() - t0, 1)}
        print(f"[generate {size}] {region}: {base.patients.height:,} people, "
              f"{base.lab_results.height:,} lab results (+{month.lab_results.height:,} "
              f"in the month)", flush=True)
        del base, month
    done.write_text(json.dumps(info, indent=2) + "\n")
    return folder


def pl_years_between(birth, day: date):
    """Whole years from each birth date to `day` (polars Series)."""
    import polars as pl

    frame = pl.DataFrame({"b": birth})
    return frame.select(
        pl.lit(day.year) - pl.col("b").dt.year()
         - ((pl.lit(day.month * 100 + day.day)
             < pl.col("b").dt.month() * 100 + pl.col("b").dt.day()).cast(pl.Int32))
    ).to_series()


def input_files(folder: Path, part: str) -> list[Path]:
    return sorted(p for r in REGIONS for p in (folder / part / r).iterdir() if p.is_file())


# ---------------------------------------------------------------------------------------
# Measuring a run in this process
# ---------------------------------------------------------------------------------------
def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _high_water_bytes() -> int:
    """This process's own peak RSS: at least every sampled value, and it also catches
    a spike between two samples.

    Not getrusage's ru_maxrss: Linux carries the parent's peak into a child across
    fork and exec, so a run started by a driver that had just generated 6M people
    reported the generator's 7 GiB as its own. VmHWM belongs to the process image,
    which exec replaces.
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _children_cpu() -> float:
    """CPU (user + sys) of this process's ended children: a child run, the peer script,
    the outputs' worker processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def _cpu_seconds() -> float:
    """CPU (user + sys) of this process's threads and of its children that have ended."""
    return time.process_time() + _children_cpu()


class StageMeter:
    """Exclusive wall time, CPU time and peak RSS per innermost stage (a sampler thread)."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, float]] = []
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._cpu_since = 0.0
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StageMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = _rss_bytes()
            if self.stack:
                name = self.stack[-1][0]
                self.peak[name] = max(self.peak.get(name, 0), rss)

    def __call__(self, event: str, name: str, now: float) -> None:
        # Progress on stderr (stdout carries the result): a national run takes minutes.
        print(f"  {time.strftime('%H:%M:%S')} {event} {name} rss "
              f"{_rss_bytes() / 2**30:.1f} GiB", file=sys.stderr, flush=True)
        cpu = _cpu_seconds()
        if self.stack:  # the CPU since the last edge belongs to the innermost stage
            current = self.stack[-1][0]
            self.cpu[current] = self.cpu.get(current, 0.0) + cpu - self._cpu_since
        self._cpu_since = cpu
        if event == "start":
            if self.stack:  # pause the outer stage
                outer, since = self.stack[-1]
                self.seconds[outer] = self.seconds.get(outer, 0.0) + now - since
            self.stack.append((name, now))
            return
        inner, since = self.stack.pop()
        self.seconds[inner] = self.seconds.get(inner, 0.0) + now - since
        if self.stack:
            outer, _ = self.stack[-1]
            self.stack[-1] = (outer, now)


class _Recomputed(logging.Handler):
    """Catches the screening step's "N of M people recomputed" line (pipeline.screen_step)."""

    def __init__(self) -> None:
        super().__init__()
        self.recomputed: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("screening: "):
            self.recomputed = int(str(record.args[1]).replace(",", ""))


def run_pipeline(folder: Path, kind: str, month: str = "month") -> dict[str, Any]:
    """One run on folder's store: 'full' (base extracts) or 'incremental' (the files of
    folder/<month>: the whole month, or a part of it, see month_part)."""
    from fh_screening.model import start_loading
    from fh_screening.pipeline import (
        ingest_step,
        output_step,
        screen_step,
        summarise_ingest,
    )
    from fh_screening.stages import listening
    from fh_screening.store import Workspace, mark_demo_workspace

    ws = Workspace(folder / "workspace")
    mark_demo_workspace(ws)  # synthetic data: the demo key may be generated
    extracts = folder / "extracts"
    as_of = BASE_END if kind == "full" else MONTH_END
    if kind == "incremental":
        for region in REGIONS:  # the month's files arrive beside the earlier ones
            for path in (folder / month / region).iterdir():
                target = extracts / region / path.name
                if not target.exists():
                    os.link(path, target)
    caught = _Recomputed()
    logging.getLogger("fh_screening.pipeline").addHandler(caught)
    logging.getLogger("fh_screening.pipeline").setLevel(logging.INFO)
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    with StageMeter() as meter, listening(meter):
        start_loading(None)  # as run_screening does: the model loads while the regions ingest
        ingested = [ingest_step(ws, r, extracts / r, today=date(2026, 11, 30))
                    for r in REGIONS]
        summary = screen_step(ws, list(REGIONS), as_of)
        summary["ingest"] = summarise_ingest(ingested)
        result = output_step(ws, f"bench-{kind}", as_of, list(REGIONS), summary)
    wall, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    rows_read = sum(r["rows_read"] for r in ingested)
    return {
        "kind": kind, "as_of": as_of.isoformat(), "wall_seconds": round(wall, 2),
        "peak_rss_gib": round(_high_water_bytes() / 2**30, 2),
        "cpu_seconds": round(cpu, 2),
        "stages": {s: {"seconds": round(meter.seconds.get(s, 0.0), 2),
                       "cpu_seconds": round(meter.cpu.get(s, 0.0), 2),
                       "peak_rss_gib": round(meter.peak.get(s, 0) / 2**30, 2)}
                   for s in STAGE_ORDER},
        "rows_read": rows_read, "rows_per_second": round(rows_read / wall),
        "files_ingested": sum(r["files_ingested"] for r in ingested),
        "files_skipped": sum(r["files_skipped"] for r in ingested),
        "screened": result["screened"], "recomputed": caught.recomputed,
        "flagged": sum(v["flagged"] for v in result["screening"].values()),
        "referred": sum(result["outputs"]["referrals"].values()),
        "gp_reports": len(result["outputs"]["gp_reports"]),
        "cascade_relatives": sum(result["outputs"]["cascade"].values()),
    }


def scan_floor(folder: Path) -> dict[str, Any]:
    """One plain DuckDB scan of the base extract files: every column read once."""
    from fh_screening.config import load_region

    con = duckdb.connect()
    t0 = time.perf_counter()
    rows = 0
    for region in REGIONS:
        d = load_region(region)
        for path in sorted((folder / "extracts" / region).iterdir()):
            if d.format == "csv":
                source = ("read_csv($p, encoding=$e, delim=$d, header=true, all_varchar=true)",
                          {"p": str(path), "e": d.encoding, "d": d.delimiter})
            else:
                source = ("read_parquet($p)", {"p": str(path)})
            # source[0] is one of the two reader calls above; values are parameters.
            cols = [c[0] for c in con.execute(f"select * from {source[0]} limit 0",  # noqa: S608
                                              source[1]).description]
            aggs = ", ".join(f'max("{c}")' for c in cols)
            rows += con.execute(f"select count(*), {aggs} from {source[0]}",  # noqa: S608
                                source[1]).fetchall()[0][0]
    return {"seconds": round(time.perf_counter() - t0, 2), "rows": rows}


# ---------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    """Run this script's `measure` in a fresh process; its last stdout line is JSON.
    `process_seconds` is the child's whole life: interpreter, imports and run."""
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}
    t0, cpu0 = time.perf_counter(), _children_cpu()
    out = subprocess.run([sys.executable, __file__, "measure", *args], env=env,
                         stdout=subprocess.PIPE, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - t0, 2)
    result["process_cpu_seconds"] = round(_children_cpu() - cpu0, 2)
    return result


def run_peer(extracts: Path, out: Path, as_of: date) -> dict[str, Any]:
    """The peer baseline (benchmarks/peer_pandas.py) on the same files, in a fresh process."""
    shutil.rmtree(out, ignore_errors=True)
    t0, cpu0 = time.perf_counter(), _children_cpu()
    done = subprocess.run([sys.executable, str(PEER), str(extracts), str(out),
                           "--as-of", as_of.isoformat()],
                          stdout=subprocess.PIPE, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - t0, 2)
    result["process_cpu_seconds"] = round(_children_cpu() - cpu0, 2)
    return result


def month_part(folder: Path, eighths: int) -> str:
    """folder/month-<k>of8: the month's files with the lab results of about k/8 of the
    people who have any (by a hash of the CPR number), the other files whole; so the
    monthly run's cost can be read against the number of changed people."""
    import zlib

    import polars as pl

    from fh_screening.config import load_region

    if eighths == 8:
        return "month"
    name = f"month-{eighths}of8"
    if (folder / name / "done").exists():
        return name
    for region in REGIONS:
        d = load_region(region)
        target = folder / name / region
        target.mkdir(parents=True, exist_ok=True)
        for path in (folder / "month" / region).iterdir():
            (target / path.name).unlink(missing_ok=True)
            if not path.match(d.files["lab_results"]):
                os.link(path, target / path.name)
            elif d.format == "csv":
                lines = path.read_text(encoding=d.encoding).splitlines(keepends=True)
                kept = [lines[0]] + [
                    line for line in lines[1:]
                    if zlib.crc32(line.split(d.delimiter, 1)[0].encode()) % 8 < eighths]
                (target / path.name).write_text("".join(kept), encoding=d.encoding)
            else:
                cpr = d.columns["lab_results"]["cpr"]
                frame = pl.read_parquet(path)
                keep = frame[cpr].map_elements(lambda c: zlib.crc32(c.encode()) % 8 < eighths,
                                               return_dtype=pl.Boolean)
                frame.filter(keep).write_parquet(target / path.name)
    (folder / name / "done").write_text("")
    return name


def people_with_new_data(folder: Path, month: str) -> int:
    """Distinct CPR numbers in the files of folder/<month> (what arrives that month)."""
    from fh_screening.config import load_region

    con = duckdb.connect()
    seen: set[str] = set()
    for region in REGIONS:
        d = load_region(region)
        for table, cols in d.columns.items():
            if "cpr" not in cols:
                continue
            for path in sorted((folder / month / region).glob(d.files[table])):
                reader = (f"read_csv('{path}', encoding='{d.encoding}', delim='{d.delimiter}', "
                          "header=true, all_varchar=true)" if d.format == "csv"
                          else f"read_parquet('{path}')")
                # the reader names a generated file and the dialect's own column
                seen |= {c for (c,) in con.execute(
                    f'select distinct "{cols["cpr"]}" from {reader}').fetchall()}  # noqa: S608
    return len(seen)


def _unlink_month(folder: Path) -> None:
    for region in REGIONS:  # an incremental run linked the month's files in
        for path in (folder / "month" / region).iterdir():
            (folder / "extracts" / region / path.name).unlink(missing_ok=True)


def _median(values: list[float]) -> float:
    import statistics

    return round(statistics.median(values), 2)


def compare(pipeline: list[dict[str, Any]], peer: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of interleaved runs and the pipeline / peer ratios per stage and in total.
    The pipeline's stages map onto the script's: ingest + validate -> read, criteria +
    model -> compute, outputs -> write."""
    def stage_sum(run: dict[str, Any], names: tuple[str, ...]) -> float:
        return sum(run["stages"][n]["seconds"] for n in names)

    mapping = {"read": ("ingest", "validate"), "compute": ("criteria", "model"),
               "write": ("outputs",)}
    rows = {}
    for peer_stage, ours in mapping.items():
        a = _median([stage_sum(r, ours) for r in pipeline])
        b = _median([r["stages"][peer_stage] for r in peer])
        rows[peer_stage] = {"pipeline_stages": list(ours), "pipeline_seconds": a,
                            "peer_seconds": b, "ratio": round(a / b, 2) if b else None}
    for key in ("wall_seconds", "process_seconds", "process_cpu_seconds"):
        if not all(key in r for r in pipeline + peer):  # a report from before CPU was kept
            continue
        a, b = _median([r[key] for r in pipeline]), _median([r[key] for r in peer])
        rows[key] = {"pipeline_seconds": a, "peer_seconds": b, "ratio": round(a / b, 2)}
    return rows


def bench(size: str, work: Path, repeat: int = 1, month_parts: tuple[int, ...] = (8,),
          repeat_floor: int = 2) -> dict[str, Any]:
    """Floor, then `repeat` times the full run and the peer script interleaved, then the
    monthly run on a copy of the full run's store for each part of the month (the whole
    month interleaved with the peer script recomputing everything up to its end)."""
    folder = generate(size, work)
    _unlink_month(folder)
    info = json.loads((folder / "generated.json").read_text())
    floor = min((_child(["floor", str(folder)]) for _ in range(repeat_floor)),
                key=lambda f: f["seconds"])
    print(f"[{size}] scan floor {floor['seconds']} s ({floor['rows']:,} rows)", flush=True)
    peer_out = work / f"peer-out-{size}"
    fulls, peers = [], []
    for _ in range(repeat):
        shutil.rmtree(folder / "workspace", ignore_errors=True)
        fulls.append(_child(["full", str(folder)]))
        print(f"[{size}] full run {fulls[-1]['wall_seconds']} s, peak "
              f"{fulls[-1]['peak_rss_gib']} GiB", flush=True)
        peers.append(run_peer(folder / "extracts", peer_out, BASE_END))
        print(f"[{size}] peer script {peers[-1]['wall_seconds']} s", flush=True)
    snapshot = folder / "workspace-after-full"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(folder / "workspace", snapshot)
    incrementals, peers_month = [], []
    for part in month_parts:
        month = month_part(folder, part)
        new_people = people_with_new_data(folder, month)
        for _ in range(repeat):
            shutil.rmtree(folder / "workspace")
            shutil.copytree(snapshot, folder / "workspace")
            _unlink_month(folder)
            run = _child(["incremental", str(folder), month])
            run.update({"month_part": f"{part}/8", "people_with_new_data": new_people})
            incrementals.append(run)
            print(f"[{size}] incremental run ({part}/8 of the month, {new_people:,} people "
                  f"with new data, {run['recomputed']:,} recomputed) {run['wall_seconds']} s, "
                  f"peak {run['peak_rss_gib']} GiB", flush=True)
            if part == 8:
                peers_month.append(run_peer(folder / "extracts", peer_out, MONTH_END))
                print(f"[{size}] peer script to the month's end "
                      f"{peers_month[-1]['wall_seconds']} s", flush=True)
    _unlink_month(folder)
    whole_month = [r for r in incrementals if r["month_part"] == "8/8"] or incrementals
    people = sum(r["people"] for r in info["regions"].values())
    adults = sum(r["adults"] for r in info["regions"].values())
    labs = sum(r["lab_results"] for r in info["regions"].values())
    full_median = _median([r["wall_seconds"] for r in fulls])
    return {
        "size": size, "people": people, "adults": adults, "lab_results": labs,
        "lab_results_per_adult": round(labs / adults, 1),
        "lab_results_month": sum(r["lab_results_month"] for r in info["regions"].values()),
        "input_bytes": sum(p.stat().st_size for p in input_files(folder, "extracts")),
        "scan_floor": floor, "full_runs": fulls, "peer_runs": peers,
        "incremental_runs": incrementals, "peer_month_runs": peers_month,
        # the median runs, for the tables and the growth exponents
        "full": min(fulls, key=lambda r: abs(r["wall_seconds"] - full_median)),
        "incremental": sorted(whole_month, key=lambda r: r["wall_seconds"])[
            len(whole_month) // 2],
        "full_vs_peer": compare(fulls, peers),
        "incremental_vs_peer": compare(whole_month, peers_month) if peers_month else None,
        "full_to_floor": round(full_median / floor["seconds"], 1),
    }


def growth(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How time grows with size: the exponent k in time ~ people^k between sizes."""
    import math

    out = []
    for a, b in zip(results, results[1:], strict=False):
        ratio = b["people"] / a["people"]
        row = {"from": a["size"], "to": b["size"], "people_ratio": round(ratio, 1)}
        for kind in ("full", "incremental"):
            t = b[kind]["wall_seconds"] / a[kind]["wall_seconds"]
            row[f"{kind}_time_ratio"] = round(t, 1)
            row[f"{kind}_exponent"] = round(math.log(t) / math.log(ratio), 2)
        out.append(row)
    return out


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "# National-scale benchmark", "",
        f"Measured {report['measured_at']} on {m['cpus']} CPUs, {m['memory_gib']} GiB, "
        f"Python {m['python']}, DuckDB {m['duckdb']}, code {m['code_version']}; "
        f"DuckDB memory limit {m['duckdb_memory_limit']}. "
        "Written by `benchmarks/national.py` (numbers, not a test).", "",
        "| size | people | adults | lab results (per adult) | input | scan floor | full run "
        "| full / floor | peak memory | rows/s | incremental month | incremental peak |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['size']} | {r['people']:,} | {r['adults']:,} | {r['lab_results']:,} "
            f"({r['lab_results_per_adult']}) | {r['input_bytes'] / 2**20:,.0f} MiB "
            f"| {r['scan_floor']['seconds']} s | {r['full']['wall_seconds']} s "
            f"| {r['full_to_floor']}x | {r['full']['peak_rss_gib']} GiB "
            f"| {r['full']['rows_per_second']:,} | {r['incremental']['wall_seconds']} s "
            f"({r['lab_results_month']:,} new lab results) "
            f"| {r['incremental']['peak_rss_gib']} GiB |")
    for kind in ("full", "incremental"):
        lines += ["", f"## Stages, {kind} run (seconds, peak RSS GiB)", "",
                  "| size | " + " | ".join(STAGE_ORDER) + " | total |",
                  "|---|" + "---:|" * (len(STAGE_ORDER) + 1)]
        for r in report["results"]:
            st = r[kind]["stages"]
            lines.append(f"| {r['size']} | " + " | ".join(
                f"{st[s]['seconds']} s ({st[s]['peak_rss_gib']})" for s in STAGE_ORDER)
                + f" | {r[kind]['wall_seconds']} s |")
    if report["growth"]:
        lines += ["", "## Growth with size (time ~ people^k)", "",
                  "| from | to | people x | full time x | k (full) | incremental time x "
                  "| k (incremental) |", "|---|---|---:|---:|---:|---:|---:|"]
        for g in report["growth"]:
            lines.append(f"| {g['from']} | {g['to']} | {g['people_ratio']} "
                         f"| {g['full_time_ratio']} | {g['full_exponent']} "
                         f"| {g['incremental_time_ratio']} | {g['incremental_exponent']} |")
    for kind in ("full_vs_peer", "incremental_vs_peer"):
        lines += ["", f"## {'Full' if kind == 'full_vs_peer' else 'Monthly'} run against the "
                  "peer script (benchmarks/peer_pandas.py), medians of interleaved runs", "",
                  "| size | runs | ingest + validate / read | criteria + model / compute "
                  "| outputs / write | total in process | total with start-up |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for r in report["results"]:
            c = r[kind]
            if not c:
                continue
            n = len(r["full_runs"] if kind == "full_vs_peer" else r["peer_month_runs"])
            lines.append(f"| {r['size']} | {n} | " + " | ".join(
                f"{c[k]['pipeline_seconds']} s / {c[k]['peer_seconds']} s = {c[k]['ratio']}x"
                for k in ("read", "compute", "write", "wall_seconds", "process_seconds"))
                + " |")
    lines += ["", "## CPU seconds (user + sys), full run: median per stage, and whole processes "
              "against the peer script", "",
              "| size | " + " | ".join(STAGE_ORDER) + " | pipeline process | peer process "
              "| CPU ratio | cores in use (pipeline, peer) |",
              "|---|" + "---:|" * (len(STAGE_ORDER) + 4)]
    for r in report["results"]:
        runs, c = r["full_runs"], r["full_vs_peer"].get("process_cpu_seconds")
        if not c or not all("cpu_seconds" in run["stages"][STAGE_ORDER[0]] for run in runs):
            continue
        walls = r["full_vs_peer"]["process_seconds"]
        lines.append(f"| {r['size']} | " + " | ".join(
            f"{_median([run['stages'][s]['cpu_seconds'] for run in runs])} s"
            for s in STAGE_ORDER)
            + f" | {c['pipeline_seconds']} s | {c['peer_seconds']} s | {c['ratio']}x "
            f"| {c['pipeline_seconds'] / walls['pipeline_seconds']:.2f}, "
            f"{c['peer_seconds'] / walls['peer_seconds']:.2f} |")
    lines += ["", "## Monthly run against the people whose data changed", "",
              "| size | part of the month | people with new data | recomputed (scope_b) "
              "| monthly run | ingest | validate | criteria | model | outputs |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        for run in r["incremental_runs"]:
            st = run["stages"]
            lines.append(f"| {r['size']} | {run['month_part']} | {run['people_with_new_data']:,} "
                         f"| {run['recomputed']:,} | {run['wall_seconds']} s | " + " | ".join(
                             f"{st[s]['seconds']} s" for s in STAGE_ORDER) + " |")
    lines += ["", "Outputs per full run: " + "; ".join(
        f"{r['size']}: {r['full']['screened']:,} screened, {r['full']['flagged']:,} flagged, "
        f"{r['full']['referred']:,} referred, {r['full']['gp_reports']:,} GP reports, "
        f"{r['full']['cascade_relatives']:,} cascade relatives" for r in report["results"]),
        ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "measure":  # internal: one measured run in this process
        what, folder = argv[1], Path(argv[2])
        result = (scan_floor(folder) if what == "floor"
                  else run_pipeline(folder, what, *argv[3:4]))
        print(json.dumps(result))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["100k", "1M"], choices=list(SIZES))
    parser.add_argument("--work", default="/tmp/fh-benchmark",
                        help="where extracts and stores go (several GB for 6M)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="interleaved runs of the pipeline and the peer script each")
    parser.add_argument("--month-parts", type=int, nargs="+", default=[8],
                        help="monthly runs on k/8 of the month's lab results (8: all)")
    parser.add_argument("--out", help="report path without suffix "
                                      "(default: benchmarks/results/national-<sizes>)")
    args = parser.parse_args(argv)
    from fh_screening.pipeline import code_version
    from fh_screening.store import DEFAULT_MEMORY_LIMIT

    results = [bench(size, Path(args.work), args.repeat, tuple(args.month_parts))
               for size in args.sizes]
    report = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "memory_gib": round(os.sysconf("SC_PHYS_PAGES")
                                        * os.sysconf("SC_PAGE_SIZE") / 2**30),
                    "duckdb": duckdb.__version__, "code_version": code_version(),
                    "duckdb_memory_limit": os.environ.get("FH_DUCKDB_MEMORY_LIMIT",
                                                          DEFAULT_MEMORY_LIMIT)},
        "panel_rate_factor": PANEL_RATE_FACTOR, "results": results,
        "growth": growth(results),
    }
    out = Path(args.out) if args.out else RESULTS / f"national-{'-'.join(args.sizes)}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
