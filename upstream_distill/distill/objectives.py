"""A distillation method's loss: a weighted sum of named objectives chosen in YAML.

``config_model.yaml``::

    objectives:
      regression: {weight: 1.0, l1_weight: 1.0, cosine_weight: 1.0}

Each objective says what it reads from the teacher (hidden-state indices,
attention maps, unit logits), so the expert asks the teacher (or the target
cache) for exactly that, and computes its terms from the two
:class:`~upstream_distill.models.ModelOutput` (the formulas live in
``upstream_distill.losses``).  A new objective is a small class registered in
:data:`OBJECTIVES`; methods differ by configuration, not by copied loops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Type

from torch import Tensor, nn

from upstream_distill.losses.regression import l1_cosine_regression
from upstream_distill.models import ModelOutput
from upstream_distill.models.student import StudentModel
from upstream_distill.models.teacher import TeacherModel
from upstream_distill.training.errors import ConfigError

__all__ = ["OBJECTIVES", "Objective", "TeacherNeeds", "build_objectives"]


@dataclass
class TeacherNeeds:
    """What the objectives read from the teacher."""

    layers: FrozenSet[int] = frozenset()  # hidden-state indices
    attentions: bool = False
    unit_logits: bool = False

    def __or__(self, other: "TeacherNeeds") -> "TeacherNeeds":
        return TeacherNeeds(self.layers | other.layers, self.attentions or other.attentions,
                            self.unit_logits or other.unit_logits)


class Objective(nn.Module):
    """Base: ``weight`` and the teacher's ``needs``; ``terms(teacher, student) -> {"loss", ...}``.

    An objective is an ``nn.Module`` so that one with parameters of its own
    (e.g. a projection trained with the student) is saved and optimised with it.
    """

    def __init__(self, weight: float, needs: TeacherNeeds):
        super().__init__()
        self.weight, self.needs = float(weight), needs

    def terms(self, teacher: ModelOutput, student: ModelOutput) -> Dict[str, Tensor]:
        raise NotImplementedError


class RegressionObjective(Objective):
    """DistilHuBERT's L1 + log-sigmoid cosine on the student's prediction heads
    (:mod:`upstream_distill.losses.regression`); the targets are the teacher
    hidden states named by the student's ``head_targets``."""

    def __init__(self, student: StudentModel, teacher: TeacherModel, weight: float = 1.0,
                 l1_weight: float = 1.0, cosine_weight: float = 1.0):
        config = student.config
        if config.prediction_heads == "none":
            raise ConfigError("objectives.regression needs a student with prediction heads "
                              "(student.prediction_heads: distilhubert or layerwise)")
        bad = [i for i in config.head_targets if not 0 <= i <= len(teacher.layers)]
        if bad:
            raise ConfigError(f"student.head_targets {bad} are not teacher hidden states "
                              f"0..{len(teacher.layers)}")
        if config.head_dim != teacher.config.encoder_dim:
            raise ConfigError(f"student.head_dim {config.head_dim} differs from the teacher's width "
                              f"{teacher.config.encoder_dim}")
        super().__init__(weight, TeacherNeeds(layers=frozenset(config.head_targets)))
        self.targets: List[int] = list(config.head_targets)
        self.l1_weight, self.cosine_weight = float(l1_weight), float(cosine_weight)

    def terms(self, teacher, student):
        targets = [teacher.hidden_states[i] for i in self.targets]
        return l1_cosine_regression(student.predictions, targets, student.frame_mask,
                                    self.l1_weight, self.cosine_weight)


#: objective name in YAML -> class; constructors take (student, teacher, **yaml settings)
OBJECTIVES: Dict[str, Type[Objective]] = {
    "regression": RegressionObjective,
}


def build_objectives(config: dict, student: StudentModel, teacher: TeacherModel) -> nn.ModuleDict:
    """``objectives:`` section -> ``ModuleDict`` name -> Objective; ConfigError names bad entries."""
    if not config:
        raise ConfigError(f"config.model.objectives: choose at least one of {sorted(OBJECTIVES)}")
    built = nn.ModuleDict()
    for name, settings in config.items():
        if name not in OBJECTIVES:
            raise ConfigError(f"config.model.objectives: unknown objective {name!r} "
                              f"(known: {sorted(OBJECTIVES)})")
        try:
            built[name] = OBJECTIVES[name](student, teacher, **(settings or {}))
        except TypeError as err:
            raise ConfigError(f"config.model.objectives.{name}: {err}") from None
    return built
