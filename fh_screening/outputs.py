"""Atomic run folders: a run's outputs appear whole or not at all.

Files are written into a hidden temporary folder beside the final one and renamed into
place at the end; a crash leaves only the hidden folder, which the next run removes.
Folders are created for the owner only (0700) and files readable by the owner only
(0600), because they re-identify patients.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fh_screening.faults import checkpoint

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def check_run_id(run_id: str) -> str:
    """Run ids become folder names: no path separators, no leading dot."""
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise ValueError(f"invalid run id {run_id!r}: use letters, digits, '-', '_' or '.'")
    return run_id


def safe_file_name(name: str) -> str:
    """A clinic or practice id as a file name that cannot escape its folder."""
    cleaned = _SAFE_NAME.sub("_", name).strip("._") or "unnamed"
    return cleaned[:100]


def write_private(path: Path, data: str | bytes) -> None:
    """Create a file readable by its owner only."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:  # the folder usually exists already (a national run writes 13,000 letters)
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    checkpoint("output.file_written")


def remove_stale(output_root: Path) -> list[str]:
    """Remove the hidden folders a killed run left behind (a half-written `.<run>.tmp-*`,
    or a previous run's `.<run>.old-*` moved aside just before the kill). They hold
    re-identified patients, so they must not linger. Callers hold the store's write lock
    (`pipeline.output_step`), so no other run of this workspace is writing them now."""
    removed = []
    for stale in sorted(output_root.glob(".*")):
        if stale.is_dir() and re.fullmatch(r"\..+\.(tmp|old)-[0-9]+", stale.name):
            shutil.rmtree(stale, ignore_errors=True)
            removed.append(stale.name)
    return removed


@contextmanager
def atomic_run_dir(output_root: Path, run_id: str) -> Iterator[Path]:
    """Yield a temporary folder; on success it replaces `output_root/run_id` in one rename."""
    check_run_id(run_id)
    output_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    remove_stale(output_root)
    tmp = output_root / f".{run_id}.tmp-{os.getpid()}"
    tmp.mkdir(mode=0o700)
    try:
        yield tmp
        for folder in [tmp, *(p for p in tmp.rglob("*") if p.is_dir())]:
            os.chmod(folder, 0o700)
        final = output_root / run_id
        checkpoint("output.before_rename")
        if final.exists():
            old = output_root / f".{run_id}.old-{os.getpid()}"
            os.replace(final, old)
            checkpoint("output.replaced_old")
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
