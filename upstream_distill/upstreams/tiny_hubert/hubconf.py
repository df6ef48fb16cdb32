"""s3prl hub entry ``tiny_hubert``: the small HuBERT teacher of the embedded default.

The checkpoint ``tiny_hubert.pt`` beside this file is a ``save_teacher`` export
of ``pretrain/hubert_teacher`` trained on the mini corpus in three HuBERT
iterations (``make tiny-hubert``; the files beside it are each iteration's
config, log and metrics); it is loaded through
the ``teacher`` upstream's expert, so ``tiny_hubert`` and ``teacher_local -k
tiny_hubert.pt`` are the same network.  ``run_downstream.py -u tiny_hubert``
needs no ``-k``.
"""
from __future__ import annotations

from upstream_distill.core.paths import TINY_HUBERT_CHECKPOINT as CHECKPOINT
from upstream_distill.upstreams.teacher.expert import UpstreamExpert as _UpstreamExpert

_MAKE_IT = "make tiny-hubert"  # the three iterations, then copies the export here (see the Makefile)


def tiny_hubert(*args, ckpt=None, **kwargs):
    """The shipped small HuBERT teacher (no arguments; a -k checkpoint is refused: use teacher_local)."""
    if ckpt:
        raise ValueError(f"tiny_hubert loads its shipped checkpoint {CHECKPOINT}; for another file "
                         f"use -u teacher_local -k {ckpt}")
    if not CHECKPOINT.is_file():
        raise FileNotFoundError(f"tiny_hubert: the checkpoint {CHECKPOINT} is missing; make it with "
                                f"`{_MAKE_IT}` (about 2.5 hours on 2 cpu cores)")
    return _UpstreamExpert(str(CHECKPOINT), *args, **kwargs)
