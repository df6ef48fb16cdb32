"""TeacherModel: padding invariance, attention maps, unit logits, configs."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence

from upstream_distill.models import (
    TeacherConfig,
    TeacherModel,
    hubert_base_config,
    load_teacher,
    tiny_teacher_config,
    unit_logits_from_projection,
    wav2vec2_base_config,
    wavlm_base_plus_config,
)
from upstream_distill.models._torchaudio import WavLMSelfAttention

from .conftest import VARIANTS


def _batch(waveforms):
    lengths = torch.tensor([len(w) for w in waveforms])
    return pad_sequence(waveforms, batch_first=True), lengths


@pytest.mark.parametrize("name", list(VARIANTS))
def test_padded_batch_equals_each_utterance_alone(hf_references, name):
    reference = hf_references[name]
    model = load_teacher(reference.path)
    padded, lengths = _batch(reference.waveforms)
    with torch.no_grad():
        batch = model(padded, lengths, output_attentions=True)
        for row, wav in enumerate(reference.waveforms):
            alone = model(wav, output_attentions=True)
            frames = alone.hidden_states[0].shape[1]
            assert batch.frame_mask[row].sum().item() == frames
            assert not batch.frame_mask[row, frames:].any()
            for ours, solo in zip(batch.hidden_states, alone.hidden_states):
                assert (ours[row, :frames] - solo[0]).abs().max().item() <= 1e-5
            for ours, solo in zip(batch.attentions, alone.attentions):
                assert (ours[row, :, :frames, :frames] - solo[0]).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["wav2vec2_prenorm", "wavlm_prenorm"])
def test_padded_batch_matches_transformers_with_attention_mask(hf_references, name):
    """Without GroupNorm nothing leaks through time in HF either, so its padded
    batch (attention_mask) must equal ours frame for frame."""
    reference = hf_references[name]
    model = load_teacher(reference.path)
    padded, lengths = _batch(reference.waveforms)
    mask = (torch.arange(padded.shape[1])[None] < lengths[:, None]).long()
    with torch.no_grad():
        ours = model(padded, lengths)
        theirs = reference.hf_model(padded, attention_mask=mask, output_hidden_states=True).hidden_states
    real = ours.frame_mask
    for a, b in zip(ours.hidden_states, theirs):
        assert (a[real] - b[real]).abs().max().item() <= 1e-4


@pytest.mark.parametrize("name", ["hubert", "wav2vec2_prenorm", "wavlm", "wavlm_prenorm"])
def test_attention_maps_are_distributions_over_real_keys(hf_references, name):
    model = load_teacher(hf_references[name].path)
    padded, lengths = _batch(hf_references[name].waveforms)
    with torch.no_grad():
        output = model(padded, lengths, output_attentions=True)
    assert len(output.attentions) == model.config.encoder_layers
    for probabilities in output.attentions:
        batch, frames = output.frame_mask.shape
        assert probabilities.shape == (batch, model.config.encoder_heads, frames, frames)
        assert bool((probabilities >= 0).all())
        torch.testing.assert_close(probabilities.sum(-1), torch.ones(probabilities.shape[:-1]))
        padded_keys = ~output.frame_mask[:, None, None, :].expand_as(probabilities)
        assert probabilities[padded_keys].abs().max().item() == 0.0


def _values(attention, x):
    if isinstance(attention, WavLMSelfAttention):
        weight = attention.attention.in_proj_weight.chunk(3)[2]
        bias = attention.attention.in_proj_bias.chunk(3)[2]
        return F.linear(x, weight, bias), attention.attention.out_proj
    return attention.v_proj(x), attention.out_proj


@pytest.mark.parametrize("name", ["hubert", "wavlm", "wavlm_prenorm", "wav2vec2_prenorm"])
def test_attention_maps_reproduce_the_layer_attention_output(hf_references, name):
    """probabilities @ V through out_proj == what the layer's attention module returns."""
    model = load_teacher(hf_references[name].path)
    wav = hf_references[name].waveforms[0]
    with torch.no_grad():
        output = model(wav, output_attentions=True)
        position_bias = None
        for index, layer in enumerate(model.layers):
            x = output.hidden_states[index]
            if model.config.layer_norm_first:
                x = layer.layer_norm(x)
            expected, position_bias = layer.attention(x, position_bias=position_bias)
            values, out_proj = _values(layer.attention, x)
            batch, frames, dim = values.shape
            heads = model.config.encoder_heads
            values = values.view(batch, frames, heads, dim // heads).transpose(1, 2)
            mixed = (output.attentions[index] @ values).transpose(1, 2).reshape(batch, frames, dim)
            assert (out_proj(mixed) - expected).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", ["hubert", "wav2vec2", "wavlm"])
def test_attention_maps_match_transformers_eager(hf_references, name):
    reference = hf_references[name]
    model = load_teacher(reference.path)
    reference.hf_model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            ours = model(reference.waveforms[1], output_attentions=True).attentions
            theirs = reference.hf_model(reference.waveforms[1][None], output_attentions=True).attentions
    finally:
        reference.hf_model.set_attn_implementation("sdpa")
    for a, b in zip(ours, theirs):
        if name == "wavlm":  # HF's WavLM returns the head average, broadcast to every head
            a = a.mean(dim=1, keepdim=True).expand_as(b)
        assert (a - b).abs().max().item() <= 1e-5


def test_unit_logits_of_a_fairseq_hubert(fairseq_references):
    reference = fairseq_references["hubert"]
    model = load_teacher(reference.path)
    head = reference.unit_head
    assert model.unit_head.temperature == pytest.approx(0.1)
    assert torch.equal(model.unit_head.label_embeddings, head["label_embs_concat"])
    padded, lengths = _batch(reference.waveforms)
    with torch.no_grad():
        output = model(padded, lengths, output_unit_logits=True)
    assert output.unit_logits.shape == (3, output.frame_mask.shape[1], 7)
    for row, expected_states in enumerate(reference.hidden_states):
        last = expected_states[-1][0]  # transformers' last hidden state of this utterance
        projected = last @ head["final_proj.weight"].T + head["final_proj.bias"]
        cosine = F.cosine_similarity(projected[:, None, :], head["label_embs_concat"][None], dim=-1)
        frames = last.shape[0]
        torch.testing.assert_close(output.unit_logits[row, :frames], cosine / 0.1, atol=1e-3, rtol=1e-4)
    assert output.unit_logits.abs().max().item() <= 1 / 0.1 + 1e-4
    # the shared formula, as the discriminative loss will call it with a student projection
    again = unit_logits_from_projection(model.unit_head.final_proj(output.last_hidden_state),
                                        model.unit_head.label_embeddings, model.unit_head.temperature)
    torch.testing.assert_close(again, output.unit_logits)


def test_unit_logit_temperature_comes_from_the_checkpoint(fairseq_hubert_payload, tmp_path):
    cfg = {"model": dict(fairseq_hubert_payload["cfg"]["model"], logit_temp=0.05), "task": {}}
    torch.save(dict(fairseq_hubert_payload, cfg=cfg), tmp_path / "t.pt")
    assert load_teacher(tmp_path / "t.pt").unit_head.temperature == pytest.approx(0.05)


def test_unit_logits_need_a_unit_head(hf_references):
    model = load_teacher(hf_references["hubert"].path)  # HF drops HuBERT's final_proj/label embeddings
    with pytest.raises(ValueError, match="no unit head"):
        model(hf_references["hubert"].waveforms[0], output_unit_logits=True)


def test_waveform_normalisation_uses_real_samples_only():
    torch.manual_seed(0)
    config = tiny_teacher_config("wav2vec2")
    plain = TeacherModel(config).eval()
    normalising = TeacherModel(TeacherConfig.from_dict(dict(config.to_dict(), normalize_waveform=True))).eval()
    normalising.load_state_dict(plain.state_dict())
    waveforms = [torch.randn(4000) * 0.2 + 0.1, torch.randn(2500) * 3.0 - 1.0]
    padded, lengths = _batch(waveforms)
    with torch.no_grad():
        batch = normalising(padded, lengths)
        for row, wav in enumerate(waveforms):
            expected = plain(F.layer_norm(wav, wav.shape))
            frames = expected.hidden_states[0].shape[1]
            for ours, solo in zip(batch.hidden_states, expected.hidden_states):
                assert (ours[row, :frames] - solo[0]).abs().max().item() <= 1e-4


def test_too_short_waveform_is_rejected():
    model = TeacherModel(tiny_teacher_config("hubert")).eval()
    assert model.config.receptive_field == 400
    with pytest.raises(ValueError, match="receptive field"):
        model(torch.randn(2, 1000), torch.tensor([1000, 399]))


def test_base_configs_have_the_published_sizes():
    with torch.device("meta"):
        hubert = TeacherModel(hubert_base_config())
        wavlm = TeacherModel(wavlm_base_plus_config())
        wav2vec2 = TeacherModel(wav2vec2_base_config())
    count = lambda model: sum(p.numel() for p in model.parameters())  # noqa: E731
    assert round(count(hubert) / 1e6, 2) == 94.70  # incl. final_proj + 504 label embeddings
    assert round(count(wav2vec2) / 1e6, 2) == 94.37  # encoder only, quantizer dropped
    assert count(wavlm) - count(wav2vec2) == 320 * 12 + 12 * (64 * 8 + 8 + 12)  # buckets + gates
    for config in (hubert_base_config(), wavlm_base_plus_config(), wav2vec2_base_config()):
        assert (config.downsample_rate, config.receptive_field) == (320, 400)


def test_config_validation_and_round_trip():
    config = hubert_base_config()
    assert TeacherConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="arch"):
        TeacherConfig(arch="conformer")
    with pytest.raises(ValueError, match="only for hubert"):
        TeacherConfig(arch="wavlm", final_dim=8, num_units=4)
    with pytest.raises(ValueError, match="unknown TeacherConfig keys"):
        TeacherConfig.from_dict({"arch": "hubert", "hidden": 3})
