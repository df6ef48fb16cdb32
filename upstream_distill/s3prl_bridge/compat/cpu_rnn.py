"""CPU LSTM/GRU/RNN forwards on torch's native kernels (s3prl's ASR BiLSTM on CPU)."""
from __future__ import annotations

import torch

__all__ = ["route_cpu_rnns_to_native_kernels"]


def route_cpu_rnns_to_native_kernels() -> bool:
    """Run CPU LSTM/GRU/RNN forwards with oneDNN (mkldnn) disabled.

    torch's oneDNN RNN path builds new primitives for every input shape. s3prl's ASR
    downstream feeds a BiLSTM with variable-length batches, and on this project's CPU
    machines (torch 2.13) one training step then took ~8 s and the process grew past
    24 GB until it was killed; with the native kernels the same step takes ~1 s in
    0.7 GB. Only RNN forwards on CPU tensors are affected (convolutions keep oneDNN,
    which is ~30% faster for the waveform CNNs); CUDA runs are untouched.
    """
    import torch.nn as nn

    patched = False
    for cls in (nn.LSTM, nn.GRU, nn.RNN):
        forward = cls.forward
        if getattr(forward, "_native_on_cpu", False):
            continue

        def native_forward(self, input, *args, _forward=forward, **kwargs):
            data = input.data if isinstance(input, nn.utils.rnn.PackedSequence) else input
            if data.device.type != "cpu":
                return _forward(self, input, *args, **kwargs)
            with torch.backends.mkldnn.flags(enabled=False):
                return _forward(self, input, *args, **kwargs)

        native_forward._native_on_cpu = True
        cls.forward = native_forward
        patched = True
    return patched


