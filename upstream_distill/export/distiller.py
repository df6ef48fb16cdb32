"""s3prl's ``distiller`` checkpoint (DistilHuBERT's release format), both ways.

s3prl's ``distiller_local`` upstream reads ``{"Config": {"distiller": ...},
"Distiller": state dict}`` and builds its ``DistillerModel``: fairseq's
waveform CNN (no conv bias), a projection to the encoder width, fairseq's
positional convolution and transformer layers, and prediction heads (a
Linear -> GELU -> per-layer Linear stack for DistilHuBERT).  The same
network as the project's student but for three things, which decide what
converts:

* its CNN features go to the projection *without* a LayerNorm (the
  project's students, like HuBERT, normalise them).  A LayerNorm cannot be
  folded into a Linear, so only students with ``feature_layer_norm: false``
  (those read from a distiller file, or distilled with
  ``-o config.model.student.feature_layer_norm=False``) write exactly;
* its heads are a two-layer stack, the project's one Linear per target:
  heads are training-only and never converted.  A written file uses the
  distiller's ``self-hidden`` output (no head weights), which makes s3prl's
  upstream list the encoder's hidden states twice (its featurizer weighs
  both copies; the sum is the same network); heads of a file that is read
  are dropped;
* s3prl's upstream returns, as hidden state 0, the projected CNN features
  *before* the positional convolution (the project: after it), then each
  layer's output as the project does (for a pre-LN student, the last one
  before the encoder's final LayerNorm, which the project applies).

Weights are renamed by rule (``keys.py``); the positional convolution's
weight norm keeps its ``g``/``v`` split under the old ``weight_g``/``weight_v`` names.
"""
from __future__ import annotations

import ast
import operator
from typing import Dict, List, Mapping

import torch
from torch import Tensor

from upstream_distill.models import StudentModel
from upstream_distill.models.student_config import StudentConfig

from .keys import rename
from .network import AnyNetwork, float_copy

__all__ = ["DISTILLER_KEYS", "distiller_checkpoint", "distiller_problems", "save_distiller",
           "student_from_distiller"]

#: the top-level entries s3prl's distiller upstream reads
DISTILLER_KEYS = ("Config", "Distiller")
#: DistillerConfig's defaults (s3prl/upstream/distiller/model.py) for the entries read here
_DEFAULTS = dict(extractor_mode="default",
                 extractor_conv_feature_layers="[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2",
                 feature_grad_mult=1.0, conv_pos=128, conv_pos_groups=16, encoder_layers=1,
                 encoder_embed_dim=768, encoder_ffn_embed_dim=3072, encoder_attention_heads=12,
                 activation_fn="gelu", layer_norm_first=False, attention_type="original", dropout=0.1,
                 attention_dropout=0.1, activation_dropout=0.1, task_emb_type="expand-last")
_CONV_NORMS = {"group_norm": "default", "layer_norm": "layer_norm"}
# the distiller's CNN blocks are nn.Sequential(conv, dropout, norm, GELU); a layer norm sits
# between two transposes, hence ".2.1."
_STUDENT_RULES = [
    ("frontend.feature_extractor.conv_layers.{i}.conv.", "feature_extractor.conv_layers.{i}.0."),
    ("encoder.feature_projection.projection.", "post_extract_proj."),
    ("encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original0", "encoder.pos_conv.0.weight_g"),
    ("encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original1", "encoder.pos_conv.0.weight_v"),
    ("encoder.transformer.pos_conv_embed.conv.", "encoder.pos_conv.0."),
    ("encoder.transformer.layer_norm.", "encoder.layer_norm."),
    ("encoder.transformer.layers.{i}.attention.", "encoder.layers.{i}.self_attn."),
    ("encoder.transformer.layers.{i}.layer_norm.", "encoder.layers.{i}.self_attn_layer_norm."),
    ("encoder.transformer.layers.{i}.feed_forward.intermediate_dense.", "encoder.layers.{i}.fc1."),
    ("encoder.transformer.layers.{i}.feed_forward.output_dense.", "encoder.layers.{i}.fc2."),
    ("encoder.transformer.layers.{i}.final_layer_norm.", "encoder.layers.{i}.final_layer_norm."),
]


def _rules(conv_norm: str) -> List:
    norm = ("frontend.feature_extractor.conv_layers.0.layer_norm.", "feature_extractor.conv_layers.0.2.")
    if conv_norm == "layer_norm":
        norm = ("frontend.feature_extractor.conv_layers.{i}.layer_norm.", "feature_extractor.conv_layers.{i}.2.1.")
    return [norm] + _STUDENT_RULES


# ---------------------------------------------------------------------------
# project -> distiller


def distiller_problems(model: AnyNetwork) -> List[str]:
    """Why ``model`` cannot be written as a distiller checkpoint (empty: it can)."""
    if not isinstance(model, StudentModel):
        return [f"s3prl's distiller holds a student of uniform layers; this is a {type(model).__name__} "
                f"(a pruned student writes DPHuBERT's format: --format dphubert)"]
    config, problems = model.config, []
    if config.frontend != "cnn":
        problems.append(f"its front-end is {config.frontend!r}; s3prl's distiller has HuBERT's waveform CNN only")
    if config.conv_bias:
        problems.append("its CNN has biases; s3prl's distiller builds its CNN without")
    if config.feature_layer_norm:
        problems.append("it normalises its CNN features (a LayerNorm before the projection, as HuBERT); "
                        "s3prl's distiller projects them unnormalised, and a LayerNorm does not fold into a "
                        "Linear. Only students with feature_layer_norm: false (read from a distiller file, or "
                        "distilled with -o config.model.student.feature_layer_norm=False) convert exactly")
    if config.frontend == "cnn" and config.conv_layers[-1][0] == config.encoder_dim:
        problems.append(f"its CNN is as wide as its encoder ({config.encoder_dim}), where s3prl's distiller "
                        f"has no projection at all")
    return problems


def distiller_config(config: StudentConfig) -> Dict[str, object]:
    """The ``Config["distiller"]`` section of a student (no heads: ``self-hidden`` output)."""
    layers = config.encoder_layers
    return dict(
        extractor_mode=_CONV_NORMS[config.conv_norm],
        extractor_conv_feature_layers=str([tuple(layer) for layer in config.conv_layers]),
        extractor_dropout=0.0, feature_grad_mult=config.cnn_grad_scale,
        conv_pos=config.pos_conv_kernel, conv_pos_groups=config.pos_conv_groups,
        encoder_layers=layers, encoder_embed_dim=config.encoder_dim, encoder_ffn_embed_dim=config.ffn_dim,
        encoder_attention_heads=config.encoder_heads, activation_fn="gelu",
        layer_norm_first=config.layer_norm_first, attention_type="original",
        dropout=config.dropout, attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout, encoder_layerdrop=0.0,
        final_dim=config.encoder_dim, task_emb_type="self-hidden", out_layer_type="self-hidden",
        n_tasks=layers + 1, pred_layer_id=list(range(layers + 1)),
        init_teacher_conv_layers=False, init_teacher_encoder_layers=False,
    )


def distiller_checkpoint(model: AnyNetwork) -> dict:
    """``{"Config": {"distiller": ...}, "Distiller": state dict}``; ValueError says why a model does not fit."""
    problems = distiller_problems(model)
    if problems:
        raise ValueError("cannot write s3prl's distiller format: " + "; ".join(problems))
    state = {k: v for k, v in float_copy(model).state_dict().items() if not k.startswith("heads.")}
    renamed, unknown = rename(state, _rules(model.config.conv_norm))
    if unknown:  # a module the rules do not know: a bug here, not a user error
        raise RuntimeError(f"no distiller name for {unknown[:6]}")
    return {"Config": {"distiller": distiller_config(model.config)}, "Distiller": renamed}


def save_distiller(model: AnyNetwork, path) -> None:
    torch.save(distiller_checkpoint(model), path)


# ---------------------------------------------------------------------------
# distiller -> project

_BINARY = {ast.Add: operator.add, ast.Mult: operator.mul}


def conv_layers_from_text(text: str) -> List[tuple]:
    """``"[(512,10,5)] + [(512,3,2)] * 4"`` -> the list, without ``eval``: only lists, tuples,
    integers, ``+`` and ``*`` are accepted."""
    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [value(item) for item in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        raise ValueError(f"extractor_conv_feature_layers {text!r} is not a list expression of "
                         f"(channels, kernel, stride) triples")
    layers = value(ast.parse(str(text), mode="eval").body)
    if not isinstance(layers, list) or not all(isinstance(layer, tuple) and len(layer) == 3 for layer in layers):
        raise ValueError(f"extractor_conv_feature_layers {text!r} is not a list of (channels, kernel, stride)")
    return layers


def student_config_from_distiller(section: Mapping, source: str) -> StudentConfig:
    cfg = {**_DEFAULTS, **dict(section)}
    problems = []
    if cfg["activation_fn"] != "gelu":
        problems.append(f"activation_fn {cfg['activation_fn']!r} (the project's layers use gelu)")
    if cfg["attention_type"] != "original":
        problems.append(f"attention_type {cfg['attention_type']!r}")
    if cfg["task_emb_type"] not in ("none", "expand-last", "self-hidden"):
        problems.append(f"task_emb_type {cfg['task_emb_type']!r} (a task embedding enters the encoder input)")
    norms = {v: k for k, v in _CONV_NORMS.items()}
    if cfg["extractor_mode"] not in norms:
        problems.append(f"extractor_mode {cfg['extractor_mode']!r}")
    if problems:
        raise ValueError(f"{source}: s3prl distiller checkpoint the project's student cannot hold: "
                         + "; ".join(problems))
    grad_mult = float(cfg["feature_grad_mult"])
    return StudentConfig(
        frontend="cnn", conv_layers=conv_layers_from_text(cfg["extractor_conv_feature_layers"]),
        conv_norm=norms[cfg["extractor_mode"]], conv_bias=False,
        cnn_grad_scale=grad_mult if 0 < grad_mult <= 1 else 1.0,  # training only; 0 (frozen CNN) has no equal
        encoder_dim=int(cfg["encoder_embed_dim"]), encoder_layers=int(cfg["encoder_layers"]),
        encoder_heads=int(cfg["encoder_attention_heads"]), ffn_dim=int(cfg["encoder_ffn_embed_dim"]),
        pos_conv_kernel=int(cfg["conv_pos"]), pos_conv_groups=int(cfg["conv_pos_groups"]),
        layer_norm_first=bool(cfg["layer_norm_first"]), dropout=float(cfg["dropout"]),
        attention_dropout=float(cfg["attention_dropout"]), activation_dropout=float(cfg["activation_dropout"]),
        projection_dropout=0.0, feature_layer_norm=False, prediction_heads="none")


def student_from_distiller(payload: Mapping, source: str = "distiller checkpoint") -> StudentModel:
    """The project's student (no heads) holding a distiller checkpoint's network; ValueError if it cannot."""
    config_section = payload["Config"].get("distiller") if isinstance(payload["Config"], Mapping) else None
    if not isinstance(config_section, Mapping):
        raise ValueError(f"{source}: its 'Config' has no 'distiller' section")
    config = student_config_from_distiller(config_section, source)
    state: Dict[str, Tensor] = {k: v for k, v in payload["Distiller"].items() if not k.startswith("output_layer.")}
    renamed, unknown = rename(state, _rules(config.conv_norm), reverse=True)
    if unknown:
        raise ValueError(f"{source}: distiller weights the project's student has no place for: {unknown[:6]}")
    model = StudentModel(config)
    if "encoder.feature_projection.projection.weight" not in renamed:  # CNN as wide as the encoder
        renamed["encoder.feature_projection.projection.weight"] = torch.eye(config.encoder_dim)
        renamed["encoder.feature_projection.projection.bias"] = torch.zeros(config.encoder_dim)
    try:
        result = model.load_state_dict(renamed, strict=False)
    except RuntimeError as err:  # a weight of another shape than the config says
        raise ValueError(f"{source}: distiller weights do not match its config: {str(err).splitlines()[-1]}") from None
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{source}: distiller weights do not match its config: missing "
                         f"{result.missing_keys[:6]}, unexpected {result.unexpected_keys[:6]}")
    return model.eval()
