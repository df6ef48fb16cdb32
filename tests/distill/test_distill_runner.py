"""``run_pretrain.py -u distilhubert`` end to end: real subprocesses, files on disk, the s3prl hub."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from upstream_distill.benchmark.layers import featurizer_weights, write_layer_weights
from upstream_distill.distill.objectives import TeacherNeeds
from upstream_distill.distill.targets import CachedTargets, OnTheFlyTargets, cache_digest
from upstream_distill.models import load_teacher, save_teacher
from upstream_distill.training import read_metrics
from upstream_distill.training.checkpoint import list_checkpoints
from upstream_distill.training.config import DataConfig
from upstream_distill.training.data import Batch, read_audio, read_utterances

from ..training.conftest import (
    REPO_ROOT,
    RUN_PRETRAIN,
    free_port,
    kill_9_after_first_checkpoint,
    run_pretrain,
)
from .conftest import distill_args

STEPS = 24


@pytest.fixture(scope="module")
def short_run(tiny_corpus, teacher_file, tmp_path_factory):
    expdir = tmp_path_factory.mktemp("distilhubert") / "run"
    result = run_pretrain(*distill_args(tiny_corpus, expdir, teacher_file, "config.runner.total_steps=6,,"
                                                                           "config.runner.save_step=3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return expdir


def test_a_run_reports_sizes_and_saves_what_a_resume_needs(short_run):
    log = (short_run / "train.log").read_text()
    assert "teacher " in log and "student: cnn front-end" in log and "of the teacher" in log
    payload = torch.load(short_run / "states-6.ckpt", weights_only=True)
    assert {"student_config", "student", "objectives"} <= set(payload["expert"])
    assert not any(key.startswith("teacher.") for key in payload["expert"]["student"])
    assert {"optimizer", "scheduler", "rng", "step", "config"} <= set(payload)
    metrics = read_metrics(short_run)
    assert metrics[6]["loss"] < metrics[1]["loss"]  # it learns
    assert {"regression/l1", "regression/cosine"} <= set(metrics[6])


def test_the_student_loads_through_the_s3prl_hub_from_a_states_file_and_the_export(short_run):
    from upstream_distill.s3prl_bridge import prepare_s3prl

    prepare_s3prl()
    import s3prl.hub as hub

    wavs = [torch.randn(16000), torch.randn(12000)]
    outputs = []
    for ckpt in (short_run / "states-6.ckpt", short_run / "upstream.pt"):
        upstream = getattr(hub, "distill_student")(ckpt=str(ckpt)).eval()
        assert upstream.get_downsample_rates("hidden_states") == 320
        with torch.no_grad():
            outputs.append(upstream(wavs)["hidden_states"])
    assert len(outputs[0]) == 3 and outputs[0][0].shape == (2, 49, 32)
    for a, b in zip(*outputs):
        torch.testing.assert_close(a, b)


def test_run_downstream_trains_a_task_on_the_student(short_run, tiny_corpus, tmp_path):
    result = subprocess.run([sys.executable, "run_downstream.py", "-m", "train", "-u", "distill_student",
                             "-k", str(short_run / "states-6.ckpt"), "-d", "ks", "--preset", "tiny",
                             "--corpus", str(tiny_corpus), "-p", str(tmp_path / "ks")],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = sorted((tmp_path / "ks").glob("states-*.ckpt"))[-1]
    # the benchmark's per-layer view reads the learned featurizer weights of such a run
    weights = featurizer_weights(checkpoint)
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)
    written = write_layer_weights("distill_student(x)", {"ks": weights}, tmp_path / "results", "tiny", "today")
    assert [p.name for p in written] == ["layer_weights_distill_student_x_.csv", "layer_weights_distill_student_x_.png"]
    header, row = written[0].read_text().splitlines()
    assert header == "task,h0,h1,h2,preset,measured_on"
    assert row.startswith("ks,") and row.endswith(",tiny,today")  # each table says preset, machine and date


def test_kill_9_then_the_same_command_continues_the_same_schedule(tiny_corpus, teacher_file, tmp_path):
    overrides = f"config.runner.total_steps={STEPS},,config.runner.save_step=3,,config.runner.max_keep=20"
    reference = tmp_path / "reference"
    assert run_pretrain(*distill_args(tiny_corpus, reference, teacher_file, overrides)).returncode == 0

    expdir = tmp_path / "killed"
    kill_9_after_first_checkpoint(distill_args(tiny_corpus, expdir, teacher_file, overrides), expdir)
    saved = list_checkpoints(expdir)
    assert saved and saved[-1].name != f"states-{STEPS}.ckpt", "the run finished before it could be killed"
    resumed_from = int(saved[-1].stem.split("-")[1])

    again = run_pretrain(*distill_args(tiny_corpus, expdir, teacher_file, overrides))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from states-{resumed_from}.ckpt at step {resumed_from}" in (expdir / "train.log").read_text()
    ours, theirs = read_metrics(expdir), read_metrics(reference)
    assert sorted(ours) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert ours[step]["lr"] == pytest.approx(theirs[step]["lr"], rel=1e-12), step
        assert ours[step]["loss"] == pytest.approx(theirs[step]["loss"], rel=1e-4), step


@pytest.mark.slow
def test_two_gloo_processes_keep_identical_replicas(tiny_corpus, teacher_file, tmp_path):
    expdir = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_port", str(free_port()), str(RUN_PRETRAIN), "--threads", "1",
               *distill_args(tiny_corpus, expdir, teacher_file, "config.runner.total_steps=6,,"
                             "config.runner.save_step=3,,config.datarc.batch_size=2")]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (expdir / "train.log").read_text()
    checks = [line for line in log.splitlines() if "replicas at step" in line]
    assert len(checks) == 2 and all(line.endswith("over 2 ranks = 0") for line in checks), checks
    start = torch.load(expdir / "states-3.ckpt", weights_only=True)["expert"]["student"]
    end = torch.load(expdir / "states-6.ckpt", weights_only=True)["expert"]["student"]
    assert any(not torch.equal(start[k], end[k]) for k in end)  # the replicas moved, and moved together


def test_cached_targets_are_the_teachers_frames_and_are_reused(tiny_corpus, teacher_file, tmp_path):
    libri = tiny_corpus / "LibriSpeech"
    data = DataConfig(libri_root=str(libri), bucket_dir=str(libri / "len_for_bucket"), sets=["train-clean-100"],
                      batch_size=2, max_timestep=16000, crop_multiple=320)
    utterances = read_utterances(data)[:3]
    teacher = load_teacher(teacher_file)
    needs = TeacherNeeds(layers=frozenset({1, 2}))
    logs = []
    cache = CachedTargets.build(tmp_path, teacher, teacher_file, needs, utterances, 16000, 320,
                                torch.device("cpu"), logs.append)
    # a crop from frame 5 of utterance 0: the cached frames are the whole utterance's frames 5...
    utt = utterances[0]
    wav = torch.from_numpy(read_audio(utt.path, 0, utt.length, 16000))
    offset, length = 5 * 320, 6400
    batch = Batch(wav[offset:offset + length][None], torch.tensor([length]), [utt.key], torch.tensor([offset]))
    cached = cache(batch)
    full = OnTheFlyTargets(teacher, needs)(Batch(wav[None], torch.tensor([utt.length]), [utt.key],
                                                 torch.tensor([0])))
    frames = cached.hidden_states[1].shape[1]
    assert frames == int(teacher.frame_lengths(torch.tensor([length]))[0])
    for layer in (1, 2):
        torch.testing.assert_close(cached.hidden_states[layer][0], full.hidden_states[layer][0, 5:5 + frames],
                                   rtol=2e-3, atol=2e-3)  # float16 storage
    assert cached.hidden_states[0] is None
    CachedTargets.build(tmp_path, teacher, teacher_file, needs, utterances, 16000, 320,
                        torch.device("cpu"), logs.append)
    assert any("reusing" in line for line in logs)
    # a copy of the same teacher elsewhere reads the same cache; a replaced one never does
    copy = tmp_path / "copy" / teacher_file.name
    copy.parent.mkdir()
    shutil.copyfile(teacher_file, copy)
    assert cache_digest(copy, [1, 2], utterances) == cache_digest(teacher_file, [1, 2], utterances)
    retrained = load_teacher(copy)
    with torch.no_grad():
        next(retrained.parameters()).add_(0.5)
    save_teacher(retrained, copy)
    assert cache_digest(copy, [1, 2], utterances) != cache_digest(teacher_file, [1, 2], utterances)
    with pytest.raises(Exception, match="attention maps or unit logits"):
        CachedTargets.build(tmp_path, teacher, teacher_file, TeacherNeeds(attentions=True), utterances, 16000,
                            320, torch.device("cpu"), logs.append)


def test_cache_teacher_trains_from_the_disk_cache(tiny_corpus, teacher_file, tmp_path):
    result = run_pretrain("--cache-teacher", *distill_args(tiny_corpus, tmp_path / "cached", teacher_file,
                                                           "config.runner.total_steps=4"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "targets from the disk cache" in (tmp_path / "cached" / "train.log").read_text()
    assert list((tmp_path / "cached" / "teacher_cache").glob("*/layer2.npy"))


def test_a_missing_or_corrupt_teacher_is_named(tiny_corpus, tmp_path):
    missing = tmp_path / "no-such-teacher.pt"
    result = run_pretrain(*distill_args(tiny_corpus, tmp_path / "a", missing))
    assert result.returncode == 2 and "no-such-teacher.pt" in result.stderr and "no such file" in result.stderr
    corrupt = tmp_path / "corrupt-teacher.pt"
    corrupt.write_bytes(b"\x80\x02garbage")
    result = run_pretrain(*distill_args(tiny_corpus, tmp_path / "b", corrupt))
    assert result.returncode == 2 and "corrupt-teacher.pt" in result.stderr
    assert "Traceback" not in result.stderr
