"""Speech Commands v0.01 layout writer (KS): a train/dev root and a test root.

Train root: ``<word>/<speakerhash>_nohash_<n>.wav`` for the 10 keywords and
the "unknown" words, 1-second clips (word trimmed, placed at a random offset,
random level, a little background noise).  s3prl ignores the list files and
re-splits by SHA-1 of the name before ``_nohash_`` (<10 % dev, 10-20 %
discarded); each speaker's 8-hex-digit id is drawn until its hash lands in the
split assigned to it, so about 80/10/10 % of the speakers are train /
validation / testing by construction (at least one speaker in each).
``validation_list.txt`` and ``testing_list.txt`` list the clips that hash
there, as in the real corpus.  ``_background_noise_`` holds white, pink and
brown noise, mains hum and babble made from synthetic speech.

Test root: exactly the 12 class folders; keyword and ``_unknown_`` clips from
speakers who are not in the train root, ``_silence_`` clips of noise.
"""

from __future__ import annotations

import collections
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .layout import BACKGROUND_NOISE, SAMPLE_RATE, SPEECH_COMMANDS, SPEECH_COMMANDS_TEST
from .seeds import rng_for, stable_seed
from .spec import SpeechCommandsSpec
from .synth import Effects, JobResult, NoiseJob, Rendition, SpeechJob
from .text import KEYWORDS, SentencePool
from .voices import EspeakVoice, FliteVoice, Voice, random_espeak_voices, random_flite_voices

CLASSES = (*KEYWORDS, "_unknown_", "_silence_")
CLIP_SAMPLES = SAMPLE_RATE
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1
NOISE_FILES = {
    "white": "white_noise.wav",
    "pink": "pink_noise.wav",
    "brown": "brown_noise.wav",
    "hum": "hum.wav",
    "babble": "babble.wav",
}
BABBLE_TALKERS = 8


def which_set(filename: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """The Speech Commands split of a file, by SHA-1 of the part before ``_nohash_``."""
    base = re.sub(r"_nohash_.*$", "", Path(filename).name)
    digest = int(hashlib.sha1(base.encode("utf-8")).hexdigest(), 16)
    percentage = (digest % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "training"


def _speaker_hash(rng: np.random.Generator, wanted: str | None, used: set[str]) -> str:
    while True:
        h = f"{int(rng.integers(0, 2**32)):08x}"
        if h not in used and (wanted is None or which_set(f"{h}_nohash_0.wav") == wanted):
            used.add(h)
            return h


def _word_rendition(voice: Voice, word: str, rng: np.random.Generator) -> Rendition:
    if isinstance(voice, FliteVoice):
        return Rendition(voice=voice, text=word, stretch=float(rng.uniform(0.94, 1.06)))
    return Rendition(
        voice=voice, text=word, rate=int(round(voice.rate * rng.uniform(0.92, 1.08))), pitch=50 + int(rng.integers(-6, 7))
    )


def _clip_effects(rng: np.random.Generator) -> Effects:
    return Effects(
        trim=True,
        length=CLIP_SAMPLES,
        loudness_dbfs=float(rng.uniform(-30, -16)),
        noise=(str(rng.choice(["white", "pink", "brown"])), float(rng.uniform(15, 40))),
    )


def _mixed_voices(rng: np.random.Generator, n: int, flite_share: float, prefix: str) -> list[Voice]:
    n_flite = int(round(n * flite_share))
    voices: list[Voice] = [*random_espeak_voices(rng, n - n_flite, prefix + "e")]
    voices += random_flite_voices(rng, n_flite, prefix + "f")
    return [voices[i] for i in rng.permutation(n)]


@dataclass
class SpeechCommandsPlan:
    train_clips: list[str]  # relative to the train root
    test_clips: list[str]  # relative to the test root
    speakers: dict[str, Voice]  # hash id -> voice (train root)
    speaker_split: dict[str, str]
    test_speakers: dict[str, Voice]
    all_voices: list[Voice]
    jobs: list

    @property
    def espeak_voices(self) -> list[EspeakVoice]:
        return [v for v in self.all_voices if isinstance(v, EspeakVoice)]

    def write(self, results: list[JobResult], build_root: Path) -> dict:
        root = build_root / SPEECH_COMMANDS
        lists = collections.defaultdict(list)
        for rel in self.train_clips:
            lists[which_set(rel)].append(rel)
        for name in ("validation", "testing"):
            (root / f"{name}_list.txt").write_text("".join(f"{r}\n" for r in sorted(lists[name])), encoding="utf-8")
        per_word = collections.Counter(rel.split("/")[0] for rel in self.train_clips)
        per_class = collections.Counter(rel.split("/")[0] for rel in self.test_clips)
        samples = sum(r.samples for r in results)
        return {
            "train_root": {
                "clips": len(self.train_clips),
                "per_word": dict(sorted(per_word.items())),
                "per_split": {k: len(lists[k]) for k in ("training", "validation", "testing")},
                "speakers": len(self.speakers),
                "speakers_per_split": dict(sorted(collections.Counter(self.speaker_split.values()).items())),
                "background_noise": sorted(NOISE_FILES.values()),
            },
            "test_root": {
                "clips": len(self.test_clips),
                "per_class": dict(sorted(per_class.items())),
                "speakers": len(self.test_speakers),
            },
            "hours": round(samples / SAMPLE_RATE / 3600, 4),
            "speaker_voices": {h: v.summary() for h, v in {**self.speakers, **self.test_speakers}.items()},
        }


def plan(spec: SpeechCommandsSpec, pool: SentencePool, seed: int) -> SpeechCommandsPlan:
    rng = rng_for(seed, "speech_commands")
    words = (*KEYWORDS, *spec.unknown_words)
    if set(spec.unknown_words) & set(KEYWORDS) or len(set(spec.unknown_words)) != len(spec.unknown_words):
        raise ValueError("unknown words must be distinct and not keywords")
    jobs: list = []
    used: set[str] = set()

    # ---- train root: speakers assigned to training / validation / testing by their hash
    n = spec.speakers
    n_val = n_test = max(1, int(round(0.1 * n)))
    targets = ["validation"] * n_val + ["testing"] * n_test + ["training"] * (n - n_val - n_test)
    targets = [targets[i] for i in rng.permutation(n)]
    train_voices = _mixed_voices(rng, n, spec.flite_share, "ks")
    speakers: dict[str, Voice] = {}
    speaker_split: dict[str, str] = {}
    train_clips: list[str] = []
    for voice, target in zip(train_voices, targets):
        h = _speaker_hash(rng, target, used)
        speakers[h], speaker_split[h] = voice, target
        for word in words:
            for take in range(int(rng.integers(1, spec.max_takes + 1))):
                rel = f"{word}/{h}_nohash_{take}.wav"
                train_clips.append(rel)
                jobs.append(
                    SpeechJob(
                        out=f"{SPEECH_COMMANDS}/{rel}",
                        rendition=_word_rendition(voice, word, rng),
                        effects=_clip_effects(rng),
                        seed=stable_seed(seed, "speech_commands", rel),
                    )
                )

    # ---- background noise (feeds _silence_ in train and dev)
    espeak_train = [v for v in train_voices if isinstance(v, EspeakVoice)] or None
    for kind, name in NOISE_FILES.items():
        talkers: tuple[Rendition, ...] = ()
        if kind == "babble":
            sentences = pool.take(BABBLE_TALKERS)
            source = espeak_train or train_voices
            talkers = tuple(
                Rendition(voice=source[int(rng.integers(len(source)))], text=s.text) for s in sentences
            )
        jobs.append(
            NoiseJob(
                out=f"{SPEECH_COMMANDS}/{BACKGROUND_NOISE}/{name}",
                kind=kind,
                seconds=spec.noise_seconds,
                level_dbfs=float(rng.uniform(-32, -22)),
                seed=stable_seed(seed, "speech_commands", "noise", kind),
                talkers=talkers,
            )
        )

    # ---- test root: new speakers, exactly the 12 class folders
    test_voices = _mixed_voices(rng, spec.test_speakers, spec.flite_share, "kt")
    test_speakers = {_speaker_hash(rng, None, used): v for v in test_voices}
    test_ids = list(test_speakers)
    takes: collections.Counter[tuple[str, str]] = collections.Counter()
    test_clips: list[str] = []
    for cls in CLASSES:
        for j in range(spec.test_clips_per_class):
            if cls == "_silence_":
                rel = f"{cls}/{_speaker_hash(rng, None, used)}_nohash_0.wav"
                jobs.append(
                    NoiseJob(
                        out=f"{SPEECH_COMMANDS_TEST}/{rel}",
                        kind=str(rng.choice(["white", "pink", "brown", "hum"])),
                        seconds=CLIP_SAMPLES / SAMPLE_RATE,
                        level_dbfs=float(rng.uniform(-50, -28)),
                        seed=stable_seed(seed, "speech_commands_test", rel),
                    )
                )
            else:
                h = test_ids[(j + CLASSES.index(cls)) % len(test_ids)]
                word = cls if cls != "_unknown_" else str(rng.choice(spec.unknown_words))
                rel = f"{cls}/{h}_nohash_{takes[(cls, h)]}.wav"
                takes[(cls, h)] += 1
                jobs.append(
                    SpeechJob(
                        out=f"{SPEECH_COMMANDS_TEST}/{rel}",
                        rendition=_word_rendition(test_speakers[h], word, rng),
                        effects=_clip_effects(rng),
                        seed=stable_seed(seed, "speech_commands_test", rel),
                    )
                )
            test_clips.append(rel)
    return SpeechCommandsPlan(
        train_clips, test_clips, speakers, speaker_split, test_speakers, [*train_voices, *test_voices], jobs
    )
