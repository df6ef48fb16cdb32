"""s3prl's distiller checkpoint, both ways, against s3prl's own ``distiller_local`` upstream.

Tolerance: 1e-5 absolute on every hidden state (random weights; measured ~1e-6).  s3prl's upstream
returns, as hidden state 0, the projected CNN features before the positional convolution (the
project's ``projected_features``), then each layer's output (the project's hidden states 1..L), then
its prediction heads' outputs (for a file written here: the same states again, ``self-hidden``).
"""
from __future__ import annotations

import argparse

import pytest
import torch

from upstream_distill.export.distiller import conv_layers_from_text, distiller_problems, save_distiller
from upstream_distill.export.reading import load_for_export
from upstream_distill.models import StudentModel, load_student, save_student
from upstream_distill.upstreams.distill_student.hubconf import distill_student

from .conftest import cnn_student, hidden_states, jittered, speech_like

ATOL = 1e-5


def s3prl_hidden_states(upstream, wav):
    with torch.inference_mode():
        return upstream.eval()([wav])["hidden_states"]


def assert_same(theirs, ours, layers: int):
    """s3prl's [projected, layer 1..L, ...] against the project's output."""
    pairs = [(theirs[0], ours.projected_features)] + list(zip(theirs[1:layers + 1], ours.hidden_states[1:]))
    worst = max(float((a - b).abs().max()) for a, b in pairs)
    print(f"s3prl distiller vs project: max |diff| {worst:.3g}")
    assert worst < ATOL


def test_a_student_written_as_distiller_runs_in_s3prls_upstream(s3prl_hub, tmp_path):
    student = cnn_student(feature_layer_norm=False)  # DistilHuBERT's shape, heads included
    path = tmp_path / "student.distiller.ckpt"
    save_distiller(student, path)
    wav = speech_like(1.3, seed=7)
    theirs = s3prl_hidden_states(s3prl_hub.distiller_local(ckpt=str(path)), wav)
    assert len(theirs) == 2 * (student.config.encoder_layers + 1)  # self-hidden: the states twice
    assert_same(theirs, hidden_states(student, wav[None]), student.config.encoder_layers)
    for first, second in zip(theirs[:3], theirs[3:]):
        assert torch.equal(first, second)


def release_like_checkpoint(path, seed: int = 5):
    """A checkpoint as s3prl's distiller pretraining writes it (DistilHuBERT's release): s3prl's own
    DistillerModel with expand-last heads, plus a pickled argparse Namespace and training state."""
    from s3prl.upstream.distiller.model import DistillerConfig, DistillerModel

    config = dict(extractor_mode="default",
                  extractor_conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
                  feature_grad_mult=0.1, conv_pos=16, conv_pos_groups=4, encoder_layers=2, encoder_embed_dim=48,
                  encoder_ffn_embed_dim=64, encoder_attention_heads=4, activation_fn="gelu", layer_norm_first=False,
                  attention_type="original", final_dim=40, out_layer_type="expand-last", n_tasks=3,
                  task_emb_type="expand-last", pred_layer_id=[4, 8, 12])
    torch.manual_seed(seed)
    model = jittered(DistillerModel(DistillerConfig(config)), seed)
    torch.save({"Distiller": model.state_dict(), "Config": {"distiller": config, "runner": {"total_steps": 200000}},
                "Args": argparse.Namespace(upstream="distiller", seed=1337), "Step": 200000,
                "Optimizer": {"state": {}}}, path)


def test_a_distilhubert_release_loads_as_the_projects_student(s3prl_hub, tmp_path):
    path = tmp_path / "distilhubert_like.ckpt"
    release_like_checkpoint(path)
    student, kind = load_for_export(path)
    assert kind == "s3prl distiller" and isinstance(student, StudentModel)
    assert student.config.feature_layer_norm is False and student.config.prediction_heads == "none"
    wav = speech_like(1.1, seed=8)
    theirs = s3prl_hidden_states(s3prl_hub.distiller_local(ckpt=str(path)), wav)
    assert len(theirs) == 3 + 3  # [projected, layer 1, layer 2] + three heads (not kept by the project)
    assert_same(theirs, hidden_states(student, wav[None]), 2)

    # as the project's own file, through the project's upstream, and back to s3prl's format
    save_student(student, tmp_path / "student.pt")
    upstream = distill_student(ckpt=str(tmp_path / "student.pt"))
    with torch.inference_mode():
        ours = upstream([wav])["hidden_states"]
    torch.testing.assert_close(ours, hidden_states(student, wav[None]).hidden_states, rtol=0, atol=0)
    save_distiller(load_student(tmp_path / "student.pt"), tmp_path / "again.ckpt")
    again = s3prl_hidden_states(s3prl_hub.distiller_local(ckpt=str(tmp_path / "again.ckpt")), wav)
    for first, second in zip(theirs[:3], again[:3]):
        torch.testing.assert_close(first, second, rtol=0, atol=ATOL)


def test_a_student_with_the_feature_layer_norm_is_refused_with_the_reason(students, tmp_path):
    with pytest.raises(ValueError, match="normalises its CNN features.*feature_layer_norm: false"):
        save_distiller(students["cnn"], tmp_path / "x.ckpt")
    assert any("front-end is 'fbank'" in p for p in distiller_problems(students["fbank"]))
    assert any("--format dphubert" in p for p in distiller_problems(students["pruned"]))


def test_conv_layers_are_read_without_eval():
    assert conv_layers_from_text("[(512,10,5)] + [(512,3,2)] * 4 + [(512,2,2)] * 2") == \
        [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2
    with pytest.raises(ValueError, match="not a list expression"):
        conv_layers_from_text("__import__('os').system('true')")
