"""DPHuBERT's layer-to-layer loss and its objective: layers, shared maps, identity start."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.core.errors import ConfigError
from upstream_distill.distill.objectives import LayerToLayerObjective, dphubert_layers
from upstream_distill.losses.layer_to_layer import layer_to_layer_loss
from upstream_distill.models import PrunedModel, TeacherModel, tiny_teacher_config


def test_it_matches_a_hand_computed_value_and_ignores_padding():
    prediction = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [9.0, 9.0]]])
    target = torch.tensor([[[1.0, 1.0], [0.0, 2.0], [-5.0, 3.0]]])
    mask = torch.tensor([[True, True, False]])
    terms = layer_to_layer_loss([prediction, prediction], [target, target], mask)
    l1 = (0.5 + 0.0) / 2  # per frame: mean |difference| over the 2 dims; frame 3 is padding
    cosine = (2 ** -0.5 + 1.0) / 2
    assert terms["l1"].item() == pytest.approx(l1) and terms["cosine"].item() == pytest.approx(cosine)
    assert terms["loss"].item() == pytest.approx(l1 - cosine)  # layers averaged, raw cosine


def test_dphuberts_layers_scale_with_the_teachers_depth():
    assert dphubert_layers(12) == [0, 4, 8, 12] and dphubert_layers(6) == [0, 2, 4, 6]


def test_a_student_that_is_the_teacher_starts_at_the_loss_minimum():
    torch.manual_seed(0)
    teacher = TeacherModel(tiny_teacher_config("wavlm")).eval()
    student = PrunedModel.from_teacher(teacher).eval()
    objective = LayerToLayerObjective(student, teacher)
    assert objective.layers == [0, 1, 2] and objective.groups == [[0], [1, 2]]  # 0 own map, the rest one
    assert len(objective.projections) == 2
    wav = torch.randn(1, 8000)
    with torch.no_grad():
        terms = objective.terms(teacher(wav), student(wav))
    assert terms["l1"].item() == pytest.approx(0.0, abs=1e-6) and terms["cosine"].item() == pytest.approx(1.0)


def test_layers_beyond_either_model_and_uncovered_groups_are_named():
    teacher = TeacherModel(tiny_teacher_config())
    student = PrunedModel.from_teacher(teacher)
    with pytest.raises(ConfigError, match=r"objectives.layer_to_layer.layers \[0, 5\]"):
        LayerToLayerObjective(student, teacher, layers=[0, 5])
    with pytest.raises(ConfigError, match="objectives.layer_to_layer.shared"):
        LayerToLayerObjective(student, teacher, layers=[0, 1, 2], shared=[[0], [1]])
