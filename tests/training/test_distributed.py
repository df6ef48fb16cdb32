"""Two processes on cpu (gloo) through torchrun: sharded data, one writer, the same final weights."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from upstream_distill.training import read_metrics

from .conftest import REPO_ROOT, RUN_PRETRAIN, free_port, tiny_args


@pytest.mark.slow
def test_torchrun_with_two_cpu_processes(tiny_corpus, tmp_path):
    expdir = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(free_port()), str(RUN_PRETRAIN), "--threads", "1",
               *tiny_args(tiny_corpus, expdir, "config.runner.total_steps=4,,config.runner.save_step=2,,"
                                               "config.datarc.batch_size=2")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = torch.load(expdir / "states-4.ckpt", weights_only=True)
    assert payload["world_size"] == 2 and payload["step"] == 4
    assert sorted(read_metrics(expdir)) == [1, 2, 3, 4]  # one writer: no duplicated lines
    assert (expdir / "upstream.pt").is_file()


@pytest.mark.slow
def test_a_killed_two_process_run_resumes_bit_exactly(tiny_corpus, tmp_path):
    """Each rank's random state is saved and restored (masks differ per rank), so a kill -9 after the
    first checkpoint and a restart end on the uninterrupted run's weights."""
    import os

    from upstream_distill.core.faults import ENVIRONMENT_VARIABLE

    def torchrun(expdir, kill_at=""):
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                   "--master_port", str(free_port()), str(RUN_PRETRAIN), "--threads", "1",
                   *tiny_args(tiny_corpus, expdir, "config.runner.total_steps=4,,config.runner.save_step=2,,"
                                                   "config.datarc.batch_size=2")]
        env = dict(os.environ, **({ENVIRONMENT_VARIABLE: kill_at} if kill_at else {}))
        return subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=240, env=env)

    assert torchrun(tmp_path / "whole").returncode == 0
    killed = torchrun(tmp_path / "killed", kill_at="checkpoint-written:1")
    assert killed.returncode != 0 and (tmp_path / "killed" / "states-2.ckpt").is_file()
    assert not (tmp_path / "killed" / "states-4.ckpt").exists()
    resumed = torchrun(tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    whole = torch.load(tmp_path / "whole" / "states-4.ckpt", weights_only=True)
    again = torch.load(tmp_path / "killed" / "states-4.ckpt", weights_only=True)
    assert whole["expert"].keys() == again["expert"].keys()
    for name, tensor in whole["expert"].items():
        assert torch.equal(again["expert"][name], tensor), name
    assert len(again["rng_per_rank"]) == 2
