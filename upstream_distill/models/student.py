"""The student network: a front-end, a transformer encoder, optional prediction heads.

Built from a :class:`StudentConfig` on the same padding-aware pieces as the
teachers (``backbone.py``), and returning the same :class:`ModelOutput`, so
every loss reads teacher and student alike.  ``hidden_states`` counts as the
teacher's: index 0 is the first layer's input (front-end -> projection ->
positional conv), index ``i`` layer ``i``'s output; ``predictions`` holds the
heads' outputs, one per ``head_targets`` entry.

Files: :func:`save_student` writes config + weights in plain types;
:func:`load_student` reads that file or a runner checkpoint
(``states-<step>.ckpt`` of a distillation run), so
``run_downstream.py -u distill_student -k EXP/states-N.ckpt`` works mid-run.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from .backbone import (
    build_transformer_encoder,
    build_waveform_cnn,
    frame_padding,
    padded_batch,
    transformer_hidden_states,
    waveform_cnn_features,
    waveform_cnn_lengths,
)
from .outputs import ModelOutput
from .student_config import StudentConfig
from .teacher import TeacherModel

__all__ = ["StudentModel", "WaveformFrontEnd", "load_student", "save_student", "StudentCheckpointError"]

#: samples one output frame sees (HuBERT's 25 ms window); both front-ends keep it
RECEPTIVE_FIELD = 400
_NATIVE_MARKER = "upstream_distill_student"
_NATIVE_VERSION = 1
#: where a distillation expert keeps the student in its checkpoint_state()
EXPERT_STUDENT_KEY, EXPERT_CONFIG_KEY = "student", "student_config"


class StudentCheckpointError(ValueError):
    """A student file cannot be used; the message names the file and what was expected."""


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


class StudentModel(nn.Module):
    """``frontend`` -> ``encoder`` (torchaudio ``Encoder``) -> ``heads`` (or None)."""

    def __init__(self, config: StudentConfig):
        super().__init__()
        self.config = config
        self.frontend = _build_frontend(config)
        self.encoder = build_transformer_encoder(
            self.frontend.out_dim, config.encoder_dim, config.encoder_layers, config.encoder_heads,
            config.ffn_dim, config.pos_conv_kernel, config.pos_conv_groups, config.layer_norm_first,
            config.dropout, config.attention_dropout, config.activation_dropout, config.projection_dropout)
        self.heads = None
        if config.prediction_heads != "none":
            if config.head_dim is None:
                raise ValueError("StudentConfig.head_dim is unset: give the teacher's width")
            self.heads = nn.ModuleList(nn.Linear(config.encoder_dim, config.head_dim)
                                       for _ in config.head_targets)

    @property
    def downsample_rate(self) -> int:
        return self.config.downsample_rate

    @property
    def layers(self) -> nn.ModuleList:
        return self.encoder.transformer.layers

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
            return sum(p.numel() for p in module.parameters()) if module is not None else 0
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


# ---------------------------------------------------------------------------
# files

PathLike = Union[str, Path]


def student_payload(model: StudentModel, dtype: Optional[torch.dtype] = None) -> dict:
    """Config + weights in plain types; ``dtype`` (e.g. float16) shrinks shipped files."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return {_NATIVE_MARKER: _NATIVE_VERSION, "config": model.config.to_dict(), "state_dict": state}


def save_student(model: StudentModel, path: PathLike, dtype: Optional[torch.dtype] = None) -> None:
    """Write :func:`student_payload` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(student_payload(model, dtype), tmp)
    tmp.replace(path)


def read_student_checkpoint(path: PathLike) -> Tuple[StudentConfig, Dict[str, Tensor]]:
    """``(config, state dict)`` of a :func:`save_student` file or a distillation runner checkpoint."""
    path = Path(path)
    expected = ("a save_student file (e.g. <expdir>/upstream.pt) or a distillation run's "
                "states-<step>.ckpt")
    if not path.is_file():
        raise StudentCheckpointError(f"student checkpoint {str(path)!r}: no such file; expected {expected}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} cannot be read "
                                     f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                                     f"expected {expected}") from None
    if isinstance(payload, dict) and _NATIVE_MARKER in payload:
        config, state = payload["config"], payload["state_dict"]
    elif isinstance(payload, dict) and isinstance(payload.get("expert"), dict) \
            and EXPERT_CONFIG_KEY in payload["expert"]:
        config, state = payload["expert"][EXPERT_CONFIG_KEY], payload["expert"][EXPERT_STUDENT_KEY]
    else:
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} holds no student (found {keys}); "
                                     f"expected {expected}. A teacher checkpoint loads with "
                                     f"-u teacher_local instead")
    try:
        return StudentConfig.from_dict(config), state
    except ValueError as err:
        raise StudentCheckpointError(f"student checkpoint {str(path)!r}: {err}") from None


def load_student(path: PathLike, with_heads: bool = False) -> StudentModel:
    """The student a file describes, weights loaded strictly, in eval mode.

    ``with_heads=False`` drops the training-only prediction heads (the
    upstream's view); missing or unexpected keys raise StudentCheckpointError.
    """
    config, state = read_student_checkpoint(path)
    if not with_heads:
        config.prediction_heads, config.head_targets, config.head_sources = "none", [], []
        state = {k: v for k, v in state.items() if not k.startswith("heads.")}
    model = StudentModel(config)
    reference = model.state_dict()
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    wrong = sorted(k for k in set(state) & set(reference) if state[k].shape != reference[k].shape)
    if missing or unexpected or wrong:
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} does not match its config: "
                                     f"missing {missing[:6]}, unexpected {unexpected[:6]}, "
                                     f"wrong shape {wrong[:6]}")
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    return model.eval()
