"""int8 students: PyTorch's dynamic quantisation of every ``nn.Linear``, and how a file records it.

Dynamic quantisation stores each Linear's weight as int8 (one scale per
tensor) and quantises its input on the fly, per batch; convolutions, norms
and attention arithmetic stay float32.  In these networks the Linears are
most of the weights and of the time (projection, q/k/v/out, feed-forward),
and dynamic quantisation needs no calibration audio, so any student file
converts offline.

A quantised state dict only loads into a network quantised the same way, so
a file records *how* (:data:`DYNAMIC_INT8`) and :func:`quantize_dynamic_int8`
rebuilds that network before the weights are loaded (``checkpoints.py``).
Quantised Linears run on the CPU only.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

__all__ = ["DYNAMIC_INT8", "QUANTIZATION_KEY", "is_quantized", "quantize_dynamic_int8"]

#: the entry of a student file that marks it as quantised (absent: float weights)
QUANTIZATION_KEY = "quantization"
#: what :func:`quantize_dynamic_int8` does, as a file records it
DYNAMIC_INT8 = {"scheme": "dynamic", "dtype": "qint8", "modules": ["Linear"]}


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """Replace ``model``'s Linears by dynamically quantised int8 ones, in place; returns the model.

    ``torch.ao.quantization`` warns that it moves to the separate ``torchao``
    package; it is silenced here because it still works with this torch and
    torchao would be one more dependency for the same operation.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization is deprecated",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(model.eval(), {nn.Linear}, dtype=torch.qint8, inplace=True)


def is_quantized(model: nn.Module) -> bool:
    """True when some Linear of ``model`` was quantised by :func:`quantize_dynamic_int8`."""
    return any(isinstance(module, torch.ao.nn.quantized.dynamic.Linear) for module in model.modules())
