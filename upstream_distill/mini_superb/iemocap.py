"""IEMOCAP layout writer (ER: neu / hap / ang / sad by speaking style).

Five sessions, each with its own female (``Ses0NF``) and male (``Ses0NM``)
espeak speaker.  Each speaker reads sentences in the four styles of
:data:`voices.STYLES` (pitch level and range, rate, stress, breath,
roughness, low-pass).  Every file is loudness-normalised to the same
active-speech level (-22 dBFS +-1 dB, the same spread for every class) and
goes through the same soft limiter (knee -14 dBFS, ceiling -8 dBFS), so
neither level nor peaks give the class away.  Utterances are grouped, in shuffled order, into dialog folders
``Ses0NF_script<dd>_<k>`` (mixed styles, so folder names carry no label).
``meta_data/SessionN/{train,test}_meta_data.json`` follow s3prl's emotion
schema: test = session N, train = the four others.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass
from pathlib import Path

from .layout import IEMOCAP, IEMOCAP_SESSIONS, SAMPLE_RATE, TRANSCRIPTS_SIDECAR
from .seeds import rng_for, stable_seed
from .spec import IemocapSpec
from .synth import Effects, JobResult, Rendition, SpeechJob
from .text import Sentence, SentencePool
from .voices import STYLES, EspeakVoice, random_espeak_voices, style_rate, styled_voice

LABELS = {"neu": 0, "hap": 1, "ang": 2, "sad": 3}
LOUDNESS_DBFS = -22.0
# common limiter: knee at -14 dBFS, ceiling -8 dBFS; at -22 dBFS RMS it catches the
# peaks of every style, so the peak level does not tell the styles apart either
LIMITER_THRESHOLD = 0.2
UTTERANCES_PER_FOLDER = 6


@dataclass(frozen=True)
class Item:
    session: int
    speaker: str  # Ses01F
    label: str
    path: str  # relative to the IEMOCAP root
    sentence: Sentence


@dataclass
class IemocapPlan:
    items: list[Item]
    voices: dict[str, EspeakVoice]  # speaker -> base voice
    styled: list[EspeakVoice]  # the per-style variants actually used
    jobs: list

    @property
    def espeak_voices(self) -> list[EspeakVoice]:
        return self.styled

    def write(self, results: list[JobResult], build_root: Path) -> dict:
        root = build_root / IEMOCAP
        items = sorted(self.items, key=lambda it: it.path)
        for n in range(1, IEMOCAP_SESSIONS + 1):
            folder = root / "meta_data" / f"Session{n}"
            folder.mkdir(parents=True, exist_ok=True)
            for name, keep in (("train", lambda s: s != n), ("test", lambda s: s == n)):
                meta = [
                    {"path": it.path, "label": it.label, "speaker": it.speaker} for it in items if keep(it.session)
                ]
                doc = {"labels": dict(LABELS), "meta_data": meta}
                (folder / f"{name}_meta_data.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (root / TRANSCRIPTS_SIDECAR).write_text(
            "".join(f"{it.path} {it.sentence.transcript}\n" for it in items), encoding="utf-8"
        )
        samples = sum(r.samples for r in results)
        return {
            "utterances": len(items),
            "per_label": dict(sorted(collections.Counter(it.label for it in items).items())),
            "per_session": {str(n): sum(1 for it in items if it.session == n) for n in range(1, IEMOCAP_SESSIONS + 1)},
            "hours": round(samples / SAMPLE_RATE / 3600, 4),
            "speaker_voices": {spk: v.summary() for spk, v in self.voices.items()},
        }


def plan(spec: IemocapSpec, pool: SentencePool, seed: int) -> IemocapPlan:
    rng = rng_for(seed, "iemocap")
    n_speakers = 2 * IEMOCAP_SESSIONS
    genders = ["female", "male"] * IEMOCAP_SESSIONS
    base_voices = random_espeak_voices(rng, n_speakers, "er", genders=genders, klatt_share=0.2)
    per_speaker = len(STYLES) * spec.utterances_per_style
    sentences = pool.take(n_speakers * per_speaker)

    items: list[Item] = []
    jobs: list = []
    voices: dict[str, EspeakVoice] = {}
    styled: dict[str, EspeakVoice] = {}
    for i, voice in enumerate(base_voices):
        session, sex = i // 2 + 1, "FM"[i % 2]
        speaker = f"Ses{session:02d}{sex}"
        voices[speaker] = voice
        mine = sentences[i * per_speaker : (i + 1) * per_speaker]
        labels = [label for label in LABELS for _ in range(spec.utterances_per_style)]
        order = rng.permutation(per_speaker)
        for pos, j in enumerate(order):
            label, sentence = labels[j], mine[j]
            folder_no, index = divmod(pos, UTTERANCES_PER_FOLDER)
            folder = f"{speaker}_script{folder_no // 3 + 1:02d}_{folder_no % 3 + 1}"
            path = f"Session{session}/sentences/wav/{folder}/{folder}_{sex}{index:03d}.wav"
            items.append(Item(session, speaker, label, path, sentence))
            style = STYLES[label]
            variant = styled_voice(voice, style)
            styled[variant.key] = variant
            rendition = Rendition(
                voice=variant,
                text=sentence.text,
                rate=style_rate(voice, style, rng),
                pitch=50 + int(rng.integers(-3, 4)),
            )
            effects = Effects(
                lowpass_hz=style.lowpass_hz,
                loudness_dbfs=LOUDNESS_DBFS + float(rng.uniform(-1.0, 1.0)),
                limiter=LIMITER_THRESHOLD,
            )
            jobs.append(
                SpeechJob(
                    out=f"{IEMOCAP}/{path}",
                    rendition=rendition,
                    effects=effects,
                    seed=stable_seed(seed, "iemocap", path),
                )
            )
    return IemocapPlan(items, voices, list(styled.values()), jobs)
