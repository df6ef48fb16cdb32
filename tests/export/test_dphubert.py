"""DPHuBERT's pruned-model file ``{config, state_dict}``, both ways.

The installed s3prl (PyPI) has no ``dp_hubert`` upstream; where one is installed (s3prl's
repository has it), the written file is also run through it.  The format's keys follow DPHuBERT's
``wav2vec2_model(**config)`` (github.com/pyf98/DPHuBERT, wav2vec2/model.py); a file written here
was checked once against that code itself (hidden states within 3e-6).  Tolerance: identical
hidden states after a round trip; 1e-5 against s3prl's upstream.
"""
from __future__ import annotations

import importlib.util

import pytest
import torch

from upstream_distill.export.dphubert import (
    dphubert_checkpoint,
    dphubert_problems,
    pruned_from_dphubert,
    save_dphubert,
)
from upstream_distill.export.reading import load_for_export
from upstream_distill.models import PrunedModel

from .conftest import hidden_states, speech_like


@pytest.mark.parametrize("name", ["pruned", "pruned_wavlm"])
def test_a_pruned_student_round_trips(students, tmp_path, name):
    model = students[name]
    path = tmp_path / f"{name}.pth"
    save_dphubert(model, path)
    payload = torch.load(path, weights_only=True)
    config = payload["config"]
    assert config["encoder_use_attention"] == [bool(h) for h in model.config.layer_heads]
    assert config["encoder_ff_interm_features"] == model.config.ffn_dims
    assert "feature_extractor.dummy_weight" in payload["state_dict"]
    back, kind = load_for_export(path)
    assert kind == "DPHuBERT" and isinstance(back, PrunedModel)
    wav = torch.stack([speech_like(1.0, 1), speech_like(1.0, 2)])
    lengths = torch.tensor([16000, 11000])
    expected, produced = hidden_states(model, wav, lengths), hidden_states(back, wav, lengths)
    for a, b in zip(expected.hidden_states, produced.hidden_states):
        assert torch.equal(a[expected.frame_mask], b[expected.frame_mask])


def test_the_config_is_dphuberts(students):
    config = dphubert_checkpoint(students["pruned"])["config"]
    assert config["encoder_num_heads"] == [3, 0] and config["encoder_head_dim"] == 12
    assert config["encoder_use_attention"] == [True, False] and config["aux_num_out"] is None
    wavlm = dphubert_checkpoint(students["pruned_wavlm"])["config"]
    assert wavlm["encoder_remaining_heads"] == [[0, 2, 3], [1]] and wavlm["encoder_total_num_heads"] == [4, 4]
    assert wavlm["encoder_use_feed_forward"] == [True, False]


def test_what_dphubert_cannot_hold_is_refused(students):
    assert any("pruned teacher" in p for p in dphubert_problems(students["cnn"]))
    gated = dphubert_checkpoint(students["pruned"])
    gated["config"]["encoder_prune_attention_heads"] = True
    with pytest.raises(ValueError, match="still being pruned.*prune.py"):
        pruned_from_dphubert(gated, "gated.pth")
    wrong = dphubert_checkpoint(students["pruned"])
    wrong["config"]["encoder_ff_interm_features"] = [7, 96]
    with pytest.raises(ValueError, match="do not match its config"):
        pruned_from_dphubert(wrong, "wrong.pth")


def _has_dp_hubert() -> bool:
    try:
        return importlib.util.find_spec("s3prl.upstream.dp_hubert") is not None
    except ImportError:
        return False


@pytest.mark.skipif(not _has_dp_hubert(), reason="the installed s3prl has no dp_hubert upstream (PyPI releases)")
def test_s3prls_dp_hubert_upstream_reads_the_file(students, s3prl_hub, tmp_path):
    from s3prl.upstream.dp_hubert.expert import UpstreamExpert

    model = students["pruned"]
    save_dphubert(model, tmp_path / "pruned.pth")
    wav = speech_like(1.2, seed=3)
    with torch.inference_mode():
        theirs = UpstreamExpert(ckpt=str(tmp_path / "pruned.pth")).eval()([wav])["hidden_states"]
    ours = hidden_states(model, wav[None])
    for a, b in zip(theirs, [ours.projected_features] + ours.hidden_states[1:]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
