"""Manifest, idempotence, determinism, atomic replacement and the command line."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import pytest

from upstream_distill.mini_superb import GENERATOR_VERSION, TINY, build, build_corpus, corpus_paths
from upstream_distill.mini_superb.__main__ import main
from upstream_distill.mini_superb.spec import IemocapSpec, LibriSpeechSpec, SpeechCommandsSpec, VoxCelebSpec

# the smallest corpus that still has every layout (for builds made inside tests)
MICRO = dataclasses.replace(
    TINY,
    name="micro",
    librispeech=LibriSpeechSpec(speakers=(1, 1, 1), minutes=(0.1, 0.05, 0.05), chapters_per_speaker=1),
    voxceleb=VoxCelebSpec(speakers=2, flite_speakers=1, utterances=(1, 1, 1), videos_per_speaker=1),
    iemocap=IemocapSpec(utterances_per_style=1),
    speech_commands=SpeechCommandsSpec(
        unknown_words=("bed", "cat", "dog"),
        speakers=3,
        flite_share=0.34,
        max_takes=1,
        test_speakers=1,
        test_clips_per_class=1,
        noise_seconds=1.5,
    ),
)
VOLATILE = ("build_seconds", "build_jobs")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json"
    }


def _stable_manifest(path: Path) -> dict:
    m = json.loads(path.read_text())
    return {k: v for k, v in m.items() if k not in VOLATILE}


def test_manifest_describes_the_corpus(tiny_manifest, tiny_paths):
    m = tiny_manifest
    assert m["preset"] == "tiny" and m["generator_version"] == GENERATOR_VERSION
    assert isinstance(m["seed"], int) and m["build_seconds"] > 0
    assert m["hours"]["total"] == pytest.approx(sum(v for k, v in m["hours"].items() if k != "total"), abs=1e-3)
    csv = tiny_paths["librispeech_len_for_bucket"] / "train-clean-100.csv"
    assert m["counts"]["librispeech"]["train-clean-100"] == len(csv.read_text().splitlines()) - 1
    iden = tiny_paths["voxceleb1_iden_split"].read_text().splitlines()
    assert sum(m["counts"]["voxceleb1"][f"split{s}"] for s in (1, 2, 3)) == len(iden)
    assert m["counts"]["iemocap"]["utterances"] == 40
    assert len(m["tasks"]["librispeech"]["speaker_voices"]) == sum(TINY.librispeech.speakers)


def test_corpus_paths_exist(tiny_paths, tiny_corpus):
    assert tiny_paths["root"] == tiny_corpus.resolve()
    for key, path in tiny_paths.items():
        assert path.exists(), key
    assert set(tiny_paths) >= {"librispeech", "voxceleb1", "iemocap", "speech_commands", "speech_commands_test"}


def test_second_build_returns_at_once(tiny_corpus, tiny_manifest, caplog):
    caplog.set_level(logging.INFO, logger="upstream_distill.mini_superb")
    t0 = time.monotonic()
    again = build_corpus("tiny", tiny_corpus, seed=tiny_manifest["seed"])
    assert time.monotonic() - t0 < 2.0
    assert again == tiny_manifest
    assert "nothing to do" in caplog.text


def test_cli_on_a_built_corpus(tiny_corpus, tiny_manifest, capsys):
    assert main(["--preset", "tiny", "--out", str(tiny_corpus), "--seed", str(tiny_manifest["seed"])]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["counts"] == tiny_manifest["counts"]


def test_same_seed_same_files_for_any_jobs(tmp_path):
    a = build_corpus(MICRO, tmp_path / "a", seed=7, jobs=2)
    b = build_corpus(MICRO, tmp_path / "b", seed=7, jobs=1)
    assert a["counts"] == b["counts"]
    hashes = _tree_hashes(tmp_path / "a")
    assert len(hashes) > 50
    assert hashes == _tree_hashes(tmp_path / "b")
    assert _stable_manifest(tmp_path / "a" / "manifest.json") == _stable_manifest(tmp_path / "b" / "manifest.json")
    # a different seed (over a previous corpus) rebuilds and changes the content
    c = build_corpus(MICRO, tmp_path / "b", seed=8, jobs=2)
    assert c["seed"] == 8
    assert _tree_hashes(tmp_path / "b") != hashes
    assert not list(tmp_path.glob(".*"))  # no partial or old folders left behind


def test_interrupted_build_leaves_previous_corpus_and_no_partial(tmp_path, monkeypatch):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps({"preset": "micro", "seed": 1, "generator_version": "old"}))

    def interrupted(jobs, ctx, procs=2, desc=""):
        (ctx.root / "LibriSpeech").mkdir(exist_ok=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "run_jobs", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_corpus(MICRO, out, seed=1)
    assert json.loads((out / "manifest.json").read_text())["generator_version"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


def test_refuses_to_replace_a_foreign_folder(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    with pytest.raises(FileExistsError):
        build_corpus(MICRO, out, seed=0)
    assert (out / "notes.txt").read_text() == "precious"


def test_corpus_paths_layout_names(tmp_path):
    paths = corpus_paths(tmp_path / "x")
    root = (tmp_path / "x").resolve()
    assert paths["librispeech"] == root / "LibriSpeech"
    assert paths["librispeech_len_for_bucket"] == root / "LibriSpeech" / "len_for_bucket"
    assert paths["char_dict"] == root / "LibriSpeech" / "char.dict"
    assert paths["phoneme_vocab"] == root / "LibriSpeech" / "phoneme.txt"
    assert paths["lexicon"] == root / "LibriSpeech" / "lexicon.txt"
    assert paths["voxceleb1_iden_split"] == root / "VoxCeleb1" / "iden_split.txt"
    assert paths["iemocap_meta_data"] == root / "IEMOCAP" / "meta_data"
    assert paths["speech_commands"] == root / "speech_commands_v0.01"
    assert paths["speech_commands_test"] == root / "speech_commands_test_set_v0.01"
