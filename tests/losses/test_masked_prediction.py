"""HuBERT's masked-prediction loss and span masks, against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from upstream_distill.losses.masked_prediction import MaskedPredictionConfig, masked_prediction_loss, span_mask


def test_the_loss_equals_the_hand_computed_value():
    ln = math.log
    logits = torch.tensor([
        [[0.0, ln(3), 0.0], [ln(2), 0.0, 0.0], [0.0, 0.0, 0.0]],   # softmax (1,3,1)/5, (2,1,1)/4, uniform
        [[0.0, 0.0, ln(6)], [5.0, 0.0, 0.0], [9.0, 9.0, 9.0]],     # (1,1,6)/8, ignored target, padding
    ])
    targets = torch.tensor([[1, 2, 0], [2, -100, 1]])
    mask = torch.tensor([[True, True, False], [False, True, True]])
    frame_mask = torch.tensor([[True, True, True], [True, True, False]])
    terms = masked_prediction_loss(logits, targets, mask, frame_mask, masked_weight=1.0, unmasked_weight=0.5)

    masked_ce = (-ln(3 / 5) - ln(1 / 4)) / 2          # row 0 frames 0 and 1
    unmasked_ce = (-ln(1 / 3) - ln(6 / 8)) / 2        # row 0 frame 2, row 1 frame 0 (= ln 2)
    assert terms["masked_ce"].item() == pytest.approx(masked_ce, rel=1e-6)
    assert terms["unmasked_ce"].item() == pytest.approx(unmasked_ce, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(masked_ce + 0.5 * unmasked_ce, rel=1e-6)
    assert terms["masked_acc"].item() == pytest.approx(0.5)   # frame 0 right, frame 1 wrong
    assert terms["unmasked_acc"].item() == pytest.approx(1.0)
    assert terms["masked_share"].item() == pytest.approx(3 / 5)


def test_hubert_base_weights_ignore_unmasked_frames_and_gradients_flow():
    logits = torch.randn(2, 7, 5, requires_grad=True)
    targets = torch.randint(0, 5, (2, 7))
    mask = torch.zeros(2, 7, dtype=torch.bool)
    mask[:, 2:5] = True
    terms = masked_prediction_loss(logits, targets, mask, torch.ones(2, 7, dtype=torch.bool))
    assert terms["loss"].item() == pytest.approx(terms["masked_ce"].item())
    terms["loss"].backward()
    assert logits.grad[:, 2:5].abs().sum() > 0 and logits.grad[:, :2].abs().sum() == 0


def test_span_masks_cover_spans_of_real_frames_only():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([200, 120, 15])
    shares = []
    for _ in range(50):
        mask = span_mask(lengths, prob=0.8, span=10, min_spans=2, generator=generator)
        assert mask.shape == (3, 200)
        assert not mask[1, 120:].any() and not mask[2, 15:].any()
        assert mask[2, :15].sum() >= 10  # a short utterance still gets its minimum spans
        shares.append(mask[0].float().mean().item())
        runs = torch.diff(torch.cat([torch.tensor([0]), mask[0].int(), torch.tensor([0])])).nonzero().flatten()
        assert all(int(end - start) >= 10 for start, end in zip(runs[::2], runs[1::2]))
    assert 0.45 < sum(shares) / len(shares) < 0.65  # ~1 - exp(-0.8) with overlapping spans


def test_span_masks_follow_the_global_generator_the_runner_restores():
    torch.manual_seed(4)
    first = span_mask(torch.tensor([80, 60]), 0.65, 10)
    torch.manual_seed(4)
    assert torch.equal(first, span_mask(torch.tensor([80, 60]), 0.65, 10))


def test_the_objective_config_checks_its_values():
    assert MaskedPredictionConfig().mask_prob == 0.8
    with pytest.raises(ValueError, match="mask_prob"):
        MaskedPredictionConfig(mask_prob=0.0)
    with pytest.raises(ValueError, match="not both 0"):
        MaskedPredictionConfig(masked_weight=0.0, unmasked_weight=0.0)
