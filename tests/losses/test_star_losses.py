"""STaR's temporal Gram matrix and attention map losses, against hand-written loops."""
from __future__ import annotations

import math
from typing import List

import pytest
import torch

from upstream_distill.losses import (
    LOG_EPS,
    NORMALIZATIONS,
    attention_map_loss,
    consecutive_pairs,
    gram_distance,
    intra_layer_tgm_loss,
    layerwise_tgm_loss,
)

LENGTHS = [3, 5]  # a padded batch: the first utterance has 2 padded frames
FRAMES = max(LENGTHS)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def frame_mask(lengths: List[int] = LENGTHS) -> torch.Tensor:
    return torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]


def states(width: int, layers: int = 2, batch: int = len(LENGTHS)) -> List[torch.Tensor]:
    return [torch.randn(batch, FRAMES, width, dtype=torch.float64) for _ in range(layers)]


def attentions(heads: int, layers: int = 2, lengths: List[int] = LENGTHS) -> List[torch.Tensor]:
    """Softmax over the real keys (padded keys get 0), as ModelOutput promises."""
    keys = frame_mask(lengths)[:, None, None, :]
    logits = [torch.randn(len(lengths), heads, FRAMES, FRAMES, dtype=torch.float64) for _ in range(layers)]
    return [logit.masked_fill(~keys, -math.inf).softmax(dim=-1) for logit in logits]


def garble_padding(tensors: List[torch.Tensor], value: float, frame_dims=(1,)) -> List[torch.Tensor]:
    """Copies with ``value`` (or noise if it is None) written at every padded frame of ``frame_dims``."""
    padded = ~frame_mask()
    out = []
    for tensor in tensors:
        tensor = tensor.clone()
        for dim in frame_dims:
            index = [slice(None)] * tensor.dim()
            for b in range(len(LENGTHS)):
                index[0], index[dim] = b, padded[b]
                fill = torch.randn_like(tensor[tuple(index)]) * 1e3 if value is None else value
                tensor[tuple(index)] = fill
        out.append(tensor)
    return out


def orthogonal(width: int) -> torch.Tensor:
    return torch.linalg.qr(torch.randn(width, width, dtype=torch.float64))[0]


def reference_gram_loss(student_pairs, teacher_pairs, normalization: str) -> float:
    """sum_l mean_b [ sum_{i,j < n_b} (G^S_ij - G^T_ij)^2  (/ n_b^2 unless "none") ], entry by entry."""

    def entry(left, right, i, j):
        u, v = left[i], right[j]
        if normalization == "feature":
            return float(u @ v) / (float(u.norm()) * float(v.norm()))
        return float(u @ v)

    total = 0.0
    for (student_left, student_right), (teacher_left, teacher_right) in zip(student_pairs, teacher_pairs):
        per_utterance = []
        for b, n in enumerate(LENGTHS):
            s = sum((entry(student_left[b], student_right[b], i, j)
                     - entry(teacher_left[b], teacher_right[b], i, j)) ** 2 for i in range(n) for j in range(n))
            per_utterance.append(s if normalization == "none" else s / n ** 2)
        total += sum(per_utterance) / len(per_utterance)
    return total


def reference_attention_loss(student, teacher) -> float:
    total = 0.0
    for student_layer, teacher_layer in zip(student, teacher):
        s_map, t_map = student_layer.mean(dim=1), teacher_layer.mean(dim=1)
        kl = 0.0
        for b, n in enumerate(LENGTHS):
            for t in range(n):
                for j in range(n):
                    p, q = float(t_map[b, t, j]), float(s_map[b, t, j])
                    kl += p * (math.log(p + LOG_EPS) - math.log(q + LOG_EPS))
        total += kl / sum(LENGTHS)
    return total


# ---- zero for identical inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gram_losses_vanish_for_identical_features(normalization):
    mask, hidden = frame_mask(), states(6, layers=3)
    assert layerwise_tgm_loss(hidden, hidden, mask, normalization).item() == 0.0
    inputs, outputs = consecutive_pairs(hidden, [1, 2])
    assert intra_layer_tgm_loss(inputs, outputs, inputs, outputs, mask, normalization).item() == 0.0
    assert layerwise_tgm_loss(hidden, states(6, layers=3), mask, normalization).item() > 0


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gram_losses_vanish_across_widths_when_relations_agree(normalization):
    # the teacher's 12-dim features are the student's 8 dims, zero-padded and rotated: same Gram matrices
    mask, student, q = frame_mask(), states(8), orthogonal(12)  # one rotation for the whole network
    teacher = [torch.cat([s, torch.zeros(*s.shape[:2], 4, dtype=s.dtype)], dim=-1) @ q for s in student]
    assert layerwise_tgm_loss(student, teacher, mask, normalization).item() == pytest.approx(0.0, abs=1e-10)
    assert intra_layer_tgm_loss(student[:1], student[1:], teacher[:1], teacher[1:], mask,
                                normalization).item() == pytest.approx(0.0, abs=1e-10)


def test_attention_loss_vanishes_for_equal_head_means():
    mask, student = frame_mask(), attentions(heads=2)
    teacher = [torch.cat([a, a.flip(dims=[1])], dim=1) for a in student]  # 4 heads, same mean as the student's 2
    assert attention_map_loss(student, teacher, mask).item() == pytest.approx(0.0, abs=1e-12)
    assert attention_map_loss(student, attentions(heads=4), mask).item() > 0


# ---- invariance to rotations of the student's feature space ----------------------------------------------------


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gram_losses_ignore_student_rotation_and_width(normalization):
    mask, student, teacher, q = frame_mask(), states(8), states(12), orthogonal(8)
    rotated = [s @ q for s in student]
    plain = layerwise_tgm_loss(student, teacher, mask, normalization)
    assert plain.item() > 0
    assert layerwise_tgm_loss(rotated, teacher, mask, normalization).item() == pytest.approx(plain.item(), rel=1e-10)
    plain = intra_layer_tgm_loss(student[:1], student[1:], teacher[:1], teacher[1:], mask, normalization)
    assert plain.item() > 0
    assert intra_layer_tgm_loss(rotated[:1], rotated[1:], teacher[:1], teacher[1:], mask,
                                normalization).item() == pytest.approx(plain.item(), rel=1e-10)


# ---- hand-written formulas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_layerwise_loss_matches_the_formula(normalization):
    mask, student, teacher = frame_mask(), states(8), states(12)
    expected = reference_gram_loss(zip(student, student), zip(teacher, teacher), normalization)
    assert layerwise_tgm_loss(student, teacher, mask, normalization).item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_intra_layer_loss_matches_the_formula(normalization):
    mask, student, teacher = frame_mask(), states(8, layers=3), states(12, layers=3)
    s_in, s_out = consecutive_pairs(student, [1, 2])
    t_in, t_out = consecutive_pairs(teacher, [1, 2])
    expected = reference_gram_loss(zip(s_in, s_out), zip(t_in, t_out), normalization)
    assert intra_layer_tgm_loss(s_in, s_out, t_in, t_out, mask, normalization).item() == pytest.approx(expected,
                                                                                                      rel=1e-10)


def test_attention_loss_matches_the_formula():
    mask, student, teacher = frame_mask(), attentions(heads=2), attentions(heads=3)
    expected = reference_attention_loss(student, teacher)
    assert attention_map_loss(student, teacher, mask).item() == pytest.approx(expected, rel=1e-10)


def test_consecutive_pairs_picks_layer_inputs_and_outputs():
    hidden = states(4, layers=5)
    inputs, outputs = consecutive_pairs(hidden, [1, 4])
    assert [x is y for x, y in zip(inputs + outputs, [hidden[0], hidden[3], hidden[1], hidden[4]])] == [True] * 4


# ---- padding ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", [None, math.nan])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gram_losses_ignore_padded_frames(normalization, fill):
    mask, student, teacher = frame_mask(), states(8, layers=3), states(12, layers=3)
    clean = layerwise_tgm_loss(student, teacher, mask, normalization)
    garbled = layerwise_tgm_loss(garble_padding(student, fill), garble_padding(teacher, fill), mask, normalization)
    assert garbled.item() == pytest.approx(clean.item(), rel=1e-12)
    clean = intra_layer_tgm_loss(student[:2], student[1:], teacher[:2], teacher[1:], mask, normalization)
    student, teacher = garble_padding(student, fill), garble_padding(teacher, fill)
    garbled = intra_layer_tgm_loss(student[:2], student[1:], teacher[:2], teacher[1:], mask, normalization)
    assert garbled.item() == pytest.approx(clean.item(), rel=1e-12)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gram_distance_reads_only_the_real_block(normalization):
    # Grams built elsewhere may carry values in padded rows and columns
    mask, student, teacher = frame_mask(), *(torch.randn(2, FRAMES, FRAMES, dtype=torch.float64) for _ in range(2))
    clean = gram_distance(student, teacher, mask, normalization)
    student, teacher = garble_padding([student, teacher], None, frame_dims=(1, 2))
    assert gram_distance(student, teacher, mask, normalization).item() == pytest.approx(clean.item(), rel=1e-12)


@pytest.mark.parametrize("fill", [None, math.nan])
def test_attention_loss_ignores_padded_queries_and_keys(fill):
    mask, student, teacher = frame_mask(), attentions(heads=2), attentions(heads=3)
    clean = attention_map_loss(student, teacher, mask)
    garbled = attention_map_loss(garble_padding(student, fill, frame_dims=(2, 3)),
                                 garble_padding(teacher, fill, frame_dims=(2, 3)), mask)
    assert garbled.item() == pytest.approx(clean.item(), rel=1e-12)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_padded_batch_is_the_mean_of_its_utterances(normalization):
    mask, student, teacher = frame_mask(), states(8), states(12)
    alone = [layerwise_tgm_loss([s[b:b + 1, :n] for s in student], [t[b:b + 1, :n] for t in teacher],
                                torch.ones(1, n, dtype=torch.bool), normalization).item()
             for b, n in enumerate(LENGTHS)]
    batched = layerwise_tgm_loss(student, teacher, mask, normalization).item()
    assert batched == pytest.approx(sum(alone) / len(alone), rel=1e-10)


def test_attention_loss_of_a_padded_batch_weighs_utterances_by_frames():
    mask, student, teacher = frame_mask(), attentions(heads=2), attentions(heads=3)
    alone = [attention_map_loss([a[b:b + 1, :, :n, :n] for a in student], [a[b:b + 1, :, :n, :n] for a in teacher],
                                torch.ones(1, n, dtype=torch.bool)).item() for b, n in enumerate(LENGTHS)]
    expected = sum(n * loss for n, loss in zip(LENGTHS, alone)) / sum(LENGTHS)
    assert attention_map_loss(student, teacher, mask).item() == pytest.approx(expected, rel=1e-10)


# ---- gradients ---------------------------------------------------------------------------------------------------


def assert_grad_on_real_frames_only(tensor: torch.Tensor, frame_dims=(1,)):
    grad = tensor.grad
    assert grad is not None and bool(torch.isfinite(grad).all())
    padded = ~frame_mask()
    for b, n in enumerate(LENGTHS):
        real = grad[b].movedim(frame_dims[0] - 1, 0)[:n]
        assert bool((real != 0).any())
        for dim in frame_dims:
            assert bool((grad[b].movedim(dim - 1, 0)[padded[b]] == 0).all())


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gradients_reach_the_student_through_the_gram_losses(normalization):
    mask, teacher = frame_mask(), garble_padding(states(12, layers=3), math.nan)
    student = [s.requires_grad_() for s in garble_padding(states(8, layers=3), math.nan)]
    loss = layerwise_tgm_loss(student, teacher, mask, normalization) \
        + intra_layer_tgm_loss(student[:2], student[1:], teacher[:2], teacher[1:], mask, normalization)
    loss.backward()
    for s in student:
        assert_grad_on_real_frames_only(s)


def test_gradients_reach_the_student_through_the_attention_loss():
    mask, teacher = frame_mask(), attentions(heads=3)
    student = [a.requires_grad_() for a in garble_padding(attentions(heads=2), math.nan, frame_dims=(2, 3))]
    attention_map_loss(student, teacher, mask).backward()
    for a in student:
        assert_grad_on_real_frames_only(a, frame_dims=(2, 3))


# ---- errors ------------------------------------------------------------------------------------------------------


def test_mismatched_or_empty_lists_are_rejected():
    mask, student, teacher = frame_mask(), states(8, layers=2), states(12, layers=3)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        layerwise_tgm_loss(student, teacher, mask)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        layerwise_tgm_loss([], [], mask)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        intra_layer_tgm_loss(student, student, teacher[:2], teacher, mask)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        attention_map_loss(attentions(2, layers=1), attentions(2, layers=2), mask)
    with pytest.raises(ValueError, match="equally long, non-empty"):
        attention_map_loss([], [], mask)


def test_mismatched_shapes_and_bad_arguments_are_rejected():
    mask = frame_mask()
    with pytest.raises(ValueError, match=r"teacher_states\[1\] has shape \(2, 4, 12\)"):
        layerwise_tgm_loss(states(8), [states(12)[0], torch.randn(2, 4, 12)], mask)
    with pytest.raises(ValueError, match="student_states"):
        layerwise_tgm_loss([torch.randn(3, FRAMES, 8)], states(12, layers=1), mask)
    with pytest.raises(ValueError, match="normalization must be one of"):
        layerwise_tgm_loss(states(8), states(12), mask, "batch")
    with pytest.raises(ValueError, match="student attention of layer 0"):
        attention_map_loss([torch.rand(2, 2, FRAMES, FRAMES - 1)], attentions(2, layers=1), mask)
    with pytest.raises(ValueError, match=r"layers must be in 1\.\.2"):
        consecutive_pairs(states(4, layers=3), [0, 1])
    with pytest.raises(ValueError, match=r"layers must be in 1\.\.2"):
        consecutive_pairs(states(4, layers=3), [3])
