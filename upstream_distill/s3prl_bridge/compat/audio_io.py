"""``torchaudio.load``/``info``/``save`` through soundfile, for s3prl's datasets.

Since torchaudio 2.9 ``load``/``save`` go through torchcodec (absent or
unloadable on a CPU install) and ``info`` and ``set_audio_backend`` are gone.
The probes below tell whether the real functions work here; the stand-ins read
and write with ``soundfile`` (libsndfile: WAV, FLAC, OGG, MP3) and name the
file in every error.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile
import torch

__all__ = ["AudioMetaData", "AudioReadError", "info", "info_works", "load", "load_works", "save",
           "save_works", "set_audio_backend"]


class AudioReadError(RuntimeError, ValueError):
    """An audio file could not be read; the message names the file and why.

    Subclasses both ``RuntimeError`` (what torchaudio raises on decode
    failures) and ``ValueError`` so either kind of handler catches it.
    """


def _probe_file(directory: str) -> str:
    path = os.path.join(directory, "probe.wav")
    soundfile.write(path, np.full((8, 1), 0.25, dtype=np.float32), 16000, subtype="PCM_16")
    return path


def load_works(torchaudio) -> bool:
    if getattr(torchaudio, "load", None) is load:
        return True
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wav, sr = torchaudio.load(_probe_file(tmp))
            return sr == 16000 and tuple(wav.shape) == (1, 8)
        except Exception:  # noqa: BLE001
            return False


def info_works(torchaudio) -> bool:
    if getattr(torchaudio, "info", None) is info:
        return True
    if not callable(getattr(torchaudio, "info", None)):
        return False
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            meta = torchaudio.info(_probe_file(tmp))
            return meta.num_frames == 8 and meta.sample_rate == 16000
        except Exception:  # noqa: BLE001
            return False


def save_works(torchaudio) -> bool:
    if getattr(torchaudio, "save", None) is save:
        return True
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(tmp, "probe_out.wav")
        try:
            torchaudio.save(path, torch.zeros(1, 8), 16000)
            return soundfile.info(path).frames == 8
        except Exception:  # noqa: BLE001
            return False


def set_audio_backend(backend) -> None:
    """No-op stand-in: torchaudio >= 2.9 has a single I/O path."""


# --------------------------------------------------------------------------
# soundfile-based load / info / save


def _name_of(uri) -> str:
    if isinstance(uri, (str, os.PathLike)):
        return repr(os.fspath(uri))
    return repr(getattr(uri, "name", uri))


def _open(uri):
    """Open ``uri`` with soundfile, turning every failure into AudioReadError."""
    name = _name_of(uri)
    if isinstance(uri, (str, os.PathLike)):
        path = os.fspath(uri)
        if not os.path.exists(path):
            raise AudioReadError(f"cannot read audio file {name}: no such file")
        if os.path.isdir(path):
            raise AudioReadError(f"cannot read audio file {name}: it is a directory")
        uri = path
    try:
        return soundfile.SoundFile(uri)
    except Exception as err:  # libsndfile: corrupt, truncated, unknown format
        raise AudioReadError(
            f"cannot read audio file {name}: not a readable audio file ({err})"
        ) from err


# With normalize=False torchaudio returned the integer samples of integer WAVs.
_RAW_DTYPES = {"PCM_16": ("int16", torch.int16), "PCM_24": ("int32", torch.int32),
               "PCM_32": ("int32", torch.int32)}


def load(uri, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True,
         channels_first: bool = True, format: str | None = None,
         buffer_size: int = 4096, backend: str | None = None):
    """``torchaudio.load`` replacement reading through soundfile.

    Returns ``(waveform, sample_rate)``: float32 in [-1, 1], shaped
    ``(channels, frames)`` (``(frames, channels)`` if not ``channels_first``).
    ``frame_offset`` frames are skipped, then at most ``num_frames`` are read
    (-1: all).  ``normalize=False`` returns the raw integers of 16/24/32-bit
    PCM WAVs (int16 / int32), as torchaudio did; other inputs are float.
    ``format``, ``buffer_size`` and ``backend`` are accepted and ignored
    (libsndfile detects the format from the header).

    Raises AudioReadError (message names the file) for a missing, unreadable
    or empty (0-sample) file or an offset beyond its end.
    """
    if frame_offset < 0:
        raise ValueError(f"frame_offset must be >= 0, got {frame_offset}")
    if num_frames == 0 or num_frames < -1:
        raise ValueError(f"num_frames must be -1 or positive, got {num_frames}")
    name = _name_of(uri)
    with _open(uri) as f:
        if f.frames == 0:
            raise AudioReadError(f"audio file {name} is empty (0 samples)")
        if frame_offset >= f.frames:
            raise AudioReadError(
                f"frame_offset {frame_offset} is beyond the end of audio file {name} "
                f"({f.frames} frames)")
        np_dtype, torch_dtype = "float32", torch.float32
        if not normalize and f.format == "WAV" and f.subtype in _RAW_DTYPES:
            np_dtype, torch_dtype = _RAW_DTYPES[f.subtype]
        try:
            f.seek(frame_offset)
            data = f.read(num_frames, dtype=np_dtype, always_2d=True)
        except Exception as err:
            raise AudioReadError(f"cannot decode audio file {name}: {err}") from err
        sample_rate = f.samplerate
    if data.shape[0] == 0:
        raise AudioReadError(f"audio file {name} yielded no samples")
    if channels_first:
        data = data.T
    return torch.from_numpy(np.ascontiguousarray(data)).to(torch_dtype), sample_rate


@dataclass
class AudioMetaData:
    """What ``torchaudio.info`` returned before torchaudio 2.9."""

    sample_rate: int
    num_frames: int
    num_channels: int
    bits_per_sample: int
    encoding: str


_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32,
         "FLOAT": 32, "DOUBLE": 64}


def info(uri, format: str | None = None, buffer_size: int = 4096,
         backend: str | None = None) -> AudioMetaData:
    """``torchaudio.info`` replacement (header only, via soundfile).

    A 0-sample file is valid here (``num_frames == 0``); missing or
    unreadable files raise AudioReadError naming the file.
    """
    with _open(uri) as f:
        subtype = f.subtype
        if f.format in ("WAV", "WAVEX", "AIFF"):
            encoding = {"FLOAT": "PCM_F", "DOUBLE": "PCM_F", "PCM_U8": "PCM_U"}.get(subtype, "PCM_S")
        else:
            encoding = f.format
        return AudioMetaData(sample_rate=f.samplerate, num_frames=f.frames,
                             num_channels=f.channels,
                             bits_per_sample=_BITS.get(subtype, 0), encoding=encoding)


_SUBTYPES = {("PCM_S", 16): "PCM_16", ("PCM_S", 24): "PCM_24", ("PCM_S", 32): "PCM_32",
             ("PCM_S", 8): "PCM_S8", ("PCM_U", 8): "PCM_U8",
             ("PCM_F", 32): "FLOAT", ("PCM_F", 64): "DOUBLE"}
_WAV_BY_DTYPE = {torch.float32: "FLOAT", torch.float64: "DOUBLE", torch.int16: "PCM_16",
                 torch.int32: "PCM_32", torch.uint8: "PCM_U8"}


def save(uri, src: torch.Tensor, sample_rate: int, channels_first: bool = True,
         format: str | None = None, encoding: str | None = None,
         bits_per_sample: int | None = None, buffer_size: int = 4096,
         backend: str | None = None, compression=None) -> None:
    """``torchaudio.save`` replacement writing through soundfile.

    The container comes from ``format`` or the file extension.  The sample
    format follows ``encoding``/``bits_per_sample`` when given; otherwise a
    WAV follows the tensor dtype as torchaudio's sox backend did (float32 ->
    32-bit float) and other containers use libsndfile's default.  Float
    samples are clipped to [-1, 1] before integer encoding.
    ``buffer_size``, ``backend`` and ``compression`` are ignored.
    """
    if src.dim() == 1:
        src = src.unsqueeze(0)
    if src.dim() != 2:
        raise ValueError(f"expected a 1-D or 2-D waveform, got shape {tuple(src.shape)}")
    container = (format or os.path.splitext(os.fspath(uri))[1].lstrip(".")).upper()
    subtype = None
    if encoding is not None or bits_per_sample is not None:
        enc = encoding or ("PCM_U" if bits_per_sample == 8 else "PCM_S")
        subtype = _SUBTYPES.get((enc, bits_per_sample or (32 if enc == "PCM_F" else 16)))
        if subtype is None:
            raise ValueError(f"unsupported encoding={encoding!r}, bits_per_sample={bits_per_sample!r}")
    elif container == "WAV":
        subtype = _WAV_BY_DTYPE.get(src.dtype)
    data = src.detach().cpu()
    if data.is_floating_point() and subtype not in ("FLOAT", "DOUBLE"):
        data = data.clamp(-1.0, 1.0)
    if data.dtype == torch.uint8:  # soundfile has no uint8 I/O
        data = (data.to(torch.float32) - 128.0) / 128.0
    data = data.numpy()
    if channels_first:
        data = data.T
    soundfile.write(os.fspath(uri), data, int(sample_rate), subtype=subtype,
                    format=container or None)


