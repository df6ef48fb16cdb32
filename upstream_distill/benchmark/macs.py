"""Multiply-accumulates of one forward pass, counted by torch's own FLOP counter.

``torch.utils.flop_counter.FlopCounterMode`` counts the FLOPs of matrix products, convolutions and
attention kernels as they run, 2 FLOPs per multiply-add; MACs = FLOPs / 2. Element-wise work (norms,
activations, softmax) and FFTs are not counted, as in the papers' MAC counts.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

SAMPLE_RATE = 16000
#: the leaderboard's MACs are per 10 s of audio
AUDIO_SECONDS = 10.0


def _attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """softmax(Q Kᵀ) V: two batched products of (batch · heads) matrices."""
    batch, heads, queries, dim = query_shape
    keys, value_dim = key_shape[-2], value_shape[-1]
    return 2 * batch * heads * queries * keys * (dim + value_dim)


def _int8_linear_flops(input_shape, packed, *args, out_shape=None, **kwargs) -> int:
    """An int8 student's Linear (dynamic quantisation): the same multiply-adds as the float one, in int8."""
    weight, _ = torch.ops.quantized.linear_unpack(packed)
    out_features, in_features = weight.shape
    rows = 1
    for size in input_shape[:-1]:
        rows *= size
    return 2 * rows * in_features * out_features


#: torch's counter knows the CUDA attention kernels; on CPU ``scaled_dot_product_attention`` runs this
#: one, which it would skip (the attention products of every transformer layer); nor does it count the
#: int8 Linears of a quantised student
_CPU_KERNELS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _attention_flops,
                torch.ops.quantized.linear_dynamic: _int8_linear_flops}


def count_macs(forward: Callable[[], object]) -> int:
    """MACs of ``forward()``, run once without gradients.

    ``torch.no_grad`` rather than ``inference_mode``: weight-normalised convolutions (HuBERT's
    positional convolution) fail to recompute their weight under the counter in inference mode.
    """
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_CPU_KERNELS) as counter:
        forward()
    return counter.get_total_flops() // 2


def upstream_macs(upstream: torch.nn.Module, seconds: float = AUDIO_SECONDS, seed: int = 0) -> int:
    """MACs of an s3prl upstream (``upstream([wav])``) on ``seconds`` of random audio: the cost does not
    depend on what the audio says, only on its length."""
    wav = torch.randn(int(seconds * SAMPLE_RATE), generator=torch.Generator().manual_seed(seed))
    upstream.eval()
    return count_macs(lambda: upstream([wav]))
