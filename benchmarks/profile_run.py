"""Profile one benchmark run: where the time goes, per stage, per SQL file and per Python
function (issue 23; the tables in docs/scale.md, "Profile").

    .venv/bin/python benchmarks/profile_run.py /var/tmp/fhb/1M full
    .venv/bin/python benchmarks/profile_run.py /var/tmp/fhb/1M incremental

The folder is one that benchmarks/national.py generated (and, for `incremental`, ran a
full run in). The run is benchmarks/national.py's own (`run_pipeline`) under cProfile,
with `store.run_sql` / `query_sql` timed per SQL file; a DuckDB query's time shows as
the own time of the Python function that ran it. Prints Markdown tables; writes
the raw cProfile data beside the workspace (`profile-<kind>.prof`).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str]) -> int:
    folder, kind = Path(argv[0]), argv[1]
    import national

    from fh_screening import store

    per_file: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    original_run, original_query = store.run_sql, store.query_sql

    def timed_run(con, name, params=None):
        t0 = time.perf_counter()
        try:
            return original_run(con, name, params)
        finally:
            per_file[name] += time.perf_counter() - t0
            calls[name] += 1

    def timed_query(con, name, params=None):
        t0 = time.perf_counter()
        rel = original_query(con, name, params)
        per_file[name] += time.perf_counter() - t0  # planning only; the fetch is the caller's
        calls[name] += 1
        return rel

    store.run_sql, store.query_sql = timed_run, timed_query
    import importlib

    for name in ("pipeline", "ingest", "criteria", "model", "reports", "referrals", "cascade",
                 "gp_reports", "accounting", "identifiers", "validate"):
        # imported before the run, so their own names for the two functions are patched
        # (and the imports are not in the profile)
        module = importlib.import_module(f"fh_screening.{name}")
        if getattr(module, "run_sql", None) is original_run:
            module.run_sql = timed_run
        if getattr(module, "query_sql", None) is original_query:
            module.query_sql = timed_query
    profiler = cProfile.Profile()
    profiler.enable()
    result = national.run_pipeline(folder, kind, *argv[2:3])
    profiler.disable()
    out = folder / f"profile-{kind}.prof"
    profiler.dump_stats(out)

    print(f"## {kind} run, {result['wall_seconds']} s\n")
    print("| stage | seconds |\n|---|---:|")
    for s, v in result["stages"].items():
        print(f"| {s} | {v['seconds']} |")
    print("\n| SQL file | calls | seconds |\n|---|---:|---:|")
    for name, sec in sorted(per_file.items(), key=lambda kv: -kv[1])[:25]:
        print(f"| {name} | {calls[name]} | {sec:.2f} |")
    # DuckDB's methods (pybind11) are not profiled as functions of their own: the time a
    # query takes is the own time of the Python function that ran it (run_sql: the SQL
    # files above; _ingest_file, _receive, ...: the ingest's other statements).
    stats = pstats.Stats(profiler)
    print("\n| Python function (own time; DuckDB queries count as their caller's) "
          "| calls | seconds |\n|---|---:|---:|")
    own = sorted(((v[2], v[1], k) for k, v in stats.stats.items()), reverse=True)[:25]
    for sec, n, (path, line, fn) in own:
        print(f"| {Path(path).name}:{line} {fn} | {n} | {sec:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
