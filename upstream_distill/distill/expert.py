"""The distillation expert every ``pretrain/<method>/`` shares: frozen teacher -> student -> objectives.

``config_model.yaml`` sections:

* ``teacher``: ``checkpoint`` (any file or folder :func:`load_teacher` reads:
  fairseq ``.pt``, HF folder, ``save_teacher`` file; ``${tiny_hubert}`` is the
  shipped small teacher) and ``cache_dir`` (``--cache-teacher``'s folder,
  default ``<expdir>/teacher_cache``);
* ``student``: :class:`~upstream_distill.models.StudentConfig` fields;
* ``initialize_from_teacher``: ``{frontend: bool, layers: int}`` (DistilHuBERT
  copies the CNN; a student as wide as the teacher can also take its first layers);
* ``objectives``: the weighted loss terms (:mod:`upstream_distill.distill.objectives`);
* ``stages``: ``{frontend_steps: N}`` trains only the student's front-end (its
  transformer input) with the ``frontend`` objective for the first N updates,
  then the other objectives (Wang et al.'s front-end distillation);
* ``fbank_statistics``: ``{utterances: N}``, how many training utterances
  (a seeded random choice) estimate an Fbank front-end's global mean and
  variance before the first update; they are buffers of the student, so
  checkpoints and the export carry them.

Each section is read once, into :class:`DistillationSettings` (typed
dataclasses built with :func:`~upstream_distill.core.yaml_config.typed_section`),
before anything is loaded: a misspelt key is a ConfigError naming
``config.model.<section>.<key>``, never a silently applied default.

The expert's checkpoint holds the student, its config and the objectives'
own parameters (never the frozen teacher, which is re-read from its file on
resume); its export is a :func:`save_student` file that the
``distill_student`` upstream loads.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.yaml_config import typed_section
from upstream_distill.models import (
    EXPERT_CONFIG_KEY,
    EXPERT_STUDENT_KEY,
    UNIT_HEAD_PREFIXES,
    StudentConfig,
    StudentModel,
    count_parameters,
    save_student,
)
from upstream_distill.training import ExpertContext, PretrainExpert
from upstream_distill.training.data import read_audio

from .objectives import build_objectives
from .targets import load_section_teacher, teacher_targets

__all__ = [
    "DistillationExpert",
    "DistillationSettings",
    "FbankStatistics",
    "InitializeFromTeacher",
    "Stages",
    "TeacherSection",
]


# ---------------------------------------------------------------------------
# config_model.yaml, typed


@dataclass
class TeacherSection:
    """``teacher:``: the frozen teacher's file and where ``--cache-teacher`` keeps its targets."""

    checkpoint: Optional[str] = None  # required; None so that its absence gets the -o hint below
    cache_dir: Optional[str] = None  # default: <expdir>/teacher_cache

    @classmethod
    def read(cls, model_config: Mapping) -> "TeacherSection":
        """``config.model.teacher``, typed; ConfigError with the ``-o`` to give when the checkpoint is missing."""
        section = typed_section(cls, model_config.get("teacher") or {}, "model.teacher")
        if not section.checkpoint:
            raise ConfigError("config.model.teacher.checkpoint: give the teacher's checkpoint "
                              "(-o \"config.model.teacher.checkpoint='/path/to/hubert_base_ls960.pt'\")")
        return section


@dataclass
class InitializeFromTeacher:
    """``initialize_from_teacher:``: what the student copies from the teacher before training."""

    frontend: bool = False  # the waveform CNN (DistilHuBERT)
    layers: int = 0  # the first N transformer layers (+ projection, positional conv); same width only

    def __post_init__(self):
        # coerced as the hand parser did, so -o overrides given as strings keep working
        self.frontend, self.layers = bool(self.frontend), int(self.layers)


@dataclass
class Stages:
    """``stages:``: ``frontend_steps`` updates of front-end distillation before the other objectives."""

    frontend_steps: int = 0

    def __post_init__(self):
        self.frontend_steps = int(self.frontend_steps)


@dataclass
class FbankStatistics:
    """``fbank_statistics:``: how many utterances estimate an Fbank front-end's mean and variance."""

    utterances: int = 500

    def __post_init__(self):
        self.utterances = int(self.utterances)


#: the sections read by :func:`typed_section` alone; ``teacher``, ``student`` and ``objectives`` have their own readers
_TYPED_SECTIONS = {"initialize_from_teacher": InitializeFromTeacher,
                   "stages": Stages, "fbank_statistics": FbankStatistics}


@dataclass
class DistillationSettings:
    """The whole ``config.model`` of a distillation method, read once.

    ``objectives`` stays a mapping: :func:`build_objectives` types it, because
    its checks need the student and the teacher (layer counts, unit head).
    """

    teacher: TeacherSection
    student: StudentConfig
    initialize_from_teacher: InitializeFromTeacher = field(default_factory=InitializeFromTeacher)
    objectives: Dict[str, Any] = field(default_factory=dict)
    stages: Stages = field(default_factory=Stages)
    fbank_statistics: FbankStatistics = field(default_factory=FbankStatistics)

    @classmethod
    def from_dict(cls, model_config: Mapping) -> "DistillationSettings":
        """ConfigError, naming the key, for an unknown section or key, a refused value, or no
        teacher checkpoint.  An absent or empty section takes its defaults."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(model_config) - set(known))
        if unknown:
            raise ConfigError(f"config.model: unknown sections {unknown} (known: {known})")
        sections = {name: typed_section(kind, model_config.get(name) or {}, f"model.{name}")
                    for name, kind in _TYPED_SECTIONS.items()}
        sections["teacher"] = TeacherSection.read(model_config)
        try:
            student = StudentConfig.from_dict(dict(model_config.get("student") or {}))
        except ValueError as err:
            raise ConfigError(f"config.model.student: {err}") from None
        return cls(student=student, objectives=model_config.get("objectives") or {}, **sections)


# ---------------------------------------------------------------------------
# the expert


class DistillationExpert(PretrainExpert):
    def __init__(self, model_config: dict, context: ExpertContext):
        super().__init__(model_config, context)
        settings = DistillationSettings.from_dict(model_config)
        teacher_file = settings.teacher.checkpoint
        self.teacher = load_section_teacher(teacher_file)
        try:
            student_config = settings.student
            if student_config.prediction_heads != "none" and student_config.head_dim is None:
                student_config.head_dim = self.teacher.config.encoder_dim
            self.student = StudentModel(student_config)
        except ValueError as err:
            raise ConfigError(f"config.model.student: {err}") from None
        if self.student.downsample_rate != self.teacher.downsample_rate:
            raise ConfigError(f"the student's frame hop ({self.student.downsample_rate} samples) differs "
                              f"from the teacher's ({self.teacher.downsample_rate})")

        init = settings.initialize_from_teacher
        try:
            copied = self.student.initialize_from_teacher(self.teacher, init.frontend, init.layers)
        except ValueError as err:
            raise ConfigError(f"config.model.initialize_from_teacher: {err}") from None

        self.objectives = build_objectives(settings.objectives, self.student, self.teacher)
        self.frontend_steps = self._frontend_steps(settings.stages)
        # a stage leaves parameters without gradients, which DDP must be told about
        self.find_unused_parameters = self.frontend_steps > 0
        self.statistics_utterances = settings.fbank_statistics.utterances
        self.needs, self.targets = teacher_targets(self.teacher, teacher_file, settings.teacher.cache_dir,
                                                   self.objectives.values(), context)
        self._report(context, teacher_file, copied)

    def _frontend_steps(self, stages: Stages) -> int:
        """``stages.frontend_steps``, checked against the objectives (they need the student and teacher,
        so this is not a check of :class:`Stages` alone)."""
        steps = stages.frontend_steps
        has_frontend = any(o.frontend_only for o in self.objectives.values())
        if steps > 0 and not has_frontend:
            raise ConfigError("config.model.stages.frontend_steps > 0 needs the 'frontend' objective")
        if has_frontend and steps == 0:
            raise ConfigError("the 'frontend' objective runs in the front-end stage only: set "
                              "config.model.stages.frontend_steps")
        if has_frontend and all(o.frontend_only for o in self.objectives.values()):
            raise ConfigError("config.model.objectives: the 'frontend' stage needs objectives for the stage after it")
        return steps

    def _estimate_fbank_statistics(self) -> None:
        frontend = self.student.frontend
        if getattr(frontend, "stats_frames", None) is None or int(frontend.stats_frames) > 0:
            return  # a waveform CNN, or statistics already estimated / restored from a checkpoint
        utterances = list(self.context.utterances)
        order = torch.randperm(len(utterances), generator=torch.Generator().manual_seed(self.context.seed))
        chosen = [utterances[i] for i in order[:self.statistics_utterances].tolist()]
        rate = self.context.data.sample_rate
        frames = frontend.estimate_statistics(read_audio(u.path, 0, u.length, rate) for u in chosen)
        self.context.log(f"fbank statistics: global mean/std from {len(chosen)} utterances ({frames} frames)")

    def _report(self, context: ExpertContext, teacher_file: str, copied) -> None:
        teacher_params = count_parameters(self.teacher, UNIT_HEAD_PREFIXES)
        counts = self.student.parameter_counts()
        context.log(f"teacher {teacher_file}: {self.teacher.config.arch}, "
                    f"{len(self.teacher.layers)} x {self.teacher.config.encoder_dim}, "
                    f"{teacher_params / 1e6:.2f}M parameters")
        context.log(f"student: {self.student.config.frontend} front-end {counts['frontend'] / 1e6:.2f}M + "
                    f"encoder {len(self.student.layers)} x {self.student.config.encoder_dim} "
                    f"{counts['encoder'] / 1e6:.2f}M = {counts['upstream'] / 1e6:.2f}M "
                    f"({counts['upstream'] / teacher_params:.1%} of the teacher), "
                    f"+ heads {counts['heads'] / 1e6:.2f}M for training; initialised from the teacher: "
                    f"{', '.join(copied) or 'nothing'}")
        context.log("objectives: " + ", ".join(f"{name} x {o.weight:g}" for name, o in self.objectives.items())
                    + f"; targets {'from the disk cache' if context.cache_teacher else 'on the fly'}")

    def train(self, mode: bool = True):
        super().train(mode)
        self.teacher.eval()  # frozen: no dropout, whatever the runner asks
        return self

    def forward(self, batch, step) -> Tuple[Tensor, Dict[str, Tensor]]:
        self._estimate_fbank_statistics()
        frontend_stage = step < self.frontend_steps
        teacher = self.targets(batch)
        student = self.student(batch.wavs, batch.lengths, output_attentions=self.needs.attentions,
                               frontend_only=frontend_stage)
        if teacher.frame_mask.shape != student.frame_mask.shape:
            raise RuntimeError(f"teacher and student frame counts differ: {tuple(teacher.frame_mask.shape)} "
                               f"vs {tuple(student.frame_mask.shape)}")
        total, terms = 0.0, {}
        for name, objective in self.objectives.items():
            if objective.frontend_only != frontend_stage:
                continue
            values = objective.terms(teacher, student)
            loss = values.pop("loss")
            total = total + objective.weight * loss
            terms[name] = loss
            terms.update({f"{name}/{key}": value for key, value in values.items()})
        return total, terms

    # -- checkpoint and export -------------------------------------------------

    def checkpoint_state(self) -> dict:
        return {EXPERT_CONFIG_KEY: self.student.config.to_dict(),
                EXPERT_STUDENT_KEY: self.student.state_dict(),
                "objectives": self.objectives.state_dict()}

    def load_checkpoint_state(self, state: dict) -> None:
        if state.get(EXPERT_CONFIG_KEY) != self.student.config.to_dict():
            raise ConfigError("the checkpoint's student config differs from this run's")
        self.student.load_state_dict(state[EXPERT_STUDENT_KEY])
        self.objectives.load_state_dict(state["objectives"])

    def export(self, path: Path) -> None:
        save_student(self.student, path)
