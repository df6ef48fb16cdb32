"""The tiny_hubert s3prl entry: loads the shipped checkpoint, or says how to make it."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.models import TeacherModel, save_teacher, tiny_teacher_config
from upstream_distill.upstreams.tiny_hubert import hubconf


def test_a_missing_checkpoint_names_the_file_and_the_command(monkeypatch, tmp_path):
    monkeypatch.setattr(hubconf, "CHECKPOINT", tmp_path / "tiny_hubert.pt")
    with pytest.raises(FileNotFoundError) as caught:
        hubconf.tiny_hubert()
    message = str(caught.value)
    assert str(tmp_path / "tiny_hubert.pt") in message
    assert "make tiny-hubert" in message


def test_it_loads_the_checkpoint_through_s3prl_hub_without_arguments(monkeypatch, tmp_path):
    teacher = TeacherModel(tiny_teacher_config("hubert")).eval()
    save_teacher(teacher, tmp_path / "tiny_hubert.pt")
    monkeypatch.setattr(hubconf, "CHECKPOINT", tmp_path / "tiny_hubert.pt")

    from upstream_distill.s3prl_bridge import prepare_s3prl

    assert "tiny_hubert" in prepare_s3prl()["upstreams"]
    import s3prl.hub

    upstream = s3prl.hub.tiny_hubert(ckpt=None, model_config=None, refresh=False)  # as s3prl's runner calls it
    wav = torch.randn(8000)
    with torch.no_grad():
        hidden = upstream([wav])["hidden_states"]
        expected = teacher(wav[None]).hidden_states
    assert len(hidden) == len(expected)
    torch.testing.assert_close(hidden[-1], expected[-1])
    with pytest.raises(ValueError, match="teacher_local"):
        s3prl.hub.tiny_hubert(ckpt="/some/other.pt")


def test_the_shipped_teacher_fits_the_repository_and_loads():
    from functools import partial

    from upstream_distill.models import UNIT_HEAD_PREFIXES, load_teacher
    from upstream_distill.models import count_parameters as count_all

    count_parameters = partial(count_all, exclude_prefixes=UNIT_HEAD_PREFIXES)  # the size without the unit head

    shipped = hubconf.CHECKPOINT
    assert shipped.stat().st_size <= 25 * 1024 * 1024  # the project's limit for a shipped checkpoint
    teacher = load_teacher(shipped)
    assert teacher.config.arch == "hubert" and len(teacher.layers) == 6 and teacher.unit_head is not None
    assert count_parameters(teacher) / 1e6 == pytest.approx(11.71, abs=0.01)
    # the training logs of this very checkpoint's three iterations ship beside it
    assert "step 2000 " in (shipped.parent / "tiny_hubert.iteration1.train.log").read_text()
    assert "step 1000 " in (shipped.parent / "tiny_hubert.iteration2.train.log").read_text()
    log = (shipped.parent / "tiny_hubert.train.log").read_text()
    assert "step 2000 " in log and "initialised from" in log
