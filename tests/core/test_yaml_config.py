"""The YAML toolkit: s3prl's -o syntax, deep merges, dotted differences, _inherit and presets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pytest

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.paths import PRETRAIN_ROOT
from upstream_distill.core.yaml_config import (
    apply_overrides,
    config_differences,
    deep_merge,
    parse_overrides,
    read_yaml,
    typed_section,
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


@pytest.mark.parametrize("text", [
    "config.runner.fp16=False,config.runner.total_steps=10",  # a bool's value swallowed total_steps: 20 steps ran
    "config.model.labels.cache_dir='a',config.runner.total_steps=10",  # so did a quoted string's
])
def test_two_settings_joined_by_one_comma_are_named_not_swallowed(text):
    with pytest.raises(ConfigError, match=r"-o/--override: .*one comma; separate them with two") as err:
        parse_overrides(text)
    assert text in str(err.value)


def test_a_quoted_value_that_is_not_a_literal_or_no_value_is_named():
    with pytest.raises(ConfigError, match=r"-o/--override: config.model.init_from='/x is not a valid Python literal"):
        parse_overrides("config.model.init_from='/x")
    with pytest.raises(ConfigError, match=r"-o/--override: config.runner.total_steps has no value"):
        parse_overrides("config.runner.total_steps=,,config.runner.log_step=2")


@dataclass
class _Section:
    steps: int
    lr: float = 1.0
    fp16: bool = False
    name: str = "x"
    warmup: Optional[int] = None


@pytest.mark.parametrize("value, expected", [
    ({"steps": 1e3}, r"config.run.steps: expected an integer, got 1000.0 \(float\); write 1000"),
    ({"steps": "ten"}, r"config.run.steps: expected an integer, got 'ten' \(str\)"),
    ({"steps": True}, r"config.run.steps: expected an integer"),
    ({"steps": 1, "fp16": "False"}, r"config.run.fp16: expected true or false"),
    ({"steps": 1, "lr": "ten"}, r"config.run.lr: expected a number, got 'ten'"),
    ({"steps": 1, "warmup": 0.5}, r"config.run.warmup: expected an integer"),
])
def test_typed_section_names_a_value_of_the_wrong_type_and_the_type_expected(value, expected):
    with pytest.raises(ConfigError, match=expected):
        typed_section(_Section, value, "run")


def test_typed_section_reads_numbers_in_strings_and_suggests_the_nearest_key():
    # PyYAML reads `lr: 1e-3` (no dot) as a string: still the number it says
    assert typed_section(_Section, {"steps": "3", "lr": "1e-3", "warmup": None}, "run") == _Section(3, 1e-3)
    with pytest.raises(ConfigError, match=r"config.run.steps: expected an integer, got '1e3'"):
        typed_section(_Section, {"steps": "1e3"}, "run")
    with pytest.raises(ConfigError, match=r"unknown keys \['config.run.stpes'\] \(did you mean config.run.steps\?\)"):
        typed_section(_Section, {"stpes": 3}, "run")
