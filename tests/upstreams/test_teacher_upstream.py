"""The `teacher_local` s3prl upstream: same hidden states as transformers, s3prl's Featurizer accepts it."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.upstreams.teacher.hubconf import teacher_local


@pytest.mark.parametrize("source,name", [("hf", "wavlm"), ("fairseq", "hubert"), ("hf", "wav2vec2_prenorm")])
def test_upstream_hidden_states_equal_transformers(hf_references, fairseq_references, source, name):
    reference = (hf_references if source == "hf" else fairseq_references)[name]
    upstream = teacher_local(str(reference.path)).eval()
    assert upstream.get_downsample_rates("hidden_states") == 40  # the test models' conv strides
    with torch.no_grad():
        result = upstream(list(reference.waveforms))
    assert len(result["hidden_states"]) == len(reference.hidden_states[0])
    for row, expected in enumerate(reference.hidden_states):
        frames = expected[0].shape[1]
        assert result["pad_mask"][row].sum().item() == frames
        for ours, theirs in zip(result["hidden_states"], expected):
            assert (ours[row, :frames] - theirs[0]).abs().max().item() <= 1e-4
    assert result["last_hidden_state"] is result["hidden_states"][-1]


def test_upstream_without_ckpt_names_the_flag():
    with pytest.raises(ValueError, match="-k"):
        teacher_local(None)
    with pytest.raises(FileNotFoundError, match="-k"):
        teacher_local("/nonexistent/teacher.pt")


def test_upstream_parameters_stay_trainable_for_s3prl_finetuning(hf_references):
    upstream = teacher_local(str(hf_references["hubert"].path), model_config=None, refresh=False)
    assert all(p.requires_grad for p in upstream.parameters())


def test_s3prl_featurizer_accepts_the_upstream(hf_references):
    from upstream_distill.s3prl_bridge.compat import apply

    apply()
    from s3prl.upstream.interfaces import Featurizer

    upstream = teacher_local(str(hf_references["hubert"].path))
    featurizer = Featurizer(upstream, upstream_device="cpu")
    assert featurizer.layer_num == 3 and featurizer.downsample_rate == 40
    wavs = list(hf_references["hubert"].waveforms)
    with torch.no_grad():
        features = featurizer(wavs, upstream(wavs))
    assert [f.shape[0] for f in features] == [len(w) // 40 for w in wavs] or \
        all(abs(f.shape[0] - len(w) / 40) <= 2 for f, w in zip(features, wavs))
