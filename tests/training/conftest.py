"""Helpers for the runner's tests: the real command line, a fake expert, small configs."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
import torch
from torch import nn

from upstream_distill.training import PretrainExpert, TrainingConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_PRETRAIN = REPO_ROOT / "run_pretrain.py"


def run_pretrain(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python run_pretrain.py ARGS`` from the repository root, one cpu thread."""
    return subprocess.run([sys.executable, str(RUN_PRETRAIN), "--threads", "1", *args],
                          capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout)


def tiny_args(corpus: Path, expdir: Path, overrides: str = "") -> List[str]:
    """The hubert_teacher tiny preset on the session's tiny corpus."""
    args = ["-u", "hubert_teacher", "--preset", "tiny", "--corpus", str(corpus), "-p", str(expdir)]
    return args + (["-o", overrides] if overrides else [])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kill_9_after_first_checkpoint(args: List[str], expdir: Path, timeout: float = 120) -> None:
    """Start ``run_pretrain.py ARGS`` and SIGKILL it as soon as it has written a checkpoint."""
    from upstream_distill.training.checkpoint import list_checkpoints

    command = [sys.executable, str(RUN_PRETRAIN), "--threads", "1", *args]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not list_checkpoints(expdir) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()


class LinearExpert(PretrainExpert):
    """A method-free expert: regress each utterance's mean level; NaN from ``nan_at_step`` on."""

    nan_at_step = None

    def __init__(self, model_config: dict, context):
        super().__init__(model_config, context)
        self.scale = nn.Parameter(torch.ones(()))
        self.bias = nn.Parameter(torch.zeros(()))
        self.seen_keys: List[List[str]] = []

    def forward(self, batch, step):
        self.seen_keys.append(list(batch.keys))
        level = batch.wavs.abs().sum(1) / batch.lengths
        noise = torch.rand(()) * 1e-3  # draws from the global generator, like masks and dropout
        loss = ((self.scale * level + self.bias - 0.5) ** 2).mean() + noise
        if self.nan_at_step is not None and step + 1 >= self.nan_at_step:
            loss = loss * float("nan")
        return loss, {"level": level.mean().detach()}

    def export(self, path: Path) -> None:
        torch.save({"scale": self.scale.detach(), "bias": self.bias.detach()}, path)


def small_config(corpus: Path, **sections) -> TrainingConfig:
    """A runner config on the tiny corpus; ``sections`` update runner/optimizer/datarc keys."""
    libri = Path(corpus) / "LibriSpeech"
    config = {
        "runner": {"total_steps": 6, "log_step": 1, "save_step": 2, "max_keep": 10},
        "optimizer": {"lr": 1e-2, "warmup_steps": 2},
        "datarc": {"libri_root": str(libri), "bucket_dir": str(libri / "len_for_bucket"),
                   "sets": ["train-clean-100"], "batch_size": 4, "max_timestep": 16000,
                   "crop_multiple": 320},
        "model": {},
        "seed": 3,
    }
    for name, values in sections.items():
        config[name].update(values)
    return TrainingConfig.from_dict(config)


@pytest.fixture
def linear_expert():
    LinearExpert.nan_at_step = None
    yield LinearExpert
    LinearExpert.nan_at_step = None
