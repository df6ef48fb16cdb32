"""IEMOCAP (ER) layout of the tiny corpus, and the loudness sanity check."""

from __future__ import annotations

import collections
import json
import re

import numpy as np
import pytest
import soundfile as sf

from upstream_distill.mini_superb.audio import active_rms

LABELS = {"neu": 0, "hap": 1, "ang": 2, "sad": 3}
PATH_RE = re.compile(r"^Session([1-5])/sentences/wav/(Ses0\1[FM])_(\w+)_(\d+)/\2_\3_\4_([FM])\d{3}\.wav$")


@pytest.fixture(scope="module")
def folds(tiny_paths):
    out = {}
    for n in range(1, 6):
        folder = tiny_paths["iemocap_meta_data"] / f"Session{n}"
        out[n] = {part: json.loads((folder / f"{part}_meta_data.json").read_text()) for part in ("train", "test")}
    return out


def test_meta_data_schema_and_folds(tiny_paths, folds):
    root = tiny_paths["iemocap"]
    everything = None
    for n, parts in folds.items():
        entries = {}
        for part, doc in parts.items():
            assert doc["labels"] == LABELS
            for e in doc["meta_data"]:
                assert set(e) == {"path", "label", "speaker"}
                m = PATH_RE.match(e["path"])
                assert m, e["path"]
                assert (root / e["path"]).is_file()
                assert e["speaker"] == m.group(2) and m.group(2)[-1] == m.group(5)
                assert e["label"] in LABELS
                assert (int(m.group(1)) == n) == (part == "test")
                entries[e["path"]] = e
            assert {e["label"] for e in doc["meta_data"]} == set(LABELS), (n, part)
        everything = everything or set(entries)
        assert set(entries) == everything  # every fold covers the same utterances
    on_disk = {str(p.relative_to(root)) for p in root.glob("Session*/sentences/wav/*/*.wav")}
    assert on_disk == everything


def test_sessions_have_their_own_two_speakers(folds):
    speakers = collections.defaultdict(set)
    for e in folds[1]["train"]["meta_data"] + folds[1]["test"]["meta_data"]:
        speakers[int(e["path"][7])].add(e["speaker"])
    assert sorted(speakers) == [1, 2, 3, 4, 5]
    for n, spk in speakers.items():
        assert spk == {f"Ses0{n}F", f"Ses0{n}M"}


def test_loudness_does_not_give_the_class_away(tiny_paths, folds):
    root = tiny_paths["iemocap"]
    level = collections.defaultdict(list)
    peak = collections.defaultdict(list)
    for e in folds[1]["train"]["meta_data"] + folds[1]["test"]["meta_data"]:
        x, sr = sf.read(str(root / e["path"]), dtype="float32")
        level[e["label"]].append(20 * np.log10(active_rms(x, sr)))
        peak[e["label"]].append(20 * np.log10(np.abs(x).max()))
    mean_level = {k: float(np.mean(v)) for k, v in level.items()}
    mean_peak = {k: float(np.mean(v)) for k, v in peak.items()}
    assert max(mean_level.values()) - min(mean_level.values()) < 1.5, mean_level
    assert max(mean_peak.values()) - min(mean_peak.values()) < 2.0, mean_peak
    # and not so flat that the normalisation did nothing (levels are jittered by +-1 dB)
    assert all(np.std(v) < 2.0 for v in level.values())
