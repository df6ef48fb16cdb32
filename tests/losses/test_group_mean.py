"""SKILL's group-mean targets and objective."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.core.errors import ConfigError
from upstream_distill.distill.objectives import GroupMeanObjective
from upstream_distill.losses.group_mean import group_mean_targets
from upstream_distill.models import PrunedModel, StudentModel, TeacherModel, tiny_teacher_config
from upstream_distill.models.student_config import StudentConfig


def test_the_group_target_is_the_hand_computed_mean():
    states = [torch.full((1, 2, 3), float(i)) for i in range(5)]
    states[3] = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    targets = group_mean_targets(states, [[0], [1, 2], [3, 4]])
    assert torch.equal(targets[0], states[0]) and torch.equal(targets[1], torch.full((1, 2, 3), 1.5))
    assert torch.equal(targets[2], torch.tensor([[[2.5, 3.0, 3.5], [4.0, 4.5, 5.0]]]))
    with pytest.raises(ValueError, match="non-empty"):
        group_mean_targets(states, [[0], []])


def _tiny_teacher(layers: int = 4) -> TeacherModel:
    config = tiny_teacher_config()
    config.encoder_layers = layers
    return TeacherModel(config).eval()


def test_each_group_is_predicted_from_its_deepest_layer_or_its_middle_and_scaled_for_shallow_students():
    torch.manual_seed(0)
    teacher = _tiny_teacher()
    pruned = PrunedModel.from_teacher(teacher)
    deepest = GroupMeanObjective(pruned, teacher, groups=[[0], [1, 2], [3, 4]])
    assert deepest.student_layers == [0, 2, 4] and deepest.needs.layers == frozenset(range(5))
    assert GroupMeanObjective(pruned, teacher, groups=[[0, 1, 2], [3, 4]], student_layer="mean").student_layers == [1, 4]
    shallow = StudentModel(StudentConfig.from_dict({"encoder_dim": 48, "encoder_layers": 2, "encoder_heads": 4,
                                                    "ffn_dim": 96, "pos_conv_kernel": 16, "pos_conv_groups": 4,
                                                    "conv_layers": [[32, 10, 5]] + [[32, 3, 2]] * 4 + [[32, 2, 2]] * 2}))
    assert GroupMeanObjective(shallow, teacher, groups=[[0], [1, 2], [3, 4]]).student_layers == [0, 1, 2]
    wav = torch.randn(1, 8000)
    with torch.no_grad():  # a student that is the teacher, one group per layer: the identity maps are exact
        terms = GroupMeanObjective(pruned, teacher, groups=[[i] for i in range(5)]).terms(teacher(wav), pruned(wav))
    assert terms["l1"].item() == pytest.approx(0.0, abs=1e-6)


def test_bad_groups_are_named_by_their_key():
    teacher = _tiny_teacher()
    student = PrunedModel.from_teacher(teacher)
    with pytest.raises(ConfigError, match=r"objectives.group_mean.groups \[\[0\], \[5\]\]"):
        GroupMeanObjective(student, teacher, groups=[[0], [5]])
    with pytest.raises(ConfigError, match="objectives.group_mean.groups: 'auto'"):
        GroupMeanObjective(student, teacher)
    with pytest.raises(ConfigError, match="student_layer"):
        GroupMeanObjective(student, teacher, groups=[[0]], student_layer="last")
