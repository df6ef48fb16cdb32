"""DataLoader workers that die with the process that started them (Linux).

torch's workers look for a dead parent only while they wait for the next index (``ManagerWatchdog``
polls ``os.getppid()`` every 5 s), and the watchdog starts after worker set-up. A worker busy or stuck
elsewhere (a read on a hung file system or FIFO, libgomp after fork) never polls, so ``kill -9`` of
``run_downstream.py`` left such workers running under init for good. Linux's
``prctl(PR_SET_PDEATHSIG, SIGKILL)`` has the kernel kill the worker the moment its parent dies,
whatever the worker is doing.

:func:`install` wraps each DataLoader's ``worker_init_fn`` (when it starts workers from the main thread)
so that every worker asks for that signal first. Main thread only: the signal follows the *thread* that
forked the worker, and a worker forked from a short-lived thread would be killed when that thread ends.
Elsewhere than Linux nothing is installed.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

__all__ = ["DieWithParent", "install"]

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class DieWithParent:
    """A DataLoader ``worker_init_fn``: arm the parent-death signal, then run the loader's own init (picklable)."""

    def __init__(self, init_fn, parent_pid: int):
        self.init_fn = init_fn
        self.parent_pid = parent_pid

    def __call__(self, worker_id: int) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() != self.parent_pid:
            os.kill(os.getpid(), signal.SIGKILL)  # the parent died before the signal was armed
        if self.init_fn is not None:
            self.init_fn(worker_id)


def install() -> bool:
    """Make DataLoader workers started from the main thread die with their parent.

    Idempotent; True once in effect, False where there is no prctl (not Linux).
    """
    if not sys.platform.startswith("linux"):
        return False
    from torch.utils.data import DataLoader

    if getattr(DataLoader.__iter__, "_dies_with_parent", False):
        return True
    original = DataLoader.__iter__

    def __iter__(self):
        init_fn = self.worker_init_fn
        inner = init_fn.init_fn if isinstance(init_fn, DieWithParent) else init_fn
        if self.num_workers > 0 and threading.current_thread() is threading.main_thread():
            self.worker_init_fn = DieWithParent(inner, os.getpid())
        else:
            self.worker_init_fn = inner
        return original(self)

    __iter__._dies_with_parent = True
    DataLoader.__iter__ = __iter__
    return True
