"""The HardConcrete gate: its samples, expected L0, eval mask, init and open state, on small CPU tensors."""
from __future__ import annotations

import math

import pytest
import torch

from upstream_distill.core.errors import ConfigError
from upstream_distill.pruning.hard_concrete import EVAL_SHARPNESS, TEMPERATURE, HardConcreteGate


def _gate_with(log_alpha: torch.Tensor) -> HardConcreteGate:
    gate = HardConcreteGate(log_alpha.numel())
    with torch.no_grad():
        gate.log_alpha.copy_(log_alpha)
    return gate


def test_expected_l0_matches_a_monte_carlo_estimate_of_p_z_nonzero():
    """Per gate and summed, within 4 standard errors of the sampling estimate."""
    torch.manual_seed(0)
    gate = _gate_with(torch.linspace(-4.0, 4.0, 9))
    draws = 20000
    with torch.no_grad():
        nonzero = torch.stack([gate.sample() for _ in range(draws)]) != 0
    estimate = nonzero.double().mean(dim=0)
    p = gate.keep_probabilities().detach().double()
    standard_error = (p * (1 - p) / draws).sqrt()
    assert torch.all((estimate - p).abs() <= 4 * standard_error + 1e-12), (estimate, p)
    # the sum: per-draw counts are independent across draws; their variance is the sum of the gates' variances
    total_error = math.sqrt(float((p * (1 - p)).sum()) / draws)
    expected_l0 = float(gate.expected_l0().detach())
    assert float(nonzero.sum(dim=1).double().mean()) == pytest.approx(expected_l0, abs=4 * total_error)


def test_samples_lie_in_the_unit_interval_with_exact_zeros_and_ones():
    torch.manual_seed(1)
    gate = _gate_with(torch.linspace(-3.0, 3.0, 50)).train()
    with torch.no_grad():
        z = torch.stack([gate() for _ in range(200)])
    assert z.shape == (200, 50)
    assert float(z.min()) == 0.0 and float(z.max()) == 1.0
    assert bool((z == 0).any()) and bool((z == 1).any())
    assert bool(((z > 0) & (z < 1)).any())  # and values in between, where the gradient flows


def test_samples_and_expected_l0_are_differentiable_in_log_alpha():
    torch.manual_seed(2)
    gate = HardConcreteGate(20, init_drop=0.5)
    gate.sample().sum().backward()
    assert gate.log_alpha.grad is not None and bool((gate.log_alpha.grad != 0).any())
    gate.log_alpha.grad = None
    gate.expected_l0().backward()
    assert bool((gate.log_alpha.grad > 0).all())


def test_the_deterministic_mask_drops_round_n_minus_l0_gates_and_keeps_soft_values():
    torch.manual_seed(3)
    log_alpha = torch.randn(40) * 2.0
    gate = _gate_with(log_alpha).eval()
    mask = gate()
    k = round(40 - float(gate.expected_l0().detach()))
    assert 0 < k < 40  # the test means something
    dropped = mask == 0
    assert int(dropped.sum()) == k
    # the dropped ones are the k smallest log_alpha
    assert set(torch.argsort(log_alpha)[:k].tolist()) == set(torch.nonzero(dropped).flatten().tolist())
    soft = torch.sigmoid(log_alpha / TEMPERATURE * EVAL_SHARPNESS)
    torch.testing.assert_close(mask[~dropped], soft[~dropped])
    assert bool((mask[~dropped] < 1).any())  # soft values, not ones
    assert not mask.requires_grad


def test_the_eval_mask_is_cached_and_follows_log_alpha_and_train_mode():
    torch.manual_seed(4)
    gate = HardConcreteGate(30, init_drop=0.5).eval()
    first = gate()
    assert gate() is first  # cached
    optimizer = torch.optim.SGD(gate.parameters(), lr=10.0)
    gate.expected_l0().backward()  # a descent step on L0 pushes every gate towards shut
    optimizer.step()
    after_step = gate()
    assert after_step is not first and int((after_step == 0).sum()) > int((first == 0).sum())
    gate.train()
    assert gate._mask_cache is None
    sample_a, sample_b = gate(), gate()
    assert not torch.equal(sample_a, sample_b)  # training mode samples
    gate.eval()
    torch.testing.assert_close(gate(), after_step)


def test_init_keep_probabilities_match_dphubert():
    """init_drop 0.01 (conv, heads, layers) -> P(keep) = 0.998; 0.5 (FFN units) -> 0.832."""
    torch.manual_seed(5)
    for init_drop, keep in ((0.01, 0.998), (0.5, 0.832)):
        gate = HardConcreteGate(3072, init_drop=init_drop)
        mean = math.log(1 - init_drop) - math.log(init_drop)
        assert float(gate.log_alpha.detach().mean()) == pytest.approx(mean, abs=1e-3)
        assert float(gate.log_alpha.detach().std()) == pytest.approx(0.01, rel=0.1)
        assert float(gate.keep_probabilities().detach().mean()) == pytest.approx(keep, abs=5e-4)
        assert float(gate.expected_l0().detach()) == pytest.approx(keep * 3072, rel=1e-3)


def test_open_all_gives_exact_ones_in_train_and_eval():
    torch.manual_seed(6)
    gate = HardConcreteGate(64, init_drop=0.5)
    gate.eval()
    before = gate()
    gate.open_all()
    assert float(gate.expected_l0().detach()) == 64.0
    assert torch.equal(gate(), torch.ones(64))  # the cached mask of before was dropped
    assert not torch.equal(before, torch.ones(64))
    gate.train()
    for _ in range(20):
        assert torch.equal(gate(), torch.ones(64))
    for dtype in (torch.float16, torch.float64):
        gate.to(dtype).eval()
        assert torch.equal(gate(), torch.ones(64, dtype=dtype))
        assert torch.equal(gate.train().sample(), torch.ones(64, dtype=dtype))


def test_repr_and_bad_arguments():
    gate = HardConcreteGate(12, init_drop=0.01)
    assert "n=12" in repr(gate) and "init_drop=0.01" in repr(gate)
    for bad in ({"n": 0}, {"n": 4, "init_drop": 0.0}, {"n": 4, "init_drop": 1.0}, {"n": 4, "init_std": -1.0}):
        with pytest.raises(ConfigError):
            HardConcreteGate(**bad)
