"""Which checkpoint a resumed run starts from, and which folder it writes to.

s3prl's ``run_downstream.py`` (``get_downstream_args``) resumes from ``-e FILE``, from the newest
``states-*.ckpt`` of ``-e DIR`` or, with ``-a``, of the experiment folder, and then takes every argument
from the ``Args`` stored in that checkpoint, the experiment folder (``expdir``) included. Two faults
followed, both fixed here:

* the newest checkpoint could be unreadable (a run of an older version killed mid-write, a partial copy)
  and every resume failed with ``EOFError``: :func:`resume_point` picks the newest complete one, warns
  about each newer one that is not, and names them all when none is complete;
* a moved or copied folder resumed (or evaluated) from its new place wrote into the folder stored in the
  checkpoint, so a copy overwrote its original: :func:`pin_experiment_dir` makes the checkpoint's
  ``Args`` carry the folder of this command line instead (``-p``, else the ``-e`` folder).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import List, Optional

from .checkpoints import checkpoint_problem
from .errors import UsageError

__all__ = ["pin_experiment_dir", "resume_point", "states_checkpoints"]

_STEP = re.compile(r"^states-(\d+)\.ckpt$")


def states_checkpoints(folder: Path) -> List[Path]:
    """``states-<step>.ckpt`` files of ``folder``, oldest step first (s3prl's order)."""
    found = [(int(m.group(1)), path) for path in Path(folder).glob("states-*.ckpt")
             if (m := _STEP.match(path.name))]
    return [path for _, path in sorted(found)]


def _newest_intact(folder: Path, flag: str) -> Path:
    found = states_checkpoints(folder)
    if not found:
        raise UsageError(f"{flag}: {folder} holds no states-*.ckpt to resume from")
    bad = []
    for path in reversed(found):
        problem = checkpoint_problem(path)
        if problem is None:
            for skipped, why in bad:
                print(f"run_downstream.py: warning: {skipped} {why}; resuming from {path} instead",
                      file=sys.stderr)
            return path
        bad.append((path, problem))
    raise UsageError(f"{flag}: no checkpoint in {folder} can be resumed from: "
                     + "; ".join(f"{path} {why}" for path, why in bad))


def resume_point(past_exp: Optional[str], expdir: Path, auto_resume: bool) -> Optional[Path]:
    """The checkpoint file s3prl should start from (None: a new experiment).

    s3prl's own precedence: ``-a`` with checkpoints in the experiment folder wins over ``-e``. Raises
    UsageError naming the flag and file(s) when the choice cannot be read.
    """
    if auto_resume and Path(expdir).is_dir() and states_checkpoints(expdir):
        return _newest_intact(Path(expdir), "-a/--auto_resume")
    if past_exp is None:
        return None
    past = Path(past_exp)
    if not past.exists():
        raise UsageError(f"-e/--past_exp: {past} does not exist")
    if past.is_dir():
        return _newest_intact(past, "-e/--past_exp")
    problem = checkpoint_problem(past)
    if problem is not None:
        raise UsageError(f"-e/--past_exp: {past} {problem}")
    return past


def pin_experiment_dir(run_downstream_module, expdir: Path) -> None:
    """Make ``s3prl.run_downstream`` read ``expdir`` as the folder stored in any checkpoint it loads.

    Only that module's ``torch.load`` is affected (see :mod:`.overlay`); the checkpoint file is not
    changed. s3prl creates and writes the experiment folder only after reading the checkpoint, so
    neither the old folder nor a stale empty one at the old path is ever touched.
    """
    import torch

    from .overlay import overlay

    def load(f, *args, **kwargs):
        checkpoint = torch.load(f, *args, **kwargs)
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get("Args"), argparse.Namespace):
            checkpoint["Args"] = argparse.Namespace(**{**vars(checkpoint["Args"]), "expdir": str(expdir)})
        return checkpoint

    overlay(run_downstream_module, "torch", load=load)
