"""A filterbank front-end that replaces a student's waveform CNN (Wang et al., 2022).

Steps: 80-dim Kaldi log-mel filterbank (25 ms window, 10 ms shift) per
utterance on its real samples -> global mean/variance normalisation ->
SpecAugment (training only, optional) -> Conv1d(mel -> channels, kernel 3,
stride 2, padding 1) + GELU -> Linear(channels -> out_dim) -> dropout.

Alignment with the waveform CNN (400-sample window, 320-sample hop, valid
convolutions).  Filterbank frame ``j`` covers samples ``[160 j, 160 j + 400)``
(``snip_edges``), so an utterance of ``T >= 400`` samples has
``M = (T - 400) // 160 + 1`` of them.  Output frame ``t`` is the conv centred
on filterbank frame ``2 t``, which covers *exactly* the CNN frame ``t``'s
samples ``[320 t, 320 t + 400)``; it also reads its neighbours ``2 t - 1``
and ``2 t + 1`` (receptive field ``[320 t - 160, 320 t + 560)``).  Frames
outside ``0 .. M - 1`` read 0, the global mean after normalisation.  Hence
``N = (M - 1) // 2 + 1 = (T - 400) // 320 + 1``, the CNN's count, with no
trimming.  The count formula holds for any window/shift; equality with the
CNN needs the default 25 ms / 10 ms at 16 kHz.

Parameters (no normalisation statistics, which are buffers):
``channels * (3 mel + 1) + out_dim * (channels + 1)``; 254,720 for
``channels=512, out_dim=256`` and 320,384 for ``out_dim=384``, against 4.2M
for HuBERT's waveform CNN.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Iterable, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from upstream_distill.core.torchaudio_import import require_torchaudio

from .backbone import padded_batch

torchaudio = require_torchaudio()

__all__ = ["FbankFrontEndConfig", "FbankFrontEnd"]

#: Kaldi reads 16-bit PCM; float waveforms in [-1, 1] are scaled back to that range.
_KALDI_SCALE = 32768.0
#: Floor of the normalisation std, for a mel bin that never varies (e.g. digital silence only).
_STD_FLOOR = 1e-5


@dataclass
class FbankFrontEndConfig:
    """``frontend:`` of a student config; widths of the masks in 10 ms frames / mel bins."""

    out_dim: int  # output feature size (the student transformer's input)
    num_mel_bins: int = 80
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    sample_rate: int = 16000
    channels: int = 512  # subsampler conv channels (the fork's 80 -> 512 -> d)
    dropout: float = 0.1  # after the output Linear (the fork has one; its rate is unknown)
    specaugment: bool = False
    time_mask_width: int = 40  # max frames per time mask (10 ms each)
    time_mask_count: int = 2
    time_mask_max_ratio: float = 0.2  # SpecAugment's p: a time mask spans at most this share of the utterance
    freq_mask_width: int = 27  # max mel bins per frequency mask (SpecAugment's LibriSpeech F)
    freq_mask_count: int = 2

    def __post_init__(self):
        problems = []
        for name in ("out_dim", "num_mel_bins", "channels", "sample_rate"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("frame_length_ms", "frame_shift_ms"):
            samples = self.sample_rate * getattr(self, name) / 1000
            if samples < 1 or abs(samples - round(samples)) > 1e-9:
                problems.append(f"{name}={getattr(self, name)} is not a whole number of samples "
                                f"at {self.sample_rate} Hz")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if min(self.time_mask_width, self.time_mask_count, self.freq_mask_width, self.freq_mask_count) < 0:
            problems.append("mask widths and counts must be >= 0")
        if not 0 <= self.time_mask_max_ratio <= 1:
            problems.append(f"time_mask_max_ratio must be in [0, 1], got {self.time_mask_max_ratio}")
        if problems:
            raise ValueError("invalid FbankFrontEndConfig: " + "; ".join(problems))

    @property
    def window_samples(self) -> int:
        return round(self.sample_rate * self.frame_length_ms / 1000)

    @property
    def shift_samples(self) -> int:
        return round(self.sample_rate * self.frame_shift_ms / 1000)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FbankFrontEndConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown FbankFrontEndConfig keys {unknown} (known: {sorted(known)})")
        return cls(**data)


def _random_spans(sizes: Tensor, max_widths: Tensor, count: int, extent: int) -> Tensor:
    """``(B, extent)`` bool: ``count`` spans per row, width ~ U{0..max_width}, inside ``[0, size)``."""
    draws = torch.rand(sizes.shape[0], count, 2, device=sizes.device)
    widths = (draws[..., 0] * (max_widths[:, None] + 1).float()).long()
    starts = (draws[..., 1] * (sizes[:, None] - widths + 1).float()).long()
    position = torch.arange(extent, device=sizes.device)[None, None, :]
    return ((position >= starts[..., None]) & (position < (starts + widths)[..., None])).any(dim=1)


class FbankFrontEnd(nn.Module):
    """Waveforms -> ``(B, N, out_dim)`` features at the waveform CNN's 20 ms frame rate.

    Buffers ``mean``, ``std`` (per mel bin) and ``stats_frames`` (how many
    frames they were estimated on; 0 = not yet) travel with the state_dict;
    :meth:`estimate_statistics` fills them, and :meth:`forward` refuses to run
    before that.
    """

    def __init__(self, config: FbankFrontEndConfig):
        super().__init__()
        self.config = config
        self.out_dim = config.out_dim
        self.register_buffer("mean", torch.zeros(config.num_mel_bins))
        self.register_buffer("std", torch.ones(config.num_mel_bins))
        self.register_buffer("stats_frames", torch.zeros((), dtype=torch.long))
        self.subsampler = nn.Conv1d(config.num_mel_bins, config.channels, kernel_size=3, stride=2, padding=1)
        self.projection = nn.Linear(config.channels, config.out_dim)
        self.dropout = nn.Dropout(config.dropout)

    # -- geometry -----------------------------------------------------------

    def fbank_lengths(self, lengths: Tensor) -> Tensor:
        """10 ms filterbank frames for waveforms of ``lengths`` samples (0 below one window)."""
        c = self.config
        return (torch.div(lengths - c.window_samples, c.shift_samples, rounding_mode="floor") + 1).clamp(min=0)

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        """Output frames for waveforms of ``lengths`` samples: ``(T - 400) // 320 + 1`` by default."""
        return torch.div(self.fbank_lengths(lengths) + 1, 2, rounding_mode="floor")

    # -- filterbank and its statistics ---------------------------------------

    def _kaldi_fbank(self, waveform: Tensor) -> Tensor:
        """``(T,)`` float in [-1, 1] -> ``(M, mel)`` float32 log-mel energies, deterministic (no dither)."""
        c = self.config
        return torchaudio.compliance.kaldi.fbank(
            waveform.float()[None, :] * _KALDI_SCALE, num_mel_bins=c.num_mel_bins,
            frame_length=c.frame_length_ms, frame_shift=c.frame_shift_ms, sample_frequency=float(c.sample_rate),
            dither=0.0, snip_edges=True)

    @torch.no_grad()
    def estimate_statistics(self, waveforms: Iterable[Union[np.ndarray, Tensor]], progress: bool = True) -> int:
        """Set ``mean``/``std`` from 1-D waveforms (at ``sample_rate``, floats in [-1, 1]); returns the
        number of filterbank frames they were computed on.  Raises ValueError for a waveform
        shorter than one window or an empty iterable."""
        sums = torch.zeros(self.config.num_mel_bins, dtype=torch.float64)
        squares = torch.zeros_like(sums)
        count = 0
        iterator = tqdm(waveforms, desc="fbank statistics", unit="utt", disable=not progress,
                        total=len(waveforms) if hasattr(waveforms, "__len__") else None)
        for index, waveform in enumerate(iterator):
            waveform = torch.as_tensor(waveform).cpu()
            if waveform.dim() != 1 or waveform.shape[0] < self.config.window_samples:
                raise ValueError(f"waveform {index}: expected 1-D audio of at least {self.config.window_samples} "
                                 f"samples, got shape {tuple(waveform.shape)}")
            features = self._kaldi_fbank(waveform).double()  # float64 sums: ~10^8 frames at 960 h
            sums += features.sum(0)
            squares += (features ** 2).sum(0)
            count += features.shape[0]
        if count == 0:
            raise ValueError("no waveforms to estimate the filterbank statistics from")
        mean = sums / count
        self.mean.copy_(mean)
        self.std.copy_((squares / count - mean ** 2).clamp(min=0).sqrt().clamp(min=_STD_FLOOR))
        self.stats_frames.fill_(count)
        return count

    def normalized_fbank(self, waveforms: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """``(B, M, mel)`` normalised filterbank (zero on padded frames) and ``(B,)`` frame counts.

        waveforms: ``(B, T)`` (or ``(T,)``) floats in [-1, 1], padded at the
        end; lengths: ``(B,)`` real samples (None: all ``T``).  RuntimeError
        before the statistics exist, ValueError below one window of samples.
        """
        if int(self.stats_frames) == 0:
            raise RuntimeError("the fbank front-end has no normalisation statistics yet: call "
                               "estimate_statistics() on training audio or load a checkpoint that has them")
        waveforms, lengths = padded_batch(waveforms, lengths, self.config.window_samples)
        fbank_lengths = self.fbank_lengths(lengths)
        out = waveforms.new_zeros(waveforms.shape[0], int(fbank_lengths.max()), self.config.num_mel_bins,
                                  dtype=torch.float32)
        for row, (samples, frames) in enumerate(zip(lengths.tolist(), fbank_lengths.tolist())):
            out[row, :frames] = (self._kaldi_fbank(waveforms[row, :samples]) - self.mean) / self.std
        return out, fbank_lengths

    def _spec_augment(self, features: Tensor, lengths: Tensor) -> Tensor:
        """Time and frequency masks (set to 0, the global mean) inside each utterance's real frames.

        Draws from torch's global generator of the features' device, which the runner seeds/restores.
        """
        c = self.config
        batch, frames, bins = features.shape
        time_widths = torch.minimum((lengths.float() * c.time_mask_max_ratio).long(),
                                    torch.full_like(lengths, c.time_mask_width))
        masked = _random_spans(lengths, time_widths, c.time_mask_count, frames)[:, :, None]
        bins_t = torch.full_like(lengths, bins)
        masked = masked | _random_spans(bins_t, bins_t.clamp(max=c.freq_mask_width), c.freq_mask_count,
                                        bins)[:, None, :]
        real = torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]
        return features.masked_fill(masked & real[..., None], 0.0)

    # -- forward -------------------------------------------------------------

    def forward(self, waveforms: Tensor, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """``(B, N, out_dim)`` features (zero on padded frames) and ``(B,)`` frame lengths.

        Same input contract as :meth:`normalized_fbank`.  Real frames do not
        depend on the padding: the filterbank runs per utterance and padded
        filterbank frames are zero, which is what the conv's own zero padding
        shows a lone utterance.
        """
        features, fbank_lengths = self.normalized_fbank(waveforms, lengths)
        if self.training and self.config.specaugment:
            features = self._spec_augment(features, fbank_lengths)
        x = F.gelu(self.subsampler(features.transpose(1, 2))).transpose(1, 2)
        x = self.dropout(self.projection(x))
        frame_lengths = torch.div(fbank_lengths + 1, 2, rounding_mode="floor")
        real = torch.arange(x.shape[1], device=x.device)[None, :] < frame_lengths[:, None]
        return x.masked_fill(~real[..., None], 0.0), frame_lengths
