"""STaR's average attention map loss (Jang et al., ICASSP 2024).

With ``A^l_h`` the attention probabilities of head ``h`` of layer ``l``
(rows: queries, columns: keys), average over heads, so teacher and student
may have different head counts, and match each query's distribution::

    Ā^l      = 1/H sum_h A^l_h                                         (N x N)
    KL_t     = sum_{j real} Ā^T_tj (log(Ā^T_tj + eps) - log(Ā^S_tj + eps))
    L_attn   = sum_l 1/|R| sum_{t in R} KL_t

with ``R`` the real query frames of the whole batch (a mean over frames, as
the project's other frame-level losses take it) and ``eps`` =
:data:`LOG_EPS`, which keeps the log finite where a probability is 0 and
makes identical maps give exactly 0.  Padded queries and keys count for
nothing; layers are summed, as in the paper.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

__all__ = ["LOG_EPS", "attention_map_loss"]

LOG_EPS = 1e-8


def attention_map_loss(student_attentions: Sequence[Tensor], teacher_attentions: Sequence[Tensor],
                       frame_mask: Tensor) -> Tensor:
    """``L_attn`` over matched layers of ``(B, H_S, N, N)`` / ``(B, H_T, N, N)`` attention probabilities.

    frame_mask: ``(B, N)``, True for real frames.  Teacher tensors are used
    as given, so pass them detached.
    """
    if len(student_attentions) != len(teacher_attentions) or not student_attentions:
        raise ValueError(f"need equally long, non-empty attention lists, got {len(student_attentions)} student "
                         f"and {len(teacher_attentions)} teacher layers")
    if frame_mask.dim() != 2:
        raise ValueError(f"frame_mask must be (B, N), got shape {tuple(frame_mask.shape)}")
    batch, frames = frame_mask.shape
    real = frame_mask.bool()
    padded_pairs = ~(real[:, :, None] & real[:, None, :])
    queries = real.sum().clamp(min=1)
    total = None
    for index, (student, teacher) in enumerate(zip(student_attentions, teacher_attentions)):
        for name, attention in (("student", student), ("teacher", teacher)):
            if attention.dim() != 4 or attention.shape[0] != batch or attention.shape[2:] != (frames, frames):
                raise ValueError(f"{name} attention of layer {index} has shape {tuple(attention.shape)}, expected "
                                 f"(B, H, N, N) with (B, N) = {tuple(frame_mask.shape)}")
        # Masked before the log (padded values are unspecified), and in >= fp32: eps vanishes in fp16.
        dtype = torch.promote_types(student.dtype, torch.float32)
        student_map = student.to(dtype).mean(dim=1).masked_fill(padded_pairs, 0.0)
        teacher_map = teacher.to(dtype).mean(dim=1).masked_fill(padded_pairs, 0.0)
        kl = teacher_map * ((teacher_map + LOG_EPS).log() - (student_map + LOG_EPS).log())
        layer = kl.sum() / queries
        total = layer if total is None else total + layer
    return total
