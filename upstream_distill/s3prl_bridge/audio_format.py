"""Audio that is not what a task reads is refused where it is loaded, naming the file.

s3prl's task datasets read clips with ``torchaudio.load`` (through :mod:`.compat.audio_io` here) and
trust what comes back: SID (voxceleb1) used an 8 kHz clip as if it were 16 kHz and kept a stereo clip
two-dimensional; ASR asserted the rate without naming the file and flattened channels into one longer
signal, as PR's loader (ctc) does. :func:`install` gives each of these dataset modules a ``torchaudio``
whose ``load`` checks rate and channels (see :mod:`.overlay`; torchaudio itself is untouched).

Refused, not converted: these loaders do not resample or downmix, the SUPERB corpora are 16 kHz mono,
and a clip in another format means a damaged or wrong corpus, which a score should not silently absorb
(a quietly converted clip is also a different protocol). Where s3prl itself converts, it is left to:
KS (speech_commands) reads through sox effects that downmix and resample every clip, and ER (emotion)
resamples the corpus from the rate of its first clip, so there a clip must have that rate.
"""
from __future__ import annotations

import importlib
import os
from typing import Optional

from .compat.audio_io import AudioReadError

__all__ = ["AudioFormatError", "TASK_RATES", "checked_load", "install"]

SUPERB_RATE = 16000

#: s3prl dataset module -> (the task, the rate its loader assumes; None: the rate of the corpus's first clip)
TASK_RATES = {
    "s3prl.downstream.voxceleb1.dataset": ("SID (voxceleb1)", SUPERB_RATE),
    "s3prl.downstream.asr.dataset": ("ASR (asr)", SUPERB_RATE),
    "s3prl.downstream.ctc.data": ("PR (ctc)", SUPERB_RATE),
    "s3prl.downstream.emotion.dataset": ("ER (emotion)", None),  # s3prl resamples from the first clip's rate
}


class AudioFormatError(AudioReadError):
    """A clip's sample rate or channel count is not what its task reads; the message names the file."""


def _name_of(uri) -> str:
    return os.fspath(uri) if isinstance(uri, (str, os.PathLike)) else str(getattr(uri, "name", uri))


def checked_load(torchaudio, task: str, rate: Optional[int]):
    """A ``torchaudio.load`` for the dataset of ``task`` that refuses a clip of another rate or not mono.

    ``rate=None`` takes the rate of the first clip loaded as the one every clip must have.
    """
    expected = {"rate": rate}

    def load(uri, *args, **kwargs):
        wav, sample_rate = torchaudio.load(uri, *args, **kwargs)  # looked up at each call
        channels = wav.shape[0 if kwargs.get("channels_first", True) else -1] if wav.dim() == 2 else 1
        if expected["rate"] is None:
            expected["rate"] = sample_rate
        if sample_rate != expected["rate"]:
            raise AudioFormatError(
                f"audio file {_name_of(uri)!r} is {sample_rate} Hz; {task} reads {expected['rate']} Hz audio "
                f"(convert it, e.g. `sox IN -r {expected['rate']} OUT`)")
        if channels != 1:
            raise AudioFormatError(
                f"audio file {_name_of(uri)!r} has {channels} channels; {task} reads mono audio "
                f"(convert it, e.g. `sox IN -c 1 OUT`)")
        return wav, sample_rate

    return load


def install() -> bool:
    """Give each dataset module of :data:`TASK_RATES` the checking ``load``. Idempotent; True once in effect."""
    from .overlay import Overlay, overlay

    for name, (task, rate) in TASK_RATES.items():
        module = importlib.import_module(name)
        if not isinstance(module.torchaudio, Overlay):
            overlay(module, "torchaudio", load=checked_load(module.torchaudio, task, rate))
    return True
