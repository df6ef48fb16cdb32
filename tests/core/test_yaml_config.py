"""The YAML toolkit: s3prl's -o syntax, deep merges, dotted differences, _inherit and presets."""
from __future__ import annotations

import pytest

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.paths import PRETRAIN_ROOT
from upstream_distill.core.yaml_config import (
    apply_overrides,
    config_differences,
    deep_merge,
    parse_overrides,
    read_yaml,
)


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


def test_config_differences_name_dotted_keys():
    assert config_differences({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}, "d": 0}) == ["config.a.c", "config.d"]


def test_inherit_merges_a_file_over_its_base_and_names_a_loop(tmp_path):
    (tmp_path / "base.yaml").write_text("runner: {total_steps: 10, log_step: 1}\npresets: {tiny: {runner: {total_steps: 2}}}\n")
    (tmp_path / "variant.yaml").write_text("_inherit: base.yaml\nrunner: {log_step: 5}\n")
    assert read_yaml(tmp_path / "variant.yaml") == {"runner": {"total_steps": 10, "log_step": 5},
                                                    "presets": {"tiny": {"runner": {"total_steps": 2}}}}
    (tmp_path / "a.yaml").write_text("_inherit: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_inherit: a.yaml\n")
    with pytest.raises(ConfigError, match="loops back"):
        read_yaml(tmp_path / "a.yaml")


@pytest.mark.parametrize("method", ["star_hubert", "asr_distill"])
def test_the_distillation_methods_share_distilhubert_runner_settings(method):
    """One runner file for the three distillation methods: the others inherit it, changing nothing."""
    assert (PRETRAIN_ROOT / method / "config_runner.yaml").read_text().count("_inherit:") == 1
    assert read_yaml(PRETRAIN_ROOT / method / "config_runner.yaml") == \
        read_yaml(PRETRAIN_ROOT / "distilhubert" / "config_runner.yaml")
