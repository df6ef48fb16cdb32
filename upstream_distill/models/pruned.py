"""A teacher with per-layer widths: the network DPHuBERT's pruning trains and produces.

:class:`PrunedModel` is the teacher's skeleton (waveform CNN -> feature
projection -> positional convolution -> transformer layers) built from a
:class:`PrunedConfig`, so every CNN block, attention and feed-forward
sub-layer may keep its own number of channels, heads and units.  torchaudio's
attention modules require ``heads x head_dim == embed_dim``, which pruning
breaks; the attention and feed-forward here are small modules of their own,
under torchaudio's parameter names, so a HuBERT / wav2vec 2.0 teacher's
weights load as they are and a WavLM teacher's after splitting its packed
``in_proj`` (:meth:`PrunedModel.from_teacher`).

The forward takes optional :class:`PruningMasks`: one multiplier per CNN
channel (after its GELU), per head (on its context, before ``out_proj``), per
FFN unit (after the activation), and per whole attention / feed-forward
sub-layer (on its output), where DPHuBERT puts its hard-concrete gates.
Without masks it is a plain dense network: the pruned student.  A sub-layer
whose heads (units) are all masked contributes nothing, as it will once
pruned away, not its output bias.

Two things are kept beside the teacher's parameters: ``feature_scale``, a
per-channel multiplier on the CNN output (the last block's soft mask values
are folded into it; its successor is a layer norm, which a scale cannot pass
through), and the WavLM relative-position embedding for *all* the teacher's
heads, which each layer indexes with the head numbers it kept.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._torchaudio import components
from .backbone import (
    EncoderModel,
    build_waveform_cnn,
    frame_padding,
    normalize_waveforms,
    padded_batch,
    waveform_cnn_features,
)
from .outputs import ModelOutput
from .pruned_config import PrunedConfig
from .teacher import TeacherModel

__all__ = ["PrunedConfig", "PrunedModel", "PruningMasks", "relative_position_buckets"]


@dataclass
class PruningMasks:
    """Multipliers at the places DPHuBERT gates; None (or a None entry) leaves a place ungated.

    conv: per CNN block, ``(channels,)``; heads: per layer, ``(kept heads,)``;
    attention: per layer, ``(1,)`` on the whole attention output; ffn_units:
    per layer, ``(ffn width,)``; ffn: per layer, ``(1,)`` on the whole
    feed-forward output.
    """

    conv: Optional[Sequence[Optional[Tensor]]] = None
    heads: Optional[Sequence[Optional[Tensor]]] = None
    attention: Optional[Sequence[Optional[Tensor]]] = None
    ffn_units: Optional[Sequence[Optional[Tensor]]] = None
    ffn: Optional[Sequence[Optional[Tensor]]] = None

    @staticmethod
    def at(masks: Optional[Sequence[Optional[Tensor]]], index: int) -> Optional[Tensor]:
        return None if masks is None else masks[index]


def relative_position_buckets(frames: int, num_buckets: int, max_distance: int, device=None) -> Tensor:
    """WavLM's bidirectional T5 buckets of ``key - query`` offsets, ``(frames, frames)`` long.

    Half the buckets per direction; offsets below a quarter of ``num_buckets``
    get a bucket each, larger ones share log-spaced buckets up to ``max_distance``.
    """
    positions = torch.arange(frames, dtype=torch.long, device=device)
    offsets = positions[None, :] - positions[:, None]
    half = num_buckets // 2
    buckets = (offsets > 0).long() * half
    distance = offsets.abs()
    exact = half // 2
    log_bucket = exact + (torch.log(distance.float() / exact) / math.log(max_distance / exact)
                          * (half - exact)).long()
    log_bucket = torch.clamp(log_bucket, max=half - 1)
    return buckets + torch.where(distance < exact, distance, log_bucket)


class PrunableSelfAttention(nn.Module):
    """Multi-head self-attention over a subset of the teacher's heads (WavLM's gated
    relative-position bias included when ``config.arch == "wavlm"``).

    ``heads`` are the teacher's head numbers this layer keeps.  With none, the
    module holds no projections (only, in the first WavLM layer, the position
    embedding every later layer reads) and contributes nothing.
    """

    def __init__(self, config: PrunedConfig, heads: Sequence[int], first_layer: bool):
        super().__init__()
        self.heads, self.head_dim = list(heads), config.head_dim
        self.total_heads, self.dropout = config.total_heads, config.attention_dropout
        self.relative = config.arch == "wavlm"
        width, dim = len(self.heads) * self.head_dim, config.encoder_dim
        if self.heads:
            self.q_proj, self.k_proj, self.v_proj = (nn.Linear(dim, width) for _ in range(3))
            self.out_proj = nn.Linear(width, dim)
        self.num_buckets, self.max_distance = config.num_buckets, config.max_distance
        self.rel_attn_embed = (nn.Embedding(config.num_buckets, config.total_heads)
                               if self.relative and first_layer else None)
        self.gru_rel_pos = self.relative and config.gru_rel_pos and bool(self.heads)
        if self.gru_rel_pos:
            self.gru_rel_pos_linear = nn.Linear(dim // config.total_heads, 8)
            self.gru_rel_pos_const = nn.Parameter(torch.ones(1, len(self.heads), 1, 1))

    def position_bias(self, frames: int, device) -> Tensor:
        """``(1, total_heads, N, N)``: the raw bias of every teacher head (first WavLM layer only)."""
        buckets = relative_position_buckets(frames, self.num_buckets, self.max_distance, device)
        return self.rel_attn_embed(buckets).permute(2, 0, 1).unsqueeze(0)

    def _scores_bias(self, x: Tensor, position_bias: Tensor) -> Tensor:
        """The kept heads' rows of the bias, scaled by each layer's gate from its own input."""
        bias = position_bias[:, self.heads]
        if not self.gru_rel_pos:
            return bias
        batch, frames, _ = x.shape
        per_head = x.view(batch, frames, self.total_heads, -1)[:, :, self.heads].permute(0, 2, 1, 3)
        gates = torch.sigmoid(self.gru_rel_pos_linear(per_head).view(batch, len(self.heads), frames, 2, 4).sum(-1))
        gate_a, gate_b = gates.chunk(2, dim=-1)
        return (gate_a * (gate_b * self.gru_rel_pos_const - 1.0) + 2.0) * bias

    def forward(self, x: Tensor, padding: Optional[Tensor], position_bias: Optional[Tensor],
                head_mask: Optional[Tensor] = None):
        """x: ``(B, N, D)``; padding: ``(B, N)`` True on padded frames, or None; position_bias:
        WavLM's raw bias from the first layer (None: computed here).  Returns the output (or None
        when nothing is kept) and the raw position bias for the next layer."""
        batch, frames, _ = x.shape
        if self.relative and position_bias is None:
            position_bias = self.position_bias(frames, x.device)
        if not self.heads or (head_mask is not None and not bool((head_mask != 0).any())):
            return None, position_bias
        shape = (batch, frames, len(self.heads), self.head_dim)
        q, k, v = (proj(x).view(shape).transpose(1, 2) for proj in (self.q_proj, self.k_proj, self.v_proj))
        mask = None
        if self.relative:
            mask = self._scores_bias(x, position_bias).to(q.dtype).expand(batch, -1, -1, -1)
            if padding is not None:
                mask = mask.masked_fill(padding[:, None, None, :], float("-inf"))
        elif padding is not None:
            mask = (~padding)[:, None, None, :]
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                 dropout_p=self.dropout if self.training else 0.0)
        if head_mask is not None:
            context = context * head_mask.to(context.dtype)[None, :, None, None]
        return self.out_proj(context.transpose(1, 2).reshape(batch, frames, -1)), position_bias


class PrunableFeedForward(nn.Module):
    """``output_dense(dropout(GELU(intermediate_dense(x))))`` over ``width`` units (0: none)."""

    def __init__(self, config: PrunedConfig, width: int):
        super().__init__()
        self.width = width
        if width:
            self.intermediate_dense = nn.Linear(config.encoder_dim, width)
            self.intermediate_dropout = nn.Dropout(config.activation_dropout)
            self.output_dense = nn.Linear(width, config.encoder_dim)
            self.output_dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, unit_mask: Optional[Tensor] = None) -> Optional[Tensor]:
        if not self.width or (unit_mask is not None and not bool((unit_mask != 0).any())):
            return None
        hidden = self.intermediate_dropout(F.gelu(self.intermediate_dense(x)))
        if unit_mask is not None:
            hidden = hidden * unit_mask.to(hidden.dtype)
        return self.output_dropout(self.output_dense(hidden))


class PrunableEncoderLayer(nn.Module):
    """torchaudio's ``EncoderLayer`` (post- or pre-LN) over the prunable sub-layers; a removed
    sub-layer adds nothing to the residual stream, and both layer norms stay."""

    def __init__(self, config: PrunedConfig, index: int):
        super().__init__()
        self.attention = PrunableSelfAttention(config, config.layer_heads[index], first_layer=index == 0)
        self.dropout = nn.Dropout(config.dropout)
        self.layer_norm = nn.LayerNorm(config.encoder_dim)
        self.layer_norm_first = config.layer_norm_first
        self.feed_forward = PrunableFeedForward(config, config.ffn_dims[index])
        self.final_layer_norm = nn.LayerNorm(config.encoder_dim)

    @staticmethod
    def _add(residual: Tensor, update: Optional[Tensor], gate: Optional[Tensor]) -> Tensor:
        if update is None or (gate is not None and not bool((gate != 0).any())):
            return residual
        return residual + (update if gate is None else update * gate.to(update.dtype))

    def forward(self, x: Tensor, padding: Optional[Tensor], position_bias: Optional[Tensor], masks: PruningMasks,
                index: int):
        attention_input = self.layer_norm(x) if self.layer_norm_first else x
        update, position_bias = self.attention(attention_input, padding, position_bias,
                                               PruningMasks.at(masks.heads, index))
        x = self._add(x, None if update is None else self.dropout(update), PruningMasks.at(masks.attention, index))
        units, gate = PruningMasks.at(masks.ffn_units, index), PruningMasks.at(masks.ffn, index)
        if self.layer_norm_first:
            x = self._add(x, self.feed_forward(self.final_layer_norm(x), units), gate)
        else:
            x = self.layer_norm(x)
            x = self.final_layer_norm(self._add(x, self.feed_forward(x, units), gate))
        return x, position_bias


class PrunedModel(EncoderModel):
    """The teacher's network with per-layer widths, returning :class:`ModelOutput`.

    Submodules under torchaudio's names: ``feature_extractor.conv_layers``,
    ``feature_scale``, ``encoder.feature_projection``,
    ``encoder.transformer.{pos_conv_embed, layer_norm, layers}``.
    """

    def __init__(self, config: PrunedConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = build_waveform_cnn(config.conv_layers, config.conv_norm, config.conv_bias)
        channels = config.conv_layers[-1][0]
        self.feature_scale = nn.Parameter(torch.ones(channels))
        layers = nn.ModuleList(PrunableEncoderLayer(config, index) for index in range(config.encoder_layers))
        transformer = components.Transformer(
            pos_conv_embed=components.ConvolutionalPositionalEmbedding(config.encoder_dim, config.pos_conv_kernel,
                                                                       config.pos_conv_groups),
            dropout=config.dropout, layers=layers, layer_norm_first=not config.layer_norm_first, layer_drop=0.0)
        projection = components.FeatureProjection(channels, config.encoder_dim, config.projection_dropout)
        self.encoder = components.Encoder(projection, transformer)


    @classmethod
    def from_teacher(cls, teacher: TeacherModel) -> "PrunedModel":
        """The teacher at full width, with its weights (its unit head is not part of a student)."""
        model = cls(PrunedConfig.from_teacher(teacher.config))
        state = {k: v for k, v in teacher.state_dict().items() if not k.startswith("unit_head.")}
        if teacher.config.arch == "wavlm":
            state = _split_wavlm_projections(state)
        state["feature_scale"] = model.feature_scale.detach().clone()
        model.load_state_dict(state, strict=True)
        return model.to(next(teacher.parameters()).dtype)

    def forward(self, waveforms: Tensor, lengths: Optional[Tensor] = None, masks: Optional[PruningMasks] = None,
                output_attentions: bool = False, output_predictions: bool = False) -> ModelOutput:
        """Encode a padded batch (as :meth:`TeacherModel.forward`), gated by ``masks`` when given.

        ``output_predictions`` is accepted for the students' common call; a pruned model has no
        prediction heads (DPHuBERT's projections belong to the objective).
        """
        if output_attentions:
            raise ValueError("a pruned model does not return attention maps (attention-map objectives "
                             "need a student of the project's own shapes)")
        masks = masks or PruningMasks()
        waveforms, lengths = padded_batch(waveforms, lengths, self.config.receptive_field)
        if self.config.normalize_waveform:
            waveforms = normalize_waveforms(waveforms, lengths)
        features, frame_lengths = waveform_cnn_features(self.feature_extractor, waveforms, lengths,
                                                        channel_scales=masks.conv)
        features = features * self.feature_scale.to(features.dtype)
        frame_mask, padding = frame_padding(frame_lengths, features.shape[1])
        projected = self.encoder.feature_projection(features)
        if padding is not None:
            projected = projected.masked_fill(padding[..., None], 0.0)

        transformer = self.encoder.transformer
        x = projected + transformer.pos_conv_embed(projected)
        if not self.config.layer_norm_first:
            x = transformer.layer_norm(x)
        x = transformer.dropout(x)
        hidden_states, position_bias = [x], None
        for index, layer in enumerate(transformer.layers):
            x, position_bias = layer(x, padding, position_bias, masks, index)
            hidden_states.append(x)
        if self.config.layer_norm_first:
            hidden_states[-1] = transformer.layer_norm(x)
        return ModelOutput(hidden_states=hidden_states, frame_mask=frame_mask, projected_features=projected)


def _split_wavlm_projections(state: dict) -> dict:
    """torchaudio's WavLM attention packs q/k/v into ``attention.attention.in_proj_*`` of an
    ``nn.MultiheadAttention``; here they are three linears, as in the other architectures."""
    out = {}
    for key, value in state.items():
        prefix, _, name = key.partition(".attention.attention.")
        if not name:
            out[key] = value
        elif name.startswith("in_proj_"):
            kind = name[len("in_proj_"):]  # weight | bias
            for proj, part in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3)):
                out[f"{prefix}.attention.{proj}.{kind}"] = part
        else:  # out_proj.weight / out_proj.bias
            out[f"{prefix}.attention.{name}"] = value
    return out
