"""Named crash points, so tests can kill the pipeline exactly where a crash hurts most.

`checkpoint("ingest.before_commit")` does nothing unless the environment variable
FH_FAULT names that point: `FH_FAULT=<point>[@<n>][:<action>]` acts the n-th time (default
1st) the process reaches the point; the action is `kill` (SIGKILL itself: no cleanup, no
`finally`, exactly like a power cut or the OOM killer; the default) or `stop` (SIGSTOP
itself, holding whatever it holds, until a SIGCONT). tests/test_crash_safety.py uses it;
production never sets it. A wrong spec is an error, not a silent no-op, so a test cannot
pass by never crashing.
"""

from __future__ import annotations

import os
import re
import signal
from collections import Counter

ENV = "FH_FAULT"
POINTS = (
    "ingest.vault_written",   # identities in the vault, the file's rows not yet stored
    "ingest.before_commit",   # a file's rows and quarantine written, transaction open
    "ingest.after_commit",    # a file committed, the next not started
    "screen.before_commit",   # criteria and model done, their transaction not committed
    "output.file_written",    # one more list written into the hidden temporary folder
    "output.before_rename",   # every file written, the folder not yet in place
    "output.replaced_old",    # the previous folder moved aside, the new one not yet in place
    "output.renamed",         # the folder in place, the run registry not yet committed
)
_SPEC = re.compile(r"^(?P<point>[a-z_.]+)(?:@(?P<n>[1-9][0-9]*))?(?::(?P<action>kill|stop))?$")
_seen: Counter[str] = Counter()


def _parse(spec: str) -> tuple[str, int, str]:
    match = _SPEC.match(spec)
    if not match or match["point"] not in POINTS:
        raise ValueError(f"${ENV}={spec!r}: expected <point>[@<n>][:kill|stop] with a point "
                         f"in {', '.join(POINTS)}")
    return match["point"], int(match["n"] or 1), match["action"] or "kill"


def checkpoint(point: str) -> None:
    """Crash (or stop) here if $FH_FAULT says so; otherwise nothing."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, n, action = _parse(spec)
    if point != target:
        return
    _seen[point] += 1
    if _seen[point] == n:
        os.kill(os.getpid(), signal.SIGKILL if action == "kill" else signal.SIGSTOP)
