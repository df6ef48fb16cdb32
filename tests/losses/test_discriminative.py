"""Wang et al.'s discriminative loss: KL over HuBERT's hidden units, against hand-computed values."""
from __future__ import annotations

import math

import pytest
import torch

from upstream_distill.losses.discriminative import (
    StudentUnitProjection,
    discriminative_loss,
    require_unit_head,
    teacher_unit_logits,
)
from upstream_distill.models import TeacherModel, tiny_teacher_config


@pytest.fixture(scope="module")
def teacher() -> TeacherModel:
    torch.manual_seed(0)
    return TeacherModel(tiny_teacher_config("hubert")).eval()


def test_zero_when_the_distributions_agree():
    logits = torch.randn(2, 5, 7)
    mask = torch.ones(2, 5, dtype=torch.bool)
    assert discriminative_loss(logits, logits.clone(), mask).item() == pytest.approx(0.0, abs=1e-6)
    # softmax is shift-invariant: a per-frame offset is the same distribution
    assert discriminative_loss(logits, logits + 3.0, mask).item() == pytest.approx(0.0, abs=1e-6)


def test_equals_the_hand_computed_kl_over_real_frames():
    teacher_logits = torch.tensor([[[0.0, 1.0, 2.0], [1.0, 1.0, 0.0]], [[2.0, 0.0, -1.0], [5.0, 5.0, 5.0]]])
    student_logits = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 2.0, 1.0]], [[0.5, 0.5, 0.0], [9.0, 0.0, 0.0]]])
    frame_mask = torch.tensor([[True, True], [True, False]])

    def softmax(row):
        total = sum(math.exp(v) for v in row)
        return [math.exp(v) / total for v in row]

    kls = []
    for b in range(2):
        for n in range(2):
            if frame_mask[b, n]:
                p = softmax(teacher_logits[b, n].tolist())
                q = softmax(student_logits[b, n].tolist())
                kls.append(sum(pk * (math.log(pk) - math.log(qk)) for pk, qk in zip(p, q)))
    expected = sum(kls) / len(kls)
    loss = discriminative_loss(teacher_logits, student_logits, frame_mask)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_padded_frames_are_ignored():
    teacher_logits, student_logits = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    frame_mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    reference = discriminative_loss(teacher_logits, student_logits, frame_mask)
    teacher_logits[1, 3:] = float("nan")
    student_logits[1, 3:] = 1e4
    assert torch.equal(discriminative_loss(teacher_logits, student_logits, frame_mask), reference)
    none_real = discriminative_loss(teacher_logits, student_logits, torch.zeros(2, 6, dtype=torch.bool))
    assert none_real.item() == 0.0


def test_gradients_reach_the_student_projection_only(teacher):
    head = require_unit_head(teacher)
    student = StudentUnitProjection(24, head)
    assert "label_embeddings" in dict(student.named_buffers())
    assert [name for name, _ in student.named_parameters()] == ["proj.weight", "proj.bias"]
    hidden_t, hidden_s = torch.randn(2, 5, 48), torch.randn(2, 5, 24, requires_grad=True)
    teacher_logits = head(hidden_t)
    loss = discriminative_loss(teacher_logits, student(hidden_s), torch.ones(2, 5, dtype=torch.bool))
    loss.backward()
    assert student.proj.weight.grad.abs().sum() > 0 and hidden_s.grad.abs().sum() > 0
    assert not student.label_embeddings.requires_grad
    assert head.label_embeddings.grad is None and head.final_proj.weight.grad is None  # teacher side detached
    # the buffer is a copy: the teacher's head is never changed through the student
    assert student.label_embeddings.data_ptr() != head.label_embeddings.data_ptr()
    assert torch.equal(student.label_embeddings, head.label_embeddings)


def test_the_teachers_own_projection_reproduces_the_teachers_logits(teacher):
    head = require_unit_head(teacher)
    student = StudentUnitProjection(teacher.config.encoder_dim, head)
    student.proj.load_state_dict(head.final_proj.state_dict())
    with torch.no_grad():
        out = teacher(torch.randn(2, 4000), torch.tensor([4000, 3000]), output_unit_logits=True)
        assert torch.equal(student(out.last_hidden_state), out.unit_logits)
        assert torch.equal(teacher_unit_logits(head, out.last_hidden_state), out.unit_logits)
    assert discriminative_loss(out.unit_logits, student(out.last_hidden_state), out.frame_mask).item() \
        == pytest.approx(0.0, abs=1e-6)


def test_a_temperature_override_applies_to_both_sides(teacher):
    head = require_unit_head(teacher)
    student = StudentUnitProjection(48, head, temperature=1.0)
    student.proj.load_state_dict(head.final_proj.state_dict())
    hidden = torch.randn(1, 3, 48)
    assert student.temperature == 1.0
    assert torch.allclose(teacher_unit_logits(head, hidden, 1.0), head(hidden) * head.temperature, atol=1e-6)
    assert torch.equal(student(hidden), teacher_unit_logits(head, hidden, 1.0))
    with pytest.raises(ValueError, match="positive"):
        StudentUnitProjection(48, head, temperature=0.0)


def test_teachers_without_a_unit_head_get_a_clear_error():
    wav2vec2 = TeacherModel(tiny_teacher_config("wav2vec2"))
    with pytest.raises(ValueError, match="wav2vec2 teacher has no hidden-unit head.*HuBERT checkpoint"):
        require_unit_head(wav2vec2)


def test_shape_mismatches_are_reported():
    with pytest.raises(ValueError, match="differ"):
        discriminative_loss(torch.randn(1, 2, 3), torch.randn(1, 2, 4), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="frame_mask"):
        discriminative_loss(torch.randn(1, 2, 3), torch.randn(1, 2, 3), torch.ones(1, 3, dtype=torch.bool))
