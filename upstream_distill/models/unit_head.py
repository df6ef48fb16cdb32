"""HuBERT's masked-prediction head, as a reusable piece.

HuBERT scores frame ``t`` against unit ``c`` by the cosine similarity of
``final_proj(h_t)`` (D -> final_dim) with the unit's label embedding e_c,
divided by a temperature (fairseq's ``logit_temp``, 0.1 in every released
HuBERT).  The discriminative distillation loss (Wang et al. 2022) scores a
*student's own* projection against the *teacher's* frozen label embeddings
with the same formula, so the formula is a free function here and the head
exposes its pieces (``final_proj``, ``label_embeddings``, ``temperature``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["UnitHead", "unit_logits_from_projection"]


def unit_logits_from_projection(projected: Tensor, label_embeddings: Tensor,
                                temperature: float) -> Tensor:
    """``cos(projected[..., :], label_embeddings[c, :]) / temperature``.

    projected: ``(..., final_dim)``; label_embeddings: ``(num_units, final_dim)``.
    Returns ``(..., num_units)``.  Computed in float32 (as fairseq does) and
    cast back, because fp16 cosines over a temperature of 0.1 lose precision.
    """
    if projected.shape[-1] != label_embeddings.shape[-1]:
        raise ValueError(f"projection has {projected.shape[-1]} dims but the label embeddings "
                         f"have {label_embeddings.shape[-1]}")
    x = F.normalize(projected.float(), dim=-1)
    e = F.normalize(label_embeddings.float(), dim=-1)
    return (x @ e.transpose(0, 1) / temperature).to(projected.dtype)


class UnitHead(nn.Module):
    """``final_proj`` + label embeddings + temperature of a HuBERT checkpoint."""

    def __init__(self, encoder_dim: int, final_dim: int, num_units: int, temperature: float):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"unit logit temperature must be positive, got {temperature}")
        self.final_proj = nn.Linear(encoder_dim, final_dim)
        self.label_embeddings = nn.Parameter(torch.empty(num_units, final_dim).uniform_())
        self.temperature = float(temperature)

    @property
    def num_units(self) -> int:
        return self.label_embeddings.shape[0]

    def forward(self, hidden: Tensor) -> Tensor:
        """``(B, N, D)`` last hidden state -> ``(B, N, num_units)`` logits."""
        return unit_logits_from_projection(self.final_proj(hidden), self.label_embeddings,
                                           self.temperature)
