"""Config composition: presets deep-merged in one place, -o overrides, typed sections, placeholders."""
from __future__ import annotations

import pytest

from upstream_distill.training.cli import PRETRAIN_ROOT, build_parser, resolve_config
from upstream_distill.training.config import (
    TrainingConfig,
    apply_overrides,
    compose_config,
    config_differences,
    deep_merge,
    parse_overrides,
)
from upstream_distill.training.errors import ConfigError
from upstream_distill.training.optim import lr_factor

HUBERT = PRETRAIN_ROOT / "hubert_teacher"


def test_overrides_use_s3prl_syntax_and_literal_values():
    parsed = parse_overrides("config.runner.total_steps=100,,config.optimizer.lr=1e-3,,"
                             "config.datarc.sets=['a', 'b'],,config.datarc.libri_root=/data/x")
    assert parsed == [(["runner", "total_steps"], 100), (["optimizer", "lr"], 1e-3),
                      (["datarc", "sets"], ["a", "b"]), (["datarc", "libri_root"], "/data/x")]
    config = apply_overrides({"runner": {"total_steps": 5}}, parsed[:1] + [(["model", "a", "b"], True)])
    assert config == {"runner": {"total_steps": 100}, "model": {"a": {"b": True}}}
    for bad in ("runner.total_steps=1", "config.runner.total_steps", "args.seed=3"):
        with pytest.raises(ConfigError, match="-o/--override"):
            parse_overrides(bad)


def test_deep_merge_merges_mappings_and_replaces_the_rest():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 2}
    assert deep_merge(base, {"a": {"y": [3]}, "c": 4}) == {"a": {"x": 1, "y": [3]}, "b": 2, "c": 4}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 2}


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


def test_config_differences_name_dotted_keys():
    assert config_differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0}) == ["config.a.c", "config.d"]


def test_lr_schedule_warms_up_linearly_then_decays_to_the_final_ratio():
    factors = [lr_factor(step, total_steps=10, warmup_steps=4) for step in range(10)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert factors[4] == 1.0 and factors[-1] == pytest.approx(1 / 6)
    assert all(a > b for a, b in zip(factors[4:], factors[5:]))
    assert lr_factor(10, 10, 4, final_ratio=0.1) == pytest.approx(0.1)
