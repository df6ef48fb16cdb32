"""Runner configuration: YAML in (through :mod:`upstream_distill.core.yaml_config`), typed objects out.

A run is described by two YAML files, as in s3prl's ``run_pretrain.py``:
``config_runner.yaml`` (keys ``runner``, ``optimizer``, ``datarc``) and
``config_model.yaml`` (whatever the method's expert reads).  They are merged
into one dict, the *full config*, with the model file under the key
``model``; that dict is what ``-o config.a.b=value`` edits, what a
checkpoint stores and what a resumed run is compared against.

Either file may carry a ``presets:`` block (``{tiny: {...}, mini: {...}}``)
whose entry is deep-merged over the file's defaults when ``--preset`` is
given: the short-schedule / embedded-corpus settings live next to the real
ones, never in a copy.  ``${corpus}`` in a string is replaced by the corpus
root; the runner refuses a config that still holds a placeholder.

The runner's own sections become :class:`RunnerConfig`,
:class:`OptimizerConfig` and :class:`DataConfig` (unknown or missing keys
are errors naming the key), so a typo never silently falls back to a
default.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.provenance import file_digest
from upstream_distill.core.yaml_config import (
    config_differences,
    preset_names,
    read_yaml,
    typed_section,
    unresolved_placeholders,
    with_preset,
)

__all__ = [
    "DataConfig",
    "INPUT_FILES_KEY",
    "MODEL_KEY",
    "OptimizerConfig",
    "RunnerConfig",
    "TrainingConfig",
    "RESUME_MAY_DIFFER",
    "compose_config",
    "input_file_digests",
    "resume_conflicts",
]

MODEL_KEY = "model"


def compose_config(runner_file: Path, model_file: Path, preset: Optional[str] = None) -> dict:
    """The full config of a run: runner file, ``model:`` = model file, presets applied.

    ConfigError when the preset is defined in neither file (a misspelt preset
    must not silently give the real-size settings).
    """
    runner_data, model_data = read_yaml(runner_file), read_yaml(model_file)
    if preset is not None:
        known = preset_names(runner_data) | preset_names(model_data)
        if preset not in known:
            raise ConfigError(f"--preset {preset}: neither {runner_file} nor {model_file} defines it "
                              f"(presets there: {sorted(known) or 'none'})")
    config = with_preset(runner_data, preset, runner_file)
    if MODEL_KEY in config:
        raise ConfigError(f"{runner_file}: the key '{MODEL_KEY}' is reserved for the model config")
    config[MODEL_KEY] = with_preset(model_data, preset, model_file)
    return config


# ---------------------------------------------------------------------------
# typed sections


@dataclass
class RunnerConfig:
    """The training loop: how long, how often to log/save, clipping, accumulation, AMP."""

    total_steps: int  # optimizer updates
    log_step: int  # write scalars every N updates
    save_step: int  # write states-<step>.ckpt every N updates (and at the end)
    max_keep: int = 3  # keep the newest K checkpoints
    gradient_clipping: float = 5.0  # max global grad norm (0 = no clipping)
    gradient_accumulate_steps: int = 1  # micro-batches per update
    fp16: bool = False  # mixed precision; honoured only on CUDA

    def __post_init__(self):
        for name in ("total_steps", "log_step", "save_step", "max_keep", "gradient_accumulate_steps"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.gradient_clipping < 0:
            raise ValueError(f"gradient_clipping must be >= 0, got {self.gradient_clipping}")


@dataclass
class OptimizerConfig:
    """AdamW with linear warm-up to ``lr`` and linear decay to ``lr * final_lr_ratio``.

    Give exactly one of ``warmup_proportion`` (of total_steps) and ``warmup_steps``.
    """

    lr: float
    name: str = "AdamW"
    betas: List[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    weight_decay: float = 0.0
    warmup_proportion: Optional[float] = None
    warmup_steps: Optional[int] = None
    final_lr_ratio: float = 0.0

    def __post_init__(self):
        if self.name != "AdamW":
            raise ValueError(f"name: only AdamW is supported, got {self.name!r}")
        if (self.warmup_proportion is None) == (self.warmup_steps is None):
            raise ValueError("give exactly one of warmup_proportion and warmup_steps")
        if self.warmup_proportion is not None and not 0 <= self.warmup_proportion < 1:
            raise ValueError(f"warmup_proportion must be in [0, 1), got {self.warmup_proportion}")
        if len(self.betas) != 2:
            raise ValueError(f"betas must hold two numbers, got {self.betas}")
        self.lr, self.eps, self.weight_decay = float(self.lr), float(self.eps), float(self.weight_decay)

    def warmup_for(self, total_steps: int) -> int:
        if self.warmup_steps is not None:
            return int(self.warmup_steps)
        return int(round(self.warmup_proportion * total_steps))


@dataclass
class DataConfig:
    """LibriSpeech-layout audio listed by s3prl's len_for_bucket CSVs.

    Each utterance longer than ``max_timestep`` samples is randomly cropped
    to it (start a multiple of ``crop_multiple``, so frame-level targets stay
    aligned); utterances shorter than ``min_timestep`` are skipped.  Batches
    are formed from pools of ``bucket_pool`` batches sorted by length.
    """

    libri_root: str
    bucket_dir: str  # s3prl's ``file_path``: folder of <subset>.csv
    sets: List[str]
    batch_size: int
    max_timestep: int
    min_timestep: int = 0
    crop_multiple: int = 1
    bucket_pool: int = 50
    num_workers: int = 0
    sample_rate: int = 16000

    def __post_init__(self):
        if isinstance(self.sets, str):
            self.sets = [self.sets]
        if not self.sets:
            raise ValueError("sets must name at least one subset")
        for name in ("batch_size", "max_timestep", "crop_multiple", "bucket_pool", "sample_rate"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_timestep > self.max_timestep:
            raise ValueError(f"min_timestep {self.min_timestep} exceeds max_timestep {self.max_timestep}")


#: top-level key the command line fills with input_file_digests(config["model"])
INPUT_FILES_KEY = "input_files"


def input_file_digests(node: Any, prefix: str = MODEL_KEY) -> Dict[str, str]:
    """:func:`file_digest` of every existing file the ``model`` section names (a teacher checkpoint,
    ``init_from``, a unit model) and of every Hugging Face model folder (one with ``config.json``), by
    dotted key. Stored in the run's config, they make a resume refuse to continue when a file behind
    an unchanged path was replaced (a re-trained teacher under the same name): the config's other keys
    cannot see that. Other folders (caches, outputs) change during a run and are not inputs."""
    digests: Dict[str, str] = {}
    if isinstance(node, Mapping):
        for key, value in node.items():
            digests.update(input_file_digests(value, f"{prefix}.{key}"))
    elif isinstance(node, str) and node and (Path(node).is_file() or (Path(node) / "config.json").is_file()):
        digests[prefix] = file_digest(node)
    return digests


#: config keys that may change between a run and its resumption (they do not alter the result)
RESUME_MAY_DIFFER = ("config.datarc.num_workers", "config.runner.log_step", "config.runner.save_step",
                     "config.runner.max_keep")


def resume_conflicts(recorded: Mapping, config: Mapping) -> List[str]:
    """Dotted keys in which ``config`` differs from the one a run ``recorded`` when it began, except
    :data:`RESUME_MAY_DIFFER`: a run resumes only when this is empty. A replaced input file shows as
    ``config.input_files.<its key>``; a run from before input files were recorded ignores them."""
    may_differ = RESUME_MAY_DIFFER
    if INPUT_FILES_KEY not in recorded:
        may_differ += (f"config.{INPUT_FILES_KEY}",)
    return [key for key in config_differences(dict(recorded), dict(config)) if key not in may_differ]


@dataclass
class TrainingConfig:
    """The runner's typed view of a full config (the ``model`` section stays a dict for the expert)."""

    runner: RunnerConfig
    optimizer: OptimizerConfig
    datarc: DataConfig
    model: Dict[str, Any]
    seed: int
    raw: Dict[str, Any]  # the full config as read, stored in every checkpoint

    @classmethod
    def from_dict(cls, config: Mapping) -> "TrainingConfig":
        pending = unresolved_placeholders(config)
        if pending:
            raise ConfigError("unresolved placeholders (pass --preset or --corpus, or set the keys "
                              "with -o): " + "; ".join(pending))
        known = {"runner", "optimizer", "datarc", MODEL_KEY, "seed", INPUT_FILES_KEY}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ConfigError(f"unknown top-level config keys {unknown} (known: {sorted(known)})")
        return cls(runner=typed_section(RunnerConfig, config.get("runner", {}), "runner"),
                   optimizer=typed_section(OptimizerConfig, config.get("optimizer", {}), "optimizer"),
                   datarc=typed_section(DataConfig, config.get("datarc", {}), "datarc"),
                   model=dict(config.get(MODEL_KEY) or {}),
                   seed=int(config.get("seed", 0)),
                   raw=copy.deepcopy(dict(config)))
