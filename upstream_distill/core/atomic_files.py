"""Files that appear whole or not at all, and whether the process behind a temporary still lives.

Every file the project writes for another process or a later run to read (checkpoints, exports,
tables, figures, caches' parts) goes through :func:`write_atomically`: the content is written to a
temporary of this process beside the target (``.NAME.tmp-PID``: same folder, so the rename is
atomic; hidden, so no glob of the real names sees it; one per process, so two writers never write
into one temporary) and renamed over the target. A reader sees the old file or the new one, never
half of one. ``durable=True`` also fsyncs the file and the folder, for what must survive a power
cut (checkpoints): the rename is then on disk when the call returns.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Union

__all__ = ["process_alive", "temporary_name", "write_atomically"]

PathLike = Union[str, Path]


def temporary_name(path: PathLike) -> Path:
    """The temporary this process writes ``path`` through."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync(path: PathLike) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)  # any descriptor of the file flushes its data
    finally:
        os.close(descriptor)


def write_atomically(path: PathLike, write: Callable[[Path], object], durable: bool = False) -> Path:
    """``write(tmp)`` to this process's temporary of ``path``, then rename it over ``path``; returns ``path``.

    ``write`` gets the temporary's path and writes the whole content there (``torch.save(x, tmp)``,
    ``tmp.write_text(...)``, ``figure.savefig(tmp, format="png")``: the temporary has no real suffix).
    If it raises, the temporary is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        write(tmp)
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    if durable:
        try:
            _fsync(path.parent)  # the rename itself
        except OSError:  # a file system that cannot fsync a folder
            pass
    return path


def process_alive(pid: Union[int, str]) -> bool:
    """Whether process ``pid`` exists (a temporary named after it may still be written)."""
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
