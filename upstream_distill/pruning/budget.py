"""Target sizes: a parameter budget from a config value, and masks that meet one without training.

DPHuBERT states its target as a sparsity (0.75 of HuBERT Base -> 23.59M);
a user comparing students thinks in parameters (``target_params: 23.6M``).
:func:`target_sparsity` turns either into the sparsity the Lagrangian holds
the gates to, refusing a budget the teacher cannot meet.
:func:`random_masks_for_budget` removes units chosen by a seeded random score
until the model fits a budget: the shape a pruned model of that size has,
for counting and timing it before any training (the speed benchmark).
"""
from __future__ import annotations

import re
from typing import Optional, Union

import torch

from upstream_distill.core.errors import ConfigError
from upstream_distill.models import PrunedConfig, PruningMasks

from .params import expected_parameters, parameter_count

__all__ = ["parse_parameter_budget", "random_masks_for_budget", "target_sparsity"]

_SUFFIXES = {"": 1, "k": 10 ** 3, "m": 10 ** 6, "g": 10 ** 9}
_BUDGET = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmg]?)\s*$", re.IGNORECASE)


def parse_parameter_budget(value: Union[str, int, float], key: str = "target_params") -> int:
    """``"23.6M"``, ``"500k"``, ``2.3e6`` or ``23600000`` -> a number of parameters."""
    match = _BUDGET.match(str(value))
    if isinstance(value, bool) or match is None:
        raise ConfigError(f"{key}: {value!r} is not a parameter count (e.g. 23.6M, 500k, 2300000)")
    return int(round(float(match.group(1)) * _SUFFIXES[match.group(2).lower()]))


def target_sparsity(original_params: int, sparsity: Optional[float] = None,
                    target_params: Union[str, int, float, None] = None, key: str = "pruning") -> float:
    """The sparsity ``1 − target/original`` that exactly one of ``sparsity`` and ``target_params`` asks for."""
    if (sparsity is None) == (target_params is None):
        raise ConfigError(f"{key}: give exactly one of sparsity (e.g. 0.75) and target_params (e.g. 23.6M)")
    if isinstance(sparsity, (list, tuple)) or isinstance(target_params, (list, tuple)):
        raise ConfigError(f"{key}: a list of sizes is a pruning ladder, which run_pretrain.py runs as one "
                          f"run per size (the method's pipeline.yaml, 'ladder'); a single run takes one size")
    if target_params is not None:
        budget = parse_parameter_budget(target_params, f"{key}.target_params")
        if budget >= original_params:
            raise ConfigError(f"{key}.target_params: {budget / 1e6:.2f}M is not smaller than the teacher's "
                              f"{original_params / 1e6:.2f}M parameters")
        if budget <= 0:
            raise ConfigError(f"{key}.target_params: must be positive, got {target_params!r}")
        return 1.0 - budget / original_params
    if not 0.0 < float(sparsity) < 1.0:
        raise ConfigError(f"{key}.sparsity: must be in (0, 1), got {sparsity!r}")
    return float(sparsity)


def random_masks_for_budget(config: PrunedConfig, target_params: int, seed: int = 0) -> PruningMasks:
    """0/1 masks over CNN channels, heads and FFN units keeping those whose seeded uniform score
    clears one threshold, the threshold bisected until the model has ``target_params`` parameters
    (to within one unit). Every CNN block keeps at least one channel."""
    if not 0 < target_params < parameter_count(config):
        raise ValueError(f"target_params {target_params} must lie between 0 and the model's "
                         f"{parameter_count(config)} parameters")
    generator = torch.Generator().manual_seed(seed)
    scores = PruningMasks(conv=[torch.rand(c, generator=generator) for c, _, _ in config.conv_layers],
                          heads=[torch.rand(len(h), generator=generator) for h in config.layer_heads],
                          ffn_units=[torch.rand(w, generator=generator) for w in config.ffn_dims])

    def masks_at(threshold: float) -> PruningMasks:
        conv = []
        for score in scores.conv:
            mask = (score >= threshold).float()
            mask[score.argmax()] = 1.0
            conv.append(mask)
        return PruningMasks(conv=conv, heads=[(s >= threshold).float() for s in scores.heads],
                            ffn_units=[(s >= threshold).float() for s in scores.ffn_units])

    low, high = 0.0, 1.0  # keep everything .. keep (almost) nothing
    for _ in range(60):
        middle = (low + high) / 2
        if expected_parameters(config, masks_at(middle)).item() > target_params:
            low = middle
        else:
            high = middle
    return masks_at(high)
