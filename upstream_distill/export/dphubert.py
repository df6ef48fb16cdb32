"""DPHuBERT's pruned-model file, both ways: ``{"config": ..., "state_dict": ...}``.

DPHuBERT (Peng et al., 2023; github.com/pyf98/DPHuBERT) saves a pruned model
as the keyword arguments of its ``wav2vec2_model(**config)`` factory and that
model's state dict (``prune.py``, ``save_final_ckpt.py``), which is also what
s3prl's ``dp_hubert`` upstream reads (in s3prl's repository; not in the PyPI
releases installed here).  Its model is torchaudio's wav2vec 2.0 with
per-layer widths, as the project's :class:`~upstream_distill.models.PrunedModel`,
so the module names agree; what differs:

* the per-layer shape: ``encoder_num_heads`` (counts) and ``encoder_head_dim``
  for HuBERT / wav2vec 2.0, ``encoder_total_num_heads`` and
  ``encoder_remaining_heads`` (the teacher's head numbers) for WavLM, with
  ``encoder_use_attention`` / ``encoder_use_feed_forward`` marking removed
  sub-layers, ``encoder_ff_interm_features`` the FFN widths;
* ``feature_extractor.dummy_weight`` is the project's ``feature_scale``;
* the positional convolution keeps the old ``weight_g``/``weight_v`` names;
* WavLM's gate constant covers all the teacher's heads (the project keeps the
  kept heads' rows), and the first layer's relative-position table lives in
  its attention, which DPHuBERT drops with the attention: a WavLM whose
  first layer lost all heads has no equal there.

DPHuBERT's (and s3prl's upstream's) hidden state 0 is the projected CNN
output *before* the positional convolution; the others are the layers'
outputs, as in the project, except that for a pre-LN model
(``layer_norm_first``: the shipped ``tiny_hubert`` and its pruned students)
the last is taken before the encoder's final LayerNorm (the project, like
Hugging Face, returns it after).  The network in the file is the same.  A HuBERT and a wav2vec 2.0 file look the same;
read back, both are ``arch: hubert`` (the same network).
"""
from __future__ import annotations

from typing import Dict, List, Mapping

import torch

from upstream_distill.models import PrunedConfig, PrunedModel

from .keys import rename
from .network import AnyNetwork, float_copy

__all__ = ["dphubert_checkpoint", "dphubert_problems", "is_dphubert_payload", "pruned_from_dphubert",
           "save_dphubert"]

_RULES = [
    ("feature_scale", "feature_extractor.dummy_weight"),
    ("feature_extractor.", "feature_extractor."),
    ("encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original0",
     "encoder.transformer.pos_conv_embed.conv.weight_g"),
    ("encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original1",
     "encoder.transformer.pos_conv_embed.conv.weight_v"),
    ("encoder.", "encoder."),
]
_GATE = "encoder.transformer.layers.{}.attention.gru_rel_pos_const"
_PRUNING_FLAGS = ("extractor_prune_conv_channels", "encoder_prune_attention_heads", "encoder_prune_attention_layer",
                  "encoder_prune_feed_forward_intermediate", "encoder_prune_feed_forward_layer")
#: entries every DPHuBERT config has, whatever the architecture
_REQUIRED = ("extractor_mode", "extractor_conv_layer_config", "encoder_embed_dim", "encoder_num_layers",
             "encoder_use_attention", "encoder_use_feed_forward", "encoder_ff_interm_features")


def is_dphubert_payload(payload: Mapping) -> bool:
    return (isinstance(payload.get("config"), Mapping) and isinstance(payload.get("state_dict"), Mapping)
            and all(key in payload["config"] for key in _REQUIRED))


# ---------------------------------------------------------------------------
# project -> DPHuBERT


def dphubert_problems(model: AnyNetwork) -> List[str]:
    if not isinstance(model, PrunedModel):
        return [f"DPHuBERT's format holds a pruned teacher (PrunedModel); this is a {type(model).__name__} "
                f"(a student of uniform layers: --format distiller or --format hf)"]
    config, problems = model.config, []
    if config.arch == "wavlm" and not config.layer_heads[0]:
        problems.append("its first WavLM layer kept no attention head, but holds the relative-position "
                        "table the later layers read; DPHuBERT removes that table with the attention")
    if config.arch == "wavlm" and not config.gru_rel_pos:
        problems.append("its WavLM attention has no gated relative position; DPHuBERT's always has")
    return problems


def dphubert_config(config: PrunedConfig) -> Dict[str, object]:
    """``wav2vec2_model(**config)``'s arguments for a pruned model (no pruning left to do)."""
    layers = config.encoder_layers
    shape = dict(
        extractor_mode=config.conv_norm, extractor_conv_layer_config=[list(c) for c in config.conv_layers],
        extractor_conv_bias=config.conv_bias, encoder_embed_dim=config.encoder_dim,
        encoder_projection_dropout=config.projection_dropout, encoder_pos_conv_kernel=config.pos_conv_kernel,
        encoder_pos_conv_groups=config.pos_conv_groups, encoder_num_layers=layers,
        encoder_use_attention=[bool(heads) for heads in config.layer_heads],
        encoder_use_feed_forward=[dim > 0 for dim in config.ffn_dims],
    )
    if config.arch == "wavlm":
        heads = dict(encoder_total_num_heads=[config.total_heads] * layers,
                     encoder_remaining_heads=[list(h) for h in config.layer_heads],
                     encoder_num_buckets=config.num_buckets, encoder_max_distance=config.max_distance)
    else:
        heads = dict(encoder_num_heads=[len(h) for h in config.layer_heads], encoder_head_dim=config.head_dim)
    rest = dict(
        encoder_attention_dropout=config.attention_dropout, encoder_ff_interm_features=list(config.ffn_dims),
        encoder_ff_interm_dropout=config.activation_dropout, encoder_dropout=config.dropout,
        encoder_layer_norm_first=config.layer_norm_first, encoder_layer_drop=0.0, aux_num_out=None,
        normalize_waveform=config.normalize_waveform, **{flag: False for flag in _PRUNING_FLAGS})
    return {**shape, **heads, **rest}


def dphubert_checkpoint(model: AnyNetwork) -> dict:
    """``{"config": ..., "state_dict": ...}``; ValueError says why a model does not fit."""
    problems = dphubert_problems(model)
    if problems:
        raise ValueError("cannot write DPHuBERT's format: " + "; ".join(problems))
    config = model.config
    state, unknown = rename(float_copy(model).state_dict(), _RULES)
    if unknown:
        raise RuntimeError(f"no DPHuBERT name for {unknown[:6]}")
    for index, heads in enumerate(config.layer_heads):
        key = _GATE.format(index)
        if key in state:  # the kept heads' rows, inside a (1, total heads, 1, 1) of ones
            full = torch.ones(1, config.total_heads, 1, 1, dtype=state[key].dtype)
            full[:, heads] = state[key]
            state[key] = full
    return {"config": dphubert_config(config), "state_dict": state}


def save_dphubert(model: AnyNetwork, path) -> None:
    torch.save(dphubert_checkpoint(model), path)


# ---------------------------------------------------------------------------
# DPHuBERT -> project


def pruned_config_from_dphubert(cfg: Mapping, source: str) -> PrunedConfig:
    still_gated = [flag for flag in _PRUNING_FLAGS if cfg.get(flag)]
    if still_gated:
        raise ValueError(f"{source}: a DPHuBERT model still being pruned ({', '.join(still_gated)}: its "
                         f"hard-concrete gates are in the file); DPHuBERT's prune.py writes the pruned model")
    layers = int(cfg["encoder_num_layers"])
    use_attention, dim = list(cfg["encoder_use_attention"]), int(cfg["encoder_embed_dim"])
    wavlm = "encoder_remaining_heads" in cfg
    if wavlm:
        totals = {int(t) for t in cfg["encoder_total_num_heads"]}
        if len(totals) != 1:
            raise ValueError(f"{source}: encoder_total_num_heads differ between layers ({sorted(totals)})")
        total_heads = totals.pop()
        layer_heads = [list(heads) if used else [] for heads, used in zip(cfg["encoder_remaining_heads"],
                                                                           use_attention)]
    else:
        head_dim = int(cfg["encoder_head_dim"])
        if dim % head_dim:
            raise ValueError(f"{source}: encoder_head_dim {head_dim} does not divide encoder_embed_dim {dim}")
        total_heads = dim // head_dim
        layer_heads = [list(range(int(count))) if used else [] for count, used in zip(cfg["encoder_num_heads"],
                                                                                       use_attention)]
    ffn_dims = [int(width) if used else 0 for width, used in zip(cfg["encoder_ff_interm_features"],
                                                                 cfg["encoder_use_feed_forward"])]
    if not len(layer_heads) == len(ffn_dims) == layers:
        raise ValueError(f"{source}: per-layer lists do not describe encoder_num_layers={layers} layers")
    wavlm_fields = dict(num_buckets=int(cfg["encoder_num_buckets"]), max_distance=int(cfg["encoder_max_distance"]),
                        gru_rel_pos=True) if wavlm else {}
    return PrunedConfig(
        arch="wavlm" if wavlm else "hubert", conv_layers=[tuple(c) for c in cfg["extractor_conv_layer_config"]],
        layer_heads=layer_heads, ffn_dims=ffn_dims, total_heads=total_heads, conv_norm=cfg["extractor_mode"],
        conv_bias=bool(cfg.get("extractor_conv_bias", False)), encoder_dim=dim,
        pos_conv_kernel=int(cfg["encoder_pos_conv_kernel"]), pos_conv_groups=int(cfg["encoder_pos_conv_groups"]),
        layer_norm_first=bool(cfg["encoder_layer_norm_first"]), dropout=float(cfg.get("encoder_dropout", 0.1)),
        attention_dropout=float(cfg.get("encoder_attention_dropout", 0.1)),
        activation_dropout=float(cfg.get("encoder_ff_interm_dropout", 0.0)),
        projection_dropout=float(cfg.get("encoder_projection_dropout", 0.1)),
        normalize_waveform=bool(cfg.get("normalize_waveform", False)), **wavlm_fields)


def pruned_from_dphubert(payload: Mapping, source: str = "DPHuBERT checkpoint") -> PrunedModel:
    """The project's pruned model holding a DPHuBERT file's network; ValueError if it cannot.

    A fine-tuning head (``aux``) is dropped: the upstream is the encoder.
    """
    try:
        config = pruned_config_from_dphubert(payload["config"], source)
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source}: DPHuBERT config lacks or mistypes {err}") from None
    state = {k: v for k, v in payload["state_dict"].items() if not k.startswith("aux.")}
    renamed, unknown = rename(state, _RULES, reverse=True)
    if unknown:
        raise ValueError(f"{source}: DPHuBERT weights the project's pruned model has no place for: {unknown[:6]}")
    table = "encoder.transformer.layers.0.attention.rel_attn_embed.weight"
    if config.arch == "wavlm" and table not in renamed:
        raise ValueError(f"{source}: its first WavLM layer has no attention, hence no relative-position table; "
                         f"the project's pruned WavLM needs one")
    for index, heads in enumerate(config.layer_heads):
        key = _GATE.format(index)
        if key in renamed:
            renamed[key] = renamed[key][:, heads]
    model = PrunedModel(config)
    try:
        model.load_state_dict(renamed, strict=True)
    except RuntimeError as err:
        lines = [line.strip() for line in str(err).splitlines()[1:] if line.strip()]
        raise ValueError(f"{source}: DPHuBERT weights do not match its config: {'; '.join(lines)[:600]}") from None
    return model.eval()
