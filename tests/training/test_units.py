"""Offline k-means units: aligned with the model's frames, cached, crop-able; iteration 2 on a model layer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from upstream_distill.core.errors import ConfigError
from upstream_distill.models import TeacherModel, save_teacher, tiny_teacher_config
from upstream_distill.training.config import DataConfig
from upstream_distill.training.data import read_utterances
from upstream_distill.training.units import (
    IGNORE_INDEX,
    UnitConfig,
    UnitTable,
    build_unit_table,
    frame_count,
    utterance_cmvn,
)


@pytest.fixture(scope="module")
def utterances(tiny_corpus):
    libri = tiny_corpus / "LibriSpeech"
    return read_utterances(DataConfig(libri_root=str(libri), bucket_dir=str(libri / "len_for_bucket"),
                                      sets=["train-clean-100"], batch_size=2, max_timestep=16000))


def test_mfcc_units_label_every_model_frame_and_are_cached(utterances, tmp_path):
    config = UnitConfig(num_clusters=8, kmeans_n_init=1)
    messages = []
    table = build_unit_table(utterances, config, hop=320, window=400, sample_rate=16000,
                             cache_dir=tmp_path, log=messages.append)
    for utt in utterances:
        assert len(table.units_of(utt.key)) == frame_count(utt.length, 400, 320)
    assert table.units.min() >= 0 and table.units.max() < 8
    assert len(np.unique(table.units)) > 4
    again = build_unit_table(utterances, config, 320, 400, 16000, tmp_path, log=messages.append)
    assert "using cached" in messages[-1]
    assert np.array_equal(again.units, table.units) and again.keys == table.keys
    other = build_unit_table(utterances, UnitConfig(num_clusters=5, kmeans_n_init=1), 320, 400, 16000, tmp_path,
                             log=messages.append)
    assert other.num_clusters == 5 and len(list(tmp_path.glob("units-*.npz"))) == 2


def test_crop_returns_the_units_of_the_cropped_frames():
    table = UnitTable(["a", "b"], [6, 3], np.arange(9), num_clusters=9, hop=320, window=400)
    targets = table.crop(["a", "b"], torch.tensor([640, 0]), torch.tensor([3, 2]))
    assert targets.tolist() == [[2, 3, 4], [6, 7, IGNORE_INDEX]]
    with pytest.raises(ValueError, match="multiple of the 320-sample frame hop"):
        table.crop(["a"], torch.tensor([100]), torch.tensor([1]))
    with pytest.raises(ValueError, match="table holds 3"):
        table.crop(["b"], torch.tensor([320]), torch.tensor([3]))
    with pytest.raises(KeyError, match="another corpus"):
        table.crop(["c"], torch.tensor([0]), torch.tensor([1]))


def test_second_iteration_clusters_a_model_layer(utterances, tmp_path):
    teacher = TeacherModel(tiny_teacher_config("hubert"))
    save_teacher(teacher, tmp_path / "iteration1.pt")
    config = UnitConfig(num_clusters=6, features="model", model_ckpt=str(tmp_path / "iteration1.pt"),
                        model_layer=1, kmeans_n_init=1)
    table = build_unit_table(utterances[:6], config, 320, 400, 16000, tmp_path, log=lambda m: None)
    assert all(len(table.units_of(u.key)) == frame_count(u.length, 400, 320) for u in utterances[:6])
    with pytest.raises(ConfigError, match="model_ckpt"):
        UnitConfig(num_clusters=6, features="model")
    with pytest.raises(ConfigError, match="frames of 400 samples every 320"):
        build_unit_table(utterances[:2], config, 160, 400, 16000, tmp_path / "x", log=lambda m: None)



def test_utterance_cmvn_removes_a_constant_offset_and_scale_per_dimension(utterances, tmp_path):
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 4)).astype(np.float32)
    normalised = utterance_cmvn(feats)
    assert np.allclose(normalised.mean(axis=0), 0, atol=1e-5) and np.allclose(normalised.std(axis=0), 1, atol=1e-3)
    shifted = feats * np.array([2.0, 0.5, 3.0, 1.0], np.float32) + np.array([10.0, -3.0, 0.0, 7.0], np.float32)
    assert np.allclose(utterance_cmvn(shifted), normalised, atol=1e-3)  # e.g. another voice's mean spectrum
    config = UnitConfig(num_clusters=6, kmeans_n_init=1, utterance_cmvn=True)
    messages = []
    table = build_unit_table(utterances[:4], config, 320, 400, 16000, tmp_path, log=messages.append)
    raw = build_unit_table(utterances[:4], UnitConfig(num_clusters=6, kmeans_n_init=1), 320, 400, 16000,
                           tmp_path, log=messages.append)
    assert len(list(tmp_path.glob("units-*.npz"))) == 2  # its own cache entry
    assert not np.array_equal(table.units, raw.units)
