"""Config composition: presets deep-merged in one place, -o overrides, typed sections, placeholders."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.commands.pretrain import build_parser, resolve_config
from upstream_distill.core.errors import ConfigError
from upstream_distill.core.paths import PRETRAIN_ROOT
from upstream_distill.core.yaml_config import apply_overrides
from upstream_distill.training.config import (
    OptimizerConfig,
    TrainingConfig,
    compose_config,
    input_file_digests,
)
from upstream_distill.training.optim import build_optimizer, build_scheduler, lr_factor

HUBERT = PRETRAIN_ROOT / "hubert_teacher"


def test_presets_are_deep_merged_over_the_real_settings():
    real = compose_config(HUBERT / "config_runner.yaml", HUBERT / "config_model.yaml")
    mini = compose_config(HUBERT / "config_runner.yaml", HUBERT / "config_model.yaml", "mini")
    tiny = compose_config(HUBERT / "config_runner.yaml", HUBERT / "config_model.yaml", "tiny")
    assert "presets" not in real and "presets" not in real["model"]
    assert real["datarc"]["sets"] == ["train-clean-100", "train-clean-360", "train-other-500"]
    assert real["datarc"]["libri_root"] == "/data/LibriSpeech"
    assert mini["datarc"]["libri_root"] == "${corpus}/LibriSpeech"
    assert mini["runner"]["total_steps"] < real["runner"]["total_steps"]
    assert mini["model"]["teacher"] == real["model"]["teacher"]  # the mini teacher is the real one
    assert tiny["model"]["teacher"]["encoder_dim"] < real["model"]["teacher"]["encoder_dim"]
    # untouched keys come from the defaults: one place, no copies
    assert tiny["optimizer"]["betas"] == real["optimizer"]["betas"] == [0.9, 0.98]
    with pytest.raises(ConfigError, match="--preset huge"):
        compose_config(HUBERT / "config_runner.yaml", HUBERT / "config_model.yaml", "huge")


def test_placeholders_must_be_resolved(tmp_path):
    config = compose_config(HUBERT / "config_runner.yaml", HUBERT / "config_model.yaml", "tiny")
    with pytest.raises(ConfigError, match=r"config\.datarc\.libri_root = \$\{corpus\}/LibriSpeech"):
        TrainingConfig.from_dict(config)
    args = build_parser().parse_args(["-u", "hubert_teacher", "--corpus", str(tmp_path), "--seed", "7"])
    resolved = resolve_config(args)
    assert resolved["seed"] == 7 and resolved["datarc"]["libri_root"] == "/data/LibriSpeech"


def test_typed_sections_reject_unknown_and_missing_keys():
    config = compose_config(HUBERT / "config_runner.yaml", HUBERT / "config_model.yaml")
    typed = TrainingConfig.from_dict(config)
    assert typed.runner.total_steps == 400000 and typed.datarc.crop_multiple == 320
    assert typed.optimizer.warmup_for(typed.runner.total_steps) == 32000
    with pytest.raises(ConfigError, match=r"unknown keys \['config.runner.totl_steps'\]"):
        TrainingConfig.from_dict(apply_overrides(config, [(["runner", "totl_steps"], 1)]))
    broken = apply_overrides(config, [])
    del broken["optimizer"]["lr"]
    with pytest.raises(ConfigError, match=r"missing keys \['config.optimizer.lr'\]"):
        TrainingConfig.from_dict(broken)
    with pytest.raises(ConfigError, match="warmup"):
        TrainingConfig.from_dict(apply_overrides(config, [(["optimizer", "warmup_steps"], 10)]))


def test_lr_schedule_warms_up_linearly_then_decays_to_the_final_ratio():
    factors = [lr_factor(step, total_steps=10, warmup_steps=4) for step in range(10)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[-1] == pytest.approx(1 / 6)
    assert all(a > b for a, b in zip(factors[4:], factors[5:]))
    assert lr_factor(10, 10, 4, final_ratio=0.1) == pytest.approx(0.1)


def test_a_group_without_decay_warms_up_with_the_others_then_holds_its_peak():
    """The pruning gates' group may keep its lr to the end while the model's decays to 0."""
    model, gates = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    optimizer = build_optimizer([{"params": [model]}, {"params": [gates], "lr": 0.05, "decay": False}],
                                OptimizerConfig(lr=1e-3, warmup_steps=4))
    scheduler = build_scheduler(optimizer, OptimizerConfig(lr=1e-3, warmup_steps=4), total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append([group["lr"] for group in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    model_lr, gate_lr = zip(*lrs)
    assert gate_lr[:4] == pytest.approx([0.0125, 0.025, 0.0375, 0.05])
    assert gate_lr[4:] == pytest.approx([0.05] * 6)
    assert model_lr[3] == pytest.approx(1e-3) and model_lr[-1] == pytest.approx(1e-3 / 6)


def test_a_hugging_face_folder_is_one_input_and_caches_are_none(tmp_path):
    model = tmp_path / "hubert"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"a" * 64)
    cache = tmp_path / "cache"
    cache.mkdir()
    digests = input_file_digests({"teacher": {"checkpoint": str(model), "cache_dir": str(cache)}, "steps": "3"})
    assert set(digests) == {"model.teacher.checkpoint"}
    (model / "model.safetensors").write_bytes(b"b" * 64)
    assert input_file_digests({"teacher": {"checkpoint": str(model)}}) != digests
    # a file moved between names inside the folder is another model
    (model / "model.safetensors").rename(model / "pytorch_model.bin")
    moved = input_file_digests({"teacher": {"checkpoint": str(model)}})
    (model / "pytorch_model.bin").rename(model / "model.safetensors")
    assert moved != input_file_digests({"teacher": {"checkpoint": str(model)}})
