"""The parameter count of a gated model, expected and exact, from one formula.

DPHuBERT's sparsity constraint needs the *expected* size of the student as a
differentiable function of its gates' keep probabilities
(``get_num_params`` in its code; Peng et al., 2023, §2.3).  With ``Ĉ_j`` the
expected channels of CNN block ``j`` (``Ĉ_0`` = 1, the waveform), ``Ĥ_l`` the
expected heads and ``Î_l`` the expected FFN units of layer ``l``, ``ĝ`` a
whole-sub-layer gate (1 without one), ``D`` the hidden size and ``d`` the head
size::

    conv_j  = Ĉ_{j-1} Ĉ_j k_j  (+ Ĉ_j bias)  (+ 2 Ĉ_j norm)
    front   = Σ_j conv_j + Ĉ_J (feature scale) + 2 Ĉ_J + (Ĉ_J + 1) D (projection)
    attn_l  = ĝ_l [ 3 (D + 1) Ĥ_l d + Ĥ_l d D ] + P(attention kept)_l D
    ffn_l   = ĝ_l [ (D + 1) Î_l + Î_l D ]        + P(ffn kept)_l D
    E[N]    = front + pos_conv + 2 D + Σ_l (4 D + attn_l + ffn_l)

where ``P(attention kept)_l = ĝ_l (1 − Π_h (1 − p_h))`` prices the output bias,
which a sub-layer has only while one of its heads (units) survives.  Products
of expectations are used as they are (a bilinear surrogate, as in DPHuBERT).
Given 0/1 keeps, the same formula is exact: it equals the number of
parameters of the model that :func:`~upstream_distill.pruning.prune.prune`
builds, which a test checks; :func:`parameter_count` is it with every unit
kept.
"""
from __future__ import annotations

import functools
from typing import Optional

import torch
from torch import Tensor

from upstream_distill.models import PrunedConfig, PruningMasks
from upstream_distill.models._torchaudio import components

__all__ = ["expected_parameters", "parameter_count"]


@functools.lru_cache(maxsize=8)
def _positional_conv_parameters(dim: int, kernel: int, groups: int) -> int:
    """Never pruned; counted from torchaudio's own module (its weight norm adds a few)."""
    return sum(p.numel() for p in components.ConvolutionalPositionalEmbedding(dim, kernel, groups).parameters())


def _kept(keep: Optional[Tensor], full: int, like: Tensor) -> Tensor:
    return like.new_tensor(float(full)) if keep is None else keep.sum()


def _any_kept(keep: Optional[Tensor], full: int, like: Tensor) -> Tensor:
    """P(at least one unit kept): 1 − Π(1 − p); exactly 0/1 for 0/1 keeps."""
    if keep is None:
        return like.new_tensor(1.0 if full else 0.0)
    return 1.0 - torch.prod(1.0 - keep)


def _gate(keep: Optional[Tensor], like: Tensor) -> Tensor:
    return like.new_tensor(1.0) if keep is None else keep.reshape(())


def expected_parameters(config: PrunedConfig, keep: Optional[PruningMasks] = None,
                        like: Optional[Tensor] = None) -> Tensor:
    """E[N] of ``config``'s model under per-unit keep probabilities ``keep`` (None entries: all
    kept), as a differentiable scalar; ``like`` sets the dtype and device (float64 on CPU by default)."""
    keep = keep or PruningMasks()
    if like is None:
        like = torch.zeros((), dtype=torch.float64)
    dim, head_dim = config.encoder_dim, config.head_dim
    total = like.new_tensor(0.0)

    previous = like.new_tensor(1.0)
    for index, (channels, kernel, _) in enumerate(config.conv_layers):
        kept = _kept(PruningMasks.at(keep.conv, index), channels, like)
        total = total + previous * kept * kernel + (kept if config.conv_bias else 0.0)
        if config.conv_norm == "layer_norm" or index == 0:  # group norm: first block only (Base)
            total = total + 2 * kept
        previous = kept
    total = total + previous + 2 * previous + (previous + 1) * dim  # feature scale, projection norm + linear
    total = total + _positional_conv_parameters(dim, config.pos_conv_kernel, config.pos_conv_groups) + 2 * dim

    relative = config.arch == "wavlm"
    if relative:
        total = total + config.num_buckets * config.total_heads  # first layer's embedding, all heads
    for index, (heads, width) in enumerate(zip(config.layer_heads, config.ffn_dims)):
        total = total + 4 * dim  # the two layer norms
        head_keep = PruningMasks.at(keep.heads, index)
        gate = _gate(PruningMasks.at(keep.attention, index), like)
        kept_heads = _kept(head_keep, len(heads), like)
        present = gate * _any_kept(head_keep, len(heads), like)
        total = total + gate * (3 * (dim + 1) * kept_heads * head_dim + kept_heads * head_dim * dim) + present * dim
        if relative and config.gru_rel_pos:
            total = total + present * (dim // config.total_heads + 1) * 8 + gate * kept_heads
        unit_keep = PruningMasks.at(keep.ffn_units, index)
        gate = _gate(PruningMasks.at(keep.ffn, index), like)
        kept_units = _kept(unit_keep, width, like)
        total = total + gate * ((dim + 1) * kept_units + kept_units * dim) + gate * _any_kept(unit_keep, width,
                                                                                               like) * dim
    return total


def parameter_count(config: PrunedConfig) -> int:
    """The exact number of parameters of ``PrunedModel(config)``."""
    return int(round(expected_parameters(config).item()))

