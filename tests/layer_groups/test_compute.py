"""compute_layer_groups on tiny teachers: the matrix, the groups, the cache and its key, the errors."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from upstream_distill.core.errors import ConfigError
from upstream_distill.layer_groups import LayerGroupConfig, compute_layer_groups, is_contiguous
from upstream_distill.models import load_teacher, save_teacher

from .conftest import SAMPLE_RATE, TINY_LAYERS, tiny_teacher, write_noise_corpus

#: small enough to run in well under a second
FAST = dict(calibration_utterances=4, max_seconds=0.4, max_frames=60, groups=2)


def _run(teacher_file, corpus, cache, **values):
    messages = []
    config = LayerGroupConfig(**{**FAST, **values})
    result = compute_layer_groups(load_teacher(teacher_file), teacher_file, corpus, SAMPLE_RATE, config, cache,
                                  log=messages.append)
    return result, messages


def _digests(cache):
    return sorted(p.name for p in cache.iterdir() if not p.name.startswith("."))


def test_matrix_groups_and_the_cache(teacher_file, corpus, tmp_path):
    cache = tmp_path / "cache"
    first, messages = _run(teacher_file, corpus, cache)
    layers = list(range(TINY_LAYERS + 1))
    assert first.layers == layers
    assert first.similarity.shape == (len(layers), len(layers))
    np.testing.assert_allclose(first.similarity, first.similarity.T)
    np.testing.assert_allclose(np.diag(first.similarity), 1.0)
    assert ((first.similarity >= -1e-9) & (first.similarity <= 1 + 1e-9)).all()
    assert len(first.groups) == 2
    assert sorted(layer for group in first.groups for layer in group) == layers
    assert first.groups == sorted(first.groups) and all(group == sorted(group) for group in first.groups)
    assert first.contiguous == is_contiguous(first.groups, layers)
    assert first.linkage_matrix.shape == (len(layers) - 1, 4)
    assert first.settings["calibration_utterances"] == 4 and first.settings["calibration_frames"] == 60
    assert first.settings["config"]["linkage"] == "average"
    assert any("computed" in m for m in messages) and not any("reusing" in m for m in messages)
    (digest,) = _digests(cache)
    mtime = (cache / digest / "similarity.npy").stat().st_mtime_ns

    second, messages = _run(teacher_file, corpus, cache)
    assert any("reusing" in m for m in messages) and not any("computed" in m for m in messages)
    assert second.groups == first.groups
    np.testing.assert_array_equal(second.similarity, first.similarity)
    assert _digests(cache) == [digest]
    assert (cache / digest / "similarity.npy").stat().st_mtime_ns == mtime

    # what only changes the clustering reuses S
    for values in (dict(linkage="ward"), dict(include_first=False), dict(grouping="single_layers"),
                   dict(grouping="random_contiguous"), dict(groups=None, distance_threshold=0.5)):
        other, messages = _run(teacher_file, corpus, cache, **values)
        assert any("reusing" in m for m in messages), values
    assert _digests(cache) == [digest]


def test_a_changed_teacher_or_calibration_set_recomputes(teacher_file, corpus, tmp_path):
    cache = tmp_path / "cache"
    first, _ = _run(teacher_file, corpus, cache)
    save_teacher(tiny_teacher(seed=1), teacher_file)  # same path, other weights
    retrained, messages = _run(teacher_file, corpus, cache)
    assert any("computed" in m for m in messages)
    assert len(_digests(cache)) == 2
    assert not np.allclose(retrained.similarity, first.similarity)

    more = corpus + write_noise_corpus(tmp_path / "more", [6000], seed=5, prefix="extra")
    _, messages = _run(teacher_file, more, cache, calibration_utterances=len(more))
    assert any("computed" in m for m in messages)
    _, messages = _run(teacher_file, corpus, cache, calibration_utterances=len(corpus))
    assert any("computed" in m for m in messages)
    _, messages = _run(teacher_file, corpus, cache, seed=1)  # another draw of the calibration set
    assert any("computed" in m for m in messages)
    assert len(_digests(cache)) == 5


def test_groupings(teacher_file, corpus, tmp_path):
    cache = tmp_path / "cache"
    similar, _ = _run(teacher_file, corpus, cache, groups=3)
    single, _ = _run(teacher_file, corpus, cache, groups=3, grouping="single_layers")
    assert single.groups == [[layer] for layer in range(TINY_LAYERS + 1)] and single.contiguous
    randomly, _ = _run(teacher_file, corpus, cache, groups=3, grouping="random_contiguous")
    assert len(randomly.groups) == len(similar.groups) and randomly.contiguous
    assert randomly.settings["similarity_clusters"] == similar.groups
    later, _ = _run(teacher_file, corpus, cache, include_first=False)
    assert later.layers == list(range(1, TINY_LAYERS + 1))
    np.testing.assert_array_equal(later.similarity, similar.similarity[1:, 1:])
    assert sorted(layer for group in later.groups for layer in group) == later.layers


@pytest.mark.parametrize("measure", ["rbf_cka", "cosine"])
def test_other_measures(teacher_file, corpus, tmp_path, measure):
    result, _ = _run(teacher_file, corpus, tmp_path / "cache", similarity=measure)
    np.testing.assert_allclose(np.diag(result.similarity), 1.0)
    np.testing.assert_allclose(result.similarity, result.similarity.T)


def test_the_teacher_keeps_its_mode(teacher_file, corpus, tmp_path):
    teacher = load_teacher(teacher_file)
    teacher.train()
    compute_layer_groups(teacher, teacher_file, corpus, SAMPLE_RATE, LayerGroupConfig(**FAST), tmp_path / "cache",
                         log=lambda message: None)
    assert teacher.training


@pytest.mark.parametrize("source, name", [("hf", "wavlm"), ("fairseq", "hubert")])
def test_real_format_teachers(hf_references, fairseq_references, tmp_path, source, name):
    reference = (hf_references if source == "hf" else fairseq_references)[name]
    corpus = write_noise_corpus(tmp_path / "corpus", [2400, 3200, 4000])
    teacher = load_teacher(reference.path)
    config = LayerGroupConfig(**{**FAST, "calibration_utterances": 3})
    result = compute_layer_groups(teacher, reference.path, corpus, SAMPLE_RATE, config, tmp_path / "cache",
                                  log=lambda message: None)
    layers = list(range(len(teacher.layers) + 1))
    assert result.layers == layers and result.similarity.shape == (len(layers), len(layers))
    np.testing.assert_allclose(np.diag(result.similarity), 1.0)
    assert sorted(layer for group in result.groups for layer in group) == layers
    assert len(result.settings["teacher_digest"]) == 16


def test_errors_name_the_key(teacher_file, corpus, tmp_path):
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=r"config\.model\.layer_groups\.groups: 6 groups asked of 5 layers"):
        _run(teacher_file, corpus, cache, groups=6)
    with pytest.raises(ConfigError, match=r"config\.model\.layer_groups\.groups: 5 groups asked of 4 layers"):
        _run(teacher_file, corpus, cache, groups=5, include_first=False)
    with pytest.raises(ConfigError, match=r"config\.model\.layer_groups\.calibration_utterances"):
        _run(teacher_file, [], cache)
    config = dataclasses.replace(LayerGroupConfig(**FAST))
    config.calibration_utterances = 0  # past __post_init__, as a caller could
    with pytest.raises(ConfigError, match=r"config\.model\.layer_groups\.calibration_utterances"):
        compute_layer_groups(load_teacher(teacher_file), teacher_file, corpus, SAMPLE_RATE, config, cache)
    too_short = write_noise_corpus(tmp_path / "short", [100, 200])
    with pytest.raises(ConfigError, match=r"config\.model\.layer_groups\.calibration_utterances"):
        _run(teacher_file, too_short, cache)
    assert not cache.exists() or _digests(cache) == []
