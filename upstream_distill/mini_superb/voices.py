"""Voices ("speakers"): espeak-ng voice recipes, flite voices, speaking styles.

An espeak speaker is an English accent (``en-us``, ``en-gb-scotland``, ...)
plus a *custom variant file* written into a private copy of espeak-ng-data
(used through ``--path=``): base pitch and pitch range, a vocal-tract scale
applied to the formant frequencies with small per-formant jitter, formant
heights and widths, and a texture (breath noise, roughness, flutter, echo,
consonant strength, optionally one of espeak's Klatt synthesisers) and a
speaking rate.  Pitch, vocal-tract scale and rate are drawn by stratified
sampling within each pool, so the speakers of a pool spread over the whole
range rather than clustering.  A speaker keeps its recipe for all its
utterances; utterances only jitter rate (+-6 %) and pitch (-p 46..54).

flite voices (slt, rms, awb, kal16) are four more real-recording based
timbres; a pitch target and a duration stretch make further variants.  They
are used where labels are not phones (SID, KS); LibriSpeech and IEMOCAP use
espeak only (phone labels / style control through the variant file).

Speaking styles (ER) follow the measured 4-class design of
/work/shared/notes/speech-data.md: neutral, happy (pitch x1.2, range x1.9,
fast), angry (pitch x1.08, range x1.3, fast, stronger and longer stress,
rough), sad (pitch x0.88, range x0.35, slow, breathy, 3 kHz low-pass).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import numpy as np

ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
LEXICON_ACCENT = "en-us"  # accent of lexicon.txt (words spoken alone)
N_FORMANTS = 9
REFERENCE_RATE = 165  # words per minute of an "average" speaker

# flite voices and their measured median F0 (Hz) when no target is set
FLITE_NATIVE_F0 = {"slt": 168.0, "awb": 128.0, "rms": 102.0, "kal16": 92.0}
FLITE_VOICES = tuple(FLITE_NATIVE_F0)


@dataclass(frozen=True)
class EspeakVoice:
    key: str  # name of the variant file (unique in a build)
    accent: str
    gender: str  # "male" | "female"
    pitch: tuple[int, int]  # base and top of the pitch range, Hz
    formants: tuple[tuple[int, int, int], ...]  # per formant: frequency %, height %, width %
    rate: int  # words per minute
    breath: tuple[int, ...] = ()
    roughness: int = 0
    flutter: int = 0
    consonants: int = 100
    echo: tuple[int, int] = (0, 0)  # delay ms, amplitude %
    klatt: int = 0  # 0 = espeak's own formant synthesiser, 1..4 = Klatt variants
    stress_amp: tuple[int, ...] = ()
    stress_add: tuple[int, ...] = ()

    engine: ClassVar[str] = "espeak"

    @property
    def voice_arg(self) -> str:
        return f"{self.accent}+{self.key}"

    def variant_file(self) -> str:
        """The text of the espeak-ng variant file (``voices/!v/<key>``)."""
        lines = ["language variant", f"name {self.key}", f"gender {self.gender}", ""]
        if self.klatt:
            lines.append(f"klatt {self.klatt}")
        lines.append(f"pitch {self.pitch[0]} {self.pitch[1]}")
        for i, (freq, height, width) in enumerate(self.formants):
            lines.append(f"formant {i} {freq} {height} {width}")
        if self.breath:
            lines.append("breath " + " ".join(map(str, self.breath)))
        lines.append(f"roughness {self.roughness}")
        lines.append(f"flutter {self.flutter}")
        lines.append(f"consonants {self.consonants}")
        if self.echo[1] > 0:
            lines.append(f"echo {self.echo[0]} {self.echo[1]}")
        if self.stress_amp:
            lines.append("stressAmp " + " ".join(map(str, self.stress_amp)))
        if self.stress_add:
            lines.append("stressAdd " + " ".join(map(str, self.stress_add)))
        return "\n".join(lines) + "\n"

    def summary(self) -> dict:
        return {
            "engine": self.engine,
            "voice": self.voice_arg,
            "gender": self.gender,
            "pitch_hz": list(self.pitch),
            "tract_scale": round(float(np.mean([f[0] for f in self.formants[1:4]])) / 100, 3),
            "rate_wpm": self.rate,
            "klatt": self.klatt,
        }


@dataclass(frozen=True)
class FliteVoice:
    key: str
    name: str  # one of FLITE_VOICES
    f0_mean: float | None = None  # flite int_f0_target_mean; None = the voice's own
    stretch: float = 1.0  # flite duration_stretch (>1 = slower)

    engine: ClassVar[str] = "flite"

    def summary(self) -> dict:
        return {
            "engine": self.engine,
            "voice": self.name,
            "f0_mean_hz": None if self.f0_mean is None else round(self.f0_mean, 1),
            "stretch": round(self.stretch, 3),
        }


Voice = EspeakVoice | FliteVoice


def _strata(rng: np.random.Generator, n: int) -> np.ndarray:
    """n values in [0, 1), one in each of n equal strata, in random order."""
    return (rng.permutation(n) + rng.uniform(0.0, 1.0, n)) / max(n, 1)


def random_espeak_voices(
    rng: np.random.Generator,
    n: int,
    prefix: str,
    genders: Sequence[str] | None = None,
    accents: Sequence[str] = ACCENTS,
    klatt_share: float = 0.25,
) -> list[EspeakVoice]:
    """``n`` distinct espeak speakers named ``<prefix>000``, ``<prefix>001``, ..."""
    if not re.fullmatch(r"[a-z][a-z0-9]*", prefix):
        raise ValueError(f"bad voice prefix {prefix!r}")
    u_pitch, u_tract, u_rate = _strata(rng, n), _strata(rng, n), _strata(rng, n)
    if genders is None:
        first = int(rng.integers(2))
        genders = ["male" if (i + first) % 2 == 0 else "female" for i in range(n)]
    accent_offset = int(rng.integers(len(accents)))
    accent_order = [accents[i] for i in rng.permutation(len(accents))]
    klatt_ids = set(rng.choice(n, size=int(round(klatt_share * n)), replace=False).tolist()) if n else set()
    voices = []
    for i in range(n):
        male = genders[i] == "male"
        base = (72 + 58 * u_pitch[i]) if male else (150 + 90 * u_pitch[i])
        tract = (0.88 + 0.16 * u_tract[i]) if male else (1.02 + 0.18 * u_tract[i])
        top = base * rng.uniform(1.3, 1.75)
        width = 100 if male else 140
        formants = []
        for k in range(N_FORMANTS):
            jitter = rng.uniform(0.96, 1.04) if 1 <= k <= 5 else 1.0
            freq = int(round(100 * tract * jitter))
            height = 100 if k == 0 else int(round(rng.uniform(70, 110)))
            formants.append((freq, height, int(round(width * rng.uniform(0.85, 1.2)))))
        breath = tuple(int(b) for b in rng.integers(0, 6, 8)) if rng.uniform() < 0.3 else ()
        echo = (int(rng.integers(60, 160)), int(rng.integers(4, 14))) if rng.uniform() < 0.25 else (0, 0)
        voices.append(
            EspeakVoice(
                key=f"{prefix}{i:03d}",
                accent=accent_order[(accent_offset + i) % len(accent_order)],
                gender="male" if male else "female",
                pitch=(int(round(base)), int(round(top))),
                formants=tuple(formants),
                rate=int(round(140 + 50 * u_rate[i])),
                breath=breath,
                roughness=int(rng.integers(0, 6)),
                flutter=int(rng.integers(0, 16)),
                consonants=int(rng.integers(80, 125)),
                echo=echo,
                klatt=int(rng.integers(1, 5)) if i in klatt_ids else 0,
            )
        )
    return voices


def random_flite_voices(rng: np.random.Generator, n: int, prefix: str, perturb: bool = True) -> list[FliteVoice]:
    """``n`` flite speakers; the first four are the four voices, then perturbed copies.

    With ``perturb=False`` (at most 4 voices) each voice keeps its own pitch and rate.
    """
    if not perturb and n > len(FLITE_VOICES):
        raise ValueError(f"only {len(FLITE_VOICES)} unperturbed flite voices exist")
    names = [FLITE_VOICES[i] for i in rng.permutation(len(FLITE_VOICES))]
    u_pitch, u_rate = _strata(rng, n), _strata(rng, n)
    voices = []
    for i in range(n):
        name = names[i % len(names)]
        if perturb:
            f0 = FLITE_NATIVE_F0[name] * (0.82 + 0.4 * u_pitch[i])
            stretch = 0.85 + 0.35 * u_rate[i]
            voices.append(FliteVoice(key=f"{prefix}{i:03d}", name=name, f0_mean=round(f0, 1), stretch=round(stretch, 3)))
        else:
            voices.append(FliteVoice(key=f"{prefix}{i:03d}", name=name))
    return voices


# ---------------------------------------------------------------- styles (ER)


@dataclass(frozen=True)
class Style:
    name: str  # IEMOCAP label: neu | hap | ang | sad
    pitch: float  # multiplier of the base pitch
    pitch_range: float  # multiplier of the pitch range (top - base)
    rate: tuple[int, int]  # words per minute for a speaker of REFERENCE_RATE
    breath: int  # added breath noise
    roughness: int  # added roughness
    stress: bool  # stronger, longer stressed syllables
    lowpass_hz: float | None  # applied after synthesis


STYLES: dict[str, Style] = {
    "neu": Style("neu", 1.0, 1.0, (150, 185), 0, 0, False, None),
    "hap": Style("hap", 1.2, 1.9, (170, 215), 0, 0, False, None),
    "ang": Style("ang", 1.08, 1.3, (175, 220), 0, 3, True, None),
    "sad": Style("sad", 0.88, 0.35, (105, 145), 4, 0, False, 3000.0),
}
ANGRY_STRESS_AMP = (16, 16, 20, 20, 20, 30, 30, 28)
ANGRY_STRESS_ADD = (0, 0, 0, 0, 0, 0, 20, 40)


def styled_voice(voice: EspeakVoice, style: Style) -> EspeakVoice:
    """The speaker ``voice`` speaking in ``style`` (its own variant file)."""
    base, top = voice.pitch
    new_base = int(round(base * style.pitch))
    new_top = new_base + max(4, int(round((top - base) * style.pitch_range)))
    breath = voice.breath
    if style.breath:
        breath = tuple(min(30, b + style.breath) for b in (breath or (0,) * 8))
    return dataclasses.replace(
        voice,
        key=f"{voice.key}{style.name}",
        pitch=(new_base, new_top),
        breath=breath,
        roughness=min(7, voice.roughness + style.roughness),
        stress_amp=ANGRY_STRESS_AMP if style.stress else voice.stress_amp,
        stress_add=ANGRY_STRESS_ADD if style.stress else voice.stress_add,
    )


def style_rate(voice: EspeakVoice, style: Style, rng: np.random.Generator) -> int:
    lo, hi = style.rate
    return int(round(rng.uniform(lo, hi) * voice.rate / REFERENCE_RATE))


# ------------------------------------------------------- espeak-ng data folder


def require_binaries() -> None:
    missing = [b for b in ("espeak-ng", "flite") if shutil.which(b) is None]
    if missing:
        raise FileNotFoundError(
            f"missing {', '.join(missing)}: install the Debian packages espeak-ng and flite"
        )


def system_espeak_data() -> Path:
    """The espeak-ng-data folder of the installed espeak-ng (from ``espeak-ng --version``)."""
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"Data at:\s*(\S+)", out)
    if not m or not Path(m.group(1)).is_dir():
        raise RuntimeError(f"cannot locate espeak-ng-data from: {out!r}")
    return Path(m.group(1))


MAX_VARIANTS_PER_DATA_DIR = 300  # espeak-ng lists at most 349 voice files (N_VOICES_LIST)
_ESPEAK_FILES = ("phontab", "phonindex", "phondata", "phondata-manifest", "intonations", "en_dict")


def _english_data_dir(system: Path, dest: Path) -> Path:
    """A pruned espeak-ng-data: the phoneme tables, the English dictionary and voices only."""
    data = dest / "espeak-ng-data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    for name in _ESPEAK_FILES:
        if (system / name).exists():
            shutil.copy2(system / name, data / name)
    for src in sorted((system / "lang").rglob("*")):
        if src.is_file() and src.name.lower().startswith("en"):
            target = data / src.relative_to(system)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    (data / "voices" / "!v").mkdir(parents=True)
    return data


def prepare_espeak_data(dest: Path, voices: Iterable[EspeakVoice]) -> dict[str, Path]:
    """Private espeak-ng data folders holding one variant file per voice.

    espeak-ng scans every voice file on each call and stops listing at 349, so
    the data is pruned to English and the variants are spread over several
    folders of at most MAX_VARIANTS_PER_DATA_DIR.  Returns, for each voice key,
    the folder to pass as ``--path=``; key ``""`` is a folder for plain accents.
    """
    system = system_espeak_data()
    unique: dict[str, EspeakVoice] = {}
    for voice in voices:
        if voice.key in unique and unique[voice.key] != voice:
            raise ValueError(f"two different voices named {voice.key}")
        unique.setdefault(voice.key, voice)
    keys = sorted(unique)
    shards = [keys[i : i + MAX_VARIANTS_PER_DATA_DIR] for i in range(0, len(keys), MAX_VARIANTS_PER_DATA_DIR)] or [[]]
    paths: dict[str, Path] = {}
    for n, shard in enumerate(shards):
        folder = Path(dest) / f"shard{n}"
        data = _english_data_dir(system, folder)
        for key in shard:
            (data / "voices" / "!v" / key).write_text(unique[key].variant_file(), encoding="ascii")
            paths[key] = folder
        paths.setdefault("", folder)
        _check_variants_listed(folder, shard)
    return paths


def _check_variants_listed(espeak_path: Path, keys: Sequence[str]) -> None:
    """espeak-ng falls back to its default voice, silently, for a variant it cannot find."""
    out = subprocess.run(
        ["espeak-ng", f"--path={espeak_path}", "--voices=variant"], capture_output=True, text=True, check=True
    ).stdout
    listed = set(re.findall(r"!v/(\S+)", out))
    missing = sorted(set(keys) - listed)
    if missing:
        raise RuntimeError(f"espeak-ng does not see the variants {missing[:5]} in {espeak_path}")
