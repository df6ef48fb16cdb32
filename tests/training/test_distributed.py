"""Two processes on cpu (gloo) through torchrun: sharded data, one writer, the same final weights."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from .conftest import REPO_ROOT, RUN_PRETRAIN, free_port, read_metrics, tiny_args


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
