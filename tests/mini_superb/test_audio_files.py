"""Every audio file of the tiny corpus: 16 kHz mono 16-bit, finite, not silent."""

from __future__ import annotations

import numpy as np
import soundfile as sf


def test_all_audio_is_16k_mono_finite_and_not_silent(tiny_corpus):
    files = sorted(p for ext in ("*.wav", "*.flac") for p in tiny_corpus.rglob(ext))
    assert len(files) > 100
    for p in files:
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), p
        x, _ = sf.read(str(p), dtype="float32")
        assert x.size >= 8000, p  # at least half a second
        assert np.isfinite(x).all(), p
        rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
        assert rms > 10 ** (-60 / 20), (p, rms)
        assert np.abs(x).max() < 1.0, p


def test_speech_is_louder_than_its_pauses(tiny_paths):
    """Speech files are speech-like: their loud frames stand well above their quiet ones."""
    files = sorted(tiny_paths["librispeech"].rglob("*.flac"))[:10] + sorted(tiny_paths["iemocap"].rglob("*.wav"))[:10]
    for p in files:
        x, sr = sf.read(str(p), dtype="float32")
        frames = x[: len(x) // 320 * 320].reshape(-1, 320)
        rms = np.sqrt(np.mean(frames**2, axis=1)) + 1e-9
        assert 20 * np.log10(np.percentile(rms, 95) / np.percentile(rms, 5)) > 20, p


def _ltas(path) -> np.ndarray:
    """Long-term average log spectrum (62.5 Hz bins, 125 Hz - 6 kHz), level removed."""
    from scipy import signal

    x, sr = sf.read(str(path), dtype="float32")
    _, p = signal.welch(x, sr, nperseg=256)
    s = np.log(p[2:97] + 1e-10)
    return s - s.mean()


def _leave_one_out_accuracy(items) -> float:
    x = np.array([_ltas(p) for p, _ in items])
    y = np.array([s for _, s in items])
    correct = 0
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        centroids = {s: x[rest & (y == s)].mean(axis=0) for s in set(y[rest])}
        guess = min(centroids, key=lambda s: float(np.sum((centroids[s] - x[i]) ** 2)))
        correct += guess == y[i]
    return correct / len(y)


def test_speakers_are_consistent_and_distinguishable(tiny_paths):
    """A speaker's utterances resemble each other more than other speakers' (spectral centroid)."""
    libri = [(p, p.parts[-3]) for p in tiny_paths["librispeech"].rglob("*.flac")]
    vox = [(p, p.parts[-3]) for p in tiny_paths["voxceleb1"].glob("*/wav/*/*/*.wav")]
    assert _leave_one_out_accuracy(libri) >= 0.7  # chance 1/7
    assert _leave_one_out_accuracy(vox) >= 0.6  # chance 1/6, with per-video channels
