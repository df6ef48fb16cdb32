"""Fault injection on `run_pretrain.py`: real processes killed at each write point, two at once.

Every case runs the same small distillation (DistilHuBERT's tiny preset, a random teacher, the
teacher-target cache on) and compares what it leaves with one uninterrupted run, bit for bit: the
newest checkpoint's weights and `upstream.pt`. A kill comes either at a chosen write point
(`UPSTREAM_DISTILL_KILL_AT`, see upstream_distill/core/faults.py: the process sends itself SIGKILL
there) or after a random delay; then the same command runs again, as a user would.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import torch

from upstream_distill.core.faults import ENVIRONMENT_VARIABLE
from upstream_distill.training.checkpoint import list_checkpoints

from ..distill.conftest import distill_args
from .conftest import REPO_ROOT, RUN_PRETRAIN, run_pretrain

pytestmark = pytest.mark.slow

STEPS, SAVE_STEP = 20, 10  # the tiny preset's schedule: two saves


def _command(corpus: Path, expdir: Path, teacher: Path, overrides: str = "") -> List[str]:
    return ["--cache-teacher", *distill_args(corpus, expdir, teacher, overrides)]


def _popen(args: List[str], kill_at: str = "") -> subprocess.Popen:
    env = dict(os.environ, **({ENVIRONMENT_VARIABLE: kill_at} if kill_at else {}))
    return subprocess.Popen([sys.executable, str(RUN_PRETRAIN), "--threads", "1", *args], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(expdir: Path) -> Dict[str, Dict[str, torch.Tensor]]:
    """What a finished run leaves: its newest checkpoint's trained state and its export."""
    newest = list_checkpoints(expdir)[-1]
    assert newest.name == f"states-{STEPS}.ckpt", f"{expdir} did not finish: newest is {newest.name}"
    state = torch.load(newest, weights_only=True)["expert"]
    export = torch.load(expdir / "upstream.pt", weights_only=True)
    return {"checkpoint": _flat(state), "export": _flat(export)}


def _flat(tree, prefix: str = "") -> Dict[str, torch.Tensor]:
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flat(value, f"{prefix}.{key}").items()}
    return {}


def _assert_same(result, reference) -> None:
    for part in ("checkpoint", "export"):
        assert result[part].keys() == reference[part].keys(), part
        for name, tensor in reference[part].items():
            assert torch.equal(result[part][name], tensor), f"{part}: {name} differs from the uninterrupted run"


@pytest.fixture(scope="module")
def reference(tiny_corpus, teacher_file, tmp_path_factory):
    expdir = tmp_path_factory.mktemp("reference") / "run"
    result = run_pretrain(*_command(tiny_corpus, expdir, teacher_file))
    assert result.returncode == 0, result.stderr[-3000:]
    return _result(expdir)


@pytest.mark.parametrize("kill_at", ["export-written:2", "checkpoint-written:2", "cache-filled", "random"])
def test_a_kill_at_each_write_point_resumes_to_the_uninterrupted_result(
        tiny_corpus, teacher_file, tmp_path, reference, kill_at):
    expdir = tmp_path / "run"
    args = _command(tiny_corpus, expdir, teacher_file)
    if kill_at == "random":
        process = _popen(args)
        time.sleep(random.Random(os.getpid()).uniform(2.0, 7.0))  # start-up ~2 s, the run ~6 s here
        process.send_signal(signal.SIGKILL)
        process.communicate()
    else:
        process = _popen(args, kill_at)
        process.communicate(timeout=180)
        assert process.returncode == -signal.SIGKILL, f"the run never reached {kill_at}"
    if kill_at == "export-written:2":  # the final export is on disk, its checkpoint is not
        assert [p.name for p in list_checkpoints(expdir)] == [f"states-{SAVE_STEP}.ckpt"]
    if kill_at == "cache-filled":  # a complete cache under its temporary name only: nothing was published
        folders = [p.name for p in (expdir / "teacher_cache").iterdir() if p.is_dir()]
        assert len(folders) == 1 and ".partial-" in folders[0], folders
    resumed = run_pretrain(*args)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same(_result(expdir), reference)
    assert not list(expdir.glob("teacher_cache/*.partial-*")), "a killed build's temporary folder is left"


def test_the_same_command_twice_at_once_trains_once(tiny_corpus, teacher_file, tmp_path, reference):
    args = _command(tiny_corpus, tmp_path / "run", teacher_file)
    first, second = _popen(args), _popen(args)
    outputs = [process.communicate(timeout=240) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [err[-2000:] for _, err in outputs]
    _assert_same(_result(tmp_path / "run"), reference)
    # one of them waited for the other's lock, then found the run complete
    assert any("is in use by another process" in err for _, err in outputs)
    assert (tmp_path / "run" / "train.log").read_text().count("new run in") == 1


def test_two_runs_building_one_teacher_cache_at_once_both_train_on_the_complete_cache(
        tiny_corpus, teacher_file, tmp_path, reference):
    shared = tmp_path / "shared_cache"
    runs = [tmp_path / "a", tmp_path / "b"]
    processes = [_popen(_command(tiny_corpus, run, teacher_file, f"config.model.teacher.cache_dir='{shared}'"))
                 for run in runs]
    outputs = [process.communicate(timeout=240) for process in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    for run in runs:
        _assert_same(_result(run), reference)
    assert [p.parent.name for p in shared.glob("*/complete.json")] == [p.name for p in shared.iterdir() if p.is_dir()]


def test_an_unreadable_newest_checkpoint_falls_back_to_the_one_before(tiny_corpus, teacher_file, tmp_path,
                                                                      reference):
    expdir = tmp_path / "run"
    args = _command(tiny_corpus, expdir, teacher_file)
    assert run_pretrain(*args).returncode == 0
    newest = expdir / f"states-{STEPS}.ckpt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a copy cut short
    result = run_pretrain(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"warning: {newest} is unreadable" in (expdir / "train.log").read_text()
    assert (expdir / f"states-{STEPS}.ckpt.corrupt").is_file()  # kept for whoever wants to look
    _assert_same(_result(expdir), reference)


def test_no_readable_checkpoint_is_an_error_naming_the_folder(tiny_corpus, teacher_file, tmp_path):
    expdir = tmp_path / "run"
    expdir.mkdir()
    (expdir / "states-10.ckpt").write_bytes(b"")  # e.g. a disk that filled up
    result = run_pretrain(*_command(tiny_corpus, expdir, teacher_file))
    assert result.returncode == 1
    assert f"no checkpoint in {expdir} is readable (states-10.ckpt" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_run_finished_by_an_older_version_with_a_stale_export_is_exported_again(
        tiny_corpus, teacher_file, tmp_path, reference):
    """Before the export was written first, a kill between the final checkpoint and the export left
    the previous save's upstream.pt, and the re-run called the run complete."""
    expdir = tmp_path / "run"
    args = _command(tiny_corpus, expdir, teacher_file)
    assert run_pretrain(*args).returncode == 0
    final = expdir / f"states-{STEPS}.ckpt"
    payload = torch.load(final, weights_only=True)
    del payload["export_step"]  # as an older runner wrote it
    torch.save(payload, final)
    stale = torch.load(expdir / "upstream.pt", weights_only=True)
    for tensor in _flat(stale).values():
        tensor.add_(1.0)  # an older export, written before the final checkpoint
    torch.save(stale, expdir / "upstream.pt")
    os.utime(expdir / "upstream.pt", ns=(final.stat().st_mtime_ns - 10**9,) * 2)
    result = run_pretrain(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exporting it again" in (expdir / "train.log").read_text()
    _assert_same(_result(expdir), reference)
