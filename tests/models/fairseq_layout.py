"""Test-only: write Hugging Face weights in fairseq's key layout.

An independent mapping (HF -> fairseq), written from the fairseq module
structure, so the production mapping (fairseq -> torchaudio) is checked
against something it does not share code with.
"""
from __future__ import annotations

import re

import torch

# (HF regex, fairseq template); \1... are the regex groups.
_RULES = [
    (r"masked_spec_embed", r"mask_emb"),
    (r"feature_extractor\.conv_layers\.(\d+)\.conv\.(weight|bias)", r"feature_extractor.conv_layers.\1.0.\2"),
    (r"feature_projection\.layer_norm\.(weight|bias)", r"layer_norm.\1"),
    (r"feature_projection\.projection\.(weight|bias)", r"post_extract_proj.\1"),
    (r"encoder\.pos_conv_embed\.conv\.bias", r"encoder.pos_conv.0.bias"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0", r"encoder.pos_conv.0.weight_g"),
    (r"encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1", r"encoder.pos_conv.0.weight_v"),
    (r"encoder\.layer_norm\.(weight|bias)", r"encoder.layer_norm.\1"),
    (r"encoder\.layers\.(\d+)\.attention\.(q|k|v|out)_proj\.(weight|bias)", r"encoder.layers.\1.self_attn.\2_proj.\3"),
    (r"encoder\.layers\.(\d+)\.attention\.rel_attn_embed\.weight",
     r"encoder.layers.\1.self_attn.relative_attention_bias.weight"),
    (r"encoder\.layers\.(\d+)\.attention\.gru_rel_pos_linear\.(weight|bias)", r"encoder.layers.\1.self_attn.grep_linear.\2"),
    (r"encoder\.layers\.(\d+)\.attention\.gru_rel_pos_const", r"encoder.layers.\1.self_attn.grep_a"),
    (r"encoder\.layers\.(\d+)\.layer_norm\.(weight|bias)", r"encoder.layers.\1.self_attn_layer_norm.\2"),
    (r"encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.(weight|bias)", r"encoder.layers.\1.fc1.\2"),
    (r"encoder\.layers\.(\d+)\.feed_forward\.output_dense\.(weight|bias)", r"encoder.layers.\1.fc2.\2"),
    (r"encoder\.layers\.(\d+)\.final_layer_norm\.(weight|bias)", r"encoder.layers.\1.final_layer_norm.\2"),
]
# fairseq's ConvFeatureExtractionModel: Sequential(conv, dropout, norm, GELU); in
# "default" mode the norm of block 0 is a GroupNorm (index 2), in "layer_norm"
# mode every block has Sequential(TransposeLast, Fp32LayerNorm, TransposeLast) (index 2.1).
_CONV_NORM = re.compile(r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(weight|bias)")


def hf_to_fairseq_state(hf_state: dict, conv_mode: str) -> dict:
    out = {}
    for key, value in hf_state.items():
        match = _CONV_NORM.fullmatch(key)
        if match:
            index = "2" if conv_mode == "default" else "2.1"
            out[f"feature_extractor.conv_layers.{match.group(1)}.{index}.{match.group(2)}"] = value.clone()
            continue
        for pattern, template in _RULES:
            if re.fullmatch(pattern, key):
                out[re.sub(pattern, template, key)] = value.clone()
                break
        else:
            raise KeyError(f"test mapping has no rule for HF key {key}")
    return out


def fairseq_model_cfg(hf_config, name: str) -> dict:
    """The fields of fairseq's model cfg that describe the architecture."""
    layers = list(zip(hf_config.conv_dim, hf_config.conv_kernel, hf_config.conv_stride))
    cfg = {
        "_name": name,
        "extractor_mode": "default" if hf_config.feat_extract_norm == "group" else "layer_norm",
        "conv_feature_layers": " + ".join(f"[{layer}]" for layer in layers),
        "conv_bias": hf_config.conv_bias,
        "encoder_layers": hf_config.num_hidden_layers,
        "encoder_embed_dim": hf_config.hidden_size,
        "encoder_ffn_embed_dim": hf_config.intermediate_size,
        "encoder_attention_heads": hf_config.num_attention_heads,
        "activation_fn": "gelu",
        "layer_type": "transformer",
        "conv_pos": hf_config.num_conv_pos_embeddings,
        "conv_pos_groups": hf_config.num_conv_pos_embedding_groups,
        "layer_norm_first": hf_config.do_stable_layer_norm,
        "dropout": 0.1, "attention_dropout": 0.1, "activation_dropout": 0.0, "dropout_input": 0.1,
        "encoder_layerdrop": 0.05, "mask_prob": 0.8, "logit_temp": 0.1, "final_dim": 12,
    }
    if name == "wavlm":
        cfg.update(relative_position_embedding=True, num_buckets=hf_config.num_buckets,
                   max_distance=hf_config.max_bucket_distance, gru_rel_pos=True, normalize=False)
        del cfg["_name"]  # WavLM's release: flat cfg without a model name
    return cfg


def hubert_unit_head(encoder_dim: int, final_dim: int = 12, num_units: int = 7, seed: int = 3) -> dict:
    generator = torch.Generator().manual_seed(seed)
    return {"final_proj.weight": torch.randn(final_dim, encoder_dim, generator=generator),
            "final_proj.bias": torch.randn(final_dim, generator=generator),
            "label_embs_concat": torch.randn(num_units, final_dim, generator=generator)}


def wav2vec2_quantizer(encoder_dim: int, conv_dim: int, codevector_dim: int = 8) -> dict:
    return {"quantizer.vars": torch.randn(1, 2 * 5, codevector_dim // 2),
            "quantizer.weight_proj.weight": torch.randn(2 * 5, conv_dim),
            "quantizer.weight_proj.bias": torch.randn(2 * 5),
            "project_q.weight": torch.randn(codevector_dim, codevector_dim),
            "project_q.bias": torch.randn(codevector_dim),
            "final_proj.weight": torch.randn(codevector_dim, encoder_dim),
            "final_proj.bias": torch.randn(codevector_dim)}
