"""Optimisation: AdamW and the linear warm-up / linear decay schedule.

The schedule is a pure function of the update count (``lr_factor``), held by
a ``LambdaLR`` whose state is checkpointed, so a resumed run uses the same
learning rate at the same step as an uninterrupted one.  A parameter group
with ``"decay": False`` warms up with the others and then stays at its peak
(DPHuBERT's pruning gates decay with the model; a short run may hold them).
"""
from __future__ import annotations

from typing import Iterable, Union

import torch
from torch.optim.lr_scheduler import LambdaLR

from .config import OptimizerConfig

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]


def build_optimizer(params: Union[Iterable[torch.nn.Parameter], Iterable[dict]],
                    config: OptimizerConfig) -> torch.optim.AdamW:
    """AdamW over the expert's parameters or parameter groups (a group may set its own ``lr``)."""
    params = list(params)
    if not params:
        raise ValueError("the expert returned no trainable parameters")
    return torch.optim.AdamW(params, lr=config.lr, betas=tuple(config.betas), eps=config.eps,
                             weight_decay=config.weight_decay)


def lr_factor(step: int, total_steps: int, warmup_steps: int, final_ratio: float = 0.0,
              decay: bool = True) -> float:
    """Multiplier of the peak lr for update ``step`` (0-based).

    ``(step + 1) / warmup`` while warming up (so the first update is not
    wasted at lr 0), then linear from 1 at the end of warm-up to
    ``final_ratio`` at ``total_steps``; without ``decay``, 1 after warm-up.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if not decay:
        return 1.0
    remaining = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / remaining, 1.0)
    return 1.0 - (1.0 - final_ratio) * progress


def build_scheduler(optimizer: torch.optim.Optimizer, config: OptimizerConfig, total_steps: int) -> LambdaLR:
    warmup = config.warmup_for(total_steps)
    def schedule(decay: bool):
        return lambda step: lr_factor(step, total_steps, warmup, config.final_lr_ratio, decay)

    return LambdaLR(optimizer, [schedule(group.get("decay", True)) for group in optimizer.param_groups])
