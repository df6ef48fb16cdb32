"""Corpus sizes: the ``tiny`` and ``mini`` presets.

A preset is a frozen :class:`CorpusSpec`; everything random is then derived
from the build seed, so (preset, seed, GENERATOR_VERSION) fixes the corpus.
Bump ``GENERATOR_VERSION`` whenever a change alters the files produced, so
that existing corpora are rebuilt instead of silently reused.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

GENERATOR_VERSION = "1.2.0"  # 1.2.0: the low-resource ASR list train-clean-100-1in10.csv


@dataclass(frozen=True)
class LibriSpeechSpec:
    """Read speech for ASR / PR / distillation (train-clean-100, dev-clean, test-clean)."""

    speakers: tuple[int, int, int]  # speakers per split (disjoint)
    minutes: tuple[float, float, float]  # planned speech per split (estimated from word counts)
    chapters_per_speaker: int = 2


@dataclass(frozen=True)
class VoxCelebSpec:
    """Speaker identification (VoxCeleb1 ``iden_split`` layout)."""

    speakers: int  # id10001 ... consecutive
    flite_speakers: int  # how many of them are flite voices (at most 4)
    utterances: tuple[int, int, int]  # per speaker: train, dev, test
    videos_per_speaker: int  # each "video" has its own channel (EQ, noise, room)


@dataclass(frozen=True)
class IemocapSpec:
    """Emotion recognition: 5 sessions x (F, M) speakers x 4 speaking styles."""

    utterances_per_style: int  # per speaker and style


@dataclass(frozen=True)
class SpeechCommandsSpec:
    """Keyword spotting (Speech Commands v0.01 train root + separate test root)."""

    unknown_words: tuple[str, ...]  # words that become ``_unknown_``
    speakers: int  # speaker ids in the train root (split by SHA-1 hash, 80/10/10)
    flite_share: float  # share of those speakers that are flite voices
    max_takes: int  # each speaker says each word 1..max_takes times
    test_speakers: int  # speakers of the test root (not in the train root)
    test_clips_per_class: int  # clips in each of the 12 test folders
    noise_seconds: float  # length of each _background_noise_ file


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    librispeech: LibriSpeechSpec
    voxceleb: VoxCelebSpec
    iemocap: IemocapSpec
    speech_commands: SpeechCommandsSpec

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


UNKNOWN_WORDS_V001 = ("bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow")

TINY = CorpusSpec(
    name="tiny",
    librispeech=LibriSpeechSpec(speakers=(3, 2, 2), minutes=(1.2, 0.35, 0.35), chapters_per_speaker=2),
    voxceleb=VoxCelebSpec(speakers=6, flite_speakers=1, utterances=(2, 1, 1), videos_per_speaker=2),
    iemocap=IemocapSpec(utterances_per_style=1),
    speech_commands=SpeechCommandsSpec(
        unknown_words=("bed", "cat", "dog"),
        speakers=10,
        flite_share=0.2,
        max_takes=1,
        test_speakers=4,
        test_clips_per_class=2,
        noise_seconds=3.0,
    ),
)

MINI = CorpusSpec(
    name="mini",
    librispeech=LibriSpeechSpec(speakers=(40, 8, 8), minutes=(126.0, 9.0, 9.0), chapters_per_speaker=2),
    voxceleb=VoxCelebSpec(speakers=24, flite_speakers=4, utterances=(16, 4, 4), videos_per_speaker=4),
    iemocap=IemocapSpec(utterances_per_style=20),
    speech_commands=SpeechCommandsSpec(
        unknown_words=UNKNOWN_WORDS_V001,
        speakers=64,
        flite_share=0.25,
        max_takes=2,
        test_speakers=16,
        test_clips_per_class=30,
        noise_seconds=30.0,
    ),
)

PRESETS: dict[str, CorpusSpec] = {"tiny": TINY, "mini": MINI}


def resolve_spec(preset: str | CorpusSpec) -> CorpusSpec:
    """A preset name (``tiny``/``mini``) or an explicit spec (tests use smaller ones)."""
    if isinstance(preset, CorpusSpec):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}") from None
