"""The Fbank front-end: the waveform CNN's frame count, padding invariance, statistics, SpecAugment."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from upstream_distill.models import TeacherModel, tiny_teacher_config
from upstream_distill.models.backbone import build_waveform_cnn
from upstream_distill.models.fbank_frontend import FbankFrontEnd, FbankFrontEndConfig
from upstream_distill.models.teacher_config import BASE_CONV_LAYERS

LENGTHS = [400, 401, 719, 720, 16000, 16001, 33333]


def _audio(samples: int, seed: int) -> np.ndarray:
    """Speech-like enough for a filterbank: a few harmonics under a slow envelope, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    f0 = rng.uniform(100, 250)
    tone = sum(np.sin(2 * math.pi * f0 * k * t) / k for k in range(1, 6))
    envelope = 0.5 + 0.5 * np.sin(2 * math.pi * rng.uniform(1, 4) * t)
    return (0.1 * envelope * tone + 0.01 * rng.standard_normal(samples)).astype(np.float32)


@pytest.fixture(scope="module")
def corpus():
    return [_audio(n, seed) for seed, n in enumerate([16000, 9000, 12345, 4000, 20000])]


def _frontend(corpus, **overrides) -> FbankFrontEnd:
    torch.manual_seed(0)
    frontend = FbankFrontEnd(FbankFrontEndConfig(**{"out_dim": 32, "channels": 64, "dropout": 0.0, **overrides}))
    frontend.estimate_statistics(corpus, progress=False)
    return frontend.eval()


def test_frame_counts_match_the_waveform_cnn(corpus):
    frontend = _frontend(corpus)
    lengths = torch.tensor(LENGTHS)
    expected = [(n - 400) // 320 + 1 for n in LENGTHS]
    assert frontend.frame_lengths(lengths).tolist() == expected
    teacher = TeacherModel(tiny_teacher_config())
    assert frontend.frame_lengths(lengths).tolist() == teacher.frame_lengths(lengths).tolist()
    with torch.no_grad():
        for n, frames in zip(LENGTHS, expected):
            features, frame_lengths = frontend(torch.randn(1, n) * 0.1)
            assert features.shape == (1, frames, 32) and frame_lengths.tolist() == [frames]


def test_padded_batches_give_each_utterance_its_own_frames(corpus):
    frontend = _frontend(corpus)
    clips = [torch.from_numpy(_audio(n, 10 + i)) for i, n in enumerate([16001, 720, 7000, 401])]
    lengths = torch.tensor([len(c) for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()))
    for row, clip in enumerate(clips):
        batch[row, :len(clip)] = clip
    batch[1, 720:] = 0.7  # padding content must not matter
    with torch.no_grad():
        features, frame_lengths = frontend(batch, lengths)
        for row, clip in enumerate(clips):
            alone, (n,) = frontend(clip[None])
            assert frame_lengths[row] == n
            torch.testing.assert_close(features[row, :n], alone[0], atol=1e-5, rtol=0)
            assert not features[row, n:].any()


def test_statistics_normalise_the_data_they_were_estimated_on(corpus):
    frontend = _frontend(corpus)
    assert frontend.stats_frames.item() == sum((len(w) - 400) // 160 + 1 for w in corpus)
    feats = torch.cat([frontend.normalized_fbank(torch.from_numpy(w))[0][0] for w in corpus])
    assert feats.shape == (frontend.stats_frames.item(), 80)
    assert feats.mean(0).abs().max().item() < 1e-4
    assert (feats.std(0, unbiased=False) - 1).abs().max().item() < 1e-3


def test_statistics_survive_state_dicts_and_checkpoint_files(corpus, tmp_path):
    frontend = _frontend(corpus)
    assert {"mean", "std", "stats_frames"} <= set(frontend.state_dict())
    wave = torch.from_numpy(corpus[0])[None]
    with torch.no_grad():
        reference, _ = frontend(wave)
    copy = FbankFrontEnd(frontend.config).eval()
    copy.load_state_dict(frontend.state_dict())
    torch.save({"frontend": frontend.state_dict(), "config": frontend.config.to_dict()}, tmp_path / "ckpt.pt")
    saved = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    restored = FbankFrontEnd(FbankFrontEndConfig.from_dict(saved["config"])).eval()
    restored.load_state_dict(saved["frontend"])
    with torch.no_grad():
        assert torch.equal(copy(wave)[0], reference) and torch.equal(restored(wave)[0], reference)


def test_forward_needs_statistics_and_a_full_window(corpus):
    with pytest.raises(RuntimeError, match="estimate_statistics"):
        FbankFrontEnd(FbankFrontEndConfig(out_dim=8))(torch.randn(1, 1000))
    frontend = _frontend(corpus)
    with pytest.raises(ValueError, match="fewer than 400 samples"):
        frontend(torch.randn(2, 800), torch.tensor([800, 399]))
    with pytest.raises(ValueError, match="at least 400 samples"):
        FbankFrontEnd(FbankFrontEndConfig(out_dim=8)).estimate_statistics([np.zeros(399)], progress=False)


def test_specaugment_masks_in_training_only(corpus):
    frontend = _frontend(corpus, specaugment=True, time_mask_width=20, freq_mask_width=10)
    plain = _frontend(corpus, specaugment=False)  # same seed: same weights
    wave = torch.from_numpy(corpus[0])[None]
    with torch.no_grad():
        reference = plain(wave)[0]
        assert torch.equal(frontend(wave)[0], reference)  # eval: no masks
        frontend.train()
        plain.train()
        torch.manual_seed(1)
        assert not torch.equal(frontend(wave)[0], reference)
        assert torch.equal(plain(wave)[0], reference)  # disabled: no masks in training either
        masked = frontend._spec_augment(torch.ones(2, 50, 80), torch.tensor([50, 30]))
        assert (masked[1, 30:] == 1).all()  # never inside padding
        assert (masked == 0).any()


def test_the_front_end_is_small_and_the_config_round_trips():
    cnn = sum(p.numel() for p in build_waveform_cnn(BASE_CONV_LAYERS, "group_norm", False).parameters())
    for out_dim, params in ((256, 254_720), (384, 320_384)):
        frontend = FbankFrontEnd(FbankFrontEndConfig(out_dim=out_dim))
        assert sum(p.numel() for p in frontend.parameters()) == params
        assert params < 0.1 * cnn
        assert frontend.out_dim == out_dim
    config = FbankFrontEndConfig(out_dim=384, specaugment=True)
    assert FbankFrontEndConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown FbankFrontEndConfig keys"):
        FbankFrontEndConfig.from_dict({"out_dim": 8, "hop": 3})
    with pytest.raises(ValueError, match="whole number of samples"):
        FbankFrontEndConfig(out_dim=8, frame_shift_ms=10.01)
