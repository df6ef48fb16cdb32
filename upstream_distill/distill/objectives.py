"""A distillation method's loss: a weighted sum of named objectives chosen in YAML.

``config_model.yaml``::

    objectives:
      regression: {weight: 1.0, l1_weight: 1.0, cosine_weight: 1.0}       # DistilHuBERT
      layerwise_tgm: {weight: 1.0, layers: auto, normalization: feature}  # STaR
      intra_layer_tgm: {weight: 1.0, layers: auto, normalization: feature}
      attention_map: {weight: 0.0, layers: auto}
      discriminative: {weight: 1.0, temperature: 1.0}                     # Wang et al.
      frontend: {weight: 1.0}                                             # Wang et al., stage 1
      layer_to_layer: {weight: 1.0, layers: auto, shared: auto}          # DPHuBERT
      group_mean: {weight: 1.0, groups: auto, student_layer: deepest}    # SKILL

Each objective says what it reads from the teacher (hidden-state indices,
attention maps, unit logits), so the expert asks the teacher (or the target
cache) for exactly that, and computes its terms from the two
:class:`~upstream_distill.models.ModelOutput` (the formulas live in
``upstream_distill.losses``).  A new objective is a small class registered in
:data:`OBJECTIVES`; methods differ by configuration, not by copied loops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Sequence, Type, Union

import torch
from torch import Tensor, nn

from upstream_distill.core.errors import ConfigError
from upstream_distill.losses.attention_map import attention_map_loss
from upstream_distill.losses.discriminative import (
    StudentUnitProjection,
    discriminative_loss,
    require_unit_head,
    teacher_unit_logits,
)
from upstream_distill.losses.group_mean import group_mean_targets
from upstream_distill.losses.intra_layer_gram import intra_layer_tgm_loss
from upstream_distill.losses.layer_to_layer import layer_to_layer_loss
from upstream_distill.losses.regression import l1_cosine_regression
from upstream_distill.losses.temporal_gram import NORMALIZATIONS, layerwise_tgm_loss
from upstream_distill.models import ModelOutput
from upstream_distill.models.student import StudentModel
from upstream_distill.models.teacher import TeacherModel

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

    #: True for an objective of the front-end stage (trained alone for ``stages.frontend_steps``)
    frontend_only = False

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


class DiscriminativeObjective(Objective):
    """Wang et al.'s discriminative loss (:mod:`upstream_distill.losses.discriminative`): the
    student's last layer, through its own projection, scored against the teacher's frozen label
    embeddings; KL from the teacher's unit distribution (its last layer through its own head).
    Both sides use ``temperature`` (None: the checkpoint's, 0.1 for HuBERT).  The teacher side is
    computed here from its last hidden state, so ``--cache-teacher`` works too."""

    def __init__(self, student, teacher, weight: float = 1.0, temperature=None):
        try:
            head = require_unit_head(teacher)
        except ValueError as err:
            raise ConfigError(f"config.model.objectives.discriminative: {err}") from None
        last = len(teacher.layers)
        super().__init__(weight, TeacherNeeds(layers=frozenset({last})))
        self.last = last
        self.projection = StudentUnitProjection(student.config.encoder_dim, head, temperature)
        self._teacher_head = (head,)  # a tuple: the frozen head stays the teacher's, outside this state
        self.temperature = temperature

    def terms(self, teacher, student):
        target = teacher_unit_logits(self._teacher_head[0], teacher.hidden_states[self.last].detach(), self.temperature)
        logits = self.projection(student.hidden_states[-1])
        agree = (logits.argmax(-1) == target.argmax(-1)).float()
        mask = student.frame_mask
        return {"loss": discriminative_loss(target, logits, mask),
                "unit_agreement": (agree * mask).sum() / mask.sum().clamp(min=1)}


class FrontEndObjective(Objective):
    """Wang et al.'s front-end distillation, stage 1: L1 between the student's front-end output
    (its transformer input before the positional conv, through a trained linear map to the
    teacher's width) and the teacher's transformer input (hidden state 0); see the expert's
    ``stages``.  The L1 is :func:`~upstream_distill.losses.regression.l1_cosine_regression`'s."""

    def __init__(self, student, teacher, weight: float = 1.0):
        super().__init__(weight, TeacherNeeds(layers=frozenset({0})))
        self.to_teacher = nn.Linear(student.config.encoder_dim, teacher.config.encoder_dim)
        self.frontend_only = True

    def terms(self, teacher, student):
        terms = l1_cosine_regression([self.to_teacher(student.projected_features)], [teacher.hidden_states[0]],
                                     student.frame_mask, l1_weight=1.0, cosine_weight=0.0)
        return {"loss": terms["loss"], "cosine": terms["cosine"]}


def dphubert_layers(teacher_layers: int) -> List[int]:
    """DPHuBERT's hidden states 0/4/8/12 of a 12-layer teacher, proportionally for other depths
    (0/2/4/6 of 6 layers): the projected CNN output and every third of the stack."""
    return sorted({round(teacher_layers * k / 3) for k in range(4)})


class LayerToLayerObjective(Objective):
    """DPHuBERT's layer-to-layer loss (:mod:`upstream_distill.losses.layer_to_layer`): the student's
    hidden state ``l`` predicts the teacher's hidden state ``l`` (the student is the pruned teacher:
    same depth) through an identity-initialised linear map.  ``layers``: hidden-state indices
    (``auto``: :func:`dphubert_layers`); ``shared``: groups of them that use one map (``auto``:
    DPHuBERT's, the first layer its own map and the others one map together)."""

    def __init__(self, student, teacher, weight: float = 1.0, layers: Union[str, Sequence[int]] = "auto",
                 shared: Union[str, Sequence[Sequence[int]]] = "auto", l1_weight: float = 1.0,
                 cosine_weight: float = 1.0):
        key = "config.model.objectives.layer_to_layer"
        depth = len(teacher.layers)
        layers = dphubert_layers(depth) if layers == "auto" else sorted(int(i) for i in layers)
        limit = min(depth, len(student.layers))
        if not layers or any(not 0 <= i <= limit for i in layers):
            raise ConfigError(f"{key}.layers {layers}: hidden states of both student and teacher are 0..{limit}")
        groups = ([layers[:1], layers[1:]] if len(layers) > 1 else [layers]) if shared == "auto" \
            else [sorted(int(i) for i in group) for group in shared]
        if sorted(i for group in groups for i in group) != layers:
            raise ConfigError(f"{key}.shared {groups}: the groups must cover the layers {layers} once each")
        super().__init__(weight, TeacherNeeds(layers=frozenset(layers)))
        self.layers, self.groups = layers, [g for g in groups if g]
        self.group_of = {i: n for n, group in enumerate(self.groups) for i in group}
        self.projections = nn.ModuleList(_identity_linear(student.config.encoder_dim, teacher.config.encoder_dim)
                                         for _ in self.groups)
        self.l1_weight, self.cosine_weight = float(l1_weight), float(cosine_weight)

    def terms(self, teacher, student):
        predictions = [self.projections[self.group_of[i]](student.hidden_states[i]) for i in self.layers]
        return layer_to_layer_loss(predictions, [teacher.hidden_states[i] for i in self.layers],
                                   student.frame_mask, self.l1_weight, self.cosine_weight)


class GroupMeanObjective(Objective):
    """SKILL's objective (:mod:`upstream_distill.losses.group_mean`): for each group of teacher layers
    the frame-wise mean of its hidden states is the target, predicted from one student layer through
    an identity-initialised linear map of its own, scored with DPHuBERT's L1 − cos.

    ``groups``: lists of teacher hidden-state indices (``auto``: the groups the expert's
    ``layer_groups`` section computes from the teacher's layer similarity). ``student_layer``: which
    student hidden state predicts a group: ``deepest`` (its deepest layer: the student must reach the
    group's content by that depth; PROPOSED, SKILL does not say) or ``mean`` (its middle layer); for a
    student shallower than the teacher the index is scaled by the depth ratio.
    """

    STUDENT_LAYERS = ("deepest", "mean")

    def __init__(self, student, teacher, weight: float = 1.0, groups: Union[str, Sequence[Sequence[int]]] = "auto",
                 student_layer: str = "deepest", l1_weight: float = 1.0, cosine_weight: float = 1.0):
        key = "config.model.objectives.group_mean"
        if groups == "auto":
            raise ConfigError(f"{key}.groups: 'auto' takes the groups of config.model.layer_groups, which this "
                              f"method has not got; list the groups of teacher hidden states instead")
        groups = [sorted(int(i) for i in group) for group in groups]
        depth, student_depth = len(teacher.layers), len(student.layers)
        if not groups or any(not group or not 0 <= min(group) <= max(group) <= depth for group in groups):
            raise ConfigError(f"{key}.groups {groups}: non-empty groups of teacher hidden states 0..{depth}")
        if student_layer not in self.STUDENT_LAYERS:
            raise ConfigError(f"{key}.student_layer must be one of {self.STUDENT_LAYERS}, got {student_layer!r}")
        super().__init__(weight, TeacherNeeds(layers=frozenset(i for group in groups for i in group)))
        self.groups = groups
        anchors = [max(g) if student_layer == "deepest" else round(sum(g) / len(g)) for g in groups]
        self.student_layers = [round(a * student_depth / depth) for a in anchors]
        self.projections = nn.ModuleList(_identity_linear(student.config.encoder_dim, teacher.config.encoder_dim)
                                         for _ in groups)
        self.l1_weight, self.cosine_weight = float(l1_weight), float(cosine_weight)

    def terms(self, teacher, student):
        predictions = [projection(student.hidden_states[i]) for projection, i in zip(self.projections,
                                                                                     self.student_layers)]
        return layer_to_layer_loss(predictions, group_mean_targets(teacher.hidden_states, self.groups),
                                   student.frame_mask, self.l1_weight, self.cosine_weight)


def _identity_linear(in_dim: int, out_dim: int) -> nn.Linear:
    """A linear map that starts as the identity (zero bias): the pruned student starts as the teacher,
    so its prediction starts exact."""
    linear = nn.Linear(in_dim, out_dim)
    with torch.no_grad():
        linear.weight.copy_(torch.eye(out_dim, in_dim))
        linear.bias.zero_()
    return linear


LayerMap = Union[str, Sequence[Sequence[int]]]


def layer_pairs(layers: LayerMap, student_layers: int, teacher_layers: int, name: str) -> List[List[int]]:
    """``[[student layer, teacher layer], ...]`` (1-based); ``"auto"``: student layer ``i`` <-> teacher
    layer ``i * k`` with ``k = teacher_layers / student_layers`` (every k-th teacher layer)."""
    if layers == "auto":
        if teacher_layers % student_layers:
            raise ConfigError(f"config.model.objectives.{name}.layers: 'auto' maps every k-th teacher layer and "
                              f"needs the teacher's {teacher_layers} layers to be a multiple of the student's "
                              f"{student_layers}; list the pairs instead ([[student, teacher], ...])")
        step = teacher_layers // student_layers
        return [[i, i * step] for i in range(1, student_layers + 1)]
    pairs = [[int(s), int(t)] for s, t in layers]
    bad = [p for p in pairs if not (1 <= p[0] <= student_layers and 1 <= p[1] <= teacher_layers)]
    if bad or not pairs:
        raise ConfigError(f"config.model.objectives.{name}.layers: pairs {bad or pairs} are not "
                          f"[student 1..{student_layers}, teacher 1..{teacher_layers}]")
    return pairs


def _check_normalization(name: str, normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ConfigError(f"config.model.objectives.{name}.normalization must be one of {NORMALIZATIONS}, "
                          f"got {normalization!r}")


class _RelationObjective(Objective):
    """Shared by STaR's objectives: a student<->teacher layer map (no projection: N x N relations)."""

    def __init__(self, name: str, student: StudentModel, teacher: TeacherModel, weight: float,
                 layers: LayerMap, attentions: bool = False):
        pairs = layer_pairs(layers, len(student.layers), len(teacher.layers), name)
        super().__init__(weight, TeacherNeeds(layers=frozenset(t for _, t in pairs), attentions=attentions))
        self.pairs = pairs


class LayerwiseGramObjective(_RelationObjective):
    """STaR's layer-wise temporal Gram matrix loss (:mod:`upstream_distill.losses.temporal_gram`)
    between each mapped student and teacher layer output."""

    def __init__(self, student, teacher, weight: float = 1.0, layers: LayerMap = "auto",
                 normalization: str = "feature"):
        _check_normalization("layerwise_tgm", normalization)
        super().__init__("layerwise_tgm", student, teacher, weight, layers)
        self.normalization = normalization

    def terms(self, teacher, student):
        loss = layerwise_tgm_loss([student.hidden_states[s] for s, _ in self.pairs],
                                  [teacher.hidden_states[t].detach() for _, t in self.pairs],
                                  student.frame_mask, self.normalization)
        return {"loss": loss}


class IntraLayerGramObjective(_RelationObjective):
    """STaR's intra-layer temporal Gram loss (:mod:`upstream_distill.losses.intra_layer_gram`): a
    block's input against its output.  For a mapped student layer ``s <-> t`` the teacher block runs
    from the teacher layer mapped to ``s - 1`` (0 for the first) to ``t``, so a student layer that
    stands for k teacher layers is compared with what those k layers do together."""

    def __init__(self, student, teacher, weight: float = 1.0, layers: LayerMap = "auto",
                 normalization: str = "feature"):
        _check_normalization("intra_layer_tgm", normalization)
        super().__init__("intra_layer_tgm", student, teacher, weight, layers)
        mapped = dict((s, t) for s, t in self.pairs)
        self.blocks = [(s, t, mapped.get(s - 1, 0 if s == 1 else None)) for s, t in self.pairs]
        missing = [s for s, _, start in self.blocks if start is None]
        if missing:
            raise ConfigError(f"config.model.objectives.intra_layer_tgm.layers: student layer(s) {missing} need "
                              f"their previous layer mapped too (the block's input)")
        self.needs = TeacherNeeds(layers=frozenset({t for _, t, _ in self.blocks} | {i for _, _, i in self.blocks}))
        self.normalization = normalization

    def terms(self, teacher, student):
        loss = intra_layer_tgm_loss([student.hidden_states[s - 1] for s, _, _ in self.blocks],
                                    [student.hidden_states[s] for s, _, _ in self.blocks],
                                    [teacher.hidden_states[i].detach() for _, _, i in self.blocks],
                                    [teacher.hidden_states[t].detach() for _, t, _ in self.blocks],
                                    student.frame_mask, self.normalization)
        return {"loss": loss}


class AttentionMapObjective(_RelationObjective):
    """STaR's head-averaged attention-map KL (:mod:`upstream_distill.losses.attention_map`) between
    each mapped student layer and teacher layer (head counts may differ)."""

    def __init__(self, student, teacher, weight: float = 1.0, layers: LayerMap = "auto"):
        super().__init__("attention_map", student, teacher, weight, layers, attentions=True)
        self.needs = TeacherNeeds(attentions=True)

    def terms(self, teacher, student):
        loss = attention_map_loss([student.attentions[s - 1] for s, _ in self.pairs],
                                  [teacher.attentions[t - 1].detach() for _, t in self.pairs],
                                  student.frame_mask)
        return {"loss": loss}


#: objective name in YAML -> class; constructors take (student, teacher, **yaml settings)
OBJECTIVES: Dict[str, Type[Objective]] = {
    "regression": RegressionObjective,
    "layerwise_tgm": LayerwiseGramObjective,
    "intra_layer_tgm": IntraLayerGramObjective,
    "attention_map": AttentionMapObjective,
    "discriminative": DiscriminativeObjective,
    "frontend": FrontEndObjective,
    "layer_to_layer": LayerToLayerObjective,
    "group_mean": GroupMeanObjective,
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
        settings = dict(settings or {})
        if float(settings.get("weight", 1.0)) == 0.0:
            continue  # weight 0 switches an objective off (and what it needs from the teacher)
        try:
            built[name] = OBJECTIVES[name](student, teacher, **settings)
        except TypeError as err:
            raise ConfigError(f"config.model.objectives.{name}: {err}") from None
    if not built:
        raise ConfigError("config.model.objectives: every objective has weight 0")
    return built
