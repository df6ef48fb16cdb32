"""Small random transformers models and the checkpoints written from them.

Built once per session: HF folders (bin and safetensors), fairseq-layout
``.pt`` files in the shapes the real releases use (omegaconf cfg, legacy
argparse args, WavLM's flat cfg, s3prl-converted), each with reference
hidden states computed by transformers itself.
"""
from __future__ import annotations

import argparse
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from upstream_distill.core.torchaudio_import import require_torchaudio

require_torchaudio()
import transformers  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from .fairseq_layout import (  # noqa: E402
    fairseq_model_cfg,
    hf_to_fairseq_state,
    hubert_unit_head,
    wav2vec2_quantizer,
)

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
             conv_dim=(16, 16, 16, 24), conv_kernel=(10, 3, 3, 2), conv_stride=(5, 2, 2, 2),
             num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4)
WAVLM = dict(num_buckets=16, max_bucket_distance=40)
# name -> (transformers classes, extra config, weights format)
VARIANTS = {
    "hubert": (transformers.HubertConfig, transformers.HubertModel, {}, "bin"),
    "wavlm": (transformers.WavLMConfig, transformers.WavLMModel, WAVLM, "safetensors"),
    "wav2vec2": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model, {}, "safetensors"),
    # Large-style: LayerNorm in every conv block, conv bias, pre-LN transformer.
    "wav2vec2_prenorm": (transformers.Wav2Vec2Config, transformers.Wav2Vec2Model,
                         dict(feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True), "bin"),
    "wavlm_prenorm": (transformers.WavLMConfig, transformers.WavLMModel,
                      dict(WAVLM, feat_extract_norm="layer", conv_bias=True, do_stable_layer_norm=True),
                      "safetensors"),
}


@dataclass
class Reference:
    """A checkpoint on disk and what transformers computes for ``waveforms``."""

    name: str
    arch: str
    path: Path
    hf_model: torch.nn.Module
    waveforms: list  # 1-D tensors of different lengths
    hidden_states: list  # per utterance: tuple of (1, N, D) from transformers
    unit_head: dict = None  # fairseq HuBERT only


def _perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Random init leaves LayerNorms at 1/0 and WavLM's gate constant at 1; jitter
    everything so a swapped or dropped weight cannot go unnoticed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def _waveforms(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(length, generator=generator) * 0.3 for length in (3200, 2300, 1700)]


def _reference_hidden_states(model, waveforms):
    with torch.no_grad():
        return [model(wav[None], output_hidden_states=True).hidden_states for wav in waveforms]


@pytest.fixture(scope="session")
def hf_models():
    models = {}
    for index, (name, (config_class, model_class, extra, _)) in enumerate(VARIANTS.items()):
        torch.manual_seed(100 + index)
        config = config_class(**SMALL, **extra)
        models[name] = _perturbed(model_class(config), seed=200 + index)
    return models


@pytest.fixture(scope="session")
def hf_references(hf_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    references = {}
    for index, (name, model) in enumerate(hf_models.items()):
        folder = root / name
        model.save_pretrained(folder, safe_serialization=VARIANTS[name][3] == "safetensors")
        waveforms = _waveforms(300 + index)
        references[name] = Reference(name, model.config.model_type, folder, model, waveforms,
                                     _reference_hidden_states(model, waveforms))
    return references


def _fake_fairseq_dictionary():
    """An object of a class from a 'fairseq' package, as HuBERT's task_state holds."""
    module = types.ModuleType("fairseq.data.dictionary")

    class Dictionary:
        def __init__(self):
            self.symbols = ["<s>", "<pad>", "</s>", "<unk>", "0", "1"]

    Dictionary.__module__, Dictionary.__qualname__ = module.__name__, "Dictionary"
    module.Dictionary = Dictionary
    return module, Dictionary()


@pytest.fixture(scope="session")
def fairseq_references(hf_references, tmp_path_factory):
    """fairseq-layout files, one per release shape."""
    root = tmp_path_factory.mktemp("fairseq")
    out = {}

    def reference(name, source, path, unit_head=None):
        src = hf_references[source]
        return Reference(name, src.arch, path, src.hf_model, src.waveforms, src.hidden_states, unit_head)

    # HuBERT: omegaconf cfg (model + task), unit head, a fairseq object in task_state.
    src = hf_references["hubert"]
    state = hf_to_fairseq_state(src.hf_model.state_dict(), "default")
    head = hubert_unit_head(src.hf_model.config.hidden_size)
    state.update(head)
    cfg = OmegaConf.create({"model": fairseq_model_cfg(src.hf_model.config, "hubert"),
                            "task": {"_name": "hubert_pretraining", "normalize": False, "labels": ["km"]}})
    module, dictionary = _fake_fairseq_dictionary()
    parents = {"fairseq": types.ModuleType("fairseq"), "fairseq.data": types.ModuleType("fairseq.data"),
               "fairseq.data.dictionary": module}
    saved = {key: sys.modules.get(key) for key in parents}
    sys.modules.update(parents)
    try:
        path = root / "hubert_base_like.pt"
        torch.save({"cfg": cfg, "model": state, "task_state": {"dictionaries": [dictionary]},
                    "optimizer_history": []}, path)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value
    out["hubert"] = reference("hubert", "hubert", path, head)

    # The same HuBERT as s3prl's converter writes it.
    path = root / "hubert_s3prl_converted.pt"
    torch.save({"task_cfg": OmegaConf.to_container(cfg.task), "model_cfg": cfg.model,
                "model_weight": state, "dictionaries_symbols": [["0", "1"]]}, path)
    out["hubert_s3prl"] = reference("hubert_s3prl", "hubert", path, head)

    # wav2vec 2.0: legacy argparse args (flat), quantizer and contrastive head present.
    for name in ("wav2vec2", "wav2vec2_prenorm"):
        src = hf_references[name]
        config = src.hf_model.config
        mode = "default" if config.feat_extract_norm == "group" else "layer_norm"
        state = hf_to_fairseq_state(src.hf_model.state_dict(), mode)
        state.update(wav2vec2_quantizer(config.hidden_size, config.conv_dim[-1]))
        args = argparse.Namespace(**fairseq_model_cfg(config, "wav2vec2"), arch="wav2vec2",
                                  task="audio_pretraining", normalize=False)
        del args._name
        path = root / f"{name}.pt"
        torch.save({"args": args, "cfg": None, "model": state}, path)
        out[name] = reference(name, name, path)

    # WavLM release: flat cfg dict + model.
    for name in ("wavlm", "wavlm_prenorm"):
        src = hf_references[name]
        config = src.hf_model.config
        mode = "default" if config.feat_extract_norm == "group" else "layer_norm"
        path = root / f"{name}.pt"
        torch.save({"cfg": fairseq_model_cfg(config, "wavlm"),
                    "model": hf_to_fairseq_state(src.hf_model.state_dict(), mode)}, path)
        out[name] = reference(name, name, path)
    return out


@pytest.fixture(scope="session")
def fairseq_hubert_payload(fairseq_references):
    """The HuBERT fairseq payload as a plain dict, for tests that write broken variants."""
    src = fairseq_references["hubert"]
    state = hf_to_fairseq_state(src.hf_model.state_dict(), "default")
    state.update(src.unit_head)
    return {"cfg": {"model": fairseq_model_cfg(src.hf_model.config, "hubert"),
                    "task": {"normalize": False}}, "model": state}
