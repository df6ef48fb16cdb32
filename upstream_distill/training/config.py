"""Runner configuration: YAML in, typed objects out, in one place.

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

import ast
import copy
import re
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from .errors import ConfigError
from .file_digest import file_digest

__all__ = [
    "DataConfig",
    "OptimizerConfig",
    "RunnerConfig",
    "TrainingConfig",
    "apply_overrides",
    "compose_config",
    "config_differences",
    "input_file_digests",
    "deep_merge",
    "parse_overrides",
    "read_yaml",
    "substitute",
]

PRESETS_KEY = "presets"
MODEL_KEY = "model"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


# ---------------------------------------------------------------------------
# dict plumbing


INHERIT_KEY = "_inherit"


def read_yaml(path: Path, _seen: tuple = ()) -> dict:
    """A YAML mapping (an empty file is ``{}``); ConfigError names the file otherwise.

    ``_inherit: other.yaml`` (relative to the file) names a base config that
    this file is deep-merged over, so a variant states only what it changes.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.resolve() in _seen:
        raise ConfigError(f"config file {path}: '{INHERIT_KEY}' loops back to itself")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, not a {type(data).__name__}")
    parent = data.pop(INHERIT_KEY, None)
    if parent is not None:
        data = deep_merge(read_yaml(path.parent / parent, _seen + (path.resolve(),)), data)
    return data


def deep_merge(base: Mapping, update: Mapping) -> dict:
    """``update`` over ``base``: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _with_preset(data: dict, preset: Optional[str], source: Path) -> dict:
    data = dict(data)
    presets = data.pop(PRESETS_KEY, None) or {}
    if not isinstance(presets, Mapping):
        raise ConfigError(f"{source}: '{PRESETS_KEY}' must map preset names to overrides")
    if preset is None:
        return data
    return deep_merge(data, presets.get(preset) or {})


def compose_config(runner_file: Path, model_file: Path, preset: Optional[str] = None) -> dict:
    """The full config of a run: runner file, ``model:`` = model file, presets applied.

    ConfigError when the preset is defined in neither file (a misspelt preset
    must not silently give the real-size settings).
    """
    runner_data, model_data = read_yaml(runner_file), read_yaml(model_file)
    if preset is not None:
        known = set(runner_data.get(PRESETS_KEY) or {}) | set(model_data.get(PRESETS_KEY) or {})
        if preset not in known:
            raise ConfigError(f"--preset {preset}: neither {runner_file} nor {model_file} defines it "
                              f"(presets there: {sorted(known) or 'none'})")
    config = _with_preset(runner_data, preset, runner_file)
    if MODEL_KEY in config:
        raise ConfigError(f"{runner_file}: the key '{MODEL_KEY}' is reserved for the model config")
    config[MODEL_KEY] = _with_preset(model_data, preset, model_file)
    return config


def parse_overrides(text: Optional[str]) -> List[Tuple[List[str], Any]]:
    """s3prl's ``-o`` syntax: ``config.a.b=1e-3,,config.c=['x', 'y']``.

    Values are Python literals (``ast.literal_eval``); anything else is a
    plain string (``config.datarc.libri_root=/data/LibriSpeech``).
    """
    if not text or text.strip().lower() == "none":
        return []
    parsed = []
    for option in text.split(",,"):
        option = option.strip()
        if not option:
            continue
        key, sep, raw = option.partition("=")
        key, raw = key.strip(), raw.strip()
        parts = key.split(".")
        if not sep or parts[0] != "config" or len(parts) < 2 or not all(parts):
            raise ConfigError(f"-o/--override: {option!r} is not of the form config.<key>[.<key>...]=<value>")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        parsed.append((parts[1:], value))
    return parsed


def apply_overrides(config: dict, overrides: List[Tuple[List[str], Any]]) -> dict:
    """A copy of ``config`` with each override set (intermediate mappings are created)."""
    config = copy.deepcopy(config)
    for path, value in overrides:
        node = config
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"-o/--override: config.{'.'.join(path[:i + 1])} is a "
                                  f"{type(child).__name__}, not a mapping")
            node = child
        node[path[-1]] = value
    return config


def substitute(node: Any, replacements: Mapping[str, Any]) -> Any:
    """Replace ``${name}`` in every string of ``node``."""
    if isinstance(node, dict):
        return {k: substitute(v, replacements) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, replacements) for v in node]
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: str(replacements.get(m.group(1), m.group(0))), node)
    return node


def unresolved_placeholders(node: Any, prefix: str = "config") -> List[str]:
    """``["config.datarc.libri_root = ${corpus}/LibriSpeech", ...]``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += unresolved_placeholders(value, f"{prefix}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += unresolved_placeholders(value, f"{prefix}[{i}]")
    elif isinstance(node, str) and _PLACEHOLDER.search(node):
        found.append(f"{prefix} = {node}")
    return found


def config_differences(old: Any, new: Any, prefix: str = "config") -> List[str]:
    """Dotted keys whose values differ between two full configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        diffs = []
        for key in sorted(set(old) | set(new), key=str):
            diffs += config_differences(old.get(key), new.get(key), f"{prefix}.{key}")
        return diffs
    return [] if old == new else [prefix]


# ---------------------------------------------------------------------------
# typed sections


def _typed(cls, data: Any, section: str):
    """Build dataclass ``cls`` from ``data``; ConfigError names unknown and missing keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config.{section} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    required = sorted(f.name for f in fields(cls)
                      if f.default is MISSING and f.default_factory is MISSING and f.name not in data)
    if unknown or required:
        problems = ([f"unknown keys {['config.%s.%s' % (section, k) for k in unknown]}"] if unknown else [])
        problems += ([f"missing keys {['config.%s.%s' % (section, k) for k in required]}"] if required else [])
        raise ConfigError(f"config.{section}: " + "; ".join(problems) + f" (known: {sorted(names)})")
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config.{section}: {err}") from None


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


def replaced_input_files(config: Mapping) -> List[str]:
    """Dotted keys of the files a run recorded in ``config[INPUT_FILES_KEY]`` that are gone or now hold
    other bytes (a teacher re-trained under the same path); empty for a run from before the record."""
    current = input_file_digests(config.get(MODEL_KEY) or {})
    return sorted(key for key, digest in (config.get(INPUT_FILES_KEY) or {}).items() if current.get(key) != digest)


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
        return cls(runner=_typed(RunnerConfig, config.get("runner", {}), "runner"),
                   optimizer=_typed(OptimizerConfig, config.get("optimizer", {}), "optimizer"),
                   datarc=_typed(DataConfig, config.get("datarc", {}), "datarc"),
                   model=dict(config.get(MODEL_KEY) or {}),
                   seed=int(config.get("seed", 0)),
                   raw=copy.deepcopy(dict(config)))
