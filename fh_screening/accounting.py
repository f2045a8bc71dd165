"""Row accounting: every row of every ingested file is either accepted or quarantined.

Ingest checks each file before it commits (`ingest.ingest_file`) and records the counts in
`ingested_files`. This module checks the same promise from the other side, on what the
store holds now and on a run's summary, so that rows lost or added by any later step (a
bug, a manual edit, a half-applied migration) fail the run instead of going unnoticed.
"""

from __future__ import annotations

from typing import Any

import duckdb

from fh_screening.store import query_sql


class AccountingError(RuntimeError):
    """Rows do not balance: some were lost or counted twice."""


def store_imbalances(con: duckdb.DuckDBPyConnection, regions: list[str]) -> list[dict[str, Any]]:
    """Files of these regions whose stored rows disagree with their ingest record.

    Event tables must hold exactly the accepted rows; snapshot tables (patients,
    practices) at most that many, since a newer file replaces a person's or practice's row.
    """
    rows = query_sql(con, "accounting/file_balance", {"regions": regions}).fetchall()
    return [dict(zip(("path", "table", "rows_read", "rows_accepted", "rows_quarantined",
                      "stored", "quarantine_rows"), r, strict=True)) for r in rows]


def duplicate_people(con: duckdb.DuckDBPyConnection) -> int:
    """People with more than one row in `patients` (must be 0: every screening result and
    list is per person)."""
    return con.execute("select count(*) from (select person_id from patients "
                       "group by person_id having count(*) > 1)").fetchall()[0][0]


def check_store(con: duckdb.DuckDBPyConnection, regions: list[str]) -> None:
    """Raise AccountingError naming every file whose rows do not balance, or when a person
    has more than one patients row."""
    problems = store_imbalances(con, regions)
    if problems:
        lines = [f"{p['path']} ({p['table']}): read {p['rows_read']}, accepted "
                 f"{p['rows_accepted']} (stored {p['stored']}), quarantined "
                 f"{p['rows_quarantined']} (stored {p['quarantine_rows']})" for p in problems]
        raise AccountingError("rows do not balance for " + "; ".join(lines))
    doubled = duplicate_people(con)
    if doubled:
        raise AccountingError(f"{doubled} people have more than one row in patients")


def check_ingest_results(ingested: list[dict[str, Any]]) -> None:
    """The ingest step results a run summary is built from must balance, per file and
    per region (they are the numbers the run reports)."""
    problems = []
    for result in ingested:
        totals = {k: 0 for k in ("rows_read", "rows_accepted", "rows_quarantined")}
        for f in result["files"]:
            if f["rows_read"] != f["rows_accepted"] + f["rows_quarantined"]:
                problems.append(f"{f['path']}: read {f['rows_read']}, accepted "
                                f"{f['rows_accepted']}, quarantined {f['rows_quarantined']}")
            for k in totals:
                totals[k] += f[k]
        if any(result[k] != v for k, v in totals.items()) or (
                result["rows_read"] != result["rows_accepted"] + result["rows_quarantined"]):
            problems.append(f"{result['region']}: read {result['rows_read']}, accepted "
                            f"{result['rows_accepted']}, quarantined "
                            f"{result['rows_quarantined']} (files: {totals})")
    if problems:
        raise AccountingError("run summary does not balance: " + "; ".join(problems))
