"""run_downstream.py under faults: kills mid-write, moved folders, orphaned workers, odd audio, bad flags.

Every test runs the real runner (s3prl's harness, fbank upstream, the tiny preset) in a subprocess, on the
session's tiny corpus or on a damaged copy of it. A kill in the middle of a checkpoint write is injected by
a launcher that wraps ``torch.save``: its N-th call writes half of the serialised bytes to its destination
(whatever file s3prl or the bridge asked for), then the process SIGKILLs itself.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_DOWNSTREAM = REPO_ROOT / "run_downstream.py"
QUICK = "config.downstream_expert.datarc.num_workers=0"  # no worker start-up where workers are not the point

#: runs run_downstream.py with sys.argv[1:], its N-th torch.save ($DIE_AT_SAVE) killed half-way
KILL_DURING_SAVE = f"""
import io, os, runpy, signal, sys
import torch
die_at, calls, real_save = int(os.environ["DIE_AT_SAVE"]), [0], torch.save
def save(obj, f, *args, **kwargs):
    calls[0] += 1
    if calls[0] < die_at:
        return real_save(obj, f, *args, **kwargs)
    buffer = io.BytesIO()
    real_save(obj, buffer, *args, **kwargs)
    half = buffer.getvalue()[: len(buffer.getvalue()) // 2]
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as out:
            out.write(half)
    else:
        f.write(half)
        f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = save
sys.argv[0] = {str(RUN_DOWNSTREAM)!r}
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_cli(*args, env=None, launcher=None, timeout=300):
    prefix = [sys.executable, "-c", launcher] if launcher else [sys.executable, str(RUN_DOWNSTREAM)]
    return subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=dict(os.environ, OMP_NUM_THREADS="1", **(env or {})), timeout=timeout)


def train_ks(corpus, expdir, overrides="", *extra, **kwargs):
    override = QUICK + (",," + overrides if overrides else "")
    return run_cli("-m", "train", "-u", "fbank", "-d", "ks", "--preset", "tiny", "--corpus", corpus,
                   "-p", expdir, "-o", override, *extra, **kwargs)


def last_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def error_line(proc) -> str:
    """The runner's own error line (tqdm may still draw a closing progress bar after it)."""
    return next((line for line in proc.stderr.splitlines() if line.startswith("run_downstream.py: error: ")), "")


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = last_line(proc)
    assert line.startswith("run_downstream.py: error: "), proc.stderr[-3000:]
    for fragment in fragments:
        assert str(fragment) in line, (fragment, line)


def intact(path: Path) -> bool:
    """A complete torch checkpoint: the zip's central directory, written last, is there."""
    return path.stat().st_size > 0 and zipfile.is_zipfile(path)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tiny_corpus, tmp_path_factory):
    """A finished tiny KS run (states-2.ckpt, dev-best.ckpt) and the private temp folder it ran with."""
    root = tmp_path_factory.mktemp("trained")
    (root / "tmp").mkdir()
    proc = train_ks(tiny_corpus, root / "A", env={"TMPDIR": str(root / "tmp")})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert intact(root / "A" / "states-2.ckpt") and intact(root / "A" / "dev-best.ckpt")
    return root


def corpus_copy(tiny_corpus, tmp_path) -> Path:
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    return corpus


def sid_train_clip(corpus: Path) -> Path:
    """A clip of SID's training split (iden_split.txt: 1 = train)."""
    for line in (corpus / "VoxCeleb1" / "iden_split.txt").read_text().splitlines():
        split, name = line.split()
        if split == "1":
            return next((corpus / "VoxCeleb1").glob(f"*/wav/{name}"))
    raise AssertionError("no training clip in iden_split.txt")


# ------------------------------------------------------------------ 1. crash-safe checkpoints


@pytest.mark.slow
def test_kill_while_writing_states_keeps_the_last_good_checkpoint_and_the_rerun_finishes(tiny_corpus, tmp_path):
    """s3prl (max_keep: 1) deleted states-2 before writing states-4: a kill then left only a truncated file."""
    expdir = tmp_path / "exp"
    schedule = "config.runner.total_steps=4,,config.runner.save_step=2,,config.runner.eval_step=100"
    killed = train_ks(tiny_corpus, expdir, schedule, launcher=KILL_DURING_SAVE, env={"DIE_AT_SAVE": "2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sorted(p.name for p in expdir.glob("*.ckpt")) == ["states-2.ckpt"]
    assert intact(expdir / "states-2.ckpt")

    rerun = train_ks(tiny_corpus, expdir, schedule, "-a")  # what the benchmark runs again
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"Resume from {expdir / 'states-2.ckpt'}" in rerun.stdout + rerun.stderr
    assert sorted(p.name for p in expdir.glob("*.ckpt")) == ["states-4.ckpt"] and intact(expdir / "states-4.ckpt")
    assert not list(expdir.glob(".*tmp*")), "the killed run's partial file was not cleaned up"


@pytest.mark.slow
def test_kill_while_writing_dev_best_keeps_the_states_checkpoint(tiny_corpus, tmp_path):
    """At step 4 s3prl deleted states-2, then wrote dev-best.ckpt: a kill there left no states-*.ckpt,
    and the benchmark's rerun (-a) silently started again from step 0."""
    expdir = tmp_path / "exp"
    schedule = "config.runner.total_steps=4,,config.runner.save_step=2,,config.runner.eval_step=4"
    killed = train_ks(tiny_corpus, expdir, schedule, launcher=KILL_DURING_SAVE, env={"DIE_AT_SAVE": "2"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert sorted(p.name for p in expdir.glob("*.ckpt")) == ["states-2.ckpt"]  # no half-written dev-best.ckpt
    assert intact(expdir / "states-2.ckpt")


@pytest.mark.slow
def test_resume_falls_back_past_an_unreadable_newest_checkpoint(trained, tiny_corpus, tmp_path):
    expdir = tmp_path / "C"
    shutil.copytree(trained / "A", expdir)
    (expdir / "states-4.ckpt").write_bytes(b"")  # e.g. left by an older version killed mid-write
    proc = train_ks(tiny_corpus, expdir, "config.runner.total_steps=4", "-a")
    assert proc.returncode == 0, proc.stderr[-3000:]
    output = proc.stdout + proc.stderr
    assert f"{expdir / 'states-4.ckpt'}" in output and "warning" in output
    assert f"Resume from {expdir / 'states-2.ckpt'}" in output
    assert intact(expdir / "states-4.ckpt")


def test_e_with_an_empty_checkpoint_names_the_file(tmp_path):
    empty = tmp_path / "states-2.ckpt"
    empty.write_bytes(b"")
    assert_one_line_error(run_cli("-m", "evaluate", "-e", empty), "-e/--past_exp", empty)


def test_e_with_a_folder_of_unreadable_checkpoints_names_them(tmp_path):
    (tmp_path / "states-2.ckpt").write_bytes(b"")
    (tmp_path / "states-4.ckpt").write_bytes(b"PK\x03\x04 cut short")
    assert_one_line_error(run_cli("-m", "train", "-e", tmp_path), "-e/--past_exp",
                          tmp_path / "states-4.ckpt", tmp_path / "states-2.ckpt")


# ------------------------------------------------------------------ 2. moved or copied experiment folders


@pytest.mark.slow
def test_resuming_a_copied_folder_writes_only_into_the_copy(trained, tmp_path):
    original, copy = trained / "A", tmp_path / "B"
    shutil.copytree(original, copy)
    before = snapshot(original)
    proc = run_cli("-m", "train", "-e", copy / "states-2.ckpt", "-o", "config.runner.total_steps=4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert snapshot(original) == before, "the run wrote into the folder the checkpoint was copied from"
    assert intact(copy / "states-4.ckpt") and not (copy / "states-2.ckpt").exists()
    assert len(list(copy.glob("args_*.yaml"))) == 2


@pytest.mark.slow
def test_evaluating_a_copied_checkpoint_writes_into_the_copy(trained, tmp_path):
    original, copy = trained / "A", tmp_path / "B"
    shutil.copytree(original, copy)
    before = snapshot(original)
    proc = run_cli("-m", "evaluate", "-e", copy / "dev-best.ckpt", "-t", "test")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test acc:" in proc.stdout + proc.stderr
    assert snapshot(original) == before, "the evaluation wrote into the folder the checkpoint was copied from"
    assert (copy / "test_predict.txt").is_file()


# ------------------------------------------------------------------ 3. orphaned dataloader workers


def _children(pid: int) -> list:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has died; only its exit status waits to be collected


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_leaves_no_dataloader_worker_behind(tiny_corpus, tmp_path):
    """torch's worker notices a dead parent only between batches (every 5 s); one stuck in a read (here a
    FIFO standing in for a clip on a hung file system) never did, and stayed forever under init."""
    corpus = corpus_copy(tiny_corpus, tmp_path)
    clip = sid_train_clip(corpus)
    clip.unlink()
    os.mkfifo(clip)
    proc = subprocess.Popen(
        [sys.executable, str(RUN_DOWNSTREAM), "-m", "train", "-u", "fbank", "-d", "sid", "--preset", "tiny",
         "--corpus", str(corpus), "-p", str(tmp_path / "exp"), "-o", "config.downstream_expert.datarc.num_workers=2"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, OMP_NUM_THREADS="1"))
    workers = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
            workers = _children(proc.pid)
            time.sleep(0.05)
        assert len(workers) == 2, "the run started no dataloader workers"
        time.sleep(1.0)  # let them block on the FIFO
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 3
        while any(map(_alive, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "dataloader workers outlived the killed run"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------ 4. audio that is not what the task reads


@pytest.mark.slow
@pytest.mark.parametrize("fault, expected", [("8 kHz", "8000 Hz"), ("stereo", "2 channels")])
def test_sid_refuses_a_clip_in_another_format_naming_it(tiny_corpus, tmp_path, fault, expected):
    corpus = corpus_copy(tiny_corpus, tmp_path)
    clip = sid_train_clip(corpus)
    audio, rate = soundfile.read(clip, dtype="float32")
    assert rate == 16000 and audio.ndim == 1
    if fault == "8 kHz":
        soundfile.write(clip, audio[::2], 8000, subtype="PCM_16")
    else:
        soundfile.write(clip, np.stack([audio, audio[::-1]], axis=1), 16000, subtype="PCM_16")
    proc = run_cli("-m", "train", "-u", "fbank", "-d", "sid", "--preset", "tiny", "--corpus", corpus,
                   "-p", tmp_path / "exp", "-o", QUICK)
    assert proc.returncode != 0, "the run trained on the odd clip"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    line = error_line(proc)
    assert str(clip) in line and expected in line, proc.stderr[-3000:]


# ------------------------------------------------------------------ 5. temp files, -k, --help, -o


@pytest.mark.slow
def test_no_resolved_config_is_left_in_the_temp_folder(trained):
    assert not list((trained / "tmp").glob("*.yaml")), "the run left its config in the system temp folder"
    assert (trained / "A" / "resolved_config.yaml").is_file()


@pytest.mark.parametrize("case", ["missing", "empty",  # refused before s3prl starts
                                  *(pytest.param(case, marks=pytest.mark.slow)
                                    for case in ("truncated", "wrong kind", "no -k"))])
def test_a_bad_upstream_checkpoint_is_one_line_naming_flag_and_file(request, tiny_corpus, tmp_path, case):
    from upstream_distill.core.paths import TINY_HUBERT_CHECKPOINT

    upstream, ckpt = "teacher_local", tmp_path / "teacher.pt"
    if case == "empty":
        ckpt.write_bytes(b"")
    elif case == "truncated":
        ckpt.write_bytes(TINY_HUBERT_CHECKPOINT.read_bytes()[:100_000])
    elif case == "wrong kind":
        probe = request.getfixturevalue("trained") / "A" / "states-2.ckpt"  # a downstream probe, not a student
        upstream, ckpt = "distill_student", probe
    elif case == "no -k":
        upstream, ckpt = "distill_student", None
    flags = ["-u", upstream] + (["-k", ckpt] if ckpt else [])
    proc = run_cli("-m", "train", *flags, "-d", "ks", "--preset", "tiny", "--corpus", tiny_corpus,
                   "-p", tmp_path / "exp", "-o", QUICK)
    assert_one_line_error(proc, "-k", *([ckpt] if ckpt else [upstream]))


def test_help_is_reachable_whatever_else_is_on_the_command_line():
    proc = run_cli("--preset", "huge", "-m", "--help")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--preset {tiny,mini,superb}" in proc.stdout and "--upstream_ckpt" in proc.stdout


def test_no_mode_points_to_help():
    assert_one_line_error(run_cli(), "-m/--mode", "--help")


def test_a_misspelt_override_key_names_the_nearest_key(tiny_corpus, tmp_path):
    proc = train_ks(tiny_corpus, tmp_path / "exp", "config.runner.total_step=3")
    assert_one_line_error(proc, "-o/--override", "config.runner.total_step", "config.runner.total_steps")
    assert not (tmp_path / "exp").exists()


def test_an_override_without_a_value_is_named(tiny_corpus, tmp_path):
    proc = train_ks(tiny_corpus, tmp_path / "exp", "config.runner.total_steps")
    assert_one_line_error(proc, "-o/--override", "'config.runner.total_steps'", "KEY=VALUE")
