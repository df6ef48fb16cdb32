"""HuBERT, WavLM and wav2vec 2.0 teachers on torchaudio's components.

The three families share one skeleton (waveform CNN -> feature projection ->
convolutional positional embedding -> transformer layers) and differ only in
the attention module (WavLM: gated relative-position bias) and in what sits
on top (HuBERT: the masked-prediction unit head).  So there is one
:class:`TeacherModel` built from a :class:`TeacherConfig`; the modules are
torchaudio's (``ConvLayerBlock``, ``FeatureProjection``,
``ConvolutionalPositionalEmbedding``, ``SelfAttention``,
``WavLMSelfAttention``, ``FeedForward``, ``EncoderLayer``), assembled under
torchaudio's own module names so its checkpoint key mappings apply as-is.

What the forward adds on top of torchaudio's ``Wav2Vec2Model``:

* padding invariance: the Base models' first conv block normalises each
  channel over *time* (GroupNorm with one group per channel), so in a padded
  batch the padding leaks into the real frames' statistics (in fairseq and
  transformers alike).  Here those statistics are taken over the real
  samples only, which makes a padded batch give exactly what each utterance
  gives alone;
* all hidden states in the HF / s3prl count, attention probabilities and unit
  logits, returned as one :class:`ModelOutput`;
* optional per-utterance waveform normalisation for checkpoints trained with
  ``normalize=True`` (the Large models), so callers never need to know.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._torchaudio import WavLMSelfAttention, components
from .attention_maps import attention_probabilities
from .outputs import ModelOutput
from .teacher_config import (
    ARCHS,
    TeacherConfig,
    hubert_base_config,
    tiny_teacher_config,
    wav2vec2_base_config,
    wavlm_base_plus_config,
)
from .unit_head import UnitHead

__all__ = [
    "ARCHS",
    "TeacherConfig",
    "TeacherModel",
    "hubert_base_config",
    "wavlm_base_plus_config",
    "wav2vec2_base_config",
    "tiny_teacher_config",
    "count_parameters",
]

# Samples are normalised like F.layer_norm(wav, wav.shape) in fairseq/s3prl.
_WAVEFORM_NORM_EPS = 1e-5


# ---------------------------------------------------------------------------
# construction


def _build_feature_extractor(config: TeacherConfig) -> components.FeatureExtractor:
    blocks, in_channels = [], 1
    for index, (channels, kernel, stride) in enumerate(config.conv_layers):
        norm = None
        if config.conv_norm == "group_norm" and index == 0:
            norm = nn.GroupNorm(num_groups=channels, num_channels=channels, affine=True)
        elif config.conv_norm == "layer_norm":
            norm = components.LayerNorm(normalized_shape=channels, elementwise_affine=True)
        blocks.append(components.ConvLayerBlock(in_channels, channels, kernel, stride,
                                                bias=config.conv_bias, layer_norm=norm))
        in_channels = channels
    return components.FeatureExtractor(nn.ModuleList(blocks))


def _build_attention(config: TeacherConfig, index: int) -> nn.Module:
    if config.arch == "wavlm":
        return WavLMSelfAttention(embed_dim=config.encoder_dim, num_heads=config.encoder_heads,
                                  dropout=config.attention_dropout,
                                  has_relative_attention_bias=(index == 0),  # shared by all layers
                                  num_buckets=config.num_buckets, max_distance=config.max_distance,
                                  gru_rel_pos=config.gru_rel_pos)
    return components.SelfAttention(config.encoder_dim, config.encoder_heads, config.attention_dropout)


def _build_encoder(config: TeacherConfig) -> components.Encoder:
    layers = nn.ModuleList(
        components.EncoderLayer(
            attention=_build_attention(config, index),
            dropout=config.dropout,
            layer_norm_first=config.layer_norm_first,
            feed_forward=components.FeedForward(config.encoder_dim, config.ffn_dim,
                                                config.activation_dropout, config.dropout),
        )
        for index in range(config.encoder_layers)
    )
    transformer = components.Transformer(
        pos_conv_embed=components.ConvolutionalPositionalEmbedding(
            config.encoder_dim, config.pos_conv_kernel, config.pos_conv_groups),
        dropout=config.dropout,
        layers=layers,
        # torchaudio's flag means "normalise before the layers", i.e. post-LN layers.
        layer_norm_first=not config.layer_norm_first,
        layer_drop=0.0,
    )
    projection = components.FeatureProjection(config.conv_layers[-1][0], config.encoder_dim,
                                              config.projection_dropout)
    return components.Encoder(projection, transformer)


# ---------------------------------------------------------------------------
# padding-aware pieces


def conv_output_lengths(lengths: Tensor, kernel: int, stride: int) -> Tensor:
    """Frames a valid (unpadded) conv gives for ``lengths`` input frames."""
    return torch.clamp(torch.div(lengths - kernel, stride, rounding_mode="floor") + 1, min=0)


def _masked_group_norm(x: Tensor, lengths: Tensor, norm: nn.GroupNorm) -> Tensor:
    """GroupNorm over ``(channels in group, time)`` using only the first ``lengths`` frames.

    Statistics in float32: under fp16 autocast a sum of squares over a long
    utterance's ~10^5 frames would overflow.
    """
    batch, channels, frames = x.shape
    groups = norm.num_groups
    valid = (torch.arange(frames, device=x.device)[None, :] < lengths[:, None]).float()
    grouped = x.float().view(batch, groups, channels // groups, frames)
    weight = valid.view(batch, 1, 1, frames)
    count = (weight.sum(dim=-1, keepdim=True) * (channels // groups)).clamp(min=1.0)
    mean = (grouped * weight).sum(dim=(-2, -1), keepdim=True) / count
    var = (((grouped - mean) * weight) ** 2).sum(dim=(-2, -1), keepdim=True) / count
    normalised = ((grouped - mean) / torch.sqrt(var + norm.eps)).view(batch, channels, frames)
    if norm.affine:
        normalised = normalised * norm.weight.float()[None, :, None] + norm.bias.float()[None, :, None]
    return normalised.to(x.dtype)


def _normalize_waveforms(waveforms: Tensor, lengths: Tensor) -> Tensor:
    """Per-utterance zero mean / unit variance over the real samples (float32); padding stays 0."""
    valid = (torch.arange(waveforms.shape[1], device=waveforms.device)[None, :] < lengths[:, None]).float()
    samples = waveforms.float()
    count = lengths.float()[:, None]
    mean = (samples * valid).sum(-1, keepdim=True) / count
    var = (((samples - mean) * valid) ** 2).sum(-1, keepdim=True) / count
    return ((samples - mean) / torch.sqrt(var + _WAVEFORM_NORM_EPS) * valid).to(waveforms.dtype)


# ---------------------------------------------------------------------------
# the model


class TeacherModel(nn.Module):
    """A HuBERT / WavLM / wav2vec 2.0 encoder returning :class:`ModelOutput`.

    Submodules (torchaudio names): ``feature_extractor.conv_layers``,
    ``encoder.feature_projection``, ``encoder.transformer.{pos_conv_embed,
    layer_norm, layers}``; plus ``unit_head`` (HuBERT checkpoints with
    ``final_proj``/label embeddings) or None.
    """

    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = _build_feature_extractor(config)
        self.encoder = _build_encoder(config)
        self.unit_head = (UnitHead(config.encoder_dim, config.final_dim, config.num_units,
                                   config.unit_temperature) if config.has_unit_head else None)

    @property
    def downsample_rate(self) -> int:
        return self.config.downsample_rate

    @property
    def layers(self) -> nn.ModuleList:
        return self.encoder.transformer.layers

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames for waveforms of ``lengths`` samples."""
        for block in self.feature_extractor.conv_layers:
            lengths = conv_output_lengths(lengths, block.kernel_size, block.stride)
        return lengths

    def forward(self, waveforms: Tensor, lengths: Optional[Tensor] = None,
                output_attentions: bool = False, output_unit_logits: bool = False) -> ModelOutput:
        """Encode a padded batch.

        waveforms: ``(B, T)`` float at 16 kHz (or ``(T,)`` for one utterance),
        padded at the end; lengths: ``(B,)`` real samples per row (None: all
        ``T``).  Real frames do not depend on the padding.  Raises ValueError
        for a waveform shorter than one frame's receptive field.
        """
        if waveforms.dim() == 1:
            waveforms = waveforms.unsqueeze(0)
        if waveforms.dim() != 2:
            raise ValueError(f"expected waveforms of shape (B, T), got {tuple(waveforms.shape)}")
        lengths = self._check_lengths(waveforms, lengths)
        if output_unit_logits and self.unit_head is None:
            raise ValueError(f"this {self.config.arch} teacher has no unit head (final_proj + label "
                             f"embeddings); only fairseq HuBERT checkpoints carry one")
        if self.config.normalize_waveform:
            waveforms = _normalize_waveforms(waveforms, lengths)

        features, frame_lengths = self._conv_features(waveforms, lengths)
        frames = features.shape[1]
        frame_mask = torch.arange(frames, device=features.device)[None, :] < frame_lengths[:, None]
        padding = None if bool(frame_mask.all()) else ~frame_mask

        projected = self.encoder.feature_projection(features)
        if padding is not None:  # as HF: zero padded frames so the positional conv sees zeros there
            projected = projected.masked_fill(padding[..., None], 0.0)
        hidden_states, attentions = self._transformer(projected, padding, output_attentions)
        unit_logits = self.unit_head(hidden_states[-1]) if output_unit_logits else None
        return ModelOutput(hidden_states=hidden_states, frame_mask=frame_mask,
                           attentions=attentions, unit_logits=unit_logits,
                           projected_features=projected)

    # -- pieces of forward ---------------------------------------------------

    def _check_lengths(self, waveforms: Tensor, lengths: Optional[Tensor]) -> Tensor:
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
        lengths = torch.as_tensor(lengths, device=waveforms.device).long()
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if bool((lengths > samples).any()):
            raise ValueError(f"a length exceeds the padded waveform length {samples}: {lengths.tolist()}")
        too_short = (lengths < self.config.receptive_field).nonzero().flatten().tolist()
        if too_short:
            raise ValueError(f"waveform(s) {too_short} have fewer than "
                             f"{self.config.receptive_field} samples, the receptive field of one "
                             f"output frame (lengths: {lengths[too_short].tolist()})")
        return lengths

    def _conv_features(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        """The CNN of torchaudio's FeatureExtractor, with padding-aware GroupNorm.

        Same steps as ``ConvLayerBlock.forward`` (conv -> norm -> GELU), except
        that a GroupNorm normalises over the real frames only; LayerNorm is
        per frame and needs no mask.
        """
        x = waveforms.unsqueeze(1)
        for block in self.feature_extractor.conv_layers:
            x = block.conv(x)
            lengths = conv_output_lengths(lengths, block.kernel_size, block.stride)
            if isinstance(block.layer_norm, nn.GroupNorm):
                x = _masked_group_norm(x, lengths, block.layer_norm)
            elif block.layer_norm is not None:
                x = block.layer_norm(x)
            x = F.gelu(x)
        return x.transpose(1, 2), lengths

    def _transformer(self, x: Tensor, padding: Optional[Tensor],
                     output_attentions: bool) -> Tuple[List[Tensor], Optional[List[Tensor]]]:
        """Positional conv, layers, final norm; collects the HF-style hidden states."""
        transformer = self.encoder.transformer
        x = x + transformer.pos_conv_embed(x)
        if not self.config.layer_norm_first:
            x = transformer.layer_norm(x)
        x = transformer.dropout(x)

        is_wavlm = self.config.arch == "wavlm"
        attention_mask = None
        if padding is not None and not is_wavlm:  # (B, 1, N, N) bool, True = may attend
            batch, frames = padding.shape
            attention_mask = (~padding)[:, None, None, :].expand(batch, 1, frames, frames)
        key_padding_mask = None
        if padding is not None and is_wavlm:  # additive, same dtype as WavLM's float position bias
            key_padding_mask = torch.zeros(padding.shape, dtype=x.dtype, device=x.device)
            key_padding_mask = key_padding_mask.masked_fill(padding, float("-inf"))

        hidden_states, attentions = [x], ([] if output_attentions else None)
        position_bias = None
        for layer in transformer.layers:
            layer_input = x
            x, position_bias = layer(x, attention_mask=attention_mask, position_bias=position_bias,
                                     key_padding_mask=key_padding_mask)
            if output_attentions:
                attention_input = layer.layer_norm(layer_input) if layer.layer_norm_first else layer_input
                attentions.append(attention_probabilities(layer.attention, attention_input,
                                                          padding, position_bias))
            hidden_states.append(x)
        if self.config.layer_norm_first:
            hidden_states[-1] = transformer.layer_norm(x)
        return hidden_states, attentions


def count_parameters(module: nn.Module, include_unit_head: bool = False) -> int:
    """Parameters without the unit head by default (HuBERT Base: 94.37M; with the
    unit head 94.70M, the number usually quoted for it)."""
    return sum(p.numel() for name, p in module.named_parameters()
               if include_unit_head or not name.startswith("unit_head."))
