"""Advisory file locks: one mechanism for every "only one process at a time here".

``fcntl.flock`` on a small lock file beside what it guards.  The kernel drops
the lock when its holder dies, even by ``kill -9``, so a crashed command never
leaves a stale lock behind (unlike a "lock file exists" convention).  The
holder writes its pid into the file, so a waiting or refused command can say
who holds it.  On file systems without ``flock`` (some NFS set-ups) the lock
degrades to nothing; what it guards must then still be safe by itself, which
is why the caches also write to per-process temporaries and publish by rename.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

__all__ = ["exclusive_lock", "lock_holder", "try_lock"]


def lock_holder(path: Path) -> Optional[int]:
    """The pid written by the process that holds (or last held) the lock ``path``."""
    try:
        return int(Path(path).read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


def _open(path: Path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # "a": opening must not truncate the pid of the process that holds the lock now
    return open(path, "a+")


def _record_pid(handle) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()


@contextmanager
def exclusive_lock(path: Path, on_wait: Optional[Callable[[Optional[int]], None]] = None) -> Iterator[None]:
    """Hold ``path`` exclusively for the block, waiting for another holder first.

    ``on_wait(pid)`` is called once, before waiting, when another process holds it.
    """
    with _open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait(lock_holder(path))
            fcntl.flock(handle, fcntl.LOCK_EX)
        _record_pid(handle)
        yield


@contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Hold ``path`` exclusively for the block and yield True, or yield False at once when another
    process holds it."""
    with _open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        _record_pid(handle)
        yield True
