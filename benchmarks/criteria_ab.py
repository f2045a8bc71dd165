"""One criteria SQL file against another version of it, on the same store, alternately in
one process: its time per pair and whether the two give the same rows (issue 23).

    .venv/bin/python benchmarks/criteria_ab.py /var/tmp/fhb/1M 03_index_ldl HEAD~1
    .venv/bin/python benchmarks/criteria_ab.py /var/tmp/fhb/1M 03_index_ldl /tmp/try.sql --pairs 9

The folder is one that benchmarks/national.py generated and ran a full run in; its store
is copied (the original is not touched), the criteria files before the measured one run
once as a full screening runs them, and then this checkout's file and the other version
(a git revision of this repository, or a file) run in turn. A whole-pipeline run moves
with everything else the machine does; a pair of runs of one file, seconds apart on the
same tables, shows what the change itself costs. Prints medians, the per-pair ratio
(this checkout / the other) and, for each column, how many rows differ.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

CREATES = re.compile(r"create\s+or\s+replace\s+(?:temp\s+)?table\s+(\w+)", re.IGNORECASE)


def other_version(spec: str, stem: str) -> str:
    """The other version's text: a file, else `git show <revision>:sql/criteria/<stem>.sql`."""
    path = Path(spec)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{spec}:sql/criteria/{stem}.sql"],
                           capture_output=True, text=True)
    if shown.returncode:
        raise SystemExit(f"{spec} is neither a file nor a revision holding "
                         f"sql/criteria/{stem}.sql: {shown.stderr.strip()}")
    return shown.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path,
                        help="a benchmark size folder (its workspace has a full run)")
    parser.add_argument("stem", help="the criteria file, e.g. 03_index_ldl")
    parser.add_argument("other", help="a git revision, or a file with the other version")
    parser.add_argument("--pairs", type=int, default=7)
    args = parser.parse_args(argv)

    import national

    from fh_screening import criteria as C
    from fh_screening.ingest import quote_ident
    from fh_screening.store import _used_params, connect, read_sql, run_sql, split_statements

    files = [p.stem for p in sorted(C.CRITERIA_DIR.glob("[0-9][0-9]_*.sql"))]
    if args.stem not in files:
        raise SystemExit(f"{args.stem} is not a criteria file (sql/criteria/): {', '.join(files)}")
    texts = {"this checkout": read_sql(f"criteria/{args.stem}"),
             args.other: other_version(args.other, args.stem)}
    outputs = {name: CREATES.findall(text)[-1] for name, text in texts.items()}
    if len(set(outputs.values())) != 1:
        raise SystemExit(f"the two versions create different tables: {outputs}")
    output = outputs["this checkout"]

    store = args.folder / "workspace" / "store.duckdb"
    if not store.exists():
        raise SystemExit(f"{store} does not exist: run benchmarks/national.py for this size first")
    with tempfile.TemporaryDirectory(dir=args.folder, prefix="criteria-ab-") as scratch:
        copy = Path(scratch) / "store.duckdb"
        shutil.copy(store, copy)
        con = connect(copy)
        params = C.prepare_criteria(con, as_of=national.BASE_END,
                                    regions=list(national.REGIONS))
        run_sql(con, "criteria/scope/everyone", params)
        for stem in files[:files.index(args.stem)]:
            run_sql(con, f"criteria/{stem}", params)
            if stem in C.PERSISTED:
                C._merge(con, *C.PERSISTED[stem], full=True)

        seconds: dict[str, list[float]] = {name: [] for name in texts}
        for _ in range(args.pairs):
            for i, (name, text) in enumerate(texts.items()):
                t0 = time.perf_counter()
                for statement in split_statements(text):
                    con.execute(statement, _used_params(statement, params))
                seconds[name].append(time.perf_counter() - t0)
                con.execute(f"create or replace temp table ab_{i} as "  # noqa: S608
                            f"select * from {quote_ident(output)}")
        columns = [c for c, *_ in con.execute("describe ab_0").fetchall()]
        one_per_person = "person_id" in columns and con.execute(
            "select count(*) = count(distinct person_id) from ab_0").fetchall()[0][0]
        if one_per_person:  # which columns differ
            differ = {c: con.execute(
                "select count(*) from ab_0 a full join ab_1 b using (person_id) "  # noqa: S608
                f"where a.{quote_ident(c)} is distinct from b.{quote_ident(c)}").fetchall()[0][0]
                for c in columns if c != "person_id"}
        else:
            differ = {"rows (either side)": con.execute(
                "select (select count(*) from (from ab_0 except all from ab_1)) "
                "+ (select count(*) from (from ab_1 except all from ab_0))").fetchall()[0][0]}
        rows = [con.execute(f"select count(*) from ab_{i}").fetchall()[0][0]  # noqa: S608
                for i in (0, 1)]
        con.close()

    print(f"{args.stem} on {store} ({rows[0]:,} rows against {rows[1]:,}), {args.pairs} pairs")
    for name, values in seconds.items():
        print(f"  {name}: median {statistics.median(values):.3f} s "
              f"(min {min(values):.3f}, max {max(values):.3f})")
    a, b = seconds.values()
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    print(f"  this checkout / {args.other}, per pair: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f})")
    changed = {c: n for c, n in differ.items() if n}
    print("  rows differ by column: " + (", ".join(f"{c} {n:,}" for c, n in changed.items())
                                        if changed else "none"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
