"""Output files whose bytes take pure-Python work (XLSX workbooks, GP report pages),
built for a large run in worker processes while this one goes on with the next query.

Why: xlsxwriter is about 10 us a cell and a GP page renders a chart and a template per
patient; a national run has over a million cells and tens of thousands of patients, and
one process would leave the second core idle meanwhile. Workers are `spawn`ed (no copy
of this process's DuckDB connection); each job is a module-level function of picklable
arguments returning the file's bytes or text. `finish` writes the files in submission
order, so the output is the same bytes whether the work ran here or in a worker.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

# Above this many rows in a run's output (people in the triage table) the work goes to
# workers; below it starting a process costs more than it saves.
BACKGROUND_ROWS = 20_000
# Two workers: the machines this runs on have two cores or more, and this process is
# mostly waiting on DuckDB (which releases the GIL) or on the workers meanwhile.
WORKERS = 2


class BackgroundFiles:
    """The run's files built by `add(path, build, *args)`: here for a small run, in
    worker processes for a large one; `write(path, data)` stores each in `finish`."""

    def __init__(self, rows: int, write: Callable[[Path, str | bytes], None]) -> None:
        self._write = write
        self._pool = (ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn"))
                      if rows > BACKGROUND_ROWS else None)
        self._jobs: list[tuple[Path, Future[str | bytes] | str | bytes]] = []

    def add(self, path: Path, build: Callable[..., str | bytes], *args: Any,
            **kwargs: Any) -> None:
        job = (self._pool.submit(build, *args, **kwargs) if self._pool
               else build(*args, **kwargs))
        self._jobs.append((path, job))

    def finish(self) -> list[Path]:
        """Write every file (waiting for the workers); returns the paths written."""
        try:
            for path, job in self._jobs:
                self._write(path, job.result() if isinstance(job, Future) else job)
            return [path for path, _ in self._jobs]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the workers; unfinished jobs are dropped (the run fails and its
        temporary output folder is removed by the caller)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
