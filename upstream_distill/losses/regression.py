"""DistilHuBERT's layer-wise regression loss (Chang et al., ICASSP 2022, eq. 1).

For each target teacher layer ``l`` with hidden states ``h_t^(l)`` (D dims)
and the student's prediction ``ĥ_t^(l)`` over the ``T`` real frames::

    L^(l) = 1/T Σ_t [ 1/D ‖h_t^(l) − ĥ_t^(l)‖₁  −  λ log σ( cos(h_t^(l), ĥ_t^(l)) ) ]
    L     = Σ_l L^(l)

(L1 pulls magnitudes together, the log-sigmoid cosine term directions; λ = 1
in the paper).  Padded frames are excluded from every mean.  The layers are
summed, as DistilHuBERT's runner does, so the loss grows with the number of
heads while each layer keeps the weight it has in the paper.
"""
from __future__ import annotations

from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["l1_cosine_regression"]


def l1_cosine_regression(predictions: Sequence[Tensor], targets: Sequence[Tensor], frame_mask: Tensor,
                         l1_weight: float = 1.0, cosine_weight: float = 1.0) -> Dict[str, Tensor]:
    """``{"loss", "l1", "cosine_loss", "cosine"}`` summed over layers (``cosine``: mean similarity).

    predictions, targets: one ``(B, N, D)`` tensor per layer (targets are used
    as constants); frame_mask: ``(B, N)``, True for real frames.
    """
    if len(predictions) != len(targets) or not predictions:
        raise ValueError(f"need one target per prediction, got {len(predictions)} predictions and "
                         f"{len(targets)} targets")
    real = frame_mask.float()
    count = real.sum().clamp(min=1.0)
    l1 = cosine_loss = similarity = 0.0
    for prediction, target in zip(predictions, targets):
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ")
        target = target.detach().to(prediction.dtype)
        l1 = l1 + ((prediction - target).abs().mean(-1) * real).sum() / count
        cos = F.cosine_similarity(prediction.float(), target.float(), dim=-1)
        cosine_loss = cosine_loss - (F.logsigmoid(cos) * real).sum() / count
        similarity = similarity + (cos.detach() * real).sum() / count
    loss = l1_weight * l1 + cosine_weight * cosine_loss
    return {"loss": loss, "l1": torch.as_tensor(l1), "cosine_loss": torch.as_tensor(cosine_loss),
            "cosine": torch.as_tensor(similarity) / len(predictions)}
