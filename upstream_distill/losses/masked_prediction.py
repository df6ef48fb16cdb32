"""HuBERT's masked prediction: span masks and the cross-entropy over masked frames.

Masking (Hsu et al. 2021, following wav2vec 2.0): for an utterance of ``n``
real frames, ``floor(p * n / s + u)`` span starts (``u ~ U[0, 1)``, at least
``min_spans``) are drawn without replacement from ``0 .. n - s`` and the
``s`` frames from each start are masked; spans may overlap, so the masked
share is below ``p`` (about ``1 - exp(-p)`` for long utterances: 55 % at
p = 0.8, s = 10).  Masked frames' transformer inputs are replaced by a
learned mask embedding (done by the model's owner, not here).

Loss: with ``z_t = cos(W h_t, e_c) / tau`` the unit logits of frame ``t``
(:class:`~upstream_distill.models.UnitHead`: ``final_proj`` W, label
embeddings e_c, temperature tau = 0.1) and ``y_t`` its k-means unit,

    L_m = (1 / |M|) * sum_{t in M} -log softmax(z_t)[y_t]
    L_u = (1 / |U|) * sum_{t in U} -log softmax(z_t)[y_t]
    L   = w_m * L_m + w_u * L_u

over masked frames M and unmasked real frames U (HuBERT Base: w_m = 1,
w_u = 0).  fairseq's HuBERT scores the target against every other unit as
negatives, which is this full softmax.  Also reported: accuracy (argmax
equals the target) over M and U.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["MaskedPredictionConfig", "masked_prediction_loss", "span_mask"]


@dataclass
class MaskedPredictionConfig:
    """``masked_prediction:`` of a config: the masking policy and the loss weights."""

    mask_prob: float = 0.8  # p (HuBERT Base: 0.8)
    mask_span: int = 10  # s, frames (HuBERT: 10)
    min_spans: int = 2  # at least this many spans per utterance
    masked_weight: float = 1.0  # w_m
    unmasked_weight: float = 0.0  # w_u (HuBERT Base: 0)

    def __post_init__(self):
        if not 0 < self.mask_prob <= 1:
            raise ValueError(f"mask_prob must be in (0, 1], got {self.mask_prob}")
        if self.mask_span < 1 or self.min_spans < 0:
            raise ValueError(f"mask_span must be >= 1 and min_spans >= 0, got {self.mask_span}, {self.min_spans}")
        if self.masked_weight < 0 or self.unmasked_weight < 0 or self.masked_weight + self.unmasked_weight == 0:
            raise ValueError("masked_weight and unmasked_weight must be >= 0, not both 0")


def span_mask(frame_lengths: Tensor, prob: float, span: int, min_spans: int = 2,
              generator: Optional[torch.Generator] = None) -> Tensor:
    """``(B, max(frame_lengths))`` bool mask, True = masked; padded frames are never masked.

    Random draws use ``generator`` (default: torch's global CPU generator,
    which the runner's checkpoints restore); the result is on the device of
    ``frame_lengths``.
    """
    lengths = frame_lengths.tolist()
    frames = max(lengths, default=0)
    mask = torch.zeros(len(lengths), frames, dtype=torch.bool)
    for row, n in enumerate(lengths):
        if n <= 0:
            continue
        width = min(span, n)
        count = int(prob * n / width + float(torch.rand((), generator=generator)))
        count = min(max(count, min_spans), n - width + 1)
        starts = torch.randperm(n - width + 1, generator=generator)[:count]
        covered = (starts[:, None] + torch.arange(width)[None, :]).flatten()
        mask[row, covered] = True
    return mask.to(frame_lengths.device)


def masked_prediction_loss(logits: Tensor, targets: Tensor, mask: Tensor, frame_mask: Tensor,
                           masked_weight: float = 1.0, unmasked_weight: float = 0.0) -> Dict[str, Tensor]:
    """Named terms of HuBERT's loss (formula in the module docstring).

    logits: ``(B, N, K)``; targets: ``(B, N)`` long unit ids (negative = no
    target); mask: ``(B, N)`` True where the input was masked; frame_mask:
    ``(B, N)`` True for real frames.  Returns ``loss`` (the weighted sum),
    ``masked_ce``, ``masked_acc``, ``masked_share`` (masked / real frames) and, when unmasked frames
    count or exist, ``unmasked_ce``/``unmasked_acc``.  A set with no frame
    contributes 0 (its accuracy is reported as 0).
    """
    valid = frame_mask & (targets >= 0)
    masked, unmasked = valid & mask, valid & ~mask
    terms: Dict[str, Tensor] = {}
    total = logits.new_zeros((), dtype=torch.float32)
    for name, selected, weight in (("masked", masked, masked_weight), ("unmasked", unmasked, unmasked_weight)):
        if name == "unmasked" and weight == 0 and not bool(selected.any()):
            continue
        count = selected.sum()
        if bool(count > 0):
            chosen = logits[selected].float()
            truth = targets[selected]
            ce = F.cross_entropy(chosen, truth, reduction="mean")
            acc = (chosen.argmax(dim=-1) == truth).float().mean()
        else:
            ce = acc = logits.new_zeros((), dtype=torch.float32)
        terms[f"{name}_ce"], terms[f"{name}_acc"] = ce, acc.detach()
        if weight:
            total = total + weight * ce
    terms["masked_share"] = mask[frame_mask].float().mean().detach() if bool(frame_mask.any()) else total.new_zeros(())
    terms["loss"] = total
    return terms
