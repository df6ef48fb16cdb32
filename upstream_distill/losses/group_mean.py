"""SKILL's targets (Zampierin et al., ICASSP-W 2024): the frame-wise mean of a group of teacher layers.

SKILL replaces DPHuBERT's hand-picked teacher layers with groups ``G_k`` of
layers that a hierarchical clustering of their similarity put together
(:mod:`upstream_distill.layer_groups`); each group's target is its mean
representation::

    ȳ_{k,t} = 1/|G_k| Σ_{l∈G_k} h_t^{T,l}

predicted from one student layer through an identity-initialised linear map
and scored with DPHuBERT's loss (:mod:`upstream_distill.losses.layer_to_layer`).
"""
from __future__ import annotations

from typing import List, Sequence

import torch
from torch import Tensor

__all__ = ["group_mean_targets"]


def group_mean_targets(hidden_states: Sequence[Tensor], groups: Sequence[Sequence[int]]) -> List[Tensor]:
    """One ``(B, N, D)`` target per group: the mean of the group's hidden states (indices into
    ``hidden_states``), as constants."""
    if not groups or any(not group for group in groups):
        raise ValueError(f"groups must be non-empty lists of hidden-state indices, got {groups}")
    return [torch.stack([hidden_states[i].detach() for i in group]).mean(0) for group in groups]
