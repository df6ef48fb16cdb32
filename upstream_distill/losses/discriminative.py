"""Discriminative distillation over HuBERT's hidden units (Wang et al., 2022).

The teacher scores frame ``t`` against unit ``c`` with its own masked-
prediction head; the student scores it with its *own* projection ``W_S``
against the *same*, frozen label embeddings ``e_c``::

    z_T,t,c = cos(W_T h^T_t, e_c) / tau        (W_T: the teacher's final_proj)
    z_S,t,c = cos(W_S h^S_t, e_c) / tau        (W_S: trainable, student_dim -> final_dim)

    L_disc = 1/|R| * sum_{t in R} KL(p_T,t || p_S,t)
           = 1/|R| * sum_{t in R} sum_c p_T,t,c (log p_T,t,c - log p_S,t,c)

with ``p = softmax(z)`` over the units and ``R`` the real (unpadded) frames;
``h^T``, ``h^S`` are the teacher's and student's last hidden states and the
teacher's distribution is a constant.  Only HuBERT checkpoints carry the
head (``final_proj`` + label embeddings); wav2vec 2.0 and WavLM have none.

Both sides must use the same ``tau``.  A :class:`~upstream_distill.models.UnitHead`
scores with the checkpoint's ``logit_temp`` (0.1); the method's ``tau`` is a
config key (the authors' fork uses 1.0, see the notes), so when it differs
compute the teacher side with :func:`teacher_unit_logits` and the student side
with a :class:`StudentUnitProjection` built with the same ``temperature``.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upstream_distill.models.unit_head import UnitHead, unit_logits_from_projection

__all__ = ["StudentUnitProjection", "discriminative_loss", "require_unit_head", "teacher_unit_logits"]


def require_unit_head(teacher: nn.Module) -> UnitHead:
    """The teacher's :class:`UnitHead`, or ValueError naming its architecture when it has none."""
    head = getattr(teacher, "unit_head", None)
    if head is None:
        arch = getattr(getattr(teacher, "config", None), "arch", type(teacher).__name__)
        raise ValueError(f"the {arch} teacher has no hidden-unit head (wav2vec2/WavLM teachers have no "
                         f"hidden-unit head); the discriminative loss needs a HuBERT checkpoint with "
                         f"final_proj and label embeddings")
    return head


def _check_temperature(temperature: float) -> float:
    if temperature <= 0:
        raise ValueError(f"the unit logit temperature must be positive, got {temperature}")
    return float(temperature)


@torch.no_grad()
def teacher_unit_logits(head: UnitHead, hidden: Tensor, temperature: Optional[float] = None) -> Tensor:
    """``z_T``: ``(B, N, D)`` teacher last hidden state -> ``(B, N, K)`` constant logits at
    ``temperature`` (None: the head's own, i.e. exactly the teacher's ``unit_logits``)."""
    tau = head.temperature if temperature is None else _check_temperature(temperature)
    return unit_logits_from_projection(head.final_proj(hidden), head.label_embeddings, tau)


class StudentUnitProjection(nn.Module):
    """``z_S``: the student's trainable projection scored against the teacher's frozen units.

    Holds ``proj`` (Linear ``student_dim -> final_dim``, trained) and copies of
    the teacher's label embeddings (a buffer: saved with the student, never
    trained, independent of the teacher object) and temperature.
    ``temperature`` None takes the head's own.
    """

    def __init__(self, student_dim: int, head: UnitHead, temperature: Optional[float] = None):
        super().__init__()
        embeddings = head.label_embeddings.detach()
        self.proj = nn.Linear(student_dim, embeddings.shape[1])
        self.register_buffer("label_embeddings", embeddings.clone())
        self.temperature = head.temperature if temperature is None else _check_temperature(temperature)

    @property
    def num_units(self) -> int:
        return self.label_embeddings.shape[0]

    def forward(self, hidden: Tensor) -> Tensor:
        """``(B, N, student_dim)`` -> ``(B, N, num_units)`` logits."""
        return unit_logits_from_projection(self.proj(hidden), self.label_embeddings, self.temperature)


def discriminative_loss(teacher_logits: Tensor, student_logits: Tensor, frame_mask: Tensor) -> Tensor:
    """``L_disc`` (module docstring): mean over real frames of ``KL(p_T || p_S)``.

    teacher_logits, student_logits: ``(B, N, K)``; frame_mask: ``(B, N)``, True
    for real frames (padded values are never read, so they may be anything).
    Float32 log-softmax on both sides; 0 when no frame is real.
    """
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(f"teacher logits {tuple(teacher_logits.shape)} and student logits "
                         f"{tuple(student_logits.shape)} differ")
    if frame_mask.shape != teacher_logits.shape[:-1]:
        raise ValueError(f"frame_mask {tuple(frame_mask.shape)} does not match the logits' "
                         f"{tuple(teacher_logits.shape[:-1])}")
    if not bool(frame_mask.any()):
        return student_logits[frame_mask].float().sum()  # a 0 that keeps the graph (DDP's unused-parameter check)
    log_p_t = F.log_softmax(teacher_logits.detach()[frame_mask].float(), dim=-1)
    log_p_s = F.log_softmax(student_logits[frame_mask].float(), dim=-1)
    return (log_p_t.exp() * (log_p_t - log_p_s)).sum(dim=-1).mean()
