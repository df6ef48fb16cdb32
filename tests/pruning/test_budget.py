"""Target sizes: parameter budgets as a config states them, and masks that meet one."""
from __future__ import annotations

import pytest

from upstream_distill.core.errors import ConfigError
from upstream_distill.models import PrunedConfig, tiny_teacher_config
from upstream_distill.pruning import expected_parameters, parameter_count
from upstream_distill.pruning.budget import parse_parameter_budget, random_masks_for_budget, target_sparsity


@pytest.mark.parametrize("text, expected", [("23.6M", 23_600_000), ("500k", 500_000), (2.3e6, 2_300_000),
                                            ("1.5e3", 1500), (23600000, 23_600_000)])
def test_budgets_read_as_people_write_them(text, expected):
    assert parse_parameter_budget(text) == expected


def test_a_budget_is_a_sparsity_and_a_bad_one_names_its_key():
    assert target_sparsity(100_000, target_params="25k") == pytest.approx(0.75)
    assert target_sparsity(100_000, sparsity=0.8) == 0.8
    with pytest.raises(ConfigError, match=r"pruning.target_params: 0.20M is not smaller than the teacher's 0.10M"):
        target_sparsity(100_000, target_params="200k")
    with pytest.raises(ConfigError, match="exactly one of sparsity"):
        target_sparsity(100_000, sparsity=0.5, target_params="20k")
    with pytest.raises(ConfigError, match="pruning.target_params: '23.6 parameters'"):
        target_sparsity(100_000, target_params="23.6 parameters")
    with pytest.raises(ConfigError, match="pruning.sparsity: must be in"):
        target_sparsity(100_000, sparsity=1.5)


@pytest.mark.parametrize("arch", ["hubert", "wavlm"])
def test_random_masks_meet_the_budget(arch):
    config = PrunedConfig.from_teacher(tiny_teacher_config(arch))
    budget = parameter_count(config) // 3
    masks = random_masks_for_budget(config, budget, seed=4)
    count = expected_parameters(config, masks).item()
    assert budget - 200 <= count <= budget  # within one FFN unit / head of the budget, never over
    assert all(bool(mask.any()) for mask in masks.conv)
    assert random_masks_for_budget(config, budget, seed=4).heads[0].tolist() == masks.heads[0].tolist()
