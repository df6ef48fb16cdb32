"""DistilHuBERT's L1 + log-sigmoid cosine loss on small tensors."""
from __future__ import annotations

import math

import pytest
import torch

from upstream_distill.losses.regression import l1_cosine_regression


def _mask(lengths, frames):
    return torch.arange(frames)[None, :] < torch.tensor(lengths)[:, None]


def test_a_perfect_prediction_has_zero_l1_and_the_loss_minimum():
    """The paper's -log sigmoid(cos) is never 0: at cos = 1 it is log(1 + 1/e), its minimum;
    so a perfect prediction gives L1 = 0 and the smallest loss, which any error raises."""
    torch.manual_seed(0)
    target = torch.randn(2, 5, 4)
    mask = _mask([5, 3], 5)
    terms = l1_cosine_regression([target.clone()], [target], mask)
    assert float(terms["l1"]) == 0.0
    floor = math.log(1 + math.exp(-1))
    assert float(terms["cosine_loss"]) == pytest.approx(floor, rel=1e-6)
    assert float(terms["loss"]) == pytest.approx(floor, rel=1e-6)
    assert float(terms["cosine"]) == pytest.approx(1.0)
    for _ in range(5):
        noisy = target + 0.1 * torch.randn_like(target)
        assert float(l1_cosine_regression([noisy], [target], mask)["loss"]) > floor


def test_it_matches_a_hand_computed_value():
    prediction = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]]])  # frame 3 is padding
    target = torch.tensor([[[0.0, 1.0], [0.0, 1.0], [-5.0, 7.0]]])
    mask = _mask([2], 3)
    # frame 1: |1-0|+|0-1| = 2 -> 1 per dim, cos = 0; frame 2: |0|+|1| -> 0.5, cos = 1
    l1 = (1.0 + 0.5) / 2
    log_sigmoid = lambda x: -math.log(1 + math.exp(-x))  # noqa: E731
    cosine_loss = -(log_sigmoid(0.0) + log_sigmoid(1.0)) / 2
    terms = l1_cosine_regression([prediction], [target], mask, l1_weight=1.0, cosine_weight=2.0)
    assert float(terms["l1"]) == pytest.approx(l1)
    assert float(terms["cosine_loss"]) == pytest.approx(cosine_loss)
    assert float(terms["loss"]) == pytest.approx(l1 + 2.0 * cosine_loss)


def test_layers_are_summed_and_padding_is_ignored():
    torch.manual_seed(1)
    predictions = [torch.randn(2, 6, 3) for _ in range(2)]
    targets = [torch.randn(2, 6, 3) for _ in range(2)]
    mask = _mask([6, 4], 6)
    both = l1_cosine_regression(predictions, targets, mask)["loss"]
    each = sum(l1_cosine_regression([p], [t], mask)["loss"] for p, t in zip(predictions, targets))
    assert float(both) == pytest.approx(float(each), rel=1e-6)
    changed = [p.clone() for p in predictions]
    for p in changed:
        p[1, 4:] = 100.0
    assert float(l1_cosine_regression(changed, targets, mask)["loss"]) == pytest.approx(float(both), rel=1e-6)


def test_gradients_reach_the_prediction_not_the_target():
    prediction = torch.randn(1, 4, 3, requires_grad=True)
    target = torch.randn(1, 4, 3, requires_grad=True)
    l1_cosine_regression([prediction], [target], _mask([4], 4))["loss"].backward()
    assert prediction.grad is not None and prediction.grad.abs().sum() > 0
    assert target.grad is None


def test_mismatched_lists_are_refused():
    with pytest.raises(ValueError, match="one target per prediction"):
        l1_cosine_regression([torch.zeros(1, 2, 3)], [], _mask([2], 2))
