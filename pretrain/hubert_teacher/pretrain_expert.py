"""HuBERT-style masked-prediction pretraining of a small teacher from scratch.

Assembles library pieces: the :class:`TeacherModel` (arch ``hubert``, waveform
CNN, unit head with one label embedding per k-means unit), offline units
(:mod:`upstream_distill.training.units`: MFCC k-means for iteration 1, a
model layer for iteration 2), span masking and the masked cross-entropy
(:mod:`upstream_distill.losses.masked_prediction`).  The one piece of its
own is the learned mask embedding that replaces masked frames at the
transformer input (after the feature projection, as fairseq's HuBERT): the
teacher's forward has no masking argument, so a forward hook on
``encoder.feature_projection`` swaps the masked frames in during this
expert's forward only.  The export is a float16 ``save_teacher`` file (without
the mask embedding, which only pretraining needs).

config_model.yaml, read once into :class:`HubertTeacherSettings`: ``teacher``
(TeacherConfig fields; ``num_units`` comes from ``labels.num_clusters``),
``labels`` (UnitConfig), ``masked_prediction`` (MaskedPredictionConfig), and
optionally ``init_from``: a ``save_teacher`` export of the same architecture
whose weights start this run (a second iteration that continues the first
instead of restarting; the label embeddings are drawn afresh because the
units are new).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Mapping, Optional

import torch
from torch import nn

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.yaml_config import typed_section
from upstream_distill.losses.masked_prediction import MaskedPredictionConfig, masked_prediction_loss, span_mask
from upstream_distill.models import (
    UNIT_HEAD_PREFIXES,
    TeacherConfig,
    TeacherModel,
    count_parameters,
    read_teacher_checkpoint,
    save_teacher,
)
from upstream_distill.training import ExpertContext, PretrainExpert
from upstream_distill.training.units import UnitConfig, build_unit_table


@dataclass
class HubertTeacherSettings:
    """The whole ``config.model`` of masked-prediction pretraining, read once.

    Every section goes through :func:`typed_section`, so a misspelt key or a
    refused value is a ConfigError naming ``config.model.<section>.<key>``.
    """

    teacher: TeacherConfig  # with num_units = labels.num_clusters
    labels: UnitConfig
    masked_prediction: MaskedPredictionConfig = field(default_factory=MaskedPredictionConfig)
    init_from: Optional[str] = None  # a save_teacher export whose weights start this run

    @classmethod
    def from_dict(cls, model_config: Mapping) -> "HubertTeacherSettings":
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(model_config) - set(known))
        if unknown:
            raise ConfigError(f"config.model: unknown sections {unknown} (known: {known})")
        labels = typed_section(UnitConfig, model_config.get("labels") or {}, "model.labels")
        objective = typed_section(MaskedPredictionConfig, model_config.get("masked_prediction") or {},
                                  "model.masked_prediction")
        teacher = model_config.get("teacher") or {}
        if isinstance(teacher, Mapping):  # anything else: typed_section names the key
            # the unit head predicts the labels: one label embedding per k-means unit
            teacher = {**teacher, "num_units": labels.num_clusters}
        teacher = typed_section(TeacherConfig, teacher, "model.teacher")
        if teacher.arch != "hubert" or teacher.final_dim is None:
            raise ConfigError("config.model.teacher: masked prediction needs arch 'hubert' and a final_dim")
        init_from = model_config.get("init_from") or None
        if init_from is not None:
            if not isinstance(init_from, (str, os.PathLike)):
                raise ConfigError(f"config.model.init_from: give a save_teacher file's path, not {init_from!r}")
            init_from = str(init_from)
        return cls(teacher=teacher, labels=labels, masked_prediction=objective, init_from=init_from)


@contextlib.contextmanager
def _masked_inputs(projection: nn.Module, mask: torch.Tensor, embedding: nn.Parameter):
    """While active, frames where ``mask`` is True leave ``projection`` as ``embedding``."""
    def replace(module, inputs, output):
        return torch.where(mask[..., None], embedding.to(output.dtype), output)

    handle = projection.register_forward_hook(replace)
    try:
        yield
    finally:
        handle.remove()


class UpstreamPretrainExpert(PretrainExpert):
    def __init__(self, model_config: dict, context: ExpertContext):
        super().__init__(model_config, context)
        if context.cache_teacher:
            raise ConfigError("--cache-teacher: hubert_teacher pretrains from scratch and has no teacher")
        settings = HubertTeacherSettings.from_dict(model_config)
        config, labels, self.objective = settings.teacher, settings.labels, settings.masked_prediction
        if context.data.crop_multiple % config.downsample_rate:
            raise ConfigError(f"config.datarc.crop_multiple must be a multiple of the model's frame hop "
                              f"{config.downsample_rate} so that crops keep their units aligned")

        self.model = TeacherModel(config)
        # fairseq draws label embeddings uniform in [0, 1): all in one orthant, cosines ~0.75
        # between units; near-orthogonal normal draws separate the units from the first step.
        nn.init.normal_(self.model.unit_head.label_embeddings)
        if settings.init_from:
            self._initialize_from(Path(settings.init_from), context)
        self.mask_embedding = nn.Parameter(torch.empty(config.encoder_dim).uniform_())
        cache = Path(labels.cache_dir) if labels.cache_dir else context.expdir / "labels"
        with context.dist.main_first():
            self.units = build_unit_table(context.utterances, labels, config.downsample_rate,
                                          config.receptive_field, context.data.sample_rate, cache, context.log)
        context.log(f"hubert teacher: {count_parameters(self.model, UNIT_HEAD_PREFIXES) / 1e6:.2f}M "
                    f"parameters without the unit head, {count_parameters(self.model) / 1e6:.2f}M with it; "
                    f"{labels.num_clusters} units ({labels.features})")

    def _initialize_from(self, path: Path, context: ExpertContext) -> None:
        """Copy every weight of the export at ``path`` except the label embeddings (new units)."""
        source_config, state = read_teacher_checkpoint(path)
        ours, theirs = self.model.config.to_dict(), source_config.to_dict()
        differing = sorted(k for k in ours if k != "num_units" and ours[k] != theirs.get(k))
        if differing:
            raise ConfigError(f"config.model.init_from {path}: its architecture differs in {differing}")
        state = {k: v for k, v in state.items() if not k.endswith("label_embeddings")}
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("label_embeddings")]
        if missing or unexpected:
            raise ConfigError(f"config.model.init_from {path}: missing {missing}, unexpected {unexpected}")
        context.log(f"hubert teacher: initialised from {path} (label embeddings drawn afresh)")

    def forward(self, batch, step):
        frames = self.model.frame_lengths(batch.lengths)
        targets = self.units.crop(batch.keys, batch.offsets, frames)
        mask = span_mask(frames, self.objective.mask_prob, self.objective.mask_span, self.objective.min_spans)
        with _masked_inputs(self.model.encoder.feature_projection, mask, self.mask_embedding):
            output = self.model(batch.wavs, batch.lengths, output_unit_logits=True)
        terms = masked_prediction_loss(output.unit_logits, targets, mask, output.frame_mask,
                                       self.objective.masked_weight, self.objective.unmasked_weight)
        return terms.pop("loss"), terms

    def export(self, path: Path) -> None:
        # float16 on disk keeps the shipped tiny_hubert.pt under 25 MB; loading casts back to float32
        save_teacher(self.model, path, dtype=torch.float16)
