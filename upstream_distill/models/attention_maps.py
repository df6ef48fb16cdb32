"""Attention probabilities of torchaudio's self-attention modules.

torchaudio's ``SelfAttention`` and ``WavLMSelfAttention`` call
``scaled_dot_product_attention`` and never materialise the probabilities.
Rather than copying the layers, we recompute
``softmax(Q K^T / sqrt(d_head) + bias + key_mask)`` from the module's *own*
projections (and, for WavLM, its own gated relative-position bias) for the
input the layer actually gave it.  The cost (one extra Q/K product per layer)
is paid only when attention maps are requested.  Dropout is not applied: the
maps are the distribution the layer attends with in eval mode.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._torchaudio import WavLMSelfAttention, components

__all__ = ["attention_probabilities", "gated_position_bias"]


def gated_position_bias(attention: WavLMSelfAttention, x: Tensor, position_bias: Tensor) -> Tensor:
    """The relative-position bias a WavLM layer adds to its scores.

    ``position_bias`` is the raw ``(B, H, N, N)`` bias that WavLM's first layer
    computes from its bucket embedding and hands on to every later layer;
    each layer scales it by a gate computed from its own input ``x``
    (``gru_rel_pos``), as torchaudio's ``WavLMSelfAttention.forward`` does.
    """
    if not attention.gru_rel_pos:
        return position_bias
    batch, frames, _ = x.shape
    per_head = x.view(batch, frames, attention.num_heads, -1).permute(0, 2, 1, 3)
    gates = torch.sigmoid(attention.gru_rel_pos_linear(per_head)
                          .view(batch, attention.num_heads, frames, 2, 4).sum(-1))
    gate_a, gate_b = gates.chunk(2, dim=-1)
    scale = gate_a * (gate_b * attention.gru_rel_pos_const - 1.0) + 2.0  # (B, H, N, 1)
    return scale * position_bias


def _queries_and_keys(attention: nn.Module, x: Tensor) -> Tuple[Tensor, Tensor]:
    if isinstance(attention, components.SelfAttention):
        return attention.q_proj(x), attention.k_proj(x)
    if isinstance(attention, WavLMSelfAttention):
        w_q, w_k, _ = attention.attention.in_proj_weight.chunk(3)
        b_q, b_k, _ = attention.attention.in_proj_bias.chunk(3)
        return F.linear(x, w_q, b_q), F.linear(x, w_k, b_k)
    raise TypeError(f"no attention-map recipe for {type(attention).__name__}")


def attention_probabilities(attention: nn.Module, x: Tensor,
                            key_padding_mask: Optional[Tensor] = None,
                            position_bias: Optional[Tensor] = None) -> Tensor:
    """``(B, H, N, N)`` probabilities of ``attention`` applied to ``x``.

    x: ``(B, N, D)``, exactly what the layer fed its attention module (after
    the layer's pre-norm for ``layer_norm_first`` models).
    key_padding_mask: ``(B, N)`` bool, True on padded frames (never attended).
    position_bias: WavLM's raw ``(B, H, N, N)`` relative-position bias (the
    value the first layer returns); ignored by plain self-attention.
    Returned in float32 for numerically honest distributions.
    """
    batch, frames, _ = x.shape
    heads, head_dim = attention.num_heads, attention.head_dim
    q, k = _queries_and_keys(attention, x)
    bias = None
    if isinstance(attention, WavLMSelfAttention) and position_bias is not None:
        bias = gated_position_bias(attention, x, position_bias)
    with torch.autocast(device_type=x.device.type, enabled=False):  # keep the product in float32
        q = q.view(batch, frames, heads, head_dim).transpose(1, 2).float()
        k = k.view(batch, frames, heads, head_dim).transpose(1, 2).float()
        scores = q @ k.transpose(-2, -1) * head_dim ** -0.5
        if bias is not None:
            scores = scores + bias.float()
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        return scores.softmax(dim=-1)
