"""``-u NAME -k FILE`` that cannot be loaded ends in one line naming the flags and the file.

s3prl's ``Runner`` builds the upstream inside its constructor
(``getattr(s3prl.hub, args.upstream)(ckpt=args.upstream_ckpt, ...)``), so a missing, empty, truncated or
wrong-kind ``-k`` file, or no ``-k`` where the upstream needs one, surfaced as a traceback through s3prl.
The loaders' own messages already say what is wrong; :func:`check_upstream_ckpt` refuses the cases that
need no loading before s3prl starts, and :func:`report_upstream_errors` turns a loader's failure into a
UsageError that ``run_downstream.py`` prints as its one-line error.
"""
from __future__ import annotations

import os
import pickle
from typing import Optional

from .errors import UsageError

__all__ = ["check_upstream_ckpt", "report_upstream_errors"]

#: what loaders raise for a bad file; anything else (TypeError, AttributeError, ...) is a bug and keeps its traceback
LOAD_ERRORS = (OSError, ValueError, LookupError, EOFError, RuntimeError, pickle.UnpicklingError)
#: a -k value with one of these endings names a local file (s3prl's -k may also be a URL or a Google Drive id)
_FILE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")


def check_upstream_ckpt(ckpt: Optional[str]) -> None:
    """UsageError for a ``-k`` that names a local file which is missing or empty."""
    if not ckpt or "://" in ckpt:
        return
    if os.path.exists(ckpt):
        if os.path.isfile(ckpt) and os.path.getsize(ckpt) == 0:
            raise UsageError(f"-k/--upstream_ckpt: {ckpt} is empty (0 bytes)")
    elif os.sep in ckpt or ckpt.endswith(_FILE_SUFFIXES):
        raise UsageError(f"-k/--upstream_ckpt: {ckpt} does not exist")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def report_upstream_errors(runner_class) -> None:
    """Make ``runner_class._get_upstream`` raise UsageError (naming -u and -k) when the upstream fails to load."""
    original = getattr(runner_class._get_upstream, "__wrapped__", runner_class._get_upstream)

    def _get_upstream(self):
        try:
            return original(self)
        except LOAD_ERRORS as err:
            name, ckpt = getattr(self.args, "upstream", None), getattr(self.args, "upstream_ckpt", None)
            given = f"-u {name} -k {ckpt}" if ckpt else f"-u {name} (no -k/--upstream_ckpt given)"
            raise UsageError(f"{given}: cannot load the upstream: {_one_line(err)}") from err

    _get_upstream.__wrapped__ = original
    runner_class._get_upstream = _get_upstream
