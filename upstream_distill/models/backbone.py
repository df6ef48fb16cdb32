"""The pieces teachers and students share: waveform CNN, transformer encoder, their forwards.

Both are assembled from torchaudio's wav2vec 2.0 components under
torchaudio's module names (so its checkpoint key mappings apply as-is); what
this module adds is the padding-aware forward that every network of the
project runs:

* :func:`waveform_cnn_features` -- the CNN of torchaudio's ``FeatureExtractor``
  with a GroupNorm that takes its statistics over the real samples only (the
  Base models' first block normalises each channel over *time*, so in fairseq
  and transformers alike padding leaks into real frames);
* :func:`transformer_hidden_states` -- positional convolution, layers, final
  norm, collecting every hidden state in the Hugging Face / s3prl count and,
  on request, each layer's attention probabilities.
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._torchaudio import components
from .attention_maps import attention_probabilities

__all__ = [
    "EncoderModel",
    "build_transformer_encoder",
    "build_waveform_cnn",
    "conv_output_lengths",
    "frame_padding",
    "normalize_waveforms",
    "padded_batch",
    "transformer_hidden_states",
    "waveform_cnn_features",
    "waveform_cnn_lengths",
]

ConvLayers = Sequence[Tuple[int, int, int]]
# Samples are normalised like F.layer_norm(wav, wav.shape) in fairseq/s3prl.
_WAVEFORM_NORM_EPS = 1e-5


def build_waveform_cnn(conv_layers: ConvLayers, conv_norm: str, conv_bias: bool) -> components.FeatureExtractor:
    """``(channels, kernel, stride)`` blocks; ``group_norm``: on the first block only (Base models)."""
    blocks, in_channels = [], 1
    for index, (channels, kernel, stride) in enumerate(conv_layers):
        norm = None
        if conv_norm == "group_norm" and index == 0:
            norm = nn.GroupNorm(num_groups=channels, num_channels=channels, affine=True)
        elif conv_norm == "layer_norm":
            norm = components.LayerNorm(normalized_shape=channels, elementwise_affine=True)
        blocks.append(components.ConvLayerBlock(in_channels, channels, kernel, stride,
                                                bias=conv_bias, layer_norm=norm))
        in_channels = channels
    return components.FeatureExtractor(nn.ModuleList(blocks))


def build_transformer_encoder(in_dim: int, dim: int, layers: int, heads: int, ffn_dim: int,
                              pos_conv_kernel: int, pos_conv_groups: int, layer_norm_first: bool,
                              dropout: float, attention_dropout: float, activation_dropout: float,
                              projection_dropout: float,
                              attention: Optional[Callable[[int], nn.Module]] = None) -> components.Encoder:
    """Feature projection (``in_dim`` -> ``dim``) + positional conv + ``layers`` encoder layers.

    ``attention(index)`` builds layer ``index``'s attention module (default:
    torchaudio's multi-head ``SelfAttention``; WavLM passes its own).
    """
    if attention is None:
        def attention(index: int) -> nn.Module:
            return components.SelfAttention(dim, heads, attention_dropout)
    encoder_layers = nn.ModuleList(
        components.EncoderLayer(
            attention=attention(index),
            dropout=dropout,
            layer_norm_first=layer_norm_first,
            feed_forward=components.FeedForward(dim, ffn_dim, activation_dropout, dropout),
        )
        for index in range(layers)
    )
    transformer = components.Transformer(
        pos_conv_embed=components.ConvolutionalPositionalEmbedding(dim, pos_conv_kernel, pos_conv_groups),
        dropout=dropout,
        layers=encoder_layers,
        # torchaudio's flag means "normalise before the layers", i.e. post-LN layers.
        layer_norm_first=not layer_norm_first,
        layer_drop=0.0,
    )
    return components.Encoder(components.FeatureProjection(in_dim, dim, projection_dropout), transformer)


class EncoderModel(nn.Module):
    """What every network of the project offers its callers (losses, upstreams, the benchmark):
    its frame hop, its transformer layers and the frames it gives for a waveform length.
    Subclasses hold ``config`` (with ``downsample_rate``), ``encoder.transformer.layers`` and,
    unless they override :meth:`frame_lengths`, a waveform ``feature_extractor``."""

    @property
    def downsample_rate(self) -> int:
        return self.config.downsample_rate

    @property
    def layers(self) -> nn.ModuleList:
        return self.encoder.transformer.layers

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames for waveforms of ``lengths`` samples."""
        return waveform_cnn_lengths(self.feature_extractor, lengths)


# ---------------------------------------------------------------------------
# padding-aware forwards


def padded_batch(waveforms: Tensor, lengths: Optional[Tensor], min_samples: int) -> Tuple[Tensor, Tensor]:
    """Check a padded batch: ``(B, T)`` (or ``(T,)``) waveforms and ``(B,)`` lengths (None: all T).

    ValueError for a bad shape, a length over T, or a waveform shorter than
    ``min_samples`` (one output frame's receptive field).
    """
    if waveforms.dim() == 1:
        waveforms = waveforms.unsqueeze(0)
    if waveforms.dim() != 2:
        raise ValueError(f"expected waveforms of shape (B, T), got {tuple(waveforms.shape)}")
    batch, samples = waveforms.shape
    if lengths is None:
        lengths = torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
    lengths = torch.as_tensor(lengths, device=waveforms.device).long()
    if lengths.shape != (batch,):
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if bool((lengths > samples).any()):
        raise ValueError(f"a length exceeds the padded waveform length {samples}: {lengths.tolist()}")
    too_short = (lengths < min_samples).nonzero().flatten().tolist()
    if too_short:
        raise ValueError(f"waveform(s) {too_short} have fewer than {min_samples} samples, the "
                         f"receptive field of one output frame (lengths: {lengths[too_short].tolist()})")
    return waveforms, lengths


def conv_output_lengths(lengths: Tensor, kernel: int, stride: int) -> Tensor:
    """Frames a valid (unpadded) conv gives for ``lengths`` input frames."""
    return torch.clamp(torch.div(lengths - kernel, stride, rounding_mode="floor") + 1, min=0)


def waveform_cnn_lengths(extractor: components.FeatureExtractor, lengths: Tensor) -> Tensor:
    """Output frames of the CNN for waveforms of ``lengths`` samples."""
    for block in extractor.conv_layers:
        lengths = conv_output_lengths(lengths, block.kernel_size, block.stride)
    return lengths


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


def waveform_cnn_features(extractor: components.FeatureExtractor, waveforms: Tensor, lengths: Tensor,
                          channel_scales: Optional[Sequence[Optional[Tensor]]] = None) -> Tuple[Tensor, Tensor]:
    """``(B, T)`` padded waveforms -> ``(B, N, C)`` features and ``(B,)`` frame lengths.

    Same steps as ``ConvLayerBlock.forward`` (conv -> norm -> GELU), except
    that a GroupNorm normalises over the real frames only; LayerNorm is per
    frame and needs no mask.  ``channel_scales[i]``, when given, multiplies
    block ``i``'s output channels (pruning's gates).
    """
    x = waveforms.unsqueeze(1)
    for index, block in enumerate(extractor.conv_layers):
        x = block.conv(x)
        lengths = conv_output_lengths(lengths, block.kernel_size, block.stride)
        if isinstance(block.layer_norm, nn.GroupNorm):
            x = _masked_group_norm(x, lengths, block.layer_norm)
        elif block.layer_norm is not None:
            x = block.layer_norm(x)
        x = F.gelu(x)
        scale = None if channel_scales is None else channel_scales[index]
        if scale is not None:
            x = x * scale.to(x.dtype)[None, :, None]
    return x.transpose(1, 2), lengths


def normalize_waveforms(waveforms: Tensor, lengths: Tensor) -> Tensor:
    """Per-utterance zero mean / unit variance over the real samples (float32); padding stays 0.

    As ``F.layer_norm(wav, wav.shape)`` in fairseq/s3prl, for checkpoints trained with
    ``normalize=True`` (the Large models).
    """
    valid = (torch.arange(waveforms.shape[1], device=waveforms.device)[None, :] < lengths[:, None]).float()
    samples = waveforms.float()
    count = lengths.float()[:, None]
    mean = (samples * valid).sum(-1, keepdim=True) / count
    var = (((samples - mean) * valid) ** 2).sum(-1, keepdim=True) / count
    return ((samples - mean) / torch.sqrt(var + _WAVEFORM_NORM_EPS) * valid).to(waveforms.dtype)


def frame_padding(frame_lengths: Tensor, frames: int) -> Tuple[Tensor, Optional[Tensor]]:
    """``(frame_mask, padding)``: True for real frames; padding = ~mask, or None when nothing is padded."""
    frame_mask = torch.arange(frames, device=frame_lengths.device)[None, :] < frame_lengths[:, None]
    return frame_mask, (None if bool(frame_mask.all()) else ~frame_mask)


def transformer_hidden_states(transformer: components.Transformer, x: Tensor, padding: Optional[Tensor],
                              layer_norm_first: bool, output_attentions: bool = False,
                              relative_position_bias: bool = False
                              ) -> Tuple[List[Tensor], Optional[List[Tensor]]]:
    """Positional conv, layers, final norm; returns the HF-style hidden states (and attentions).

    x: ``(B, N, D)`` projected features with padded frames zeroed; padding:
    ``(B, N)`` True on padded frames, or None.  ``relative_position_bias``:
    WavLM layers, which take padding as an additive key mask.
    """
    x = x + transformer.pos_conv_embed(x)
    if not layer_norm_first:
        x = transformer.layer_norm(x)
    x = transformer.dropout(x)

    attention_mask = key_padding_mask = None
    if padding is not None and not relative_position_bias:  # (B, 1, N, N) bool, True = may attend
        batch, frames = padding.shape
        attention_mask = (~padding)[:, None, None, :].expand(batch, 1, frames, frames)
    if padding is not None and relative_position_bias:  # additive, same dtype as WavLM's float bias
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
    if layer_norm_first:
        hidden_states[-1] = transformer.layer_norm(x)
    return hidden_states, attentions
