"""``run_pretrain.py -u asr_distill`` (Wang et al. 2022) end to end: the Fbank front-end's two stages."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.training import read_metrics

from ..training.conftest import run_pretrain
from .conftest import distill_args

FBANK_VARIANT = "pretrain/asr_distill/variants/fbank.yaml"


@pytest.fixture(scope="module")
def fbank_run(tiny_corpus, teacher_file, tmp_path_factory):
    """Four updates: two of the front-end stage (frontend_steps: 2), then two of the full losses."""
    expdir = tmp_path_factory.mktemp("asr_distill") / "fbank"
    args = distill_args(tiny_corpus, expdir, teacher_file, "config.runner.total_steps=4,,config.runner.save_step=1,,"
                        "config.runner.max_keep=10,,config.model.stages.frontend_steps=2", method="asr_distill")
    result = run_pretrain(*args, "-g", FBANK_VARIANT)
    assert result.returncode == 0, result.stderr[-3000:]
    return expdir


def _student(expdir, step):
    payload = torch.load(expdir / f"states-{step}.ckpt", map_location="cpu", weights_only=True)
    return payload["expert"]["student"]


def _changed(before, after, prefix):
    return [k for k in before if k.startswith(prefix) and before[k].is_floating_point()
            and not torch.equal(before[k], after[k])]


def test_the_stage_switch_happens_at_the_configured_step(fbank_run):
    metrics = read_metrics(fbank_run)
    for step in (1, 2):
        assert "frontend" in metrics[step] and "regression" not in metrics[step], step
    for step in (3, 4):
        assert {"regression", "discriminative"} <= set(metrics[step]) and "frontend" not in metrics[step], step


def test_stage_one_updates_only_the_front_end_and_stage_two_the_rest(fbank_run):
    # the front-end stage matches the transformer's input (hidden state 0): the Fbank front-end and
    # the feature projection into the encoder learn; the transformer and the heads wait
    one, two, three = (_student(fbank_run, step) for step in (1, 2, 3))
    assert _changed(one, two, "frontend.") and _changed(one, two, "encoder.feature_projection.")
    assert not _changed(one, two, "encoder.transformer.") and not _changed(one, two, "heads.")
    assert _changed(two, three, "encoder.transformer.") and _changed(two, three, "heads.")


def test_the_fbank_statistics_are_estimated_once_and_saved(fbank_run):
    first, last = _student(fbank_run, 1), _student(fbank_run, 4)
    assert int(first["frontend.stats_frames"]) > 0
    assert torch.equal(first["frontend.mean"], last["frontend.mean"])
    assert "fbank statistics" in (fbank_run / "train.log").read_text()
