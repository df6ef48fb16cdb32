"""The sparsity ramp and the Lagrangian constraint; the multipliers must ascend, or the target is never met."""
from __future__ import annotations

import copy
import io
from typing import List, Tuple

import pytest
import torch
from torch import nn

from upstream_distill.core.errors import ConfigError
from upstream_distill.pruning import HardConcreteGate, LagrangianSparsity, expected_sparsity, target_sparsity_at

TARGET = 0.6
UNITS = 100


def test_the_target_ramps_linearly_then_holds():
    assert target_sparsity_at(0, 0.75, 5000) == 0.0
    assert target_sparsity_at(2500, 0.75, 5000) == pytest.approx(0.375)
    assert target_sparsity_at(5000, 0.75, 5000) == pytest.approx(0.75)
    assert target_sparsity_at(50000, 0.75, 5000) == pytest.approx(0.75)
    assert target_sparsity_at(0, 0.75, 0) == 0.75  # no warm-up: the target at once
    for bad in ((0, 1.0, 10), (0, -0.1, 10), (0, 0.5, -1)):
        with pytest.raises(ConfigError):
            target_sparsity_at(*bad)
    with pytest.raises(ValueError):
        target_sparsity_at(-1, 0.5, 10)


def test_expected_sparsity_is_one_minus_the_size_ratio():
    expected = torch.tensor(25.0, requires_grad=True)
    sparsity = expected_sparsity(expected, 100)
    assert float(sparsity.detach()) == pytest.approx(0.75)
    sparsity.backward()
    assert float(expected.grad) == pytest.approx(-0.01)
    with pytest.raises(ValueError):
        expected_sparsity(expected, 0)


def test_the_lagrangian_term_and_its_ascending_gradients():
    lagrangian = LagrangianSparsity()
    assert lagrangian.multipliers() == {"lambda_1": 0.0, "lambda_2": 0.0}
    with torch.no_grad():
        lagrangian.lambda_1.fill_(2.0)
        lagrangian.lambda_2.fill_(3.0)
    sparsity = torch.tensor(0.5, requires_grad=True)
    term = lagrangian(sparsity, 0.3)
    assert float(term.detach()) == pytest.approx(2.0 * 0.2 + 3.0 * 0.04)
    term.backward()
    # the multipliers' gradients are negated (ascent), the model's are not
    assert float(lagrangian.lambda_1.grad) == pytest.approx(-0.2)
    assert float(lagrangian.lambda_2.grad) == pytest.approx(-0.04)
    assert float(sparsity.grad) == pytest.approx(2.0 + 2 * 3.0 * 0.2)


def test_copies_still_ascend():
    """Tensor hooks do not survive deepcopy or pickling by themselves; __setstate__ re-registers them."""
    buffer = io.BytesIO()
    torch.save(LagrangianSparsity(), buffer)
    buffer.seek(0)
    for lagrangian in (copy.deepcopy(LagrangianSparsity()), torch.load(buffer, weights_only=False)):
        lagrangian(torch.tensor(0.5), 0.3).backward()
        assert float(lagrangian.lambda_1.grad) == pytest.approx(-0.2)


def test_negative_learning_rates_are_rejected_by_torch():
    """Why the ascent is a gradient sign flip: DPHuBERT's lr = -0.02 no longer constructs."""
    with pytest.raises(ValueError):
        torch.optim.AdamW([nn.Parameter(torch.zeros(()))], lr=-0.02)


class _DescendingLagrangian(LagrangianSparsity):
    """The same term with the sign flip removed: plain descent on the multipliers (the bug to catch)."""

    def _register_ascent_hooks(self) -> None:
        pass


def _toy_run(lagrangian: LagrangianSparsity, steps: int = 600) -> Tuple[List[float], LagrangianSparsity]:
    """100 gates pulled open by a task loss, held to expected sparsity TARGET by the Lagrangian.

    One AdamW, positive lr 0.02 (DPHuBERT's reg_learning_rate) for log_alpha and
    the multipliers alike, weight decay 0.
    """
    torch.manual_seed(0)
    gate = HardConcreteGate(UNITS, init_drop=0.5)  # starts at sparsity 1 - 0.832
    optimizer = torch.optim.AdamW([gate.log_alpha, *lagrangian.parameters()], lr=0.02, weight_decay=0.0)
    trace = []
    for _ in range(steps):
        kept = gate.expected_l0() / UNITS
        sparsity = 1 - kept
        loss = -0.1 * kept + lagrangian(sparsity, TARGET)  # the "task" wants every gate open
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        trace.append(float(sparsity.detach()))
    return trace, lagrangian


def test_ascending_multipliers_drive_the_expected_sparsity_to_the_target():
    trace, lagrangian = _toy_run(LagrangianSparsity())
    assert trace[0] == pytest.approx(1 - 0.832, abs=0.01)
    assert max(abs(s - TARGET) for s in trace[-50:]) < 0.02
    # at the equilibrium lambda_1 is the constraint's price: the task's gain per unit of sparsity, -0.1
    assert lagrangian.multipliers()["lambda_1"] == pytest.approx(-0.1, abs=0.05)
    assert lagrangian.multipliers()["lambda_2"] > 0


def test_descending_multipliers_never_meet_the_target():
    trace, lagrangian = _toy_run(_DescendingLagrangian())
    assert abs(trace[-1] - TARGET) > 0.3  # it runs the other way: every gate opens
    assert lagrangian.multipliers()["lambda_2"] < 0
