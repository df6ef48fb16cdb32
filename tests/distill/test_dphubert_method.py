"""`run_pretrain.py -u dphubert`: prune while distilling, prune for real, distil again; kills resume."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from upstream_distill.models import PrunedModel, count_parameters, load_student
from upstream_distill.training import read_metrics
from upstream_distill.training.checkpoint import list_checkpoints

from ..training.conftest import REPO_ROOT, RUN_PRETRAIN, kill_9_after_first_checkpoint, run_pretrain
from .conftest import distill_args

pytestmark = pytest.mark.slow
#: stage 1 (prune) 6 updates saving every 3, stage 2 (final) 4 updates saving every 2: the tiny presets
STAGES = ("prune", "final")


def _args(tiny_corpus, teacher_file, expdir, overrides: str = ""):
    return distill_args(tiny_corpus, expdir, teacher_file, overrides, method="dphubert")


@pytest.fixture(scope="module")
def pipeline_run(tiny_corpus, teacher_file, tmp_path_factory):
    expdir = tmp_path_factory.mktemp("dphubert") / "exp"
    result = run_pretrain(*_args(tiny_corpus, teacher_file, expdir))
    assert result.returncode == 0, result.stderr[-3000:]
    return expdir


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def test_both_stages_run_and_the_export_is_the_pruned_student(pipeline_run, teacher_file):
    from upstream_distill.models import load_teacher

    assert [p.name for p in list_checkpoints(pipeline_run / "prune")] == ["states-3.ckpt", "states-6.ckpt"]
    assert [p.name for p in list_checkpoints(pipeline_run / "final")] == ["states-2.ckpt", "states-4.ckpt"]
    student = load_student(pipeline_run / "upstream.pt")
    assert isinstance(student, PrunedModel)
    assert torch.equal(torch.cat([v.flatten().float() for v in _weights(pipeline_run / "upstream.pt").values()]),
                       torch.cat([v.flatten().float() for v in _weights(pipeline_run / "final" / "upstream.pt")
                                  .values()]))
    # stage 2 continues from what stage 1's gates kept
    assert load_student(pipeline_run / "prune" / "upstream.pt").config == student.config
    assert count_parameters(student) < count_parameters(load_teacher(teacher_file), ("unit_head.",))
    for folder in (pipeline_run, pipeline_run / "prune"):
        assert (folder / "pruned_shape.png").stat().st_size > 5000


def test_stage_1_logs_the_expected_size_the_target_and_lambda_every_step(pipeline_run):
    metrics = read_metrics(pipeline_run / "prune")
    assert sorted(metrics) == [1, 2, 3, 4, 5, 6]
    for row in metrics.values():
        for key in ("pruning/expected_params_M", "pruning/expected_sparsity", "pruning/target_sparsity",
                    "pruning/lambda_1", "pruning/lambda_2", "layer_to_layer/cosine"):
            assert key in row
    assert metrics[1]["pruning/target_sparsity"] < metrics[6]["pruning/target_sparsity"] == 0.5  # the ramp
    # drawn from those steps at every save of stage 1; stage 2 has no sparsity to draw
    assert (pipeline_run / "prune" / "sparsity.png").stat().st_size > 5000
    assert not (pipeline_run / "final" / "sparsity.png").exists()
    assert "pruning/lambda_1" not in read_metrics(pipeline_run / "final")[4]  # stage 2 has no constraint
    assert (pipeline_run / "prune" / "tensorboard").is_dir()


def test_changed_runs_names_each_stage_folder_that_began_with_other_settings(pipeline_run, tiny_corpus,
                                                                              teacher_file):
    """What the benchmark asks before re-running a recipe: which stage would refuse to resume, and why."""
    from upstream_distill.commands.pretrain import changed_runs

    def changed(overrides=""):
        return changed_runs(_args(tiny_corpus, teacher_file, pipeline_run, overrides))

    assert changed() == {}
    assert changed("config.runner.log_step=7") == {}  # does not alter the result
    assert changed("config.model.pruning.gate_lr=0.5") == {pipeline_run / "prune": ["config.model.pruning.gate_lr"]}
    assert changed("config.model.objectives.layer_to_layer.cosine_weight=2.0") == {
        pipeline_run / stage: ["config.model.objectives.layer_to_layer.cosine_weight"] for stage in STAGES}


def _kill_when(args, ready, timeout: float = 120) -> None:
    process = subprocess.Popen([sys.executable, str(RUN_PRETRAIN), "--threads", "1", *args], cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not ready() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert process.poll() is None, "the run finished before the kill point"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()


@pytest.mark.parametrize("kill_in", ["stage 1", "the prune step", "stage 2"])
def test_a_kill_9_anywhere_resumes_to_the_same_student(pipeline_run, tiny_corpus, teacher_file, tmp_path, kill_in):
    """The prune step is stage 2's construction from stage 1's last checkpoint: killed there, before
    stage 2 saved anything, the re-run prunes again, to the same model."""
    expdir = tmp_path / "exp"
    args = _args(tiny_corpus, teacher_file, expdir)
    if kill_in == "stage 1":
        kill_9_after_first_checkpoint(args, expdir / "prune")
        assert [p.name for p in list_checkpoints(expdir / "prune")] == ["states-3.ckpt"]
    elif kill_in == "the prune step":
        _kill_when(args, lambda: (expdir / "final" / "config.yaml").is_file())
        assert not list_checkpoints(expdir / "final") and len(list_checkpoints(expdir / "prune")) == 2
    else:
        kill_9_after_first_checkpoint(args, expdir / "final")
        assert [p.name for p in list_checkpoints(expdir / "final")] == ["states-2.ckpt"]
    result = run_pretrain(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed, reference = _weights(expdir / "upstream.pt"), _weights(pipeline_run / "upstream.pt")
    assert resumed.keys() == reference.keys() and all(torch.equal(resumed[k], reference[k]) for k in reference)


@pytest.mark.parametrize("override, message", [
    ("config.model.pruning.sparsity=None,,config.model.pruning.target_params='100M'",
     "config.model.pruning.target_params: 100.00M is not smaller than the teacher's"),
    ("config.model.pruning.units=['conv', 'neurons']", "config.model.pruning.units: unknown unit(s) ['neurons']"),
    ("config.model.pruning.sparsity=0.5,,config.model.pruning.target_params='1k'",
     "config.model.pruning: give exactly one of sparsity"),
])
def test_bad_targets_and_units_are_named_by_their_key(tiny_corpus, teacher_file, tmp_path, override, message):
    result = run_pretrain(*_args(tiny_corpus, teacher_file, tmp_path / "exp", override))
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]


def test_a_ladder_prunes_on_from_each_size_to_the_next(tiny_corpus, teacher_file, tmp_path):
    """Two sizes in one command: rung 2's stage 1 continues rung 1's gates from the sparsity rung 1
    targeted; each rung has its own pruned export, the last one also at the top."""
    expdir = tmp_path / "exp"
    result = run_pretrain(*_args(tiny_corpus, teacher_file, expdir, "config.model.pruning.sparsity=[0.3, 0.6]"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in expdir.iterdir() if p.is_dir()) == ["1_0.3", "2_0.6"]
    second = read_metrics(expdir / "2_0.6" / "prune")
    assert second[1]["pruning/target_sparsity"] == pytest.approx(0.3)
    assert second[2]["pruning/target_sparsity"] > 0.31
    assert second[6]["pruning/target_sparsity"] == pytest.approx(0.6)
    assert "continuing" in (expdir / "2_0.6" / "prune" / "train.log").read_text()
    for rung in ("1_0.3", "2_0.6"):
        assert isinstance(load_student(expdir / rung / "upstream.pt"), PrunedModel)
    assert torch.equal(next(iter(_weights(expdir / "upstream.pt").values())),
                       next(iter(_weights(expdir / "2_0.6" / "upstream.pt").values())))
