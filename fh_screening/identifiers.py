"""Stable referral, family and relative ids (issue 21).

Why a registry and not a hash: family letter "001" used to be a rank within the clinic's
list, so one new genetic test renumbered every family after it and a letter in a
relative's hand pointed to another family. Codes are now issued once, the first time a
run lists a person, and kept in the store (`stable_ids`, sql/outputs/stable_ids.sql):
short sequence numbers a clinic can read aloud on the phone (R000123), that say nothing
about the person (not derived from the CPR number, nor from the pseudonym), and that a
returned workbook is checked against (an id never issued is refused). They are written in
the outputs transaction, so a failed run issues nothing.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from fh_screening.store import run_sql

PREFIX = {"referral": "R", "family": "F", "relative": "K"}


def issue(con: duckdb.DuckDBPyConnection, kind: str, requests: pl.DataFrame, *,
          run_id: str, as_of: date) -> pl.DataFrame:
    """Codes for `requests` (person_id, scope, ord): existing ones kept, new ones numbered
    in `ord` order. Returns (person_id, scope, code) for every request."""
    if kind not in PREFIX:
        raise ValueError(f"unknown id kind {kind!r}")
    wanted = requests.select(pl.col("person_id").cast(pl.Int64),
                             pl.col("scope").cast(pl.String).fill_null(""),
                             pl.col("ord").cast(pl.Int64))
    con.register("id_requests", wanted)
    try:
        run_sql(con, "outputs/stable_ids", {"kind": kind, "prefix": PREFIX[kind],
                                            "run_id": run_id, "as_of": as_of})
        return con.sql("select r.person_id, r.scope, s.code from id_requests r "
                       "join stable_ids s on s.kind = $kind and s.person_id = r.person_id "
                       "and s.scope = r.scope", params={"kind": kind}).pl().unique(
            ["person_id", "scope"], maintain_order=True)
    finally:
        con.unregister("id_requests")


def with_codes(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame, kind: str, *,
               person: str, scope: str | None, column: str, run_id: str,
               as_of: date) -> pl.DataFrame:
    """`frame` with `column` holding each row's code (issued where new, in row order)."""
    if not frame.height:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias(column))
    scopes = frame[scope].cast(pl.String).fill_null("") if scope else pl.Series([""] * frame.height)
    requests = pl.DataFrame({"person_id": frame[person], "scope": scopes,
                             "ord": range(frame.height)})
    codes = issue(con, kind, requests, run_id=run_id, as_of=as_of)
    keyed = frame.with_columns(pl.Series("_scope", scopes, dtype=pl.String))
    return keyed.join(codes.rename({"person_id": person, "scope": "_scope", "code": column}),
                      on=[person, "_scope"], how="left", maintain_order="left").drop("_scope")
