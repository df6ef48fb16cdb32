"""Checkpoints: kill -9 and resume continues the same run; atomic writes; NaN stops cleanly."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from upstream_distill.training import ConfigError, NonFiniteLossError, Runner, read_metrics
from upstream_distill.training import checkpoint as checkpoint_module
from upstream_distill.training.checkpoint import list_checkpoints, save_atomic
from upstream_distill.training.data import BatchPlan, read_utterances
from upstream_distill.training.runner import EXPORT_NAME

from .conftest import kill_9_after_first_checkpoint, run_pretrain, small_config, tiny_args

STEPS = 30
OVERRIDES = f"config.runner.total_steps={STEPS},,config.runner.save_step=3,,config.runner.max_keep=20"


def _overrides(units_dir):
    return OVERRIDES + f",,config.model.labels.cache_dir='{units_dir}'"


def test_kill_9_then_the_same_command_resumes_the_same_run(tiny_corpus, tmp_path):
    units = tmp_path / "units"  # shared, so both runs train on the very same k-means table
    reference = tmp_path / "reference"
    done = run_pretrain(*tiny_args(tiny_corpus, reference, _overrides(units)))
    assert done.returncode == 0, done.stderr[-3000:]

    expdir = tmp_path / "killed"
    kill_9_after_first_checkpoint(tiny_args(tiny_corpus, expdir, _overrides(units)), expdir)
    saved = list_checkpoints(expdir)
    assert saved and saved[-1].name != f"states-{STEPS}.ckpt", "the run finished before it could be killed"
    resumed_from = int(saved[-1].stem.split("-")[1])

    again = run_pretrain(*tiny_args(tiny_corpus, expdir, _overrides(units)))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from states-{resumed_from}.ckpt at step {resumed_from}" in (expdir / "train.log").read_text()

    ours, theirs = read_metrics(expdir), read_metrics(reference)
    assert sorted(ours) == sorted(theirs) == list(range(1, STEPS + 1))
    for step in range(1, STEPS + 1):
        assert ours[step]["lr"] == pytest.approx(theirs[step]["lr"], rel=1e-12), step
        assert ours[step]["epoch"] == theirs[step]["epoch"], step
        for key in ("loss", "masked_acc", "grad_norm"):
            assert ours[step][key] == pytest.approx(theirs[step][key], rel=1e-4, abs=1e-6), (step, key)
    final = [torch.load(d / f"states-{STEPS}.ckpt", weights_only=True)["expert"] for d in (expdir, reference)]
    for key, value in final[0].items():
        torch.testing.assert_close(value, final[1][key], rtol=1e-4, atol=1e-5)


def test_resume_refuses_a_changed_config(tiny_corpus, tmp_path, linear_expert):
    Runner(small_config(tiny_corpus, runner={"total_steps": 2}), linear_expert, tmp_path).run()
    with pytest.raises(ConfigError, match=r"config\.optimizer\.lr"):
        Runner(small_config(tiny_corpus, runner={"total_steps": 2}, optimizer={"lr": 1.0}),
               linear_expert, tmp_path).run()


def test_a_finished_run_returns_without_building_its_expert(tiny_corpus, tmp_path, linear_expert):
    config = small_config(tiny_corpus, runner={"total_steps": 2})
    Runner(config, linear_expert, tmp_path).run()

    class Unbuildable(linear_expert):
        def __init__(self, *args):
            raise AssertionError("a finished run built its expert (its teacher, its target cache)")

    assert Runner(config, Unbuildable, tmp_path).run() == 2
    assert "already complete at step 2" in (tmp_path / "train.log").read_text()
    (tmp_path / EXPORT_NAME).unlink()  # finished, but the artefact is gone: then it is built and exported
    assert Runner(config, linear_expert, tmp_path).run() == 2
    assert (tmp_path / EXPORT_NAME).is_file()


def test_in_process_resume_continues_data_order_and_schedule(tiny_corpus, tmp_path, linear_expert):
    config = small_config(tiny_corpus, runner={"total_steps": 8, "save_step": 3},
                          datarc={"batch_size": 2})
    Runner(config, linear_expert, tmp_path / "reference").run()
    reference = read_metrics(tmp_path / "reference")

    # a run that saved at step 6 and died: keep only its states-6.ckpt, then run again
    Runner(config, linear_expert, tmp_path / "resumed").run()
    for path in list_checkpoints(tmp_path / "resumed"):
        if path.name != "states-6.ckpt":
            path.unlink()
    Runner(config, linear_expert, tmp_path / "resumed").run()
    resumed = read_metrics(tmp_path / "resumed")
    for step in (7, 8):
        assert resumed[step]["lr"] == reference[step]["lr"]
        assert resumed[step]["loss"] == pytest.approx(reference[step]["loss"], rel=1e-6)


def test_gradient_accumulation_consumes_micro_batches(tiny_corpus, tmp_path, linear_expert):
    config = small_config(tiny_corpus, runner={"total_steps": 3, "gradient_accumulate_steps": 2},
                          datarc={"batch_size": 2})
    Runner(config, linear_expert, tmp_path).run()
    payload = torch.load(tmp_path / "states-3.ckpt", weights_only=True)
    lengths = [u.length for u in read_utterances(config.datarc)]
    per_epoch = len(BatchPlan(lengths, config.datarc, config.seed).epoch(0))
    assert payload["epoch"] * per_epoch + payload["batch"] == 6


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_corpus, tmp_path,
                                                                                  linear_expert):
    linear_expert.nan_at_step = 5
    with pytest.raises(NonFiniteLossError) as caught:
        Runner(small_config(tiny_corpus), linear_expert, tmp_path).run()
    message = str(caught.value)
    assert "non-finite loss at step 5" in message
    assert f"last good checkpoint is {tmp_path / 'states-4.ckpt'}" in message
    assert [p.name for p in list_checkpoints(tmp_path)] == ["states-2.ckpt", "states-4.ckpt"]
    assert torch.load(tmp_path / "states-4.ckpt", weights_only=True)["step"] == 4
    assert "non-finite loss at step 5" in (tmp_path / "train.log").read_text()


def test_checkpoints_are_written_through_a_hidden_temporary_and_os_replace(tmp_path, monkeypatch):
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        calls.append((os.path.basename(src), os.path.basename(dst)))
        assert os.path.getsize(src) > 0  # complete before it gets the real name
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save_atomic({"step": torch.tensor(7)}, tmp_path / "states-7.ckpt")
    assert calls == [(f".states-7.ckpt.tmp-{os.getpid()}", "states-7.ckpt")]
    assert [p.name for p in tmp_path.iterdir()] == ["states-7.ckpt"]


def test_a_crash_while_writing_leaves_no_checkpoint(tmp_path, monkeypatch):
    def dies_half_way(payload, path):
        Path(path).write_bytes(b"partial")
        raise KeyboardInterrupt  # as if killed during torch.save

    monkeypatch.setattr(checkpoint_module.torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_atomic({"step": 1}, tmp_path / "states-1.ckpt")
    assert list_checkpoints(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_stale_temporaries_are_removed_and_old_checkpoints_pruned(tiny_corpus, tmp_path, linear_expert):
    (tmp_path / ".states-9.ckpt.tmp-12345").write_bytes(b"half a checkpoint")
    Runner(small_config(tiny_corpus, runner={"total_steps": 6, "save_step": 1, "max_keep": 2}),
           linear_expert, tmp_path).run()
    assert sorted(p.name for p in tmp_path.glob("*states-*")) == ["states-5.ckpt", "states-6.ckpt"]
