"""DPHuBERT's expert: the student is the teacher itself, distilled while its gates prune it.

``config_model.yaml`` sections:

* ``teacher``: as the distillation expert's (``checkpoint``, ``cache_dir``);
* ``student``: absent, the teacher at full width (stage 1); ``{from_run: DIR}``,
  the model a stage-1 run folder ended with, pruned for real (stage 2: the
  prune step happens here, deterministically, from that run's last
  checkpoint; its objectives' projections come along, as in DPHuBERT);
  ``{continue_from: DIR}``, a stage-1 run continued to a smaller target (a
  pruning ladder's next rung: its gated model, gates, multipliers and layer
  maps go on, the target ramping from the sparsity that run reached);
* ``pruning`` (stage 1 only): the target size, ``sparsity: 0.75`` or
  ``target_params: 23.6M``; ``units`` (:data:`~upstream_distill.pruning.UNITS`);
  ``init_drop`` per unit; ``sparsity_warmup_steps`` (the target ramps up
  linearly over them); ``gate_lr`` and ``lambda_lr`` (DPHuBERT: 0.02 each,
  scheduled like the model's); ``decay_gate_lr`` (DPHuBERT: true, the two
  decay to 0 with the model's lr; false holds them at their peak after
  warm-up, so a short run's gates and multipliers keep moving to the target);
* ``objectives``: as the distillation expert's; DPHuBERT's is
  ``layer_to_layer``, SKILL's ``group_mean``;
* ``layer_groups`` (SKILL): how the teacher's layers are grouped by similarity
  on a calibration set (:class:`~upstream_distill.layer_groups.LayerGroupConfig`);
  the groups fill ``objectives.group_mean.groups: auto`` and are written into
  the run folder (``layer_similarity.csv``, ``layer_groups.yaml``,
  ``layer_groups.png``); stage 2 takes stage 1's groups from its checkpoint.

Stage 1's loss is the distillation loss plus the Lagrangian term
``λ1 (ŝ − t) + λ2 (ŝ − t)²`` of the expected sparsity ``ŝ`` and the ramped
target ``t`` (:mod:`upstream_distill.pruning.sparsity`); the log reports
``ŝ``, ``t``, the expected size and λ every logging step.  Its export (and the
student its checkpoints offer to ``distill_student -k``) is the model pruned
for real with the gates' deterministic masks, with a figure of its per-layer
shape beside it (``pruned_shape.png``) and one of ``ŝ``, ``t`` and λ over the
updates logged so far (``sparsity.png``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.yaml_config import typed_section
from upstream_distill.layer_groups import (
    LayerGroupConfig,
    compute_layer_groups,
    write_layer_group_artefacts,
)
from upstream_distill.models import (
    EXPERT_CONFIG_KEY,
    EXPERT_STUDENT_KEY,
    UNIT_HEAD_PREFIXES,
    PrunedConfig,
    PrunedModel,
    count_parameters,
    save_student,
)
from upstream_distill.pruning import (
    GateConfig,
    LagrangianSparsity,
    ModelGates,
    expected_sparsity,
    prune,
    target_sparsity_at,
)
from upstream_distill.pruning.budget import target_sparsity
from upstream_distill.pruning.plot import plot_pruned_shape, plot_sparsity_trajectory, sparsity_steps
from upstream_distill.training import ExpertContext, PretrainExpert, read_metrics
from upstream_distill.training.checkpoint import list_checkpoints

from .expert import TeacherSection
from .objectives import build_objectives
from .targets import load_section_teacher, teacher_targets

__all__ = ["PruningDistillationExpert", "PruningSection", "PruningSettings", "StudentSource"]

#: keys of the gated (full-width) model in a stage-1 checkpoint; EXPERT_* hold its pruned form
_GATED_CONFIG, _GATED_STUDENT = "gated_student_config", "gated_student"


@dataclass
class PruningSection:
    """``pruning:``: the target size and how the gates learn it."""

    sparsity: Optional[float] = None  # 1 - params/teacher params, e.g. 0.75 (DPHuBERT)
    target_params: Optional[Union[str, int, float]] = None  # or a budget, e.g. 23.6M
    units: List[str] = field(default_factory=lambda: ["conv", "head", "interm"])
    init_drop: Dict[str, float] = field(default_factory=dict)
    sparsity_warmup_steps: int = 5000  # the target ramps from 0 over these updates
    gate_lr: float = 0.02  # log_alpha's peak learning rate
    lambda_lr: float = 0.02  # the multipliers' (by gradient ascent)
    decay_gate_lr: bool = True  # both decay with the model's lr (DPHuBERT); false: held after warm-up

    def __post_init__(self):
        self.sparsity_warmup_steps = int(self.sparsity_warmup_steps)
        self.gate_lr, self.lambda_lr = float(self.gate_lr), float(self.lambda_lr)
        if self.sparsity_warmup_steps < 0:
            raise ValueError(f"sparsity_warmup_steps must be >= 0, got {self.sparsity_warmup_steps}")


@dataclass
class StudentSource:
    """``student:``: where the student comes from; nothing = the teacher at full width."""

    from_run: Optional[str] = None  # a stage-1 run folder: its last checkpoint, pruned
    continue_from: Optional[str] = None  # a stage-1 run folder whose pruning this run continues


@dataclass
class PruningSettings:
    """The whole ``config.model`` of the pruning expert, read once."""

    teacher: TeacherSection
    student: StudentSource
    pruning: Optional[PruningSection]
    objectives: Dict[str, Any]
    layer_groups: Optional[LayerGroupConfig] = None

    @classmethod
    def from_dict(cls, model_config: Mapping) -> "PruningSettings":
        known = ["teacher", "student", "pruning", "objectives", "layer_groups"]
        unknown = sorted(set(model_config) - set(known))
        if unknown:
            raise ConfigError(f"config.model: unknown sections {unknown} (known: {known})")
        teacher = TeacherSection.read(model_config)
        student = typed_section(StudentSource, model_config.get("student") or {}, "model.student")
        pruning = model_config.get("pruning")
        pruning = None if pruning is None else typed_section(PruningSection, pruning, "model.pruning")
        if student.from_run and student.continue_from:
            raise ConfigError("config.model.student: give from_run (prune a finished run) or continue_from "
                              "(prune it further), not both")
        if student.continue_from and pruning is None:
            raise ConfigError("config.model.student.continue_from: continues pruning, which needs a pruning section")
        if pruning is None and student.from_run is None:
            raise ConfigError("config.model: without a pruning section the student must come from a pruning "
                              "run (student.from_run: DIR); to prune, give pruning.sparsity or "
                              "pruning.target_params")
        if not model_config.get("objectives"):
            raise ConfigError("config.model.objectives: choose at least one (DPHuBERT: layer_to_layer)")
        groups = model_config.get("layer_groups")
        groups = None if groups is None else typed_section(LayerGroupConfig, groups, "model.layer_groups")
        return cls(teacher=teacher, student=student, pruning=pruning, objectives=dict(model_config["objectives"]),
                   layer_groups=groups)


class PruningDistillationExpert(PretrainExpert):
    def __init__(self, model_config: dict, context: ExpertContext):
        super().__init__(model_config, context)
        settings = PruningSettings.from_dict(model_config)
        teacher_file = settings.teacher.checkpoint
        self.teacher = load_section_teacher(teacher_file)
        self.teacher_params = count_parameters(self.teacher, UNIT_HEAD_PREFIXES)

        stage1_state, source = None, settings.student.from_run or settings.student.continue_from
        if settings.student.from_run:
            stage1_state = _last_pruning_state(Path(source), "config.model.student.from_run")
            self.student = _gated_model(stage1_state)
            self.student = prune(self.student, _gates(stage1_state, self.student).eval().masks())
        elif settings.student.continue_from:
            stage1_state = _last_pruning_state(Path(source), "config.model.student.continue_from")
            self.student = _gated_model(stage1_state)
        else:
            self.student = PrunedModel.from_teacher(self.teacher)
        self.layer_groups = self._layer_groups(settings, stage1_state)
        objectives = dict(settings.objectives)
        if self.layer_groups is not None and "group_mean" in objectives:
            group_mean = dict(objectives["group_mean"] or {})
            if group_mean.get("groups", "auto") == "auto":
                objectives["group_mean"] = {**group_mean, "groups": self.layer_groups}
        self.objectives = build_objectives(objectives, self.student, self.teacher)
        if stage1_state is not None:
            try:
                self.objectives.load_state_dict(stage1_state["objectives"])
            except RuntimeError as err:
                raise ConfigError(f"config.model.objectives: differ from those of the run "
                                  f"{source} whose projections they continue ({err})") from None

        self.pruning = settings.pruning
        self.gates: Optional[ModelGates] = None
        if self.pruning is not None:
            try:
                gate_config = GateConfig(units=self.pruning.units, init_drop=self.pruning.init_drop)
            except ConfigError as err:
                raise ConfigError(f"config.model.{err}") from None
            self.gates = ModelGates(self.student.config, gate_config)
            self.lagrangian = LagrangianSparsity()
            self.target = target_sparsity(self.gates.original_parameters, self.pruning.sparsity,
                                          self.pruning.target_params, key="config.model.pruning")
            self.start = 0.0
            if settings.student.continue_from:
                self._continue(stage1_state, source)

        self.needs, self.targets = teacher_targets(self.teacher, teacher_file, settings.teacher.cache_dir,
                                                   self.objectives.values(), context)
        self._report(teacher_file, settings)

    def _layer_groups(self, settings: PruningSettings, stage1_state: Optional[dict]) -> Optional[List[List[int]]]:
        """SKILL's groups: those the stage-1 run used (stage 2, ladder rungs), else computed (and cached)
        from the teacher's layer similarity on the calibration set; written into the run folder."""
        if settings.layer_groups is None:
            return None
        context = self.context
        if stage1_state is not None and stage1_state.get("layer_groups"):
            groups = [list(group) for group in stage1_state["layer_groups"]]
            context.log(f"layer groups of {settings.student.from_run or settings.student.continue_from}: {groups}")
            return groups
        config = settings.layer_groups
        cache = Path(config.cache_dir) if config.cache_dir else context.expdir / "layer_groups_cache"
        with context.dist.main_first():
            computed = compute_layer_groups(self.teacher, settings.teacher.checkpoint, context.utterances,
                                            context.data.sample_rate, config, cache, context.log)
        if context.dist.is_main:
            write_layer_group_artefacts(computed, context.expdir)
        context.log(f"layer groups ({config.grouping}, {config.similarity}, {config.linkage}): {computed.groups}")
        return [list(group) for group in computed.groups]

    def _continue(self, state: dict, source: str) -> None:
        """The previous rung's gates and multipliers go on; its target is where this ramp starts."""
        if state["gate_config"] != vars(self.gates.gate_config):
            raise ConfigError(f"config.model.pruning.units: differ from those of {source} ({state['gate_config']}), "
                              f"whose gates this run continues")
        self.gates.load_state_dict(state["gates"])
        self.lagrangian.load_state_dict(state["lagrangian"])
        self.start = float(state["target_sparsity"])
        if self.target < self.start:
            raise ConfigError(f"config.model.pruning: the target sparsity {self.target:.4f} is below the "
                              f"{self.start:.4f} that {source} reached; a ladder goes to smaller sizes")

    def _report(self, teacher_file: str, settings: PruningSettings) -> None:
        log = self.context.log
        student_params = count_parameters(self.student)
        log(f"teacher {teacher_file}: {self.teacher.config.arch}, {len(self.teacher.layers)} x "
            f"{self.teacher.config.encoder_dim}, {self.teacher_params / 1e6:.2f}M parameters")
        source = (f"pruned from {settings.student.from_run}" if settings.student.from_run else
                  f"continuing {settings.student.continue_from}" if settings.student.continue_from else
                  "the teacher itself")
        log(f"student: {source}, {student_params / 1e6:.2f}M parameters "
            f"({student_params / self.teacher_params:.1%} of the teacher)")
        if self.gates is not None:
            log(f"pruning {', '.join(self.gates.gate_config.units)} from sparsity {self.start:.4f} to {self.target:.4f} "
                f"({(1 - self.target) * self.gates.original_parameters / 1e6:.2f}M parameters), ramped over "
                f"{self.pruning.sparsity_warmup_steps} updates; gate lr {self.pruning.gate_lr:g}, "
                f"lambda lr {self.pruning.lambda_lr:g}, "
                f"{'decaying with the model' if self.pruning.decay_gate_lr else 'held after warm-up'}")
        log("objectives: " + ", ".join(f"{name} x {o.weight:g}" for name, o in self.objectives.items()))

    def trainable_parameters(self):
        groups = [{"params": list(self.student.parameters()) + list(self.objectives.parameters())}]
        if self.gates is not None:
            # the schedule scales every group, as DPHuBERT's: gates and multipliers warm up and decay
            # too, unless decay_gate_lr is off
            decay = self.pruning.decay_gate_lr
            groups.append({"params": list(self.gates.parameters()), "lr": self.pruning.gate_lr, "decay": decay})
            groups.append({"params": list(self.lagrangian.parameters()), "lr": self.pruning.lambda_lr,
                           "decay": decay})
        return groups

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen: no dropout, whatever the runner asks
        return self

    def forward(self, batch, step) -> Tuple[Tensor, Dict[str, Tensor]]:
        teacher = self.targets(batch)
        masks = self.gates.masks() if self.gates is not None else None
        student = self.student(batch.wavs, batch.lengths, masks=masks)
        total, terms = 0.0, {}
        for name, objective in self.objectives.items():
            values = objective.terms(teacher, student)
            loss = values.pop("loss")
            total = total + objective.weight * loss
            terms[name] = loss
            terms.update({f"{name}/{key}": value for key, value in values.items()})
        if self.gates is not None:
            expected = self.gates.expected_parameters()
            sparsity = expected_sparsity(expected, self.gates.original_parameters)
            target = target_sparsity_at(step, self.target, self.pruning.sparsity_warmup_steps, self.start)
            penalty = self.lagrangian(sparsity, target).float()
            total = total + penalty
            terms.update({"pruning/expected_params_M": expected.detach() / 1e6,
                          "pruning/expected_sparsity": sparsity.detach(), "pruning/target_sparsity": target,
                          "pruning/lagrangian": penalty.detach(),
                          **{f"pruning/{k}": v for k, v in self.lagrangian.multipliers().items()}})
        return total, terms

    # -- the pruned model, checkpoints and export ------------------------------

    @torch.no_grad()
    def pruned_student(self) -> PrunedModel:
        """The student as it would be pruned now: the gates' deterministic masks, made real."""
        if self.gates is None:
            return self.student
        was_training = self.gates.training
        self.gates.eval()
        try:
            return prune(self.student, self.gates.masks()).eval()
        finally:
            self.gates.train(was_training)

    def checkpoint_state(self) -> dict:
        state = {"objectives": self.objectives.state_dict(), "layer_groups": self.layer_groups}
        if self.gates is None:
            return {**state, EXPERT_CONFIG_KEY: self.student.config.to_dict(),
                    EXPERT_STUDENT_KEY: self.student.state_dict()}
        pruned = self.pruned_student()
        return {**state, _GATED_CONFIG: self.student.config.to_dict(), _GATED_STUDENT: self.student.state_dict(),
                "gates": self.gates.state_dict(), "gate_config": vars(self.gates.gate_config),
                "lagrangian": self.lagrangian.state_dict(), "target_sparsity": self.target,
                # what distill_student -k sees in a stage-1 checkpoint: the model pruned at this point
                EXPERT_CONFIG_KEY: pruned.config.to_dict(), EXPERT_STUDENT_KEY: pruned.state_dict()}

    def load_checkpoint_state(self, state: dict) -> None:
        key = _GATED_CONFIG if self.gates is not None else EXPERT_CONFIG_KEY
        if state.get(key) != self.student.config.to_dict():
            raise ConfigError("the checkpoint's student differs from this run's (another teacher, or another "
                              "stage-1 run pruned it)")
        self.student.load_state_dict(state[_GATED_STUDENT if self.gates is not None else EXPERT_STUDENT_KEY])
        self.objectives.load_state_dict(state["objectives"])
        if self.gates is not None:
            self.gates.load_state_dict(state["gates"])
            self.lagrangian.load_state_dict(state["lagrangian"])

    def export(self, path: Path) -> None:
        pruned = self.pruned_student()
        save_student(pruned, path)
        full = PrunedConfig.from_teacher(self.teacher.config)
        plot_pruned_shape(pruned.config, full, path.with_name("pruned_shape.png"),
                          title=f"{count_parameters(pruned) / 1e6:.2f}M parameters "
                                f"({count_parameters(pruned) / self.teacher_params:.1%} of the teacher)")
        if self.gates is not None:
            _plot_sparsity_so_far(path.parent)


def _plot_sparsity_so_far(folder: Path) -> None:
    """Stage 1's ``sparsity.png`` from the steps its runner has logged so far (none before the first
    logging step)."""
    metrics = read_metrics(folder) if (folder / "metrics.jsonl").is_file() else {}
    if sparsity_steps(metrics):
        plot_sparsity_trajectory(metrics, folder / "sparsity.png", title="stage 1")


def _last_pruning_state(folder: Path, key: str) -> dict:
    """The expert state of a stage-1 run folder's last checkpoint."""
    checkpoints = list_checkpoints(folder) if folder.is_dir() else []
    if not checkpoints:
        raise ConfigError(f"{key}: {folder} holds no states-*.ckpt of a pruning run (run stage 1 first)")
    payload = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)
    state = payload.get("expert") or {}
    if _GATED_CONFIG not in state:
        raise ConfigError(f"{key}: {checkpoints[-1]} is not a checkpoint of a pruning run (no gates)")
    return state


def _gated_model(state: dict) -> PrunedModel:
    with torch.random.fork_rng(devices=[]):  # every weight is loaded: the init must not draw
        model = PrunedModel(PrunedConfig.from_dict(state[_GATED_CONFIG]))
    model.load_state_dict(state[_GATED_STUDENT])
    return model


def _gates(state: dict, model: PrunedModel) -> ModelGates:
    gates = ModelGates(model.config, GateConfig(**state["gate_config"]))
    gates.load_state_dict(state["gates"])
    return gates
