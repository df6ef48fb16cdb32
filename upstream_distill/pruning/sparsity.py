"""The sparsity constraint of CoFi / DPHuBERT: a target ramp and a learned Lagrangian.

With ``E[N]`` the expected parameter count of the gated student (built from
the gates' expected L0 norms) and ``N_orig`` the unpruned reference size::

    s_hat = 1 - E[N] / N_orig                                   (expected sparsity)
    t(k)  = s_target * min(1, k / warmup_steps)                 (target at step k)
    L_reg = lambda_1 (s_hat - t) + lambda_2 (s_hat - t)^2
    L     = L_task + L_reg,       min over the model and log_alpha, max over lambda_1, lambda_2

The multipliers start at 0 and rise (by gradient ascent) as long as the
constraint is violated, until the model meets the target; the quadratic term
makes the equilibrium stable.  The constraint is two-sided: too sparse is
pushed back as well as not sparse enough.
"""
from __future__ import annotations

from typing import Dict, Union

import torch
from torch import Tensor, nn

from upstream_distill.core.errors import ConfigError

__all__ = ["LagrangianSparsity", "expected_sparsity", "target_sparsity_at"]


def target_sparsity_at(step: int, target: float, warmup_steps: int, start: float = 0.0) -> float:
    """``t(step) = start + (target - start) * min(1, step / warmup_steps)``; ``warmup_steps = 0`` gives
    ``target`` at once.

    DPHuBERT ramps 0 -> 0.75 over its first 5k steps, so the gates are not
    forced shut before distillation has started to shape the student.  A
    pruning ladder's next rung ramps from the sparsity the previous one reached.
    """
    if not 0.0 <= target < 1.0:
        raise ConfigError(f"the sparsity target is a fraction of the parameters to remove, in [0, 1); got {target!r}")
    if warmup_steps < 0:
        raise ConfigError(f"the sparsity warm-up must be >= 0 steps, got {warmup_steps!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    if warmup_steps == 0:
        return float(target)
    return float(start) + (float(target) - float(start)) * min(1.0, step / warmup_steps)


def expected_sparsity(expected_params: Union[Tensor, float], original_params: Union[Tensor, float]) -> Tensor:
    """``s_hat = 1 - E[N] / N_orig``, differentiable in ``expected_params``.

    ``original_params`` is the reference size, DPHuBERT's
    ``sum(numel(teacher.parameters()))``; the result is negative if the student
    is expected to be larger than it.
    """
    if float(original_params) <= 0:
        raise ValueError(f"original_params must be > 0, got {original_params!r}")
    return 1.0 - torch.as_tensor(expected_params) / original_params


def _ascend(grad: Tensor) -> Tensor:
    # the sign flip that turns the optimizer's descent step on a multiplier into an ascent step
    return -grad


class LagrangianSparsity(nn.Module):
    """``L_reg = lambda_1 (s - t) + lambda_2 (s - t)^2`` with multipliers trained by gradient *ascent*.

    ``lambda_1`` and ``lambda_2`` are 0-dim parameters initialised to 0.  The
    problem is a min-max (CoFi; HJ-pruning): the model and the gates minimise
    ``L``, the multipliers maximise it, so a multiplier grows while the
    constraint is violated, raising the price of violating it until the gates
    give in.  Descending on the multipliers instead would *reward* violation
    (``lambda_1`` would take the sign that pushes ``s`` away from ``t`` and
    ``lambda_2`` would turn negative) and the target would never be met.

    DPHuBERT gets the ascent from a parameter group with ``lr = -0.02`` in
    torch 1.13's AdamW.  Current torch optimizers reject that:
    ``torch.optim.AdamW(params, lr=-0.02)`` raises ``ValueError: Invalid
    learning rate``.  Here a tensor hook on each multiplier negates its
    gradient instead, so the multipliers go into the same optimizer as the
    rest with a *positive* learning rate (DPHuBERT: 0.02, as for
    ``log_alpha``), and gradient clipping and the lr schedule treat them as
    before.  For Adam(W) with weight decay 0 (DPHuBERT's setting for this group)
    the flip gives exactly the updates of the negative learning rate: Adam's
    step ``m / sqrt(v)`` changes sign with the gradient.  Do not put weight
    decay on the multipliers: it would pull them back to 0.

    Tensor hooks are lost when a parameter is copied (``copy.deepcopy``,
    pickling, ``torch.save`` of the whole module); ``__setstate__``
    re-registers them, so a copied or unpickled module still ascends.
    Anything that adds a gradient to the multipliers from outside
    :meth:`forward` is flipped too.
    """

    lambda_1: nn.Parameter
    lambda_2: nn.Parameter

    def __init__(self) -> None:
        super().__init__()
        self.lambda_1 = nn.Parameter(torch.zeros(()))
        self.lambda_2 = nn.Parameter(torch.zeros(()))
        self._register_ascent_hooks()

    def _register_ascent_hooks(self) -> None:
        # no handles kept: the hooks live as long as the parameters and are never meant to be removed
        self.lambda_1.register_hook(_ascend)
        self.lambda_2.register_hook(_ascend)

    def __setstate__(self, state: dict) -> None:
        # deepcopy and unpickling rebuild the parameters without their hooks; put the ascent back
        super().__setstate__(state)
        self._register_ascent_hooks()

    def forward(self, expected_sparsity: Tensor, target: Union[Tensor, float]) -> Tensor:
        """``lambda_1 (s - t) + lambda_2 (s - t)^2`` for expected sparsity ``s`` and target ``t`` (0-dim)."""
        gap = expected_sparsity - target
        return self.lambda_1 * gap + self.lambda_2 * gap * gap

    def multipliers(self) -> Dict[str, float]:
        """The current ``{"lambda_1": ..., "lambda_2": ...}`` as floats, for logging."""
        return {"lambda_1": float(self.lambda_1.detach()), "lambda_2": float(self.lambda_2.detach())}
