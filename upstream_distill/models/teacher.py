"""HuBERT, WavLM and wav2vec 2.0 teachers on torchaudio's components.

The three families share one skeleton (waveform CNN -> feature projection ->
convolutional positional embedding -> transformer layers) and differ only in
the attention module (WavLM: gated relative-position bias) and in what sits
on top (HuBERT: the masked-prediction unit head).  So there is one
:class:`TeacherModel` built from a :class:`TeacherConfig`; the modules are
torchaudio's (``ConvLayerBlock``, ``FeatureProjection``,
``ConvolutionalPositionalEmbedding``, ``SelfAttention``,
``WavLMSelfAttention``, ``FeedForward``, ``EncoderLayer``), assembled under
torchaudio's own module names (``backbone.py``, shared with the students) so its
checkpoint key mappings apply as-is.

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

from typing import Optional

from torch import Tensor, nn

from ._torchaudio import WavLMSelfAttention, components
from .backbone import (
    EncoderModel,
    build_transformer_encoder,
    build_waveform_cnn,
    frame_padding,
    normalize_waveforms,
    padded_batch,
    transformer_hidden_states,
    waveform_cnn_features,
)
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
]

# ---------------------------------------------------------------------------
# construction


def _build_attention(config: TeacherConfig, index: int) -> nn.Module:
    if config.arch == "wavlm":
        return WavLMSelfAttention(embed_dim=config.encoder_dim, num_heads=config.encoder_heads,
                                  dropout=config.attention_dropout,
                                  has_relative_attention_bias=(index == 0),  # shared by all layers
                                  num_buckets=config.num_buckets, max_distance=config.max_distance,
                                  gru_rel_pos=config.gru_rel_pos)
    return components.SelfAttention(config.encoder_dim, config.encoder_heads, config.attention_dropout)


def _build_encoder(config: TeacherConfig) -> components.Encoder:
    return build_transformer_encoder(
        config.conv_layers[-1][0], config.encoder_dim, config.encoder_layers, config.encoder_heads,
        config.ffn_dim, config.pos_conv_kernel, config.pos_conv_groups, config.layer_norm_first,
        config.dropout, config.attention_dropout, config.activation_dropout, config.projection_dropout,
        attention=lambda index: _build_attention(config, index))


# ---------------------------------------------------------------------------
# the model


class TeacherModel(EncoderModel):
    """A HuBERT / WavLM / wav2vec 2.0 encoder returning :class:`ModelOutput`.

    Submodules (torchaudio names): ``feature_extractor.conv_layers``,
    ``encoder.feature_projection``, ``encoder.transformer.{pos_conv_embed,
    layer_norm, layers}``; plus ``unit_head`` (HuBERT checkpoints with
    ``final_proj``/label embeddings) or None.
    """

    def __init__(self, config: TeacherConfig):
        super().__init__()
        self.config = config
        self.feature_extractor = build_waveform_cnn(config.conv_layers, config.conv_norm, config.conv_bias)
        self.encoder = _build_encoder(config)
        self.unit_head = (UnitHead(config.encoder_dim, config.final_dim, config.num_units,
                                   config.unit_temperature) if config.has_unit_head else None)


    def forward(self, waveforms: Tensor, lengths: Optional[Tensor] = None,
                output_attentions: bool = False, output_unit_logits: bool = False) -> ModelOutput:
        """Encode a padded batch.

        waveforms: ``(B, T)`` float at 16 kHz (or ``(T,)`` for one utterance),
        padded at the end; lengths: ``(B,)`` real samples per row (None: all
        ``T``).  Real frames do not depend on the padding.  Raises ValueError
        for a waveform shorter than one frame's receptive field.
        """
        waveforms, lengths = padded_batch(waveforms, lengths, self.config.receptive_field)
        if output_unit_logits and self.unit_head is None:
            raise ValueError(f"this {self.config.arch} teacher has no unit head (final_proj + label "
                             f"embeddings); only fairseq HuBERT checkpoints carry one")
        if self.config.normalize_waveform:
            waveforms = normalize_waveforms(waveforms, lengths)

        features, frame_lengths = waveform_cnn_features(self.feature_extractor, waveforms, lengths)
        frame_mask, padding = frame_padding(frame_lengths, features.shape[1])

        projected = self.encoder.feature_projection(features)
        if padding is not None:  # as HF: zero padded frames so the positional conv sees zeros there
            projected = projected.masked_fill(padding[..., None], 0.0)
        hidden_states, attentions = transformer_hidden_states(
            self.encoder.transformer, projected, padding, self.config.layer_norm_first,
            output_attentions, relative_position_bias=self.config.arch == "wavlm")
        unit_logits = self.unit_head(hidden_states[-1]) if output_unit_logits else None
        return ModelOutput(hidden_states=hidden_states, frame_mask=frame_mask,
                           attentions=attentions, unit_logits=unit_logits,
                           projected_features=projected)
