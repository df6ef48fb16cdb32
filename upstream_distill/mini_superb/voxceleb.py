"""VoxCeleb1 identification layout writer (SID).

Speakers ``id10001``, ``id10002``, ... are espeak speakers plus (optionally)
the four unperturbed flite voices, in random order.  Each speaker has a few
"videos"; a video is a recording channel (band limits, a synthetic room,
background noise at 12-35 dB SNR, a level) shared by the clips cut from it.
Every speaker has clips in all three splits (1 train, 2 dev, 3 test) and the
three splits use disjoint sentence sets.  Split 3 files lie under
``test/wav``, splits 1 and 2 under ``dev/wav``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layout import SAMPLE_RATE, TRANSCRIPTS_SIDECAR, VOXCELEB
from .seeds import rng_for, stable_seed
from .spec import VoxCelebSpec
from .synth import Effects, JobResult, Rendition, SpeechJob
from .text import Sentence, SentencePool
from .voices import EspeakVoice, FliteVoice, Voice, random_espeak_voices, random_flite_voices

FIRST_ID = 10001
_VIDEO_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def speaker_id(index: int) -> str:
    return f"id{FIRST_ID + index}"


@dataclass(frozen=True)
class Clip:
    split: int  # 1 train, 2 dev, 3 test
    speaker: str
    video: str
    clip: int
    sentence: Sentence

    @property
    def rel_path(self) -> str:  # as written in iden_split.txt
        return f"{self.speaker}/{self.video}/{self.clip:05d}.wav"

    @property
    def file_path(self) -> str:  # relative to the VoxCeleb1 root
        return f"{'test' if self.split == 3 else 'dev'}/wav/{self.rel_path}"


def _video_channel(rng: np.random.Generator) -> dict:
    return {
        "highpass_hz": float(rng.uniform(50, 250)) if rng.uniform() < 0.6 else None,
        "lowpass_hz": float(rng.uniform(3500, 7600)) if rng.uniform() < 0.6 else None,
        "reverb": (float(rng.uniform(0.15, 0.5)), float(rng.uniform(-18, -8))) if rng.uniform() < 0.5 else None,
        "level": float(rng.uniform(-30, -18)),
        "noise": (str(rng.choice(["white", "pink", "brown"])), float(rng.uniform(12, 35))),
    }


@dataclass
class VoxCelebPlan:
    clips: list[Clip]
    voices: dict[str, Voice]
    jobs: list

    @property
    def espeak_voices(self) -> list[EspeakVoice]:
        return [v for v in self.voices.values() if isinstance(v, EspeakVoice)]

    def write(self, results: list[JobResult], build_root: Path) -> dict:
        root = build_root / VOXCELEB
        order = sorted(range(len(self.clips)), key=lambda i: (self.clips[i].speaker, self.clips[i].rel_path))
        (root / "iden_split.txt").write_text(
            "".join(f"{self.clips[i].split} {self.clips[i].rel_path}\n" for i in order), encoding="utf-8"
        )
        (root / TRANSCRIPTS_SIDECAR).write_text(
            "".join(f"{self.clips[i].file_path} {self.clips[i].sentence.transcript}\n" for i in order),
            encoding="utf-8",
        )
        per_split = {str(s): sum(1 for c in self.clips if c.split == s) for s in (1, 2, 3)}
        samples = sum(r.samples for r in results)
        return {
            "speakers": len(self.voices),
            "utterances": per_split,
            "videos": len({(c.speaker, c.video) for c in self.clips}),
            "hours": round(samples / SAMPLE_RATE / 3600, 4),
            "speaker_voices": {spk: v.summary() for spk, v in self.voices.items()},
        }


def plan(spec: VoxCelebSpec, pool: SentencePool, seed: int) -> VoxCelebPlan:
    rng = rng_for(seed, "voxceleb1")
    n_espeak = spec.speakers - spec.flite_speakers
    pool_voices: list[Voice] = [*random_espeak_voices(rng, n_espeak, "vc")]
    pool_voices += random_flite_voices(rng, spec.flite_speakers, "vf", perturb=False)
    pool_voices = [pool_voices[i] for i in rng.permutation(len(pool_voices))]
    voices = {speaker_id(i): v for i, v in enumerate(pool_voices)}

    # disjoint sentence sets per split, dealt out to the speakers
    texts: dict[int, list[Sentence]] = {
        split: pool.take(spec.speakers * n) for split, n in zip((1, 2, 3), spec.utterances)
    }
    clips: list[Clip] = []
    jobs: list = []
    for i, (spk, voice) in enumerate(voices.items()):
        videos = ["".join(rng.choice(_VIDEO_ALPHABET, 11)) for _ in range(spec.videos_per_speaker)]
        channels = {v: _video_channel(rng) for v in videos}
        items = [
            (split, texts[split][i * n + j]) for split, n in zip((1, 2, 3), spec.utterances) for j in range(n)
        ]
        items = [items[j] for j in rng.permutation(len(items))]
        next_clip = {v: 1 for v in videos}
        for j, (split, sentence) in enumerate(items):
            video = videos[j % len(videos)]
            clip = Clip(split, spk, video, next_clip[video], sentence)
            next_clip[video] += 1
            clips.append(clip)
            ch = channels[video]
            if isinstance(voice, FliteVoice):
                rendition = Rendition(voice=voice, text=sentence.text, stretch=float(rng.uniform(0.95, 1.05)))
            else:
                rendition = Rendition(
                    voice=voice,
                    text=sentence.text,
                    rate=int(round(voice.rate * rng.uniform(0.94, 1.06))),
                    pitch=50 + int(rng.integers(-4, 5)),
                )
            effects = Effects(
                highpass_hz=ch["highpass_hz"],
                lowpass_hz=ch["lowpass_hz"],
                reverb=ch["reverb"],
                loudness_dbfs=ch["level"] + float(rng.uniform(-2, 2)),
                noise=ch["noise"],
            )
            jobs.append(
                SpeechJob(
                    out=f"{VOXCELEB}/{clip.file_path}",
                    rendition=rendition,
                    effects=effects,
                    seed=stable_seed(seed, "voxceleb1", clip.rel_path),
                )
            )
    return VoxCelebPlan(clips, voices, jobs)
