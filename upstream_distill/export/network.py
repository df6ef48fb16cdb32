"""The networks every export starts from: a student, a pruned teacher or a teacher of the project.

Foreign files (s3prl's distiller, DPHuBERT) become one of these first
(``reading.py``), so each format writer handles the same few kinds of model.
"""
from __future__ import annotations

from typing import Union

from torch import nn

from upstream_distill.models import PrunedModel, StudentModel, TeacherModel, is_quantized
from upstream_distill.models.checkpoints import build_student

__all__ = ["AnyNetwork", "describe", "float_copy"]

AnyNetwork = Union[StudentModel, PrunedModel, TeacherModel]


def describe(model: nn.Module) -> str:
    """One line: the kind of network and its shape, for messages and reports."""
    config = model.config
    int8 = ", int8" if is_quantized(model) else ""
    if isinstance(model, StudentModel):
        return (f"student ({config.frontend} front-end, {config.encoder_layers} x {config.encoder_dim}, "
                f"{config.encoder_heads} heads, FFN {config.ffn_dim}{int8})")
    if isinstance(model, PrunedModel):
        return (f"pruned {config.arch} ({config.encoder_layers} x {config.encoder_dim}, heads "
                f"{[len(h) for h in config.layer_heads]}, FFN {config.ffn_dims}{int8})")
    return f"{config.arch} teacher ({config.encoder_layers} x {config.encoder_dim}{int8})"


def float_copy(model: AnyNetwork) -> AnyNetwork:
    """A new network of the same config and weights, in eval mode (the original is left untouched).

    Rebuilt rather than deep-copied: a weight-normed convolution that has run
    holds a computed weight that ``copy.deepcopy`` refuses.
    """
    if is_quantized(model):
        raise ValueError("this network is already int8: export from the float student file (--format onnx-int8 "
                         "quantises its ONNX graph)")
    copy = TeacherModel(model.config) if isinstance(model, TeacherModel) else build_student(model.config)
    copy.load_state_dict(model.state_dict())
    return copy.eval()
