"""fairseq checkpoints (HuBERT, wav2vec 2.0, WavLM release) -> TeacherConfig + state dict.

Key layout (released HuBERT Base / wav2vec_small / WavLM-Base+):
``feature_extractor.conv_layers.N.{0 (conv), 2 (GroupNorm) | 2.1 (LayerNorm)}``,
``layer_norm`` (on CNN features), ``post_extract_proj``,
``encoder.pos_conv.0.{weight_g, weight_v, bias}``, ``encoder.layer_norm``,
``encoder.layers.N.{self_attn.{q,k,v,out}_proj, self_attn_layer_norm, fc1, fc2,
final_layer_norm}``; HuBERT adds ``final_proj`` and ``label_embs_concat``;
wav2vec 2.0 adds its quantizer (``quantizer.*``, ``project_q``, ``final_proj``);
WavLM adds ``encoder.layers.0.self_attn.relative_attention_bias`` and per layer
``self_attn.grep_linear`` / ``self_attn.grep_a`` (the gated bias); all have
``mask_emb``.  torchaudio's own mapper does the shared part; this module adds
HuBERT's unit head and WavLM's keys, and drops only keys known to be
irrelevant to a frozen encoder.  Nothing here unpickles: see checkpoints.
"""
from __future__ import annotations

import ast
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

from ._torchaudio import map_fairseq_key, merge_wavlm_projections
from .teacher_config import ARCHS, TeacherConfig

__all__ = ["FAIRSEQ_MODEL_DEFAULTS", "detect_fairseq_arch", "parse_conv_feature_layers",
           "teacher_config_from_fairseq", "convert_fairseq_state"]

#: fairseq's dataclass defaults (Wav2Vec2Config / HubertConfig / WavLMConfig),
#: used only for fields a checkpoint's cfg does not store.
FAIRSEQ_MODEL_DEFAULTS = {
    "extractor_mode": "default",
    "conv_feature_layers": "[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
    "conv_bias": False,
    "encoder_embed_dim": 768,
    "encoder_layers": 12,
    "encoder_attention_heads": 12,
    "encoder_ffn_embed_dim": 3072,
    "conv_pos": 128,
    "conv_pos_groups": 16,
    "layer_norm_first": False,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation_dropout": 0.0,
    "dropout_input": 0.0,
    "logit_temp": 0.1,
    "num_buckets": 320,
    "max_distance": 1280,  # WavLMConfig's default; the Base+ release stores 800
    "gru_rel_pos": False,
    "activation_fn": "gelu",
}
_EXTRACTOR_MODES = {"default": "group_norm", "layer_norm": "layer_norm"}
_FINETUNED_NAMES = ("wav2vec_ctc", "wav2vec_seq2seq", "hubert_ctc", "hubert_seq2seq")

# Keys of pre-training machinery that a frozen encoder never uses.
_IGNORED_PREFIXES = {
    "hubert": ("mask_emb",),
    "wavlm": ("mask_emb", "label_embs_concat", "final_proj."),
    "wav2vec2": ("mask_emb", "quantizer.", "input_quantizer.", "project_q.", "project_inp.",
                 "final_proj.", "target_glu."),
}
_WAVLM_KEY = re.compile(
    r"encoder\.layers\.(\d+)\.self_attn\."
    r"(relative_attention_bias\.weight|grep_linear\.(?:weight|bias)|grep_a)")
_WAVLM_NAMES = {"relative_attention_bias.weight": "rel_attn_embed.weight",
                "grep_linear.weight": "gru_rel_pos_linear.weight",
                "grep_linear.bias": "gru_rel_pos_linear.bias",
                "grep_a": "gru_rel_pos_const"}
# fairseq on torch >= 2 may save the weight-normed positional conv in the parametrization layout.
_POS_CONV_PARAMETRIZED = {
    "encoder.pos_conv.0.parametrizations.weight.original0": "encoder.pos_conv.0.weight_g",
    "encoder.pos_conv.0.parametrizations.weight.original1": "encoder.pos_conv.0.weight_v",
}
_TRANSFORMER = "encoder.transformer."  # TeacherModel (torchaudio) prefix of the layers


def parse_conv_feature_layers(spec) -> List[Tuple[int, int, int]]:
    """fairseq's ``conv_feature_layers`` string, e.g. ``"[(512,10,5)] + [(512,3,2)] * 4"``.

    fairseq ``eval``s it; here only list/tuple literals of ints, ``+`` and
    ``* int`` are accepted, so a config string cannot run code.
    """
    if isinstance(spec, (list, tuple)):
        return [tuple(int(v) for v in layer) for layer in spec]

    def evaluate(node):
        if isinstance(node, ast.Expression):
            return evaluate(node.body)
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [evaluate(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = evaluate(node.left), evaluate(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported element {ast.dump(node)}")

    try:
        layers = evaluate(ast.parse(str(spec), mode="eval"))
        return [tuple(int(v) for v in layer) for layer in layers]
    except (SyntaxError, ValueError, TypeError) as err:
        raise ValueError(f"cannot parse conv_feature_layers {spec!r}: {err}") from None


def detect_fairseq_arch(model_cfg: Mapping, state: Mapping[str, Tensor]) -> str:
    """'hubert' | 'wavlm' | 'wav2vec2' from the cfg's model name, else from the keys.

    WavLM's release stores a flat cfg without a model name; its relative
    position keys identify it.
    """
    name = str(model_cfg.get("_name") or model_cfg.get("arch") or "").lower()
    if name in _FINETUNED_NAMES or any(k.startswith("w2v_encoder.") for k in state):
        raise ValueError(f"this is a fine-tuned checkpoint (model {name or 'w2v_encoder.*'}); only "
                         f"pre-trained HuBERT / wav2vec 2.0 / WavLM checkpoints are supported")
    if model_cfg.get("relative_position_embedding") or any(_WAVLM_KEY.fullmatch(k) for k in state):
        return "wavlm"
    if name.startswith("hubert"):
        return "hubert"
    if name.startswith("wav2vec2"):
        return "wav2vec2"
    if not name:
        if "label_embs_concat" in state:
            return "hubert"
        if any(k.startswith(("quantizer.", "project_q.")) for k in state):
            return "wav2vec2"
    raise ValueError(f"unknown model architecture {name or '(no model name in cfg/args)'}; "
                     f"supported: {', '.join(ARCHS)}")


def teacher_config_from_fairseq(model_cfg: Mapping, task_cfg: Optional[Mapping], arch: str,
                                state: Mapping[str, Tensor]) -> TeacherConfig:
    """Build the TeacherConfig a fairseq cfg describes (unit head sized from the tensors)."""
    def get(name):
        value = model_cfg.get(name)
        return FAIRSEQ_MODEL_DEFAULTS[name] if value is None else value

    if str(get("activation_fn")) != "gelu":
        raise ValueError(f"activation_fn {get('activation_fn')!r} is not supported "
                         f"(torchaudio's layers use gelu)")
    if str(model_cfg.get("layer_type") or "transformer") != "transformer":
        raise ValueError(f"layer_type {model_cfg.get('layer_type')!r} is not supported (only 'transformer')")
    if int(model_cfg.get("pos_conv_depth") or 1) != 1:
        raise ValueError(f"pos_conv_depth {model_cfg.get('pos_conv_depth')} is not supported (only 1)")
    mode = str(get("extractor_mode"))
    if mode not in _EXTRACTOR_MODES:
        raise ValueError(f"extractor_mode {mode!r} is not supported ({sorted(_EXTRACTOR_MODES)})")
    if arch == "wavlm" and not model_cfg.get("relative_position_embedding", True):
        raise ValueError("WavLM without relative_position_embedding is not supported")

    unit_head = {}
    if arch == "hubert" and "label_embs_concat" in state:
        num_units, final_dim = state["label_embs_concat"].shape
        projection = state.get("final_proj.weight")
        if projection is None or projection.shape[0] != final_dim:
            raise ValueError(f"final_proj {tuple(projection.shape) if projection is not None else 'missing'} "
                             f"does not match label_embs_concat {(num_units, final_dim)}: HuBERT with "
                             f"several label sets (untie_final_proj) is not supported")
        unit_head = dict(final_dim=int(final_dim), num_units=int(num_units),
                         unit_temperature=float(get("logit_temp")))
    wavlm = {}
    if arch == "wavlm":
        wavlm = dict(num_buckets=int(get("num_buckets")), max_distance=int(get("max_distance")),
                     gru_rel_pos=bool(get("gru_rel_pos")))
    normalize = (task_cfg or {}).get("normalize", model_cfg.get("normalize", False))
    return TeacherConfig(
        arch=arch,
        conv_layers=parse_conv_feature_layers(get("conv_feature_layers")),
        conv_norm=_EXTRACTOR_MODES[mode],
        conv_bias=bool(get("conv_bias")),
        encoder_dim=int(get("encoder_embed_dim")),
        encoder_layers=int(get("encoder_layers")),
        encoder_heads=int(get("encoder_attention_heads")),
        ffn_dim=int(get("encoder_ffn_embed_dim")),
        pos_conv_kernel=int(get("conv_pos")),
        pos_conv_groups=int(get("conv_pos_groups")),
        layer_norm_first=bool(get("layer_norm_first")),
        dropout=float(get("dropout")),
        attention_dropout=float(get("attention_dropout")),
        activation_dropout=float(get("activation_dropout")),
        projection_dropout=float(get("dropout_input")),
        normalize_waveform=bool(normalize),
        **unit_head,
        **wavlm,
    )


def convert_fairseq_state(state: Mapping[str, Tensor], config: TeacherConfig
                          ) -> Tuple[Dict[str, Tensor], List[str]]:
    """fairseq names -> TeacherModel names.  Returns ``(converted, unknown_keys)``.

    Dropped silently: only the arch's pre-training-only keys (mask embedding,
    wav2vec 2.0's quantizer and contrastive projection).  Filled by exact
    equivalence: a WavLM ``k_proj`` without bias (``rescale_init``) gets a
    zero bias, and a missing ``post_extract_proj`` (fairseq omits it when the
    CNN width equals the encoder width) becomes the identity.
    """
    arch = config.arch
    converted: Dict[str, Tensor] = {}
    unknown: List[str] = []
    for key, value in state.items():
        if key.startswith(_IGNORED_PREFIXES[arch]):
            continue
        if arch == "hubert" and key in ("final_proj.weight", "final_proj.bias", "label_embs_concat"):
            name = "label_embeddings" if key == "label_embs_concat" else key
            converted[f"unit_head.{name}"] = value
            continue
        wavlm_key = _WAVLM_KEY.fullmatch(key) if arch == "wavlm" else None
        if wavlm_key:
            layer, name = wavlm_key.groups()
            converted[f"{_TRANSFORMER}layers.{layer}.attention.{_WAVLM_NAMES[name]}"] = value
            continue
        try:
            new_key = map_fairseq_key(_POS_CONV_PARAMETRIZED.get(key, key))
        except ValueError:
            unknown.append(key)
            continue
        if new_key is None or new_key.startswith("aux."):  # aux: a fine-tuning head
            unknown.append(key)
            continue
        converted[new_key] = value

    projection = "encoder.feature_projection.projection."
    if projection + "weight" not in converted and config.conv_layers[-1][0] == config.encoder_dim:
        converted[projection + "weight"] = torch.eye(config.encoder_dim)
        converted[projection + "bias"] = torch.zeros(config.encoder_dim)
    if arch == "wavlm":
        _fill_missing_key_bias(converted, config.encoder_layers)
        converted = merge_wavlm_projections(converted, config.encoder_layers)
    return converted, unknown


def _fill_missing_key_bias(state: Dict[str, Tensor], num_layers: int) -> None:
    for index in range(num_layers):
        prefix = f"{_TRANSFORMER}layers.{index}.attention."
        if prefix + "k_proj.weight" in state and prefix + "k_proj.bias" not in state:
            state[prefix + "k_proj.bias"] = torch.zeros(state[prefix + "k_proj.weight"].shape[0])
