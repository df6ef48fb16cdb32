"""LibriSpeech layout writer (ASR, PR, and the pretraining / distillation corpus).

Every utterance is read by an espeak speaker, so each has an exact phone
transcript (``<spk>-<chap>.phones.txt``, the phones espeak spoke, utterance
level).  ``lexicon.txt`` holds espeak's phones of every transcript word spoken
alone in en-us (the form s3prl's libriphone reader wants); ``phoneme.txt`` is
the sorted union of the phones of the phones.txt files and of the lexicon, so
both label styles fit the vocabulary.  ``char.dict`` always lists the 28
symbols of s3prl's LibriSpeech dictionary (``|``, A-Z, ``'``) with their train
counts.  Speakers of the three splits are disjoint, and so are the sentences.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..training.len_for_bucket import one_in, subset_name, write_length_csv
from .layout import LEN_FOR_BUCKET, LIBRISPEECH, LIBRISPEECH_SPLITS, LOW_RESOURCE_ONE_IN, SAMPLE_RATE
from .seeds import rng_for, stable_seed
from .spec import LibriSpeechSpec
from .synth import Effects, JobResult, LexiconJob, Rendition, SpeechJob
from .text import Sentence, SentencePool
from .voices import LEXICON_ACCENT, EspeakVoice, random_espeak_voices

LEXICON_CHUNK = 400
CHARACTERS = ("|", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ'")


def estimated_seconds(sentence: Sentence, rate_wpm: float) -> float:
    """Rough duration of a sentence read by espeak at ``rate_wpm`` (for planning sizes).

    espeak reads faster than its nominal words-per-minute; the factors were
    fitted on espeak-ng 1.51 output.
    """
    return 0.75 * len(sentence.words) * 60.0 / rate_wpm + 0.15 * sentence.text.count(",") + 0.3


@dataclass(frozen=True)
class Utterance:
    split: str
    speaker: int
    chapter: int
    index: int
    sentence: Sentence

    @property
    def utt_id(self) -> str:
        return f"{self.speaker}-{self.chapter}-{self.index:04d}"

    @property
    def rel_path(self) -> str:  # relative to the LibriSpeech root
        return f"{self.split}/{self.speaker}/{self.chapter}/{self.utt_id}.flac"


@dataclass
class LibriSpeechPlan:
    utterances: list[Utterance]
    voices: dict[int, EspeakVoice]  # speaker id -> voice
    speaker_split: dict[int, str]
    words: list[str]
    jobs: list

    @property
    def espeak_voices(self) -> list[EspeakVoice]:
        return list(self.voices.values())

    def write(self, results: list[JobResult], build_root: Path) -> dict:
        root = build_root / LIBRISPEECH
        n = len(self.utterances)
        speech, lexicon_results = results[:n], results[n:]
        lexicon: dict[str, list[str]] = {}
        for r in lexicon_results:
            lexicon.update(r.lexicon or {})
        missing = [w for w in self.words if not lexicon.get(w)]
        if missing:
            raise RuntimeError(f"no lexicon phones for {missing[:10]}")

        by_chapter: dict[tuple[str, int, int], list[tuple[Utterance, JobResult]]] = collections.defaultdict(list)
        for utt, res in zip(self.utterances, speech):
            by_chapter[(utt.split, utt.speaker, utt.chapter)].append((utt, res))
        phone_set: set[str] = set()
        for (split, spk, chap), items in sorted(by_chapter.items()):
            folder = root / split / str(spk) / str(chap)
            items.sort(key=lambda it: it[0].utt_id)
            trans = [f"{u.utt_id} {u.sentence.transcript}" for u, _ in items]
            phones = [f"{u.utt_id} {' '.join(r.phones)}" for u, r in items]
            for _, r in items:
                phone_set.update(r.phones)
            (folder / f"{spk}-{chap}.trans.txt").write_text("\n".join(trans) + "\n", encoding="utf-8")
            (folder / f"{spk}-{chap}.phones.txt").write_text("\n".join(phones) + "\n", encoding="utf-8")

        bucket_dir = root / LEN_FOR_BUCKET
        bucket_dir.mkdir(parents=True, exist_ok=True)
        splits = {}
        for split in LIBRISPEECH_SPLITS:
            rows = [(u.rel_path, r.samples) for u, r in zip(self.utterances, speech) if u.split == split]
            rows.sort(key=lambda row: (-row[1], row[0]))
            write_length_csv(rows, bucket_dir / f"{split}.csv")
            speakers = {u.speaker for u in self.utterances if u.split == split}
            chapters = {(u.speaker, u.chapter) for u in self.utterances if u.split == split}
            splits[split] = {
                "speakers": len(speakers),
                "chapters": len(chapters),
                "utterances": len(rows),
                "hours": round(sum(length for _, length in rows) / SAMPLE_RATE / 3600, 4),
            }
            if split == LIBRISPEECH_SPLITS[0]:
                low = one_in(rows, LOW_RESOURCE_ONE_IN)
                name = subset_name(split, LOW_RESOURCE_ONE_IN)
                write_length_csv(low, bucket_dir / f"{name}.csv")
                low_resource = {"list": name, "utterances": len(low),
                                "hours": round(sum(length for _, length in low) / SAMPLE_RATE / 3600, 4)}

        # fairseq dictionary: "|" and the 27 transcript characters (A-Z, '), as s3prl's
        # LibriSpeech char.dict, with their counts in the train transcripts (0 if unseen),
        # so that every preset and seed has the same 28 symbols
        counts: collections.Counter[str] = collections.Counter({ch: 0 for ch in CHARACTERS})
        for utt in self.utterances:
            if utt.split == LIBRISPEECH_SPLITS[0]:
                counts["|"] += len(utt.sentence.words)
                counts.update(ch for ch in utt.sentence.transcript if ch != " ")
        for utt in self.utterances:
            unexpected = set(utt.sentence.transcript) - set(CHARACTERS) - {" "}
            if unexpected:
                raise ValueError(f"characters {unexpected} in {utt.utt_id}")
        symbols = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        (root / "char.dict").write_text("\n".join(f"{s} {c}" for s, c in symbols), encoding="utf-8")

        lexicon_lines = [f"{w}\t{' '.join(lexicon[w])}" for w in sorted(self.words)]
        (root / "lexicon.txt").write_text("\n".join(lexicon_lines) + "\n", encoding="utf-8")
        for w in self.words:
            phone_set.update(lexicon[w])
        (root / "phoneme.txt").write_text("\n".join(sorted(phone_set)) + "\n", encoding="utf-8")

        return {
            "splits": splits,
            "hours": round(sum(s["hours"] for s in splits.values()), 4),
            "low_resource": low_resource,  # a subset of the train split, not more speech
            "phones": len(phone_set),
            "characters": len(symbols),
            "lexicon_words": len(self.words),
            "speaker_voices": {
                str(spk): {"split": self.speaker_split[spk], **voice.summary()} for spk, voice in self.voices.items()
            },
        }


def plan(spec: LibriSpeechSpec, pool: SentencePool, seed: int) -> LibriSpeechPlan:
    rng = rng_for(seed, "librispeech")
    n_total = sum(spec.speakers)
    voices = random_espeak_voices(rng, n_total, "ls")
    voices = [voices[i] for i in rng.permutation(n_total)]  # mix the strata over the splits
    speaker_ids = [int(s) for s in rng.choice(np.arange(10, 9000), size=n_total, replace=False)]
    chapter_ids = iter(int(c) for c in rng.choice(np.arange(1000, 200000), n_total * spec.chapters_per_speaker, replace=False))

    utterances: list[Utterance] = []
    jobs: list = []
    voice_of: dict[int, EspeakVoice] = {}
    speaker_split: dict[int, str] = {}
    k = 0
    for split, n_spk, minutes in zip(LIBRISPEECH_SPLITS, spec.speakers, spec.minutes):
        quota = minutes * 60.0 / n_spk
        for _ in range(n_spk):
            spk, voice = speaker_ids[k], voices[k]
            k += 1
            voice_of[spk], speaker_split[spk] = voice, split
            sentences = pool.take_while(lambda got: sum(estimated_seconds(s, voice.rate) for s in got) < quota)
            chapters = [next(chapter_ids) for _ in range(spec.chapters_per_speaker)]
            groups = np.array_split(np.arange(len(sentences)), min(len(chapters), len(sentences)))
            for chap, group in zip(chapters, groups):
                for index, i in enumerate(group):
                    utt = Utterance(split, spk, chap, index, sentences[int(i)])
                    utterances.append(utt)
                    rendition = Rendition(
                        voice=voice,
                        text=utt.sentence.text,
                        rate=int(round(voice.rate * rng.uniform(0.94, 1.06))),
                        pitch=50 + int(rng.integers(-4, 5)),
                    )
                    effects = Effects(loudness_dbfs=float(rng.uniform(-26.0, -20.0)))
                    jobs.append(
                        SpeechJob(
                            out=f"{LIBRISPEECH}/{utt.rel_path}",
                            rendition=rendition,
                            effects=effects,
                            seed=stable_seed(seed, "librispeech", utt.utt_id),
                            phones=True,
                        )
                    )
    words = sorted({w for u in utterances for w in u.sentence.words})
    for i in range(0, len(words), LEXICON_CHUNK):
        jobs.append(LexiconJob(words=tuple(words[i : i + LEXICON_CHUNK]), voice=LEXICON_ACCENT))
    return LibriSpeechPlan(utterances, voice_of, speaker_split, words, jobs)
