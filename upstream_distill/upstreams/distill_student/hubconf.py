"""s3prl hub entries for distilled students (registered into ``s3prl.hub`` by the project)."""
from __future__ import annotations

import os

from .expert import UpstreamExpert as _UpstreamExpert


def distill_student(ckpt=None, *args, **kwargs):
    """A student of any method of this project.

    ckpt (-k): ``<expdir>/upstream.pt`` (the export, rewritten at every save) or
    a run's ``<expdir>/states-<step>.ckpt``.
    """
    if not ckpt:
        raise ValueError("distill_student needs a checkpoint: pass -k EXPDIR/upstream.pt or "
                         "-k EXPDIR/states-<step>.ckpt of a run_pretrain.py distillation run")
    if not os.path.exists(ckpt):
        raise FileNotFoundError(f"distill_student: -k {ckpt!r} does not exist")
    return _UpstreamExpert(ckpt, *args, **kwargs)
