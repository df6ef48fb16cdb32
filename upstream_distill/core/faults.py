"""Named kill points for the fault-injection tests.

``fault_point("checkpoint-saved")`` does nothing unless the environment
variable ``UPSTREAM_DISTILL_KILL_AT`` names that point, as ``NAME`` or
``NAME:N`` (the N-th time the process reaches it): then the process sends
itself SIGKILL, exactly as ``kill -9`` from outside would, but at a chosen
instant instead of a lucky one.  The tests use it to stop a real command at
each write point (a checkpoint just renamed into place, an export, a cache
about to be published) and check that running the command again ends
where an uninterrupted run does.  The points are listed in ``POINTS``.
"""
from __future__ import annotations

import os
import signal
from collections import Counter

__all__ = ["ENVIRONMENT_VARIABLE", "POINTS", "fault_point"]

ENVIRONMENT_VARIABLE = "UPSTREAM_DISTILL_KILL_AT"
POINTS = (
    "checkpoint-written",   # a training checkpoint has just been renamed into place
    "export-written",       # the upstream artefact (upstream.pt) has just been rewritten
    "cache-filled",         # the teacher cache's arrays are complete, not yet published
)
_reached: Counter = Counter()


def fault_point(name: str) -> None:
    """SIGKILL this process if ``UPSTREAM_DISTILL_KILL_AT`` asks for ``name`` (this time)."""
    wanted = os.environ.get(ENVIRONMENT_VARIABLE)
    if not wanted:
        return
    if name not in POINTS:  # a typo in the code would make a test pass vacuously
        raise ValueError(f"fault_point: unknown point {name!r}; add it to POINTS")
    point, _, count = wanted.partition(":")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
