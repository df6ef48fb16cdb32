"""load_teacher on HF folders and fairseq files equals transformers, layer by layer."""
from __future__ import annotations

import shutil
import sys

import pytest
import torch

from upstream_distill.models import CheckpointError, load_teacher, save_teacher
from upstream_distill.models.import_fairseq import parse_conv_feature_layers

from .conftest import VARIANTS

TOLERANCE = 1e-4


def assert_matches_transformers(model, reference):
    assert model.config.arch == reference.arch
    with torch.no_grad():
        for wav, expected in zip(reference.waveforms, reference.hidden_states):
            output = model(wav)
            assert len(output.hidden_states) == len(expected) == model.config.encoder_layers + 1
            assert bool(output.frame_mask.all())
            for index, (ours, theirs) in enumerate(zip(output.hidden_states, expected)):
                assert ours.shape == theirs.shape, f"hidden state {index}"
                diff = (ours - theirs).abs().max().item()
                assert diff <= TOLERANCE, f"{reference.name}: hidden state {index} differs by {diff}"


@pytest.mark.parametrize("name", list(VARIANTS))
def test_huggingface_folder_matches_transformers(hf_references, name):
    reference = hf_references[name]
    weights = "model.safetensors" if VARIANTS[name][3] == "safetensors" else "pytorch_model.bin"
    assert (reference.path / weights).is_file()
    model = load_teacher(reference.path)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert_matches_transformers(model, reference)


def test_huggingface_weights_file_path_is_accepted(hf_references):
    reference = hf_references["wavlm"]
    assert_matches_transformers(load_teacher(reference.path / "model.safetensors"), reference)


@pytest.mark.parametrize("name", ["hubert", "hubert_s3prl", "wav2vec2", "wav2vec2_prenorm",
                                  "wavlm", "wavlm_prenorm"])
def test_fairseq_checkpoint_matches_transformers(fairseq_references, name):
    reference = fairseq_references[name]
    model = load_teacher(reference.path)
    assert (model.unit_head is not None) == (reference.arch == "hubert")
    assert_matches_transformers(model, reference)


def test_fairseq_objects_unpickle_without_fairseq(fairseq_references):
    """The HuBERT file pickles an omegaconf cfg and a fairseq Dictionary (task_state)."""
    assert "fairseq" not in sys.modules
    load_teacher(fairseq_references["hubert"].path)
    assert "fairseq" not in sys.modules


def test_fairseq_config_fields_are_read(fairseq_references):
    config = load_teacher(fairseq_references["wavlm"].path).config
    assert (config.num_buckets, config.max_distance, config.gru_rel_pos) == (16, 40, True)
    config = load_teacher(fairseq_references["wav2vec2_prenorm"].path).config
    assert config.layer_norm_first and config.conv_bias and config.conv_norm == "layer_norm"
    assert config.conv_layers == [(16, 10, 5), (16, 3, 2), (16, 3, 2), (24, 2, 2)]


def test_normalize_flag_comes_from_the_task_config(fairseq_hubert_payload, tmp_path):
    payload = dict(fairseq_hubert_payload, cfg={"model": fairseq_hubert_payload["cfg"]["model"],
                                                "task": {"normalize": True}})
    torch.save(payload, tmp_path / "normalized.pt")
    assert load_teacher(tmp_path / "normalized.pt").config.normalize_waveform


def test_preprocessor_do_normalize_is_honoured(hf_references, tmp_path):
    folder = tmp_path / "with_preprocessor"
    shutil.copytree(hf_references["hubert"].path, folder)
    (folder / "preprocessor_config.json").write_text('{"do_normalize": true}')
    assert load_teacher(folder).config.normalize_waveform
    assert not load_teacher(hf_references["hubert"].path).config.normalize_waveform


def test_save_teacher_round_trip_is_weights_only(fairseq_references, tmp_path):
    model = load_teacher(fairseq_references["hubert"].path)
    save_teacher(model, tmp_path / "teacher.pt")
    torch.load(tmp_path / "teacher.pt", weights_only=True)  # plain types only
    again = load_teacher(tmp_path / "teacher.pt")
    assert again.config == model.config
    wav = fairseq_references["hubert"].waveforms[0]
    with torch.no_grad():
        a, b = model(wav, output_unit_logits=True), again(wav, output_unit_logits=True)
    assert torch.equal(a.last_hidden_state, b.last_hidden_state)
    assert torch.equal(a.unit_logits, b.unit_logits)


def test_conv_feature_layers_parser():
    base = parse_conv_feature_layers("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2")
    assert base == [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    with pytest.raises(ValueError, match="conv_feature_layers"):
        parse_conv_feature_layers("__import__('os').getcwd()")


# ---------------------------------------------------------------------------
# errors name the file and say what was expected


def _raises_naming(path, *fragments):
    with pytest.raises(CheckpointError) as info:
        load_teacher(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0))
                           .to(torch.uint8).tolist()))
    _raises_naming(path, "not a PyTorch checkpoint", "fairseq")


def test_truncated_zip_checkpoint(fairseq_references, tmp_path):
    path = tmp_path / "truncated.pt"
    path.write_bytes(fairseq_references["wavlm"].path.read_bytes()[:5000])
    _raises_naming(path, "PyTorch checkpoint")


def test_pt_without_model(fairseq_hubert_payload, tmp_path):
    path = tmp_path / "no_model.pt"
    torch.save({"cfg": fairseq_hubert_payload["cfg"], "optimizer_history": []}, path)
    _raises_naming(path, "'model'")


def test_model_without_cfg_or_args(fairseq_hubert_payload, tmp_path):
    path = tmp_path / "no_cfg.pt"
    torch.save({"model": fairseq_hubert_payload["model"]}, path)
    _raises_naming(path, "neither 'cfg' nor 'args'")


def test_bare_state_dict(fairseq_hubert_payload, tmp_path):
    path = tmp_path / "bare.pt"
    torch.save(fairseq_hubert_payload["model"], path)
    _raises_naming(path, "bare state dict")


def test_state_dict_with_a_missing_key(fairseq_hubert_payload, tmp_path):
    payload = dict(fairseq_hubert_payload, model=dict(fairseq_hubert_payload["model"]))
    del payload["model"]["encoder.layers.1.fc2.weight"]
    path = tmp_path / "missing_key.pt"
    torch.save(payload, path)
    _raises_naming(path, "missing 1 weights", "layers.1.feed_forward.output_dense.weight")


def test_state_dict_with_an_unexpected_key(fairseq_hubert_payload, tmp_path):
    payload = dict(fairseq_hubert_payload, model=dict(fairseq_hubert_payload["model"]))
    payload["model"]["encoder.layers.1.adapter.weight"] = torch.zeros(3)
    path = tmp_path / "extra_key.pt"
    torch.save(payload, path)
    _raises_naming(path, "unexpected", "encoder.layers.1.adapter.weight")


def test_state_dict_of_another_network(fairseq_hubert_payload, tmp_path):
    other = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.Linear(4, 2)).state_dict()
    path = tmp_path / "other_network.pt"
    torch.save({"cfg": fairseq_hubert_payload["cfg"], "model": other}, path)
    _raises_naming(path, "unexpected keys", "0.weight")


def test_weights_that_do_not_fit_the_config(fairseq_hubert_payload, tmp_path):
    model_cfg = dict(fairseq_hubert_payload["cfg"]["model"], encoder_ffn_embed_dim=48)
    payload = dict(fairseq_hubert_payload, cfg={"model": model_cfg, "task": {}})
    path = tmp_path / "wrong_shape.pt"
    torch.save(payload, path)
    _raises_naming(path, "does not fit", "intermediate_dense")


def test_unknown_architecture(fairseq_hubert_payload, tmp_path):
    model_cfg = dict(fairseq_hubert_payload["cfg"]["model"], _name="data2vec_audio")
    path = tmp_path / "data2vec.pt"
    torch.save(dict(fairseq_hubert_payload, cfg={"model": model_cfg, "task": {}}), path)
    _raises_naming(path, "data2vec_audio", "hubert, wavlm, wav2vec2")


def test_huggingface_folder_without_weights(hf_references, tmp_path):
    folder = tmp_path / "config_only"
    folder.mkdir()
    shutil.copy(hf_references["hubert"].path / "config.json", folder / "config.json")
    _raises_naming(folder, "no weights file", "model.safetensors")


def test_huggingface_folder_of_another_model(hf_references, tmp_path):
    folder = tmp_path / "bert"
    shutil.copytree(hf_references["hubert"].path, folder)
    (folder / "config.json").write_text('{"model_type": "bert"}')
    _raises_naming(folder, "model_type 'bert'")


def test_missing_path_and_plain_folder(tmp_path):
    _raises_naming(tmp_path / "nowhere.pt", "no such file")
    _raises_naming(tmp_path, "without config.json")
