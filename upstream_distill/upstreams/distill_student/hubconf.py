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


def star_hubert(ckpt=None, *args, **kwargs):
    """A STaR student trained by ``run_pretrain.py -u star_hubert`` (the same loader as distill_student).

    ckpt (-k): ``<expdir>/upstream.pt`` or ``<expdir>/states-<step>.ckpt``.  The STaR
    authors' released checkpoints use their own ARMHuBERT format and are not read here.
    """
    if not ckpt:
        raise ValueError("star_hubert needs a checkpoint: pass -k EXPDIR/upstream.pt of a "
                         "`run_pretrain.py -u star_hubert` run (no weights are shipped or downloaded)")
    return distill_student(ckpt, *args, **kwargs)
