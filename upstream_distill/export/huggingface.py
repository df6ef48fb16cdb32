"""A student as a Hugging Face ``transformers.HubertModel`` folder (``save_pretrained``).

HubertModel is the waveform CNN, a feature projection, a positional
convolution and identical transformer layers; its module names are
torchaudio's (which the project's networks use) under shorter prefixes.  So a
student with HuBERT's front-end and uniform layers is a HubertConfig with
fewer or narrower layers, and its weights carry over as they are; HF counts
hidden states as the project does (``output_hidden_states=True``).

What does not fit is refused with the reason: the Fbank front-end, a pruned
model whose layers keep different heads or FFN widths, a pruned model's
per-channel CNN scale, WavLM's relative position bias, per-utterance waveform
normalisation.  The folder also gets a ``preprocessor_config.json`` (16 kHz,
no normalisation) so ``AutoFeatureExtractor`` works; masking for fine-tuning
is off (``mask_time_prob=0``: the students have no mask embedding).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List

import torch
from torch import Tensor

from upstream_distill.models import PrunedModel, StudentModel

from .keys import rename
from .network import AnyNetwork, float_copy

__all__ = ["huggingface_config", "huggingface_problems", "huggingface_state", "load_huggingface",
           "save_huggingface"]

_NORMS = {"group_norm": "group", "layer_norm": "layer"}
_STUDENT_RULES = [("frontend.feature_extractor.", "feature_extractor."),
                  ("encoder.feature_projection.", "feature_projection."),
                  ("encoder.transformer.", "encoder.")]
_PRUNED_RULES = [("feature_extractor.", "feature_extractor."),
                 ("encoder.feature_projection.", "feature_projection."),
                 ("encoder.transformer.", "encoder.")]


def huggingface_problems(model: AnyNetwork) -> List[str]:
    """Why ``model`` is not a HubertModel (empty: it is one)."""
    if isinstance(model, StudentModel):
        if model.config.frontend != "cnn":
            return [f"its front-end is {model.config.frontend!r}; HubertModel starts from HuBERT's waveform CNN"]
        return []
    if not isinstance(model, PrunedModel):
        return [f"a {type(model).__name__} is not a student"]
    config, problems = model.config, []
    if config.arch == "wavlm":
        problems.append("it is a WavLM (relative position bias), which HubertModel does not have")
    if any(heads != list(range(config.total_heads)) for heads in config.layer_heads):
        problems.append(f"its layers keep {[len(h) for h in config.layer_heads]} of {config.total_heads} "
                        f"attention heads; HubertModel's layers all have every head of the width")
    if len(set(config.ffn_dims)) != 1 or not config.ffn_dims[0]:
        problems.append(f"its FFN widths differ per layer ({config.ffn_dims}); HubertModel has one intermediate_size")
    if not bool((model.feature_scale == 1).all()):
        problems.append("its CNN output is scaled per channel (the pruned last CNN block's soft mask), which "
                        "HubertModel has no place for")
    if config.normalize_waveform:
        problems.append("it normalises each waveform; HubertModel leaves that to its feature extractor")
    return problems


def huggingface_config(model: AnyNetwork):
    """The ``transformers.HubertConfig`` of ``model``; ValueError with every reason it has none."""
    problems = huggingface_problems(model)
    if problems:
        raise ValueError("cannot write a transformers HubertModel: " + "; ".join(problems))
    import transformers  # only here: exporting to HF is the one use

    config = model.config
    pruned = isinstance(model, PrunedModel)
    return transformers.HubertConfig(
        conv_dim=[c for c, _, _ in config.conv_layers], conv_kernel=[k for _, k, _ in config.conv_layers],
        conv_stride=[s for _, _, s in config.conv_layers], conv_bias=config.conv_bias,
        feat_extract_norm=_NORMS[config.conv_norm], feat_extract_activation="gelu",
        feat_proj_layer_norm=True if pruned else config.feature_layer_norm,
        hidden_size=config.encoder_dim, num_hidden_layers=config.encoder_layers,
        num_attention_heads=config.total_heads if pruned else config.encoder_heads,
        intermediate_size=config.ffn_dims[0] if pruned else config.ffn_dim, hidden_act="gelu",
        num_conv_pos_embeddings=config.pos_conv_kernel, num_conv_pos_embedding_groups=config.pos_conv_groups,
        do_stable_layer_norm=config.layer_norm_first, layer_norm_eps=1e-5,  # torch's LayerNorm default
        hidden_dropout=config.dropout, attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout, feat_proj_dropout=config.projection_dropout,
        layerdrop=0.0, mask_time_prob=0.0, mask_feature_prob=0.0)


def huggingface_state(model: AnyNetwork) -> Dict[str, Tensor]:
    """``model``'s weights under HubertModel's names (heads and the unit scale left out)."""
    state = float_copy(model).state_dict()
    if isinstance(model, PrunedModel):
        state.pop("feature_scale")
        renamed, unknown = rename(state, _PRUNED_RULES)
    else:
        renamed, unknown = rename({k: v for k, v in state.items() if not k.startswith("heads.")}, _STUDENT_RULES)
    if unknown:
        raise RuntimeError(f"no HubertModel name for {unknown[:6]}")
    return renamed


def save_huggingface(model: AnyNetwork, folder) -> Path:
    """Write ``folder`` (``config.json``, ``model.safetensors``, ``preprocessor_config.json``)."""
    import transformers

    config = huggingface_config(model)
    hf_model = transformers.HubertModel(config)
    hf_model.load_state_dict(huggingface_state(model), strict=True)
    folder = Path(folder)
    hf_model.eval().save_pretrained(folder)
    transformers.Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                          do_normalize=False, return_attention_mask=False).save_pretrained(folder)
    return folder


def load_huggingface(folder) -> torch.nn.Module:
    """``HubertModel.from_pretrained(folder)`` in eval mode (for checks)."""
    import transformers

    return transformers.HubertModel.from_pretrained(str(folder)).eval()
