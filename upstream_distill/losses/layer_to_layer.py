"""DPHuBERT's layer-to-layer distillation loss (Peng et al., Interspeech 2023, eq. 2; its code's
``layer2layer`` mode, ``cos_type: raw``).

The student is a pruned copy of the teacher, so student layer ``l`` predicts
teacher layer ``l`` through a linear map ``W_l`` (identity-initialised). Over
the selected layers ``S`` and the ``T`` real frames of ``D`` dims::

    L = 1/|S| Σ_{l∈S} [ α/(T·D) Σ_t ‖W_l h_t^{S,l} − h_t^{T,l}‖₁  −  β/T Σ_t cos(W_l h_t^{S,l}, h_t^{T,l}) ]

with α = β = 1 in DPHuBERT's recipe. Unlike DistilHuBERT's loss the cosine
enters raw (no log-sigmoid) and the layers are averaged, not summed.
Padded frames are excluded from every mean.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["layer_to_layer_loss"]


def layer_to_layer_loss(predictions: Sequence[Tensor], targets: Sequence[Tensor], frame_mask: Tensor,
                        l1_weight: float = 1.0, cosine_weight: float = 1.0) -> Dict[str, Tensor]:
    """``{"loss", "l1", "cosine"}`` averaged over layers; predictions and targets one ``(B, N, D)``
    tensor per layer (targets used as constants); frame_mask ``(B, N)``, True for real frames."""
    if len(predictions) != len(targets) or not predictions:
        raise ValueError(f"need one target per prediction, got {len(predictions)} predictions and "
                         f"{len(targets)} targets")
    real = frame_mask.float()
    count = real.sum().clamp(min=1.0)
    l1 = similarity = 0.0
    for prediction, target in zip(predictions, targets):
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        target = target.detach().to(prediction.dtype)
        l1 = l1 + ((prediction - target).abs().mean(-1) * real).sum() / count
        similarity = similarity + (F.cosine_similarity(prediction.float(), target.float(), dim=-1) * real).sum() / count
    l1, similarity = l1 / len(predictions), similarity / len(predictions)
    return {"loss": l1_weight * l1 - cosine_weight * similarity, "l1": torch.as_tensor(l1).detach(),
            "cosine": torch.as_tensor(similarity).detach()}
