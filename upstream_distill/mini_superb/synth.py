"""Synthesis jobs and the process pool that runs them.

A job is a small frozen dataclass with a ``run(ctx)`` method: it synthesises
(espeak-ng or flite, one subprocess per utterance), post-processes (resample
to 16 kHz, channel, level, noise, length) and writes one file below the build
folder, returning what the task writers need (number of samples, phones).
Each job carries its own seed, so its output does not depend on which worker
runs it or when: a corpus is identical for any ``--jobs``.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from . import audio
from .layout import SAMPLE_RATE
from .phones import espeak_command, normalise_phones, word_phones
from .voices import EspeakVoice, FliteVoice, Voice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkContext:
    root: Path  # the build folder; job outputs are relative to it
    espeak_paths: dict[str, Path]  # voice key -> --path= folder for espeak-ng ("" = any)

    def espeak_path(self, key: str = "") -> Path:
        return self.espeak_paths[key]


@dataclass(frozen=True)
class Rendition:
    """One reading of ``text`` by ``voice``, with per-utterance jitter."""

    voice: Voice
    text: str
    rate: int | None = None  # espeak words per minute (None: the voice's rate)
    pitch: int = 50  # espeak -p (0-99)
    stretch: float = 1.0  # flite: extra duration factor on top of the voice's


@dataclass(frozen=True)
class Effects:
    """Post-processing, applied in the order of the fields."""

    trim: bool = False  # cut leading/trailing silence
    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    reverb: tuple[float, float] | None = None  # (rt60 s, tail level dB)
    length: int | None = None  # pad/crop to exactly this many samples (random placement)
    loudness_dbfs: float | None = None  # active-speech RMS target
    gain_db: float = 0.0
    noise: tuple[str, float] | None = None  # (white|pink|brown, SNR dB)
    limiter: float | None = 0.5  # soft limiter threshold (tanh knee up to min(0.97, 2x)); None: off


@dataclass
class JobResult:
    samples: int = 0
    phones: tuple[str, ...] | None = None
    lexicon: dict[str, list[str]] | None = None


_COMPLAINT_RE = re.compile(r"warning|error|fail|unknown|cannot|can't", re.IGNORECASE)


def render(r: Rendition, ctx: WorkContext, want_phones: bool = False) -> tuple[np.ndarray, str | None]:
    """16 kHz float32 audio of a rendition, and espeak's raw phoneme output if asked.

    Audio comes through a pipe (``--stdout`` / ``-o /dev/stdout``): no temporary files.
    """
    voice = r.voice
    raw_phones = None
    if isinstance(voice, EspeakVoice):
        cmd = espeak_command(ctx.espeak_path(voice.key), voice.voice_arg)
        cmd += ["-s", str(r.rate or voice.rate), "-p", str(r.pitch), "--stdout"]
        if want_phones:
            # phonemes to stderr so that they cannot interleave with the audio
            cmd += ["-x", "--sep=_", "--phonout=/dev/stderr"]
        proc = subprocess.run(cmd, input=r.text.encode("utf-8"), capture_output=True)
    elif isinstance(voice, FliteVoice):
        if want_phones:
            raise ValueError("phone labels come from espeak voices only")
        cmd = ["flite", "-voice", voice.name]
        if voice.f0_mean is not None:
            cmd += ["--setf", f"int_f0_target_mean={voice.f0_mean:.1f}"]
        stretch = voice.stretch * r.stretch
        if abs(stretch - 1.0) > 1e-6:
            cmd += ["--setf", f"duration_stretch={stretch:.3f}"]
        cmd += ["-t", r.text, "-o", "/dev/stdout"]
        proc = subprocess.run(cmd, capture_output=True)
    else:  # pragma: no cover - typing guard
        raise TypeError(f"unknown voice {voice!r}")
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}) for {r}: {stderr.strip()}")
    # espeak reports unknown voices/variants on stderr and then falls back silently
    complaints = [ln for ln in stderr.splitlines() if _COMPLAINT_RE.search(ln)]
    if complaints:
        raise RuntimeError(f"{cmd[0]} complained for {r}: {' / '.join(complaints)}")
    if want_phones:
        raw_phones = stderr
    x, sr = audio.parse_wav_bytes(proc.stdout)
    x = audio.resample(x, sr, SAMPLE_RATE)
    if x.size == 0 or not np.any(x):
        raise RuntimeError(f"{cmd[0]} produced silence for {r}")
    return x, raw_phones


def apply_effects(x: np.ndarray, fx: Effects, rng: np.random.Generator) -> np.ndarray:
    sr = SAMPLE_RATE
    if fx.trim:
        x = audio.trim_silence(x, sr)
    if fx.highpass_hz:
        x = audio.butter(x, sr, fx.highpass_hz, "highpass", order=2)
    if fx.lowpass_hz:
        x = audio.butter(x, sr, fx.lowpass_hz, "lowpass", order=6)
    if fx.reverb:
        x = audio.synthetic_reverb(x, sr, rng, *fx.reverb)
    if fx.length:
        x = audio.fit_length(x, fx.length, rng)
    if fx.loudness_dbfs is not None:
        x = audio.normalise_loudness(x, sr, fx.loudness_dbfs)
    if fx.gain_db:
        x = (x * audio.db_to_gain(fx.gain_db)).astype(np.float32)
    if fx.noise:
        color, snr = fx.noise
        x = audio.add_noise(x, sr, audio.colored_noise(rng, len(x), color), snr)
    if fx.limiter:
        x = audio.soft_limit(x, fx.limiter, min(0.97, 2.0 * fx.limiter))
    return x


@dataclass(frozen=True)
class SpeechJob:
    out: str  # path relative to the build folder
    rendition: Rendition
    effects: Effects
    seed: int
    phones: bool = False  # keep espeak's phone transcript

    def run(self, ctx: WorkContext) -> JobResult:
        x, raw = render(self.rendition, ctx, want_phones=self.phones)
        x = apply_effects(x, self.effects, np.random.default_rng(self.seed))
        n = audio.write_audio(ctx.root / self.out, x, SAMPLE_RATE)
        phones = tuple(normalise_phones(raw)) if raw is not None else None
        if self.phones and not phones:
            raise RuntimeError(f"espeak gave no phones for {self.rendition}")
        return JobResult(samples=n, phones=phones)


@dataclass(frozen=True)
class NoiseJob:
    """A noise recording: white/pink/brown noise, mains hum, or babble of ``talkers``."""

    out: str
    kind: str  # white | pink | brown | hum | babble
    seconds: float
    level_dbfs: float  # RMS level
    seed: int
    talkers: tuple[Rendition, ...] = field(default=())

    def run(self, ctx: WorkContext) -> JobResult:
        rng = np.random.default_rng(self.seed)
        n = int(round(self.seconds * SAMPLE_RATE))
        if self.kind in ("white", "pink", "brown"):
            y = audio.colored_noise(rng, n, self.kind)
        elif self.kind == "hum":
            y = audio.hum(rng, n, SAMPLE_RATE)
        elif self.kind == "babble":
            if not self.talkers:
                raise ValueError("babble needs talkers")
            y = np.zeros(n, dtype=np.float32)
            for talker in self.talkers:
                x, _ = render(talker, ctx)
                x = audio.normalise_loudness(x, SAMPLE_RATE, -20.0)
                reps = int(np.ceil(n / len(x))) + 1
                y += np.roll(np.tile(x, reps), -int(rng.integers(len(x))))[:n]
            y = y / (np.sqrt(np.mean(y**2)) + 1e-12)
        else:
            raise ValueError(f"unknown noise kind {self.kind!r}")
        y = audio.soft_limit((y * audio.db_to_gain(self.level_dbfs)).astype(np.float32))
        return JobResult(samples=audio.write_audio(ctx.root / self.out, y, SAMPLE_RATE))


@dataclass(frozen=True)
class LexiconJob:
    """espeak's phones of each word spoken alone."""

    words: tuple[str, ...]
    voice: str

    def run(self, ctx: WorkContext) -> JobResult:
        return JobResult(lexicon=word_phones(self.words, self.voice, ctx.espeak_path()))


Job = SpeechJob | NoiseJob | LexiconJob

_CTX: WorkContext | None = None


def _init_worker(ctx: WorkContext) -> None:
    global _CTX
    _CTX = ctx


def _run_job(job: Job) -> JobResult:
    assert _CTX is not None
    return job.run(_CTX)


def _pool_context():
    # fork: workers inherit the imported package (works from any __main__, even stdin);
    # the pool is created before the tqdm bar starts its monitor thread.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_jobs(jobs: Sequence[Job], ctx: WorkContext, procs: int = 2, desc: str = "synthesising") -> list[JobResult]:
    """Run ``jobs`` on ``procs`` processes (inline when 1); results in job order."""
    if procs <= 1 or len(jobs) < 2:
        with tqdm(total=len(jobs), desc=desc, unit="file", dynamic_ncols=True, mininterval=0.5) as bar:
            results = []
            for job in jobs:
                results.append(job.run(ctx))
                bar.update()
            return results
    chunk = max(1, min(8, len(jobs) // (procs * 32)))
    with _pool_context().Pool(procs, initializer=_init_worker, initargs=(ctx,)) as pool:
        with tqdm(total=len(jobs), desc=desc, unit="file", dynamic_ncols=True, mininterval=0.5) as bar:
            results = []
            for result in pool.imap(_run_job, jobs, chunksize=chunk):
                results.append(result)
                bar.update()
            return results
