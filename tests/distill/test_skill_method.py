"""`run_pretrain.py -u skill`: DPHuBERT's stages with similarity-grouped targets; the groups recorded."""
from __future__ import annotations

import pytest
import torch
import yaml

from upstream_distill.models import PrunedModel, load_student
from upstream_distill.training import read_metrics
from upstream_distill.training.checkpoint import list_checkpoints

from ..training.conftest import run_pretrain
from .conftest import distill_args

pytestmark = pytest.mark.slow


def test_the_groups_written_into_the_run_are_the_ones_both_stages_distilled(tiny_corpus, teacher_file, tmp_path):
    expdir = tmp_path / "exp"
    result = run_pretrain(*distill_args(tiny_corpus, expdir, teacher_file, method="skill"))
    assert result.returncode == 0, result.stderr[-3000:]
    recorded = yaml.safe_load((expdir / "prune" / "layer_groups.yaml").read_text())["groups"]
    assert sorted(i for group in recorded for i in group) == [0, 1, 2]  # the tiny teacher's hidden states
    for stage in ("prune", "final"):
        state = torch.load(list_checkpoints(expdir / stage)[-1], weights_only=True)["expert"]
        assert state["layer_groups"] == recorded
        assert len([k for k in state["objectives"] if k.startswith("group_mean.projections.")
                    and k.endswith(".weight")]) == len(recorded)
        assert "group_mean/cosine" in read_metrics(expdir / stage)[1]
    assert (expdir / "prune" / "layer_similarity.csv").is_file() and (expdir / "prune" / "layer_groups.png").is_file()
    assert isinstance(load_student(expdir / "upstream.pt"), PrunedModel)


@pytest.mark.parametrize("override, message", [
    ("config.model.layer_groups.groups=9", "config.model.layer_groups.groups"),
    ("config.model.layer_groups.similarity='euclid'", "config.model.layer_groups.similarity"),
    ("config.model.layer_groups.linkage='centroidal'", "config.model.layer_groups.linkage"),
    ("config.model.layer_groups.calibration_utterances=0", "config.model.layer_groups.calibration_utterances"),
])
def test_bad_group_settings_are_named_by_their_key(tiny_corpus, teacher_file, tmp_path, override, message):
    result = run_pretrain(*distill_args(tiny_corpus, tmp_path / "exp", teacher_file, override, method="skill"))
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
