"""Retries and the store lock for the Prefect tasks, all from Prefect itself.

- Retries with exponential backoff and jitter, but only for errors that can pass (the store
  is locked by another process, an I/O hiccup): bad input or a failed critical expectation
  fails at once, since retrying would only repeat it.
- A Prefect global concurrency limit of 1 per workspace serialises the tasks that write to
  the DuckDB store, because DuckDB allows one writer per file: a national run fans out over
  regions on a thread pool, and their ingest tasks queue on this limit instead of
  colliding. The limit is created on first use (named after the workspace folder).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from prefect import get_client
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists
from prefect.tasks import exponential_backoff

from fh_screening.store import StoreBusy

# Retry delays 5, 10, 20 s (+-50 % jitter): long enough for another run to release the
# store, short enough that a genuinely stuck run fails within a minute.
RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=5)
RETRY_JITTER = 0.5

_PERMANENT_OS_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError,
                        NotADirectoryError)


def is_transient(exc: BaseException | None) -> bool:
    """Errors worth retrying: a locked store, DuckDB I/O, other I/O failures; not missing
    or unreadable files (a retry cannot create them) and not data errors."""
    if isinstance(exc, StoreBusy | duckdb.IOException | TimeoutError | ConnectionError):
        return True
    return isinstance(exc, OSError) and not isinstance(exc, _PERMANENT_OS_ERRORS)


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect `retry_condition_fn`: retry a failed task run only for transient errors."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            exc = state.result(raise_on_failure=False)
        except Exception as err:  # the result itself could not be read
            exc = err
    return is_transient(exc if isinstance(exc, BaseException) else None)


RETRY_OPTIONS: dict[str, Any] = {
    "retries": RETRIES, "retry_delay_seconds": RETRY_DELAYS, "retry_jitter_factor": RETRY_JITTER,
    "retry_condition_fn": retry_if_transient,
}


def store_limit_name(home: str | Path) -> str:
    """One global concurrency limit per workspace (its absolute path, hashed)."""
    digest = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:12]
    return f"fh-screening-store-{digest}"


def ensure_store_limit(home: str | Path) -> str:
    """Create the workspace's limit if missing. Prefect's upsert reads, then creates, so
    two flows starting at once (a regional and the national deployment on one workspace)
    can both find no limit; the second create fails with ObjectAlreadyExists. The limit
    then exists, as wanted, and a second upsert finds it and sets it to 1."""
    name = store_limit_name(home)
    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)
        except ObjectAlreadyExists:
            client.upsert_global_concurrency_limit_by_name(name, limit=1)
    return name


@contextmanager
def store_writer(home: str | Path) -> Iterator[None]:
    """Hold the workspace's store-writer slot (limit 1) for the duration of the block;
    strict: a missing limit is an error, never a silent run without the lock."""
    with concurrency(store_limit_name(home), occupy=1, strict=True):
        yield
