"""Hugging Face model folders (HubertModel / WavLMModel / Wav2Vec2Model) -> TeacherConfig + state dict.

A folder from ``save_pretrained``: ``config.json`` plus ``model.safetensors``
or ``pytorch_model.bin``.  HF's module names are torchaudio's apart from
two prefixes (``feature_projection`` sits under ``encoder`` and the HF
``encoder`` is torchaudio's ``encoder.transformer``) and WavLM's separate
q/k/v projections, which torchaudio's own HF importer merges; we reuse that
merge.  Weights are read with ``safetensors`` or ``torch.load(weights_only=True)``:
no code in the folder runs.  ``transformers`` is used only to read
``config.json`` (it fills the defaults of fields a config omits).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

import torch
from torch import Tensor

from ._torchaudio import merge_wavlm_projections
from .teacher_config import ARCHS, TeacherConfig

__all__ = ["HF_WEIGHT_FILES", "is_huggingface_folder", "read_huggingface_folder",
           "teacher_config_from_huggingface", "convert_huggingface_state"]

#: Weight files looked for, in order of preference.
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
_FEATURE_NORMS = {"group": "group_norm", "layer": "layer_norm"}
_PARAMETRIZED_WEIGHT = {"weight_g": "parametrizations.weight.original0",
                        "weight_v": "parametrizations.weight.original1"}


def is_huggingface_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def read_huggingface_folder(folder: Path) -> Tuple[TeacherConfig, Dict[str, Tensor], List[str]]:
    """``(config, converted state, unknown keys)``; ValueError says what is wrong."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise ValueError("no config.json: expected a Hugging Face model folder "
                         "(config.json + model.safetensors or pytorch_model.bin)")
    try:
        raw = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"config.json is not valid JSON ({err})") from None
    do_normalize = _preprocessor_normalizes(folder)
    config = teacher_config_from_huggingface(raw, folder, do_normalize)
    state = _read_weights(folder)
    converted, unknown = convert_huggingface_state(state, config)
    return config, converted, unknown


def _preprocessor_normalizes(folder: Path) -> bool:
    """``do_normalize`` of preprocessor_config.json, as s3prl's hf_* experts apply it.

    Without that file: False, the recipe fairseq trained the Base models with.
    """
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        return False
    try:
        return bool(json.loads(path.read_text()).get("do_normalize", False))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"preprocessor_config.json is not valid JSON ({err})") from None


def teacher_config_from_huggingface(raw: Mapping, folder: Path, normalize_waveform: bool) -> TeacherConfig:
    arch = raw.get("model_type")
    if arch not in ARCHS:
        raise ValueError(f"config.json has model_type {arch!r}; supported: {', '.join(ARCHS)}")
    import transformers  # only here: the rest of the package does not need it

    hf = transformers.AutoConfig.from_pretrained(str(folder))
    unsupported = []
    if hf.hidden_act != "gelu" or hf.feat_extract_activation != "gelu":
        unsupported.append(f"activations {hf.hidden_act!r}/{hf.feat_extract_activation!r} (only gelu)")
    if abs(hf.layer_norm_eps - 1e-5) > 1e-12:
        unsupported.append(f"layer_norm_eps {hf.layer_norm_eps} (torchaudio's layer norms use 1e-5)")
    if getattr(hf, "conv_pos_batch_norm", False):
        unsupported.append("conv_pos_batch_norm")
    if not getattr(hf, "feat_proj_layer_norm", True):
        unsupported.append("feat_proj_layer_norm=False")
    if getattr(hf, "add_adapter", False):
        unsupported.append("add_adapter")
    if hf.feat_extract_norm not in _FEATURE_NORMS:
        unsupported.append(f"feat_extract_norm {hf.feat_extract_norm!r}")
    if unsupported:
        raise ValueError(f"unsupported {arch} configuration: {'; '.join(unsupported)}")
    wavlm = {}
    if arch == "wavlm":
        wavlm = dict(num_buckets=hf.num_buckets, max_distance=hf.max_bucket_distance, gru_rel_pos=True)
    return TeacherConfig(
        arch=arch,
        conv_layers=list(zip(hf.conv_dim, hf.conv_kernel, hf.conv_stride)),
        conv_norm=_FEATURE_NORMS[hf.feat_extract_norm],
        conv_bias=bool(hf.conv_bias),
        encoder_dim=hf.hidden_size,
        encoder_layers=hf.num_hidden_layers,
        encoder_heads=hf.num_attention_heads,
        ffn_dim=hf.intermediate_size,
        pos_conv_kernel=hf.num_conv_pos_embeddings,
        pos_conv_groups=hf.num_conv_pos_embedding_groups,
        layer_norm_first=bool(hf.do_stable_layer_norm),
        dropout=float(hf.hidden_dropout),
        attention_dropout=float(hf.attention_dropout),
        activation_dropout=float(hf.activation_dropout),
        projection_dropout=float(hf.feat_proj_dropout),
        normalize_waveform=normalize_waveform,
        **wavlm,
    )


def _read_weights(folder: Path) -> Dict[str, Tensor]:
    for name in HF_WEIGHT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(str(path), device="cpu")
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any reader failure means a corrupt file
            raise ValueError(f"cannot read weights file {name} ({type(err).__name__}: {err})") from None
    sharded = [name for name in _SHARD_INDEXES if (folder / name).is_file()]
    if sharded:
        raise ValueError(f"sharded weights ({sharded[0]}) are not supported; re-save with a larger "
                         f"max_shard_size (Base models are < 400 MB)")
    raise ValueError(f"no weights file: expected one of {', '.join(HF_WEIGHT_FILES)} beside config.json")


def convert_huggingface_state(state: Mapping[str, Tensor], config: TeacherConfig
                              ) -> Tuple[Dict[str, Tensor], List[str]]:
    """HF names -> TeacherModel names.  Returns ``(converted, unknown_keys)``.

    Accepts bare-model keys (``encoder.layers...``) and the keys of a model
    with a task head (``hubert.encoder.layers...``); in the latter case the
    keys outside the base model (``lm_head``, ``quantizer``, ``projector``...)
    are task heads and are dropped.  ``masked_spec_embed`` (SpecAugment's mask
    vector, training only) is dropped too.
    """
    prefix = config.arch + "."
    if any(key.startswith(prefix) for key in state):
        state = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    converted: Dict[str, Tensor] = {}
    unknown: List[str] = []
    for key, value in state.items():
        if key == "masked_spec_embed":
            continue
        if key.startswith("feature_extractor."):
            new_key = key
        elif key.startswith("feature_projection."):
            new_key = "encoder." + key
        elif key.startswith("encoder."):
            new_key = "encoder.transformer." + key[len("encoder."):]
        else:
            unknown.append(key)
            continue
        head, _, leaf = new_key.rpartition(".")
        if head.endswith("pos_conv_embed.conv") and leaf in _PARAMETRIZED_WEIGHT:
            new_key = f"{head}.{_PARAMETRIZED_WEIGHT[leaf]}"  # pre-2024 HF weight_norm names
        converted[new_key] = value
    if config.arch == "wavlm":
        converted = merge_wavlm_projections(converted, config.encoder_layers)
    return converted, unknown
