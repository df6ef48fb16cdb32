"""The Fbank front-end as one batched, traceable graph: what an exported Fbank student runs.

:class:`~upstream_distill.models.fbank_frontend.FbankFrontEnd` computes its
filterbank with torchaudio's Kaldi ``fbank``, one utterance at a time (a
Python loop over the batch, framing by ``as_strided``, an FFT): fine for
training, but an exported graph must take the waveform batch itself, of any
size and length.  Everything Kaldi does to a 25 ms frame before the power
spectrum is linear (DC-offset removal, pre-emphasis, the Povey window, the
FFT), so it folds into one ``(window, 2 x bins)`` matrix, built here in
float64 with ``torch.fft`` and applied to all frames of all utterances with
one matmul; the mel filters are torchaudio's own (``get_mel_banks``).  The
result equals torchaudio's float64 filterbank more closely than its float32
path does (tests/export check both).

:class:`BatchedFbankFrontEnd` is a ``FbankFrontEnd`` whose
:meth:`normalized_fbank` is this graph; its state dict is the front-end's,
so it loads a trained front-end's weights and statistics unchanged.
Only the defaults the front-end keeps are supported (no dither, ``snip_edges``,
Kaldi's pre-emphasis, window and mel range).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from upstream_distill.core.torchaudio_import import require_torchaudio
from upstream_distill.models.backbone import padded_batch
from upstream_distill.models.fbank_frontend import _KALDI_SCALE, FbankFrontEnd, FbankFrontEndConfig

__all__ = ["BatchedFbankFrontEnd", "frame_transform"]

# torchaudio.compliance.kaldi.fbank's defaults, which FbankFrontEnd leaves as they are
_PREEMPHASIS = 0.97
_POVEY_POWER = 0.85
_LOW_FREQ, _HIGH_FREQ = 20.0, 0.0  # high 0: the Nyquist frequency
_VTLN_LOW, _VTLN_HIGH, _VTLN_WARP = 100.0, -500.0, 1.0


def frame_transform(window: int) -> Tensor:
    """``(window, 2 x (fft // 2 + 1))`` float64: a raw frame (floats in [-1, 1]) times this matrix is
    the real and imaginary parts of Kaldi's spectrum of that frame (``fft``: the next power of two)."""
    fft = 1 << (window - 1).bit_length()
    frames = torch.eye(window, dtype=torch.float64) * _KALDI_SCALE  # row i: the unit frame e_i
    frames = frames - frames.mean(dim=1, keepdim=True)
    frames = frames - _PREEMPHASIS * torch.cat([frames[:, :1], frames[:, :-1]], dim=1)  # x[-1] := x[0]
    frames = frames * torch.hann_window(window, periodic=False, dtype=torch.float64).pow(_POVEY_POWER)
    spectrum = torch.fft.rfft(frames, n=fft)
    return torch.cat([spectrum.real, spectrum.imag], dim=1)


def _mel_matrix(config: FbankFrontEndConfig) -> Tensor:
    """``(fft // 2 + 1, mel)``: torchaudio's Kaldi mel filters, the Nyquist bin given weight 0 as there."""
    torchaudio = require_torchaudio()
    fft = 1 << (config.window_samples - 1).bit_length()
    banks, _ = torchaudio.compliance.kaldi.get_mel_banks(config.num_mel_bins, fft, float(config.sample_rate),
                                                         _LOW_FREQ, _HIGH_FREQ, _VTLN_LOW, _VTLN_HIGH, _VTLN_WARP)
    return torch.nn.functional.pad(banks, (0, 1)).T.contiguous()


class BatchedFbankFrontEnd(FbankFrontEnd):
    """``FbankFrontEnd`` with the filterbank of a whole padded batch in one traceable graph."""

    def __init__(self, config: FbankFrontEndConfig):
        super().__init__(config)
        # not persistent: derived from the config, so the state dict stays the front-end's
        self.register_buffer("frame_matrix", frame_transform(config.window_samples).float(), persistent=False)
        self.register_buffer("mel_matrix", _mel_matrix(config).float(), persistent=False)
        self.bins = self.frame_matrix.shape[1] // 2

    @classmethod
    def from_frontend(cls, frontend: FbankFrontEnd) -> "BatchedFbankFrontEnd":
        batched = cls(frontend.config)
        batched.load_state_dict(frontend.state_dict())
        return batched.train(frontend.training)

    def normalized_fbank(self, waveforms: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """As :meth:`FbankFrontEnd.normalized_fbank`, for all rows at once."""
        if int(self.stats_frames) == 0:
            raise RuntimeError("the fbank front-end has no normalisation statistics yet: call "
                               "estimate_statistics() on training audio or load a checkpoint that has them")
        c = self.config
        waveforms, lengths = padded_batch(waveforms, lengths, c.window_samples)
        fbank_lengths = self.fbank_lengths(lengths)
        frames = torch.div(waveforms.shape[1] - c.window_samples, c.shift_samples, rounding_mode="floor") + 1
        # gather, not unfold/as_strided: every exporter and runtime has it, for any length
        index = (torch.arange(frames, device=waveforms.device)[:, None] * c.shift_samples
                 + torch.arange(c.window_samples, device=waveforms.device)[None, :])
        spectrum = waveforms.float()[:, index] @ self.frame_matrix
        power = spectrum[..., :self.bins].square() + spectrum[..., self.bins:].square()
        log_mel = (power @ self.mel_matrix).clamp_min(torch.finfo(torch.float32).eps).log()
        normalized = (log_mel - self.mean) / self.std
        real = torch.arange(normalized.shape[1], device=waveforms.device)[None, :] < fbank_lengths[:, None]
        return normalized.masked_fill(~real[..., None], 0.0), fbank_lengths
