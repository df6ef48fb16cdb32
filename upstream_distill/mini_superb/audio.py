"""Signal processing for the synthetic corpora: resampling, level, channel, noise.

All functions take and return float32 mono arrays in [-1, 1] and are
deterministic given their inputs (random ones take a numpy Generator).
"""

from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

FRAME_S = 0.02
ACTIVE_FLOOR_DB = 35.0  # frames within this many dB of the loudest frame count as speech


def db_to_gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x.astype(np.float32, copy=False)
    g = gcd(sr_in, sr_out)
    return signal.resample_poly(x, sr_out // g, sr_in // g).astype(np.float32)


def parse_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a 16-bit PCM WAV from a pipe (sizes in the header may be placeholders)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV stream")
    pos, sr, channels, bits = 12, None, 1, 16
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if cid == b"fmt ":
            channels = int.from_bytes(data[body + 2 : body + 4], "little")
            sr = int.from_bytes(data[body + 4 : body + 8], "little")
            bits = int.from_bytes(data[body + 14 : body + 16], "little")
        elif cid == b"data":
            if sr is None or bits != 16:
                raise ValueError(f"unsupported WAV stream (rate {sr}, {bits} bits)")
            end = min(len(data), body + size)
            end -= (end - body) % (2 * channels)
            pcm = np.frombuffer(data[body:end], dtype="<i2").reshape(-1, channels)
            return (pcm.mean(axis=1) / 32768.0).astype(np.float32), sr
        pos = body + size + (size & 1)
    raise ValueError("WAV stream without data")


def read_mono(path: str | Path) -> tuple[np.ndarray, int]:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return x.mean(axis=1), sr


def write_audio(path: str | Path, x: np.ndarray, sr: int) -> int:
    """16-bit PCM WAV or FLAC (by suffix); returns the number of samples written."""
    pcm = np.clip(np.round(np.asarray(x, dtype=np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    sf.write(str(path), pcm, sr, format=fmt, subtype="PCM_16")
    return int(pcm.shape[0])


def frame_rms(x: np.ndarray, sr: int) -> np.ndarray:
    n = max(1, int(FRAME_S * sr))
    m = len(x) // n
    if m == 0:
        return np.sqrt(np.mean(np.square(x, dtype=np.float64), keepdims=True))
    frames = x[: m * n].reshape(m, n).astype(np.float64)
    return np.sqrt(np.mean(frames**2, axis=1))


def active_rms(x: np.ndarray, sr: int) -> float:
    """RMS over the frames that carry speech (within ACTIVE_FLOOR_DB of the loudest)."""
    rms = frame_rms(x, sr)
    peak = float(rms.max()) if rms.size else 0.0
    if peak <= 0.0:
        return 0.0
    active = rms[rms >= peak * db_to_gain(-ACTIVE_FLOOR_DB)]
    return float(np.sqrt(np.mean(active**2)))


def normalise_loudness(x: np.ndarray, sr: int, target_dbfs: float) -> np.ndarray:
    level = active_rms(x, sr)
    if level <= 0.0:
        return x
    return (x * (db_to_gain(target_dbfs) / level)).astype(np.float32)


def soft_limit(x: np.ndarray, threshold: float = 0.5, ceiling: float = 0.97) -> np.ndarray:
    """Identity below ``threshold``; above, a tanh knee that never exceeds ``ceiling``."""
    a = np.abs(x)
    over = a > threshold
    if not over.any():
        return x
    y = x.astype(np.float32, copy=True)
    span = ceiling - threshold
    y[over] = np.sign(x[over]) * (threshold + span * np.tanh((a[over] - threshold) / span))
    return y


def trim_silence(x: np.ndarray, sr: int, floor_db: float = 40.0) -> np.ndarray:
    """Cut leading and trailing frames more than ``floor_db`` below the loudest frame."""
    rms = frame_rms(x, sr)
    if rms.size == 0 or rms.max() <= 0:
        return x
    keep = np.flatnonzero(rms >= rms.max() * db_to_gain(-floor_db))
    n = max(1, int(FRAME_S * sr))
    return x[keep[0] * n : (keep[-1] + 1) * n]


def fit_length(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Exactly ``n`` samples: ``x`` placed at a random offset in zeros (or randomly cropped)."""
    out = np.zeros(n, dtype=np.float32)
    if len(x) <= n:
        start = int(rng.integers(0, n - len(x) + 1))
        out[start : start + len(x)] = x
    else:
        start = int(rng.integers(0, len(x) - n + 1))
        out[:] = x[start : start + n]
    return out


def butter(x: np.ndarray, sr: int, cutoff_hz: float, kind: str, order: int = 4) -> np.ndarray:
    sos = signal.butter(order, cutoff_hz, btype=kind, fs=sr, output="sos")
    return signal.sosfilt(sos, x).astype(np.float32)


def colored_noise(rng: np.random.Generator, n: int, color: str) -> np.ndarray:
    """Unit-RMS noise with a 1/f^alpha power spectrum (white 0, pink 1, brown 2)."""
    alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}[color]
    white = rng.standard_normal(n)
    if alpha == 0.0:
        y = white
    else:
        spec = np.fft.rfft(white)
        f = np.fft.rfftfreq(n)
        f[0] = f[1] if n > 1 else 1.0
        y = np.fft.irfft(spec / f ** (alpha / 2.0), n)
    y = y - y.mean()
    return (y / (np.sqrt(np.mean(y**2)) + 1e-12)).astype(np.float32)


def hum(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Unit-RMS mains hum (50 or 60 Hz and harmonics) with a little broadband noise."""
    base = 50.0 if rng.uniform() < 0.5 else 60.0
    t = np.arange(n) / sr
    y = np.zeros(n)
    for k in range(1, 8):
        y += rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi))
    y += 0.05 * colored_noise(rng, n, "pink")
    return (y / np.sqrt(np.mean(y**2))).astype(np.float32)


def add_noise(x: np.ndarray, sr: int, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add unit-RMS ``noise`` at ``snr_db`` below the active speech level of ``x``."""
    level = active_rms(x, sr)
    return (x + noise[: len(x)] * level * db_to_gain(-snr_db)).astype(np.float32)


def synthetic_reverb(x: np.ndarray, sr: int, rng: np.random.Generator, rt60: float, wet_db: float) -> np.ndarray:
    """Convolve with an exponentially decaying noise tail (a crude room); same length out."""
    n = max(2, int(rt60 * sr))
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)
    tail[0] = 0.0
    tail *= db_to_gain(wet_db) / (np.sqrt(np.sum(tail**2)) + 1e-12)
    h = tail
    h[0] = 1.0
    y = signal.fftconvolve(x, h)[: len(x)]
    return y.astype(np.float32)
