"""Materialise a gated model: smaller matrices, the soft mask values folded into their neighbours.

Given a :class:`~upstream_distill.models.PrunedModel` and the masks its gates
give in eval mode (0 for a removed unit, a soft value in (0, 1] for a kept
one, as DPHuBERT's deterministic hard-concrete masks are), :func:`prune` builds
the dense model that computes the same function with the removed units gone:

* CNN block ``j``: its output channels (conv rows, group-norm entries) are
  selected; the kept channels' mask values multiply the next block's input
  weights, or, after the last block, the ``feature_scale`` (a layer norm
  follows, which no weight in front of it could absorb);
* attention: the kept heads' rows of q/k/v and columns of ``out_proj``, the
  head mask values folded into those columns and the whole-attention gate
  into ``out_proj``'s weight and bias; WavLM layers keep their head numbers,
  so the relative-position bias stays aligned;
* feed-forward: the kept units' rows of ``intermediate_dense`` and columns of
  ``output_dense`` (times the unit mask values), the whole-FFN gate folded
  into ``output_dense``;
* a sub-layer whose gate is 0, or whose heads (units) are all removed, is
  gone; both layer norms of every layer stay.

The result equals the eval-mode gated model exactly, with one exception
DPHuBERT shares: a layer norm over channels that lost members (the feature
projection's, after pruning the last CNN block's channels; every block's with
``conv_norm: layer_norm``) now takes its statistics over the kept channels
only.  Stage 2's distillation adapts the model to that.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
from torch import Tensor

from upstream_distill.models import PrunedConfig, PrunedModel, PruningMasks

__all__ = ["prune"]


def _kept(mask: Optional[Tensor], size: int) -> Tensor:
    """Indices of the kept units (mask != 0; None: all)."""
    if mask is None:
        return torch.arange(size)
    if mask.numel() != size:
        raise ValueError(f"a mask of {mask.numel()} entries for {size} units")
    return (mask.detach().flatten() != 0).nonzero().flatten().cpu()


def _values(mask: Optional[Tensor], kept: Tensor) -> Optional[Tensor]:
    return None if mask is None else mask.detach().flatten().cpu()[kept]


@torch.no_grad()
def prune(model: PrunedModel, masks: PruningMasks) -> PrunedModel:
    """The dense model with the units ``masks`` removes gone; its dtype and device are ``model``'s.

    ValueError when a CNN block would lose every channel (the network would have no input).
    """
    config, state = model.config, {k: v.detach().cpu().float() for k, v in model.state_dict().items()}
    new: Dict[str, Tensor] = {}
    conv_layers = []
    previous_kept, previous_values = torch.arange(1), None
    blocks = len(config.conv_layers)
    for index, (channels, kernel, stride) in enumerate(config.conv_layers):
        mask = PruningMasks.at(masks.conv, index)
        kept = _kept(mask, channels)
        if kept.numel() == 0:
            raise ValueError(f"CNN block {index} would keep none of its {channels} channels")
        prefix = f"feature_extractor.conv_layers.{index}."
        weight = state[prefix + "conv.weight"][kept][:, previous_kept]
        if previous_values is not None:  # the previous block's soft mask values, on this block's inputs
            weight = weight * previous_values[None, :, None]
        new[prefix + "conv.weight"] = weight
        for name in ("conv.bias", "layer_norm.weight", "layer_norm.bias"):
            if prefix + name in state:
                new[prefix + name] = state[prefix + name][kept]
        conv_layers.append((int(kept.numel()), kernel, stride))
        previous_kept, previous_values = kept, _values(mask, kept)
        if index == blocks - 1:
            scale = state["feature_scale"][kept]
            new["feature_scale"] = scale if previous_values is None else scale * previous_values

    projection = "encoder.feature_projection."
    for name in ("layer_norm.weight", "layer_norm.bias"):
        new[projection + name] = state[projection + name][previous_kept]
    new[projection + "projection.weight"] = state[projection + "projection.weight"][:, previous_kept]
    new[projection + "projection.bias"] = state[projection + "projection.bias"]

    layer_heads: List[List[int]] = []
    ffn_dims: List[int] = []
    for index, (heads, width) in enumerate(zip(config.layer_heads, config.ffn_dims)):
        prefix = f"encoder.transformer.layers.{index}."
        layer_heads.append(_prune_attention(state, new, prefix + "attention.", config, heads,
                                            PruningMasks.at(masks.heads, index),
                                            PruningMasks.at(masks.attention, index)))
        ffn_dims.append(_prune_feed_forward(state, new, prefix + "feed_forward.", width,
                                            PruningMasks.at(masks.ffn_units, index),
                                            PruningMasks.at(masks.ffn, index)))
    for key, value in state.items():  # never pruned: layer norms, positional conv, WavLM's embedding
        if key not in new and not key.startswith(("feature_extractor.", "feature_scale", projection)) \
                and ".attention." not in key and ".feed_forward." not in key:
            new[key] = value
        elif key.endswith("attention.rel_attn_embed.weight"):
            new[key] = value

    pruned_config = PrunedConfig.from_dict({**config.to_dict(), "conv_layers": conv_layers,
                                            "layer_heads": layer_heads, "ffn_dims": ffn_dims})
    # every weight is overwritten below: its random init must not draw from the global generators,
    # or pruning at a checkpoint (the export) would change the rest of a run and break bit-exact resumes
    with torch.random.fork_rng(devices=[]):
        pruned = PrunedModel(pruned_config)
    pruned.load_state_dict(new, strict=True)
    reference = next(model.parameters())
    return pruned.to(device=reference.device, dtype=reference.dtype).train(model.training)


def _gate_value(gate: Optional[Tensor]) -> float:
    return 1.0 if gate is None else float(gate.detach().reshape(()))


def _prune_attention(state, new, prefix: str, config: PrunedConfig, heads: List[int],
                     head_mask: Optional[Tensor], gate: Optional[Tensor]) -> List[int]:
    kept, gate_value = _kept(head_mask, len(heads)), _gate_value(gate)
    if not heads or kept.numel() == 0 or gate_value == 0.0:
        return []
    rows = torch.cat([torch.arange(h * config.head_dim, (h + 1) * config.head_dim) for h in kept.tolist()])
    for proj in ("q_proj", "k_proj", "v_proj"):
        new[f"{prefix}{proj}.weight"] = state[f"{prefix}{proj}.weight"][rows]
        new[f"{prefix}{proj}.bias"] = state[f"{prefix}{proj}.bias"][rows]
    out = state[prefix + "out_proj.weight"][:, rows]
    values = _values(head_mask, kept)
    if values is not None:
        out = out * values.repeat_interleave(config.head_dim)[None, :]
    new[prefix + "out_proj.weight"] = out * gate_value
    new[prefix + "out_proj.bias"] = state[prefix + "out_proj.bias"] * gate_value
    if prefix + "gru_rel_pos_const" in state:
        new[prefix + "gru_rel_pos_const"] = state[prefix + "gru_rel_pos_const"][:, kept]
        for name in ("weight", "bias"):
            new[f"{prefix}gru_rel_pos_linear.{name}"] = state[f"{prefix}gru_rel_pos_linear.{name}"]
    return [heads[i] for i in kept.tolist()]


def _prune_feed_forward(state, new, prefix: str, width: int, unit_mask: Optional[Tensor],
                        gate: Optional[Tensor]) -> int:
    kept, gate_value = _kept(unit_mask, width), _gate_value(gate)
    if not width or kept.numel() == 0 or gate_value == 0.0:
        return 0
    new[prefix + "intermediate_dense.weight"] = state[prefix + "intermediate_dense.weight"][kept]
    new[prefix + "intermediate_dense.bias"] = state[prefix + "intermediate_dense.bias"][kept]
    out = state[prefix + "output_dense.weight"][:, kept]
    values = _values(unit_mask, kept)
    if values is not None:
        out = out * values[None, :]
    new[prefix + "output_dense.weight"] = out * gate_value
    new[prefix + "output_dense.bias"] = state[prefix + "output_dense.bias"] * gate_value
    return int(kept.numel())
