"""Named stages of a run (ingest, validate, criteria, model, outputs), for whoever times them.

Why: the benchmark reports wall time and peak memory per stage, and a stage boundary is
only known inside the pipeline. The pipeline marks its stages here; nothing is measured
unless a listener is installed (`listening`), so runs pay nothing for it. Stages nest
(validation runs inside ingest); listeners get both edges and attribute time themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# (event, stage name, perf_counter seconds); event is "start" or "end".
Listener = Callable[[str, str, float], None]
_listener: ContextVar[Listener | None] = ContextVar("fh_stage_listener", default=None)

STAGES = ("ingest", "validate", "criteria", "model", "outputs")


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Mark the code inside as stage `name` (one of STAGES)."""
    listener = _listener.get()
    if listener is None:
        yield
        return
    listener("start", name, time.perf_counter())
    try:
        yield
    finally:
        listener("end", name, time.perf_counter())


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    """Send this context's stage edges to `listener`."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


# Progress within a stage, for whoever shows it (a Prefect progress artifact in flows/, a
# terminal line in the CLI): (stage, steps done, steps in all, what was just done). The
# screening of a national run takes minutes with nothing to show otherwise.
StepListener = Callable[[str, int, int, str], None]
_steps: ContextVar[StepListener | None] = ContextVar("fh_step_listener", default=None)


def step(stage_name: str, done: int, total: int, what: str) -> None:
    """Report that `done` of `total` steps of `stage_name` are done (`what`: the last one,
    never a person's value)."""
    listener = _steps.get()
    if listener is not None:
        listener(stage_name, done, total, what)


@contextmanager
def reporting_steps(listener: StepListener) -> Iterator[None]:
    """Send this context's steps to `listener` as well as to any listener already set."""
    outer = _steps.get()

    def both(stage_name: str, done: int, total: int, what: str) -> None:
        listener(stage_name, done, total, what)
        if outer is not None:
            outer(stage_name, done, total, what)

    token = _steps.set(both)
    try:
        yield
    finally:
        _steps.reset(token)
