"""Speech Commands (KS) layout of the tiny corpus: train root and test root."""

from __future__ import annotations

import hashlib
import re

import soundfile as sf

KEYWORDS = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}
TEST_CLASSES = KEYWORDS | {"_unknown_", "_silence_"}
NAME_RE = re.compile(r"^([0-9a-f]{8})_nohash_(\d+)\.wav$")


def _tf_which_set(name: str) -> str:
    """TensorFlow's / s3prl's split rule, written out independently of the generator."""
    base = re.sub(r"_nohash_.*$", "", name)
    pct = (int(hashlib.sha1(base.encode()).hexdigest(), 16) % (2**27)) * (100.0 / (2**27 - 1))
    return "validation" if pct < 10 else "testing" if pct < 20 else "training"


def _clips(root):
    return [p for d in root.iterdir() if d.is_dir() and d.name != "_background_noise_" for p in d.glob("*.wav")]


def test_train_root_words_and_clips(tiny_paths):
    root = tiny_paths["speech_commands"]
    folders = {d.name for d in root.iterdir() if d.is_dir()}
    assert KEYWORDS <= folders
    unknown = folders - KEYWORDS - {"_background_noise_"}
    assert len(unknown) >= 3 and not any(w.startswith("_") for w in unknown)
    clips = _clips(root)
    assert clips
    for p in clips:
        assert NAME_RE.match(p.name), p.name
        info = sf.info(str(p))
        assert info.frames == 16000 and info.samplerate == 16000 and info.channels == 1


def test_hash_split_lists_and_dev_not_empty(tiny_paths):
    root = tiny_paths["speech_commands"]
    rels = {f"{p.parent.name}/{p.name}" for p in _clips(root)}
    expected = {name: {r for r in rels if _tf_which_set(r.split("/")[1]) == name} for name in ("validation", "testing")}
    for name in ("validation", "testing"):
        listed = set((root / f"{name}_list.txt").read_text().split())
        assert listed == expected[name]
        assert listed <= rels
    dev = expected["validation"]
    train = rels - dev - expected["testing"]
    assert dev, "no speaker hashes into the dev split"
    assert {r.split("/")[0] for r in train} >= KEYWORDS
    assert len(train) > len(dev)


def test_background_noise(tiny_paths):
    noise = list((tiny_paths["speech_commands"] / "_background_noise_").glob("*.wav"))
    assert len(noise) >= 3
    for p in noise:
        info = sf.info(str(p))
        assert info.frames > 16000 and info.samplerate == 16000


def test_test_root_has_exactly_the_12_classes_and_new_speakers(tiny_paths):
    root = tiny_paths["speech_commands_test"]
    assert {d.name for d in root.iterdir()} == TEST_CLASSES
    train_speakers = {NAME_RE.match(p.name).group(1) for p in _clips(tiny_paths["speech_commands"])}
    for d in root.iterdir():
        clips = list(d.glob("*.wav"))
        assert clips, d.name
        for p in clips:
            m = NAME_RE.match(p.name)
            assert m, p.name
            assert m.group(1) not in train_speakers
            info = sf.info(str(p))
            assert info.frames == 16000 and info.samplerate == 16000 and info.channels == 1
