"""The similarity cache: its key, and folders that appear whole or not at all."""
from __future__ import annotations

import numpy as np

from upstream_distill.layer_groups import LayerGroupConfig
from upstream_distill.layer_groups.cache import cache_key, calibration_digest, load_similarity, store_similarity
from upstream_distill.layer_groups.calibration import choose_calibration
from upstream_distill.training.data import Utterance


def _utterances(count: int):
    return [Utterance(key=f"u{i}.flac", path=f"/nowhere/u{i}.flac", length=16000 + i) for i in range(count)]


def test_the_calibration_draw_is_seeded_and_in_corpus_order():
    corpus = _utterances(50)
    chosen = choose_calibration(corpus, 10, seed=0)
    assert chosen == choose_calibration(corpus, 10, seed=0) and len(chosen) == 10
    assert [u.key for u in chosen] == sorted((u.key for u in chosen), key=lambda k: int(k[1:-5]))
    assert chosen != choose_calibration(corpus, 10, seed=1)
    assert choose_calibration(corpus, 500, seed=0) == corpus  # fewer than asked: all of them


def test_the_key_follows_what_changes_the_matrix():
    config = LayerGroupConfig()
    calibration = calibration_digest(_utterances(3))
    key = cache_key("t" * 16, calibration, 16000, config)
    assert key == cache_key("t" * 16, calibration, 16000, LayerGroupConfig(linkage="ward", groups=3))
    assert key != cache_key("u" * 16, calibration, 16000, config)
    assert key != cache_key("t" * 16, calibration_digest(_utterances(4)), 16000, config)
    assert key != cache_key("t" * 16, calibration, 16000, LayerGroupConfig(similarity="cosine"))
    assert key != cache_key("t" * 16, calibration, 16000, LayerGroupConfig(max_frames=1000))
    other = _utterances(3)
    other[1] = Utterance(other[1].key, other[1].path, other[1].length + 1)  # same keys, another length
    assert calibration_digest(other) != calibration


def test_a_store_never_leaves_half_a_folder(tmp_path):
    matrix = np.array([[1.0, 0.5], [0.5, 1.0]])
    folder = store_similarity(tmp_path / "abc", matrix, {"frames": 10})
    stored, meta = load_similarity(folder)
    np.testing.assert_array_equal(stored, matrix)
    assert meta == {"frames": 10}
    # a second writer (the race's loser) keeps the first folder and leaves no temporary one behind
    store_similarity(tmp_path / "abc", 2 * matrix, {"frames": 20})
    assert load_similarity(tmp_path / "abc")[1] == {"frames": 10}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["abc"]
    # a broken leftover (not written by store_similarity) is moved aside and replaced
    (tmp_path / "def").mkdir()
    (tmp_path / "def" / "meta.json").write_text("{")
    assert load_similarity(tmp_path / "def") is None
    store_similarity(tmp_path / "def", matrix, {"frames": 30})
    assert load_similarity(tmp_path / "def")[1] == {"frames": 30}
