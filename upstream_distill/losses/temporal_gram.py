"""STaR's layer-wise temporal Gram matrix loss (Jang et al., ICASSP 2024).

With ``F^l`` the ``N x d`` output of layer ``l`` over an utterance's ``N``
frames, the temporal Gram matrix relates every frame to every other::

    G^l    = F^l (F^l)^T                                   (N x N)
    L_layer = sum_l || G^{l,T} - G^{l,S} ||^2              (squared Frobenius)

over matched teacher/student layers.  ``G`` is ``N x N`` whatever the width
``d``, so a student of width ``d_S != d_T`` needs no projection head, and
``G`` is unchanged by any rotation of the feature space (``F Q`` with
``Q Q^T = I``).

The paper leaves the scale of ``G`` open; ``normalization`` picks one:

``"none"``
    raw ``G``, raw per-utterance sum (the paper's formula as written).  The
    loss grows with ``N^2`` and with the fourth power of the feature scale.
``"frames"``
    raw ``G``; each utterance's sum is divided by ``N_b^2`` (its own number
    of real frames, squared): a mean over frame pairs, so long and short
    utterances weigh alike.  Still scale-dependent.
``"feature"``
    every frame vector is L2-normalised before the product (a cosine Gram,
    entries in [-1, 1], scale-free) and divided by ``N_b^2`` like
    ``"frames"``: the mean squared difference of frame-to-frame cosine
    similarities, in [0, 4].

In every case the per-utterance values are averaged over the batch, and
only the real ``N_b x N_b`` block of each utterance counts.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["NORMALIZATIONS", "gram_distance", "layerwise_tgm_loss", "temporal_gram"]

NORMALIZATIONS = ("none", "frames", "feature")


def _check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


def check_layer_lists(frame_mask: Tensor, **lists: Sequence[Tensor]) -> None:
    """ValueError unless the named lists are non-empty, equally long and hold ``(B, N, D)`` tensors.

    ``(B, N)`` is ``frame_mask``'s shape; widths ``D`` may differ.
    """
    if frame_mask.dim() != 2:
        raise ValueError(f"frame_mask must be (B, N), got shape {tuple(frame_mask.shape)}")
    lengths = {name: len(states) for name, states in lists.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        raise ValueError(f"need equally long, non-empty layer lists, got lengths {lengths}")
    for name, states in lists.items():
        for index, state in enumerate(states):
            if state.dim() != 3 or state.shape[:2] != frame_mask.shape:
                raise ValueError(f"{name}[{index}] has shape {tuple(state.shape)}, expected (B, N, D) with "
                                 f"(B, N) = {tuple(frame_mask.shape)} from frame_mask")


def temporal_gram(left: Tensor, right: Tensor, frame_mask: Tensor, normalization: str) -> Tensor:
    """``(B, N, N)`` Gram matrix ``left @ right^T``; rows and columns of padded frames are 0.

    left: ``(B, N, D1)``, right: ``(B, N, D2)`` with ``D1 == D2`` (the two
    sides of one network); frame_mask: ``(B, N)``, True for real frames.
    With ``normalization="feature"`` each frame vector is L2-normalised first
    (cosine Gram); ``"none"`` and ``"frames"`` give the raw product (their
    difference lies in :func:`gram_distance`).
    """
    _check_normalization(normalization)
    if left.shape[:2] != frame_mask.shape or right.shape[:2] != frame_mask.shape:
        raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} must both be (B, N, D) "
                         f"with (B, N) = {tuple(frame_mask.shape)}")
    padded = ~frame_mask.bool()[..., None]
    # Zero padded frames *before* normalising: their values are unspecified (maybe inf/NaN), and
    # F.normalize maps a zero vector to zero, so neither values nor gradients leak from them.
    left, right = left.masked_fill(padded, 0.0), right.masked_fill(padded, 0.0)
    # Raw Gram entries and their squared differences overflow half precision: compute in >= fp32.
    dtype = torch.promote_types(left.dtype, torch.float32)
    with torch.autocast(device_type=left.device.type, enabled=False):
        left, right = left.to(dtype), right.to(dtype)
        if normalization == "feature":
            left, right = F.normalize(left, dim=-1), F.normalize(right, dim=-1)
        return left @ right.transpose(-1, -2)


def gram_distance(student_gram: Tensor, teacher_gram: Tensor, frame_mask: Tensor, normalization: str) -> Tensor:
    """Batch mean of each utterance's ``||G^T - G^S||_F^2`` over its real ``N_b x N_b`` block.

    For ``"frames"`` and ``"feature"`` each utterance's sum is divided by
    ``N_b^2``; for ``"none"`` it is not.  An utterance with no real frame
    contributes 0 (and still counts in the batch mean).
    """
    _check_normalization(normalization)
    if student_gram.shape != teacher_gram.shape or student_gram.shape[:2] != frame_mask.shape \
            or student_gram.shape[-1] != frame_mask.shape[-1]:
        raise ValueError(f"student {tuple(student_gram.shape)} and teacher {tuple(teacher_gram.shape)} Grams "
                         f"must both be (B, N, N) with (B, N) = {tuple(frame_mask.shape)}")
    real = frame_mask.bool()
    pairs = real[:, :, None] & real[:, None, :]
    per_utterance = (student_gram - teacher_gram).masked_fill(~pairs, 0.0).pow(2).sum(dim=(1, 2))
    if normalization != "none":
        per_utterance = per_utterance / real.sum(dim=-1).clamp(min=1).to(per_utterance.dtype).pow(2)
    return per_utterance.mean()


def gram_pairs_loss(student_pairs: Iterable[Tuple[Tensor, Tensor]], teacher_pairs: Iterable[Tuple[Tensor, Tensor]],
                    frame_mask: Tensor, normalization: str) -> Tensor:
    """Sum over matched ``(left, right)`` pairs of :func:`gram_distance` of their :func:`temporal_gram`."""
    total = None
    for (student_left, student_right), (teacher_left, teacher_right) in zip(student_pairs, teacher_pairs):
        distance = gram_distance(temporal_gram(student_left, student_right, frame_mask, normalization),
                                 temporal_gram(teacher_left, teacher_right, frame_mask, normalization),
                                 frame_mask, normalization)
        total = distance if total is None else total + distance
    return total


def layerwise_tgm_loss(student_states: Sequence[Tensor], teacher_states: Sequence[Tensor], frame_mask: Tensor,
                       normalization: str = "feature") -> Tensor:
    """``L_layer``: sum over matched layers of the Gram distance between ``F^S F^S^T`` and ``F^T F^T^T``.

    student_states, teacher_states: matched lists of ``(B, N, D_S)`` and
    ``(B, N, D_T)`` hidden states (widths may differ); teacher tensors are
    used as given, so pass them detached.  Layers are summed, not averaged,
    as in the paper, so the loss grows with the number of matched layers.
    """
    check_layer_lists(frame_mask, student_states=student_states, teacher_states=teacher_states)
    return gram_pairs_loss(zip(student_states, student_states), zip(teacher_states, teacher_states),
                           frame_mask, normalization)
