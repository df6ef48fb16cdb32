"""A student as transformers.HubertModel: save_pretrained, from_pretrained, the same hidden states.

Tolerance: 1e-4 absolute on every hidden state (HF's attention and GroupNorm against torchaudio's
components; measured ~2e-6).  Shapes HubertModel cannot hold are refused with the reason.
"""
from __future__ import annotations

import pytest
import torch

from upstream_distill.export.huggingface import huggingface_problems, load_huggingface, save_huggingface
from upstream_distill.export.runtime import difference
from upstream_distill.models import PrunedModel, TeacherModel, tiny_teacher_config

from .conftest import cnn_student, hidden_states, jittered, speech_like

ATOL = 1e-4


def uniform_pruned() -> PrunedModel:
    """A 'pruned' model that lost nothing: every head, one FFN width, feature scale 1."""
    torch.manual_seed(3)
    return PrunedModel.from_teacher(jittered(TeacherModel(tiny_teacher_config()), 3)).eval()


@pytest.mark.parametrize("variant", ["distilhubert", "prenorm_layer_norm_cnn", "no_feature_layer_norm", "pruned"])
def test_hubert_model_gives_every_hidden_state_of_the_student(tmp_path, variant):
    model = {"distilhubert": lambda: cnn_student(),
             "prenorm_layer_norm_cnn": lambda: cnn_student(layer_norm_first=True, conv_norm="layer_norm",
                                                           conv_bias=True),
             "no_feature_layer_norm": lambda: cnn_student(feature_layer_norm=False),
             "pruned": uniform_pruned}[variant]()
    folder = save_huggingface(model, tmp_path / "hf")
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "preprocessor_config.json"}
    hf_model = load_huggingface(folder)
    wav = speech_like(1.1, seed=4)[None]
    with torch.inference_mode():
        produced = hf_model(wav, output_hidden_states=True).hidden_states
    expected = hidden_states(model, wav)
    assert len(produced) == len(expected.hidden_states) == model.config.encoder_layers + 1
    checked = difference(expected.hidden_states, produced, expected.frame_mask)
    print(f"{variant}: HubertModel vs student {checked}")
    assert checked.max_abs < ATOL


def test_the_fbank_front_end_is_refused_with_the_reason(students, tmp_path):
    with pytest.raises(ValueError, match="front-end is 'fbank'; HubertModel starts from HuBERT's waveform CNN"):
        save_huggingface(students["fbank"], tmp_path / "hf")
    assert not (tmp_path / "hf").exists()


def test_per_layer_widths_are_refused_with_the_reasons(students):
    problems = huggingface_problems(students["pruned"])
    assert any("attention heads" in p for p in problems)
    assert any("scaled per channel" in p for p in problems)
    assert any("WavLM" in p for p in huggingface_problems(students["pruned_wavlm"]))
