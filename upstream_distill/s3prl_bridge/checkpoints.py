"""Crash-safe checkpoints for s3prl's downstream runner, and the test of a checkpoint being complete.

s3prl's ``Runner.train`` (s3prl/downstream/runner.py) writes every checkpoint with a plain
``torch.save(all_states, path)``, and when ``max_keep`` ``states-*.ckpt`` exist it ``os.remove``s the
oldest *before* writing the new one. With the shipped ``max_keep: 1`` a run killed at the wrong moment
left a truncated ``states-N.ckpt`` as the only one (every resume then failed with ``EOFError``), or, killed
while writing ``dev-best.ckpt`` (written first), no ``states-*.ckpt`` at all, so ``-a`` silently started
again from step 0.

:func:`install` changes what the runner module's ``torch.save`` and ``os.remove`` do, for that module
only (see :mod:`.overlay`):

* a checkpoint is written to a hidden temporary file in its folder (``.NAME.tmp-PID``, the name
  ``upstream_distill.training.checkpoint`` uses, which never matches ``states-*.ckpt``), flushed, fsynced
  and renamed over ``NAME`` with ``os.replace``: the real name always holds a complete file or none;
* the removal of an old ``states-*.ckpt`` waits until the next ``states-*.ckpt`` is complete, so the
  folder always keeps the last good one (``max_keep`` still holds once the write is done).

:func:`checkpoint_problem` tells a complete checkpoint from a truncated one without loading it: a
``torch.save`` file is a zip archive whose central directory is written last.
"""
from __future__ import annotations

import os
import re
import zipfile
from typing import List, Optional

from upstream_distill.core.atomic_files import process_alive, write_atomically

__all__ = ["checkpoint_problem", "install", "save_atomic"]

_STATES = re.compile(r"^states-\d+\.ckpt$")
_TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")


def checkpoint_problem(path) -> Optional[str]:
    """None when ``path`` is a complete ``torch.save`` file, else why not (for a message naming it)."""
    try:
        size = os.path.getsize(path)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    if os.path.isdir(path):
        return "is a folder, not a checkpoint file"
    if size == 0:
        return "is empty (0 bytes)"
    try:
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith("data.pkl") for name in archive.namelist()):
                return "is a zip archive but not a torch checkpoint (no data.pkl)"
    except (zipfile.BadZipFile, OSError):
        # torch >= 1.6 always writes zip archives; without the end record the write was cut short
        return f"is truncated or not a checkpoint ({size} bytes, no complete torch archive)"
    return None


def _remove_stale_temporaries(folder: str) -> None:
    """Temporary files of writers that were killed (never complete checkpoints)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.match(name)
        if match and int(match.group(1)) != os.getpid() and not process_alive(match.group(1)):
            try:
                os.remove(os.path.join(folder, name))
            except FileNotFoundError:
                pass


def save_atomic(obj, path, *args, **kwargs) -> None:
    """``torch.save(obj, path)`` through a temporary file in the same folder + fsync + ``os.replace``."""
    import torch

    _remove_stale_temporaries(os.path.dirname(os.fspath(path)) or ".")
    # torch.save looked up at each call: the real one (the overlay changes it for s3prl's runner only)
    write_atomically(path, lambda tmp: torch.save(obj, tmp, *args, **kwargs), durable=True)


class _KeepLastGood:
    """The runner's ``torch.save`` and ``os.remove``: atomic writes, old states removed after the new one."""

    def __init__(self):
        self.pending: List[str] = []  # states-*.ckpt that s3prl's max_keep asked to remove

    def save(self, obj, f, *args, **kwargs) -> None:
        import torch

        if not isinstance(f, (str, os.PathLike)):
            torch.save(obj, f, *args, **kwargs)
            return
        save_atomic(obj, f, *args, **kwargs)
        if _STATES.match(os.path.basename(os.fspath(f))):
            written = os.path.abspath(os.fspath(f))
            for old in self.pending:
                if os.path.abspath(old) != written:  # the new file may reuse the name of a bad old one
                    try:
                        os.remove(old)
                    except FileNotFoundError:
                        pass
            self.pending = []

    def remove(self, path, *args, **kwargs) -> None:
        if _STATES.match(os.path.basename(os.fspath(path))):
            self.pending.append(os.fspath(path))
        else:
            os.remove(path, *args, **kwargs)


def install() -> bool:
    """Make s3prl's downstream runner write checkpoints crash-safely. Idempotent; True once in effect."""
    import s3prl.downstream.runner as runner

    from .overlay import overlay

    if isinstance(getattr(runner.torch.save, "__self__", None), _KeepLastGood):
        return True
    keeper = _KeepLastGood()
    overlay(runner, "torch", save=keeper.save)
    overlay(runner, "os", remove=keeper.remove)
    return True
