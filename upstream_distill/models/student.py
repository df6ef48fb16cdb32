"""The student network: a front-end, a transformer encoder, optional prediction heads.

Built from a :class:`StudentConfig` on the same padding-aware pieces as the
teachers (``backbone.py``), and returning the same :class:`ModelOutput`, so
every loss reads teacher and student alike.  ``hidden_states`` counts as the
teacher's: index 0 is the first layer's input (front-end -> projection ->
positional conv), index ``i`` layer ``i``'s output; ``predictions`` holds the
heads' outputs, one per ``head_targets`` entry.

Only the network lives here; its files (:func:`save_student`,
:func:`load_student`) are written and read in :mod:`.checkpoints`, beside
the teacher's.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from torch import Tensor, nn

from .backbone import (
    EncoderModel,
    build_transformer_encoder,
    build_waveform_cnn,
    frame_padding,
    padded_batch,
    transformer_hidden_states,
    waveform_cnn_features,
    waveform_cnn_lengths,
)
from .outputs import ModelOutput
from .parameters import count_parameters
from .student_config import StudentConfig
from .teacher import TeacherModel

__all__ = ["StudentModel", "WaveformFrontEnd"]

#: samples one output frame sees (HuBERT's 25 ms window); both front-ends keep it
RECEPTIVE_FIELD = 400


def _scale_gradient(x: Tensor, scale: float) -> Tensor:
    """Identity forward; the backward multiplies the gradient by ``scale`` (fairseq's GradMultiply)."""
    return x if scale == 1.0 else x * scale + x.detach() * (1.0 - scale)


class WaveformFrontEnd(nn.Module):
    """HuBERT's waveform CNN (torchaudio names under ``feature_extractor``), padding-aware."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.feature_extractor = build_waveform_cnn(config.conv_layers, config.conv_norm, config.conv_bias)
        self.out_dim = config.conv_layers[-1][0]
        self.grad_scale = config.cnn_grad_scale

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return waveform_cnn_lengths(self.feature_extractor, lengths)

    def forward(self, waveforms: Tensor, lengths: Tensor) -> Tuple[Tensor, Tensor]:
        features, frame_lengths = waveform_cnn_features(self.feature_extractor, waveforms, lengths)
        return _scale_gradient(features, self.grad_scale), frame_lengths


def _build_frontend(config: StudentConfig) -> nn.Module:
    if config.frontend == "fbank":
        from .fbank_frontend import FbankFrontEnd, FbankFrontEndConfig

        return FbankFrontEnd(FbankFrontEndConfig.from_dict(config.fbank))
    return WaveformFrontEnd(config)


class StudentModel(EncoderModel):
    """``frontend`` -> ``encoder`` (torchaudio ``Encoder``) -> ``heads`` (or None)."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        self.frontend = _build_frontend(config)
        self.encoder = build_transformer_encoder(
            self.frontend.out_dim, config.encoder_dim, config.encoder_layers, config.encoder_heads,
            config.ffn_dim, config.pos_conv_kernel, config.pos_conv_groups, config.layer_norm_first,
            config.dropout, config.attention_dropout, config.activation_dropout, config.projection_dropout)
        if not config.feature_layer_norm:  # s3prl's distiller projects the CNN features as they are
            self.encoder.feature_projection.layer_norm = nn.Identity()
        self.heads = None
        if config.prediction_heads != "none":
            if config.head_dim is None:
                raise ValueError("StudentConfig.head_dim is unset: give the teacher's width")
            self.heads = nn.ModuleList(nn.Linear(config.encoder_dim, config.head_dim)
                                       for _ in config.head_targets)

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return self.frontend.frame_lengths(lengths)

    def forward(self, waveforms: Tensor, lengths: Optional[Tensor] = None, output_attentions: bool = False,
                output_predictions: bool = True, frontend_only: bool = False) -> ModelOutput:
        """Encode a padded ``(B, T)`` batch at 16 kHz; real frames do not depend on the padding.

        ``frontend_only``: stop at the transformer input (``projected_features``;
        no hidden states), for front-end distillation.
        """
        waveforms, lengths = padded_batch(waveforms, lengths, RECEPTIVE_FIELD)
        features, frame_lengths = self.frontend(waveforms, lengths)
        frame_mask, padding = frame_padding(frame_lengths, features.shape[1])
        projected = self.encoder.feature_projection(features)
        if padding is not None:  # the positional conv must see zeros on padded frames
            projected = projected.masked_fill(padding[..., None], 0.0)
        if frontend_only:
            return ModelOutput(hidden_states=[], frame_mask=frame_mask, projected_features=projected)
        hidden_states, attentions = transformer_hidden_states(
            self.encoder.transformer, projected, padding, self.config.layer_norm_first, output_attentions)
        predictions = None
        if self.heads is not None and output_predictions:
            sources = (self.config.head_sources if self.config.prediction_heads == "layerwise"
                       else [len(hidden_states) - 1] * len(self.heads))
            predictions = [head(hidden_states[source]) for head, source in zip(self.heads, sources)]
        return ModelOutput(hidden_states=hidden_states, frame_mask=frame_mask, attentions=attentions,
                           projected_features=projected, predictions=predictions)

    # -- set-up helpers ----------------------------------------------------------

    def initialize_from_teacher(self, teacher: TeacherModel, frontend: bool = True, layers: int = 0) -> List[str]:
        """Copy the teacher's CNN and/or its first ``layers`` transformer layers (DistilHuBERT's
        initialisation); ValueError when shapes differ.  Returns what was copied."""
        copied = []
        if frontend:
            if not isinstance(self.frontend, WaveformFrontEnd):
                raise ValueError("only a waveform-CNN student can take the teacher's CNN")
            _copy_module(teacher.feature_extractor, self.frontend.feature_extractor, "CNN front-end")
            copied.append("cnn")
        if layers:
            if layers > min(len(self.layers), len(teacher.layers)):
                raise ValueError(f"cannot copy {layers} layers: the student has {len(self.layers)}, "
                                 f"the teacher {len(teacher.layers)}")
            _copy_module(teacher.encoder.feature_projection, self.encoder.feature_projection, "projection")
            _copy_module(teacher.encoder.transformer.pos_conv_embed,
                         self.encoder.transformer.pos_conv_embed, "positional conv")
            for index in range(layers):
                _copy_module(teacher.layers[index], self.layers[index], f"layer {index + 1}")
            copied.append(f"layers 1-{layers}")
        return copied

    def parameter_counts(self) -> Dict[str, int]:
        """Parameters per part: frontend, encoder (projection + positional conv + layers), heads, total
        and ``upstream`` (what s3prl sees: without the training-only heads)."""
        def count(module):
            return count_parameters(module) if module is not None else 0
        counts = {"frontend": count(self.frontend), "encoder": count(self.encoder), "heads": count(self.heads)}
        counts["upstream"] = counts["frontend"] + counts["encoder"]
        counts["total"] = counts["upstream"] + counts["heads"]
        return counts


def _copy_module(source: nn.Module, target: nn.Module, what: str) -> None:
    source_state, target_state = source.state_dict(), target.state_dict()
    mismatched = [k for k in target_state if k not in source_state or source_state[k].shape != target_state[k].shape]
    if mismatched or set(source_state) != set(target_state):
        raise ValueError(f"cannot initialise the student's {what} from the teacher's: shapes or names "
                         f"differ ({mismatched[:4] or sorted(set(source_state) ^ set(target_state))[:4]})")
    target.load_state_dict(source_state)
