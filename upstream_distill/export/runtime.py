"""Running an exported file on the CPU: ONNX Runtime sessions, and hidden states to compare.

The one place that knows how an exported graph is fed (``onnx_file.py``'s
inputs) and how two sets of hidden states are compared: on the real frames
only, since padded frames are unspecified in every runtime.  torch is imported
by the functions that compare, not by :func:`onnx_session`: a deployment (and
the latency benchmark's ONNX Runtime measurements) runs without it.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["Difference", "difference", "max_difference", "onnx_session", "run_onnx", "test_batch"]


def onnx_session(path, threads: Optional[int] = None):
    """An ONNX Runtime CPU session of ``path``; ``threads``: its intra-op threads (None: ORT's default)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # the graph is one chain: no parallel branches to run
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initializers are noise
    return onnxruntime.InferenceSession(str(Path(path)), options, providers=["CPUExecutionProvider"])


def run_onnx(session, waveforms: Tensor, lengths: Optional[Tensor] = None) -> Tuple[List[Tensor], Tensor]:
    """``(hidden states, frame lengths)`` of a padded ``(B, T)`` batch through an exported graph."""
    import torch

    waveforms = waveforms if waveforms.dim() == 2 else waveforms[None]
    if lengths is None:
        lengths = torch.full((waveforms.shape[0],), waveforms.shape[1], dtype=torch.long)
    outputs = session.run(None, {"waveforms": waveforms.float().numpy(),
                                 "lengths": lengths.long().numpy().astype(np.int64)})
    return [torch.from_numpy(o) for o in outputs[:-1]], torch.from_numpy(outputs[-1])


class Difference(NamedTuple):
    """How far a file's hidden states are from the network's, over all hidden states and real frames."""

    max_abs: float  # the largest absolute difference of any value
    relative: float  # the largest ||candidate - reference|| / ||reference|| of any hidden state

    def __str__(self) -> str:
        return f"max |diff| {self.max_abs:.3g}, relative {100 * self.relative:.3g} %"


def difference(reference: Sequence[Tensor], candidate: Sequence[Tensor], frame_mask: Tensor) -> Difference:
    """:class:`Difference` on the real frames (``frame_mask`` True) of every hidden state."""
    if len(reference) != len(candidate):
        raise ValueError(f"{len(candidate)} hidden states to compare with {len(reference)}")
    errors = [(a.float() - b.float())[frame_mask] for a, b in zip(reference, candidate)]
    return Difference(max(float(e.abs().max()) for e in errors),
                      max(float(e.norm() / a.float()[frame_mask].norm().clamp_min(1e-12))
                          for e, a in zip(errors, reference)))


def max_difference(reference: Sequence[Tensor], candidate: Sequence[Tensor], frame_mask: Tensor) -> float:
    """Largest absolute difference over all hidden states, on the real frames (``frame_mask`` True)."""
    return difference(reference, candidate, frame_mask).max_abs


def test_batch(seconds: float = 1.0, seed: int = 0) -> Tuple[Tensor, Tensor]:
    """Two utterances of ``seconds`` and 60 % of it, padded: checks cover padding as well.

    Noise whose loudness changes along the utterance, so that an Fbank front-end's
    normalised features vary as speech's do.
    """
    import torch

    samples = int(seconds * 16000)
    generator = torch.Generator().manual_seed(seed)
    envelope = torch.linspace(0.02, 0.5, samples) ** 2
    waveforms = torch.randn(2, samples, generator=generator) * envelope
    lengths = torch.tensor([samples, int(samples * 0.6)])
    waveforms[1, lengths[1]:] = 0.0
    return waveforms, lengths
