"""The int8 student file: PyTorch's dynamic quantisation of a float student, as ``save_student`` writes it.

The quantisation itself and how the file records it live with the networks
(``models/quantized.py``), since ``load_student`` (and so the
``distill_student`` upstream) must rebuild an int8 student from its file;
here a float network becomes an int8 copy.
"""
from __future__ import annotations

from upstream_distill.models import quantize_dynamic_int8, save_student

from .network import AnyNetwork, float_copy

__all__ = ["int8_copy", "save_int8"]


def int8_copy(model: AnyNetwork) -> AnyNetwork:
    """An int8 copy of a float network (student, pruned student or teacher); ``model`` is left as it is."""
    return quantize_dynamic_int8(float_copy(model))


def save_int8(model: AnyNetwork, path) -> AnyNetwork:
    """Write the int8 copy of a student to ``path`` (a ``save_student`` file); returns the copy."""
    copy = int8_copy(model)
    save_student(copy, path)
    return copy
