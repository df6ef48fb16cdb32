"""s3prl hub entries for teacher checkpoints (registered into ``s3prl.hub`` by the project)."""
from __future__ import annotations

import os

from .expert import UpstreamExpert as _UpstreamExpert


def teacher_local(ckpt=None, *args, **kwargs):
    """A HuBERT / WavLM / wav2vec 2.0 teacher from a local checkpoint.

    ckpt (-k): a fairseq .pt (HuBERT Base, wav2vec_small, WavLM-Base+ release),
    an s3prl-converted one, a Hugging Face model folder (or its weights file),
    or a file written by ``upstream_distill.models.save_teacher``.
    """
    if not ckpt:
        raise ValueError("teacher_local needs a checkpoint: pass its path with -k "
                         "(a fairseq .pt, a Hugging Face model folder, or a save_teacher file)")
    if not os.path.exists(ckpt):
        raise FileNotFoundError(f"teacher_local: -k {ckpt!r} does not exist")
    return _UpstreamExpert(ckpt, *args, **kwargs)
