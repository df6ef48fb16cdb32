"""Every model file of the package, teachers and students side by side: written here, and read offline.

Both kinds of file are written the same way (config + state dict in plain
types under a format marker, loadable with ``weights_only=True``, saved
atomically), so they are read and written here together; the network
modules (``teacher.py``, ``student.py``) know nothing about files.

Teachers (:func:`load_teacher`, :func:`read_teacher_checkpoint`,
:func:`save_teacher`): formats are detected from the path and the file's
contents:

* a Hugging Face model folder (``config.json`` + ``model.safetensors`` or
  ``pytorch_model.bin``) of HubertModel / WavLMModel / Wav2Vec2Model, or the
  weights file inside such a folder (converted by ``import_huggingface.py``);
* a fairseq ``.pt``: ``{"model": state dict, "cfg": ...}`` (cfg a dict or
  omegaconf with fields under ``cfg["model"]`` and ``cfg["task"]``; WavLM's
  release stores a flat ``cfg``) or legacy ``{"model", "args": Namespace}``
  (converted by ``import_fairseq.py``);
* an s3prl-converted fairseq checkpoint (``model_weight``, ``model_cfg``,
  ``task_cfg``: what s3prl's ``hubert``/``wav2vec2`` upstreams download);
* a file written by :func:`save_teacher`.

Students (:func:`load_student`, :func:`read_student_checkpoint`,
:func:`save_student`): a :func:`save_student` file, or a distillation run's
``states-<step>.ckpt`` (the student sits in the runner's ``expert`` entry
under :data:`EXPERT_CONFIG_KEY` / :data:`EXPERT_STUDENT_KEY`), so
``run_downstream.py -u distill_student -k EXP/states-N.ckpt`` works mid-run.
A :func:`save_student` file of an int8 student (``quantized.py``) records its
quantisation beside the config, and :func:`load_student` quantises the
network the same way before loading its weights.
Student files are only ever loaded with ``weights_only=True``.

Security: fairseq checkpoints pickle ``argparse.Namespace``, omegaconf
configs and fairseq classes, which ``torch.load(weights_only=True)`` (the
default since torch 2.6) refuses.  We first try the safe loader; only if it
refuses do we unpickle fully (``weights_only=False``), which can run code
embedded in the file.  This happens only for the path the caller passes to
:func:`load_teacher` (trust it as you would run it), never for files found
by search.  fairseq's own classes (e.g. its ``Dictionary`` in
``task_state``) are replaced by inert stand-ins, so fairseq need not be
installed.

Loading is strict: every parameter of the model must come from the file and
every tensor of the file must be used, except keys known to be irrelevant
for a frozen encoder (wav2vec 2.0's quantizer, mask embeddings, task heads
of HF models; a student's training-only heads unless asked for); otherwise
:class:`CheckpointError` / :class:`StudentCheckpointError` lists the keys.
"""
from __future__ import annotations

import argparse
import logging
import pickle
import types
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from upstream_distill.core.atomic_files import write_atomically

from .import_fairseq import convert_fairseq_state, detect_fairseq_arch, teacher_config_from_fairseq
from .import_huggingface import HF_WEIGHT_FILES, is_huggingface_folder, read_huggingface_folder
from .pruned import PrunedModel
from .pruned_config import PrunedConfig
from .quantized import DYNAMIC_INT8, QUANTIZATION_KEY, is_quantized, quantize_dynamic_int8
from .student import StudentModel
from .student_config import StudentConfig
from .teacher import TeacherModel
from .teacher_config import TeacherConfig

__all__ = [
    "CheckpointError",
    "EXPERT_CONFIG_KEY",
    "EXPERT_STUDENT_KEY",
    "StudentCheckpointError",
    "build_student",
    "load_student",
    "load_teacher",
    "read_student_checkpoint",
    "read_teacher_checkpoint",
    "save_student",
    "save_teacher",
    "student_config_from_dict",
    "student_payload",
]

_LG = logging.getLogger(__name__)
# format markers of the files this module writes (value: format version)
_TEACHER_MARKER, _TEACHER_VERSION = "upstream_distill_teacher", 1
_STUDENT_MARKER, _STUDENT_VERSION = "upstream_distill_student", 1
#: a student is either of the project's own shapes or a pruned teacher (per-layer widths)
AnyStudent = Union[StudentModel, PrunedModel]
#: where a distillation expert keeps the student in its ``checkpoint_state()``; the
#: expert writes and :func:`read_student_checkpoint` reads these keys, so they live here
EXPERT_STUDENT_KEY, EXPERT_CONFIG_KEY = "student", "student_config"
# the entry of a runner checkpoint that holds ``expert.checkpoint_state()`` (written by
# training/runner.py, which this layer may not import)
_RUNNER_EXPERT_KEY = "expert"
_EXPECTED = ("a fairseq checkpoint ({'model': state dict, 'cfg' or 'args': config}) of HuBERT, "
             "wav2vec 2.0 or WavLM, an s3prl-converted one ('model_weight', 'model_cfg', "
             "'task_cfg'), a file written by save_teacher, or a Hugging Face model folder "
             "(config.json + model.safetensors or pytorch_model.bin)")
_MAX_LISTED_KEYS = 12

PathLike = Union[str, Path]


class CheckpointError(ValueError):
    """A teacher checkpoint cannot be used; the message names the file and what was expected."""


class StudentCheckpointError(ValueError):
    """A student file cannot be used; the message names the file and what was expected."""


# ---------------------------------------------------------------------------
# teachers


def load_teacher(path: PathLike, freeze: bool = True) -> TeacherModel:
    """Build the teacher a checkpoint describes and load its weights strictly.

    Returns the model in eval mode; with ``freeze`` (default) its parameters
    do not require gradients.  Raises :class:`CheckpointError` for a missing,
    unreadable or foreign file, an unsupported architecture, or weights that
    do not match the architecture exactly.
    """
    path = Path(path)
    config, state = read_teacher_checkpoint(path)
    model = TeacherModel(config)
    _load_strictly(model, state, path)
    model.eval()
    if freeze:
        model.requires_grad_(False)
    return model


def read_teacher_checkpoint(path: PathLike) -> Tuple[TeacherConfig, Dict[str, Tensor]]:
    """``(config, state dict in TeacherModel names)``, without building the model."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"teacher checkpoint {str(path)!r}: no such file or folder; "
                              f"expected {_EXPECTED}")
    folder = _huggingface_folder_of(path)
    try:
        if folder is not None:
            config, state, unknown = read_huggingface_folder(folder)
            source = "Hugging Face"
        elif path.is_dir():
            raise ValueError(f"a folder without config.json; expected {_EXPECTED}")
        else:
            config, state, unknown, source = _read_pickled(path)
    except CheckpointError:
        raise
    except ValueError as err:
        raise CheckpointError(f"teacher checkpoint {str(path)!r}: {err}") from err
    if unknown:
        raise CheckpointError(f"teacher checkpoint {str(path)!r} ({source}, arch {config.arch}) has "
                              f"{len(unknown)} unexpected keys: {_listed(unknown)}")
    return config, state


def save_teacher(model: TeacherModel, path: PathLike, dtype: Optional[torch.dtype] = None) -> None:
    """Write config + weights in plain types (loadable with ``weights_only=True``).

    ``dtype`` (e.g. ``torch.float16``) stores floating-point weights in that
    type, halving a shipped file; loading casts them back to the model's.
    """
    _save_atomically(_native_payload(_TEACHER_MARKER, _TEACHER_VERSION, model, dtype), path)


# ---------------------------------------------------------------------------
# students


def student_payload(model: AnyStudent, dtype: Optional[torch.dtype] = None) -> dict:
    """Config + weights in plain types; ``dtype`` (e.g. float16) shrinks shipped files.

    A pruned student's config carries its per-layer shapes (``conv_layers``,
    ``layer_heads``, ``ffn_dims``), so the file alone rebuilds it.  An int8
    student (:func:`~.quantized.quantize_dynamic_int8`) keeps its quantised
    weights, and the payload says how they were quantised.
    """
    if not is_quantized(model):
        return _native_payload(_STUDENT_MARKER, _STUDENT_VERSION, model, dtype)
    if dtype is not None:
        raise ValueError(f"an int8 student's weights are stored as they are; dtype={dtype} does not apply")
    # the state dict as it is: its ``_metadata`` carries the quantised modules' format versions, without
    # which they would read their weights as an older format (quantised Linears live on the CPU anyway)
    return {_STUDENT_MARKER: _STUDENT_VERSION, "config": model.config.to_dict(), "state_dict": model.state_dict(),
            QUANTIZATION_KEY: dict(DYNAMIC_INT8)}


def student_config_from_dict(data: dict) -> Union[StudentConfig, PrunedConfig]:
    """The config a student file or checkpoint stores: a pruned teacher's has ``layer_heads``."""
    return PrunedConfig.from_dict(data) if "layer_heads" in data else StudentConfig.from_dict(data)


def build_student(config: Union[StudentConfig, PrunedConfig]) -> AnyStudent:
    return PrunedModel(config) if isinstance(config, PrunedConfig) else StudentModel(config)


def save_student(model: AnyStudent, path: PathLike, dtype: Optional[torch.dtype] = None) -> None:
    """Write :func:`student_payload` atomically (temp file + rename)."""
    _save_atomically(student_payload(model, dtype), path)


def read_student_checkpoint(path: PathLike) -> Tuple[Union[StudentConfig, PrunedConfig], Dict[str, Tensor]]:
    """``(config, state dict)`` of a :func:`save_student` file or a distillation runner checkpoint
    (float weights: an int8 file loads with :func:`load_student` only)."""
    config, state, quantization = _read_student_payload(path)
    if quantization is not None:
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} is an int8 student ({quantization}): "
                                     f"load it with load_student; its weights cannot seed a float network")
    return config, state


def _read_student_payload(path: PathLike):
    """``(config, state dict, quantization or None)`` of a student file or runner checkpoint."""
    path = Path(path)
    expected = ("a save_student file (e.g. <expdir>/upstream.pt) or a distillation run's "
                "states-<step>.ckpt")
    if not path.is_file():
        raise StudentCheckpointError(f"student checkpoint {str(path)!r}: no such file; expected {expected}")
    try:
        with warnings.catch_warnings():  # an int8 file's weights come back through torch's deprecated
            warnings.filterwarnings("ignore", message=".*TypedStorage is deprecated")  # quantised-tensor path
            warnings.filterwarnings("ignore", message=".*quantized tensor creation functions")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means "not our file"
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} cannot be read "
                                     f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                                     f"expected {expected}") from None
    quantization = None
    if isinstance(payload, dict) and _STUDENT_MARKER in payload:
        config, state = payload["config"], payload["state_dict"]
        quantization = payload.get(QUANTIZATION_KEY)
    elif isinstance(payload, dict) and isinstance(payload.get(_RUNNER_EXPERT_KEY), dict) \
            and EXPERT_CONFIG_KEY in payload[_RUNNER_EXPERT_KEY]:
        expert = payload[_RUNNER_EXPERT_KEY]
        config, state = expert[EXPERT_CONFIG_KEY], expert[EXPERT_STUDENT_KEY]
    else:
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} holds no student (found {keys}); "
                                     f"expected {expected}. A teacher checkpoint loads with "
                                     f"-u teacher_local instead")
    try:
        return student_config_from_dict(config), state, quantization
    except ValueError as err:
        raise StudentCheckpointError(f"student checkpoint {str(path)!r}: {err}") from None


def load_student(path: PathLike, with_heads: bool = False) -> AnyStudent:
    """The student a file describes (of the project's shapes, or a pruned teacher), weights loaded
    strictly, in eval mode.

    ``with_heads=False`` drops the training-only prediction heads (the
    upstream's view); missing or unexpected keys, or a weight whose shape
    differs from the config's, raise StudentCheckpointError.  An int8 file
    gives an int8 student (CPU only).
    """
    config, state, quantization = _read_student_payload(path)
    if not with_heads and isinstance(config, StudentConfig):
        config.prediction_heads, config.head_targets, config.head_sources = "none", [], []
        kept = OrderedDict((k, v) for k, v in state.items() if not k.startswith("heads."))
        kept._metadata = getattr(state, "_metadata", None)  # module format versions (an int8 file needs them)
        state = kept
    model = build_student(config)
    if quantization is not None:
        return _load_quantized(model, state, quantization, path)
    reference = model.state_dict()
    missing = sorted(set(reference) - set(state))
    unexpected = sorted(set(state) - set(reference))
    wrong = sorted(k for k in set(state) & set(reference) if state[k].shape != reference[k].shape)
    if missing or unexpected or wrong:
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} does not match its config: "
                                     f"missing {missing[:6]}, unexpected {unexpected[:6]}, "
                                     f"wrong shape {wrong[:6]}")
    model.load_state_dict({k: v.to(reference[k].dtype) for k, v in state.items()})
    return model.eval()


def _load_quantized(model: AnyStudent, state: dict, quantization, path: PathLike) -> AnyStudent:
    """Quantise the float network as the file says it was, then load its int8 weights strictly."""
    if quantization != DYNAMIC_INT8:
        raise StudentCheckpointError(f"student checkpoint {str(path)!r} was quantised as {quantization}; "
                                     f"this version reads {DYNAMIC_INT8} only")
    quantize_dynamic_int8(model)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise StudentCheckpointError(f"int8 student checkpoint {str(path)!r} does not match its config: "
                                     f"{_first_line(err)}") from None
    return model.eval()


# ---------------------------------------------------------------------------
# the native format (both kinds)


def _native_payload(marker: str, version: int, model: nn.Module, dtype: Optional[torch.dtype]) -> dict:
    """``{marker: version, "config": ..., "state_dict": ...}`` in plain types, on the CPU;
    ``dtype`` casts the floating-point weights (loading casts them back)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return {marker: version, "config": model.config.to_dict(), "state_dict": state}


def _save_atomically(payload: dict, path: PathLike) -> None:
    """``torch.save`` to a temp file, then rename: a crash never leaves half a file under the real name."""
    write_atomically(path, lambda tmp: torch.save(payload, tmp))


# ---------------------------------------------------------------------------
# teacher formats


def _huggingface_folder_of(path: Path):
    if is_huggingface_folder(path):
        return path
    if path.is_file() and path.name in HF_WEIGHT_FILES and is_huggingface_folder(path.parent):
        return path.parent
    return None


def _read_pickled(path: Path):
    """``(config, state, unknown keys, source name)`` of a single-file checkpoint."""
    payload = _torch_load(path)
    if not isinstance(payload, Mapping):
        raise ValueError(f"it holds a {type(payload).__name__}, not a dict; expected {_EXPECTED}")
    if _TEACHER_MARKER in payload:
        config = TeacherConfig.from_dict(dict(payload["config"]))
        return config, dict(payload["state_dict"]), [], "save_teacher"
    if "model_weight" in payload:
        for key in ("model_cfg", "task_cfg"):
            if key not in payload:
                raise ValueError(f"an s3prl-converted checkpoint needs {key!r} beside 'model_weight'")
        return _from_fairseq(payload["model_weight"], _plain(payload["model_cfg"]),
                             _plain(payload["task_cfg"])) + ("s3prl-converted fairseq",)
    if "model" not in payload:
        if payload and all(isinstance(v, Tensor) for v in payload.values()):
            raise ValueError(f"it is a bare state dict ({len(payload)} tensors, e.g. "
                             f"{_listed(list(payload), 3)}) without a model configuration; expected {_EXPECTED}")
        raise ValueError(f"no 'model' entry (found keys {_listed([str(k) for k in payload])}); "
                         f"expected {_EXPECTED}")
    cfg, args = payload.get("cfg"), payload.get("args")
    if cfg is None and args is None:
        raise ValueError("it has a 'model' state dict but neither 'cfg' nor 'args', so its "
                         f"architecture is unknown; expected {_EXPECTED}")
    if cfg is not None:
        cfg = _plain(cfg)
        model_cfg = cfg.get("model", cfg)  # WavLM's release: flat cfg
        task_cfg = cfg.get("task") if "model" in cfg else cfg
    else:
        model_cfg = task_cfg = _plain(args)
    return _from_fairseq(payload["model"], model_cfg, task_cfg) + ("fairseq",)


def _from_fairseq(state, model_cfg, task_cfg):
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError("its model weights are not a state dict of tensors")
    if not isinstance(model_cfg, Mapping):
        raise ValueError(f"its model config is a {type(model_cfg).__name__}, not a mapping")
    arch = detect_fairseq_arch(model_cfg, state)
    config = teacher_config_from_fairseq(model_cfg, task_cfg, arch, state)
    converted, unknown = convert_fairseq_state(state, config)
    return config, converted, unknown


def _plain(value):
    """omegaconf / Namespace / Mapping -> nested plain dicts."""
    if isinstance(value, argparse.Namespace):
        return {k: _plain(v) for k, v in vars(value).items()}
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        DictConfig = ListConfig = ()
    if DictConfig and isinstance(value, (DictConfig, ListConfig)):
        try:
            return OmegaConf.to_container(value, resolve=True)
        except Exception:  # noqa: BLE001 - unresolvable interpolation: keep it unresolved
            return OmegaConf.to_container(value, resolve=False)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------
# unpickling


class _Unavailable:
    """Inert stand-in for a class of a package that is not installed (fairseq)."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state

    def __str__(self):
        return str(self.args[0]) if len(self.args) == 1 else repr(self)


_STANDIN_PACKAGES = ("fairseq", "examples")  # examples: fairseq's example tasks (e.g. WavLM's)


class _TolerantUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            if module.split(".")[0] not in _STANDIN_PACKAGES:
                raise
            return type(name, (_Unavailable,), {"__module__": module})


_tolerant_pickle = types.ModuleType("tolerant_pickle", "pickle with stand-ins for fairseq classes")
_tolerant_pickle.Unpickler = _TolerantUnpickler
_tolerant_pickle.load = lambda file, **kwargs: _TolerantUnpickler(file, **kwargs).load()


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (torch >= 1.6) or a pickle (PROTO opcode 0x80 first)."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as file:
        return file.read(1) == b"\x80"


def _torch_load(path: Path):
    """Safe ``torch.load`` first; the full unpickler only if the safe one refuses."""
    if not _looks_like_torch_file(path):
        raise ValueError(f"not a PyTorch checkpoint (neither a zip archive nor a pickle); "
                         f"expected {_EXPECTED}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only load failed" not in str(err).lower():
            raise _unreadable(err) from None
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError, EOFError, ... on garbage
        raise _unreadable(err) from None
    _LG.info("%s holds Python objects beyond tensors (fairseq config); unpickling it fully "
             "because it was passed explicitly", path)
    try:
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_tolerant_pickle)
    except Exception as err:  # noqa: BLE001
        raise _unreadable(err) from None


def _unreadable(err: BaseException) -> ValueError:
    return ValueError(f"not a readable PyTorch checkpoint ({_first_line(err)}); expected {_EXPECTED}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


# ---------------------------------------------------------------------------
# strict loading


def _listed(keys: List[str], limit: int = _MAX_LISTED_KEYS) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def _load_strictly(model: TeacherModel, state: Dict[str, Tensor], path: Path) -> None:
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"teacher checkpoint {str(path)!r} does not fit the {model.config.arch} "
                              f"architecture its config describes: {err}") from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing {len(result.missing_keys)} weights: {_listed(result.missing_keys)}")
    if result.unexpected_keys:
        problems.append(f"{len(result.unexpected_keys)} unexpected weights: "
                        f"{_listed(result.unexpected_keys)}")
    if problems:
        raise CheckpointError(f"teacher checkpoint {str(path)!r} ({model.config.arch}) does not match "
                              f"its architecture (TeacherModel names): {'; '.join(problems)}")
