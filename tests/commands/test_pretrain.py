"""run_pretrain.py end to end through a real subprocess: a short run, its artefacts, bad inputs."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import soundfile
import torch

from upstream_distill.models import load_teacher
from upstream_distill.training import read_metrics

from ..training.conftest import run_pretrain, tiny_args


@pytest.fixture(scope="module")
def short_run(tiny_corpus, tmp_path_factory):
    """Four updates of the hubert_teacher tiny preset, saving every two."""
    expdir = tmp_path_factory.mktemp("short") / "exp"
    result = run_pretrain(*tiny_args(tiny_corpus, expdir, "config.runner.total_steps=4,,config.runner.save_step=2"))
    assert result.returncode == 0, result.stderr[-3000:]
    return expdir


def test_a_short_run_writes_checkpoints_logs_and_the_upstream(short_run):
    assert sorted(p.name for p in short_run.glob("states-*.ckpt")) == ["states-2.ckpt", "states-4.ckpt"]
    assert not list(short_run.glob(".states-*"))  # no temporary left
    metrics = read_metrics(short_run)
    assert sorted(metrics) == [1, 2, 3, 4]
    assert all(np.isfinite(row["loss"]) and row["lr"] > 0 for row in metrics.values())
    assert {"masked_ce", "masked_acc", "grad_norm", "lr"} <= set(metrics[1])
    assert list((short_run / "tensorboard").glob("events.out.tfevents.*"))
    assert "saved states-4.ckpt" in (short_run / "train.log").read_text()
    assert (short_run / "config.yaml").is_file()
    assert list((short_run / "labels").glob("units-mfcc-20-*.npz"))


def test_the_checkpoint_holds_everything_a_resume_needs(short_run):
    payload = torch.load(short_run / "states-4.ckpt", map_location="cpu", weights_only=True)
    assert {"expert", "optimizer", "scheduler", "step", "epoch", "batch", "rng", "config"} <= set(payload)
    assert payload["step"] == 4
    assert payload["config"]["runner"]["total_steps"] == 4
    assert payload["config"]["model"]["labels"]["num_clusters"] == 20
    assert {"python", "numpy", "torch"} <= set(payload["rng"])
    assert "mask_embedding" in payload["expert"]


def test_the_export_loads_with_load_teacher_and_through_s3prl_hub(short_run):
    teacher = load_teacher(short_run / "upstream.pt")
    assert teacher.config.arch == "hubert" and teacher.config.num_units == 20
    wav = torch.randn(16000)
    with torch.no_grad():
        output = teacher(wav[None], output_unit_logits=True)
    assert output.unit_logits.shape[-1] == 20

    from upstream_distill.s3prl_bridge import prepare_s3prl

    prepare_s3prl()
    import s3prl.hub

    upstream = s3prl.hub.teacher_local(ckpt=str(short_run / "upstream.pt"))
    with torch.no_grad():
        result = upstream([wav, wav[:8000]])
    assert len(result["hidden_states"]) == teacher.config.encoder_layers + 1
    assert upstream.get_downsample_rates("hidden_states") == 320


def test_an_unknown_method_names_the_flag_and_lists_pretrain(tmp_path):
    result = run_pretrain("-u", "no_such_method", "-p", str(tmp_path / "exp"))
    assert result.returncode == 2
    assert "-u/--upstream: unknown method 'no_such_method'" in result.stderr
    assert "pretrain/hubert_teacher" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_override_names_the_flag(tiny_corpus, tmp_path):
    result = run_pretrain(*tiny_args(tiny_corpus, tmp_path / "exp", "runner.total_steps=3"))
    assert result.returncode == 2 and "-o/--override" in result.stderr
    result = run_pretrain(*tiny_args(tiny_corpus, tmp_path / "exp", "config.runner.total_stpes=3"))
    assert result.returncode == 2 and "config.runner.total_stpes" in result.stderr


def test_real_settings_without_a_preset_point_at_librispeech_960h(tmp_path):
    result = run_pretrain("-u", "hubert_teacher", "-p", str(tmp_path / "exp"))
    assert result.returncode == 1
    assert "config.datarc.libri_root: the LibriSpeech folder /data/LibriSpeech does not exist" in result.stderr


def _libri_copy(tiny_corpus, root):
    shutil.copytree(tiny_corpus / "LibriSpeech", root)
    return root


def test_an_empty_corpus_names_the_folder(tiny_corpus, tmp_path):
    root = tmp_path / "LibriSpeech"
    (root / "len_for_bucket").mkdir(parents=True)
    (root / "len_for_bucket" / "train-clean-100.csv").write_text(",file_path,length,label\n")
    overrides = f"config.datarc.libri_root='{root}',,config.datarc.bucket_dir='{root}/len_for_bucket'"
    result = run_pretrain(*tiny_args(tiny_corpus, tmp_path / "exp", overrides))
    assert result.returncode == 1
    assert "empty corpus" in result.stderr and str(root) in result.stderr

    missing = f"config.datarc.libri_root='{root}',,config.datarc.bucket_dir='{tmp_path}/nowhere'"
    result = run_pretrain(*tiny_args(tiny_corpus, tmp_path / "exp2", missing))
    assert result.returncode == 1
    assert f"{tmp_path}/nowhere/train-clean-100.csv does not exist" in result.stderr
    assert "len_for_bucket" in result.stderr  # the command that writes the lists


def test_a_file_with_the_wrong_sample_rate_is_named(tiny_corpus, tmp_path):
    root = _libri_copy(tiny_corpus, tmp_path / "LibriSpeech")
    listed = (root / "len_for_bucket" / "train-clean-100.csv").read_text().splitlines()[1].split(",")[1]
    bad = root / listed
    audio, rate = soundfile.read(bad)
    soundfile.write(bad, audio[::2], rate // 2)  # now 8 kHz, still long enough for its listed crop
    overrides = f"config.datarc.libri_root='{root}',,config.datarc.bucket_dir='{root}/len_for_bucket'"
    result = run_pretrain(*tiny_args(tiny_corpus, tmp_path / "exp", overrides))
    assert result.returncode == 1
    assert str(bad) in result.stderr and "sample rate 8000 Hz, expected 16000 Hz" in result.stderr


def test_iteration2_loads_every_weight_but_the_label_embeddings(short_run, tiny_corpus, tmp_path):
    first = short_run / "upstream.pt"
    expdir = tmp_path / "iteration2"
    result = run_pretrain(*tiny_args(tiny_corpus, expdir, (
        f"config.runner.total_steps=1,,config.runner.save_step=1,,config.optimizer.lr=1.0e-12,,"
        f"config.model.init_from='{first}',,config.model.labels.features='model',,"
        f"config.model.labels.model_ckpt='{first}',,config.model.labels.model_layer=1,,"
        f"config.model.labels.num_clusters=8")))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "initialised from" in (expdir / "train.log").read_text()
    assert list((expdir / "labels").glob("units-model-8-*.npz"))
    before, after = load_teacher(first), load_teacher(expdir / "upstream.pt")
    assert after.config.num_units == 8
    old, new = before.state_dict(), after.state_dict()
    copied = [k for k in old if not k.endswith("label_embeddings")]
    # one update at lr 1e-12: the copied weights are the first iteration's (float16 export)
    assert all(torch.allclose(old[k].float(), new[k].float(), atol=1e-3) for k in copied)
    assert new["unit_head.label_embeddings"].shape[0] == 8


def test_iteration2_refuses_another_architecture(short_run, tiny_corpus, tmp_path):
    first = short_run / "upstream.pt"
    result = run_pretrain(*tiny_args(tiny_corpus, tmp_path / "x", (
        f"config.runner.total_steps=1,,config.model.init_from='{first}',,config.model.teacher.encoder_dim=64")))
    assert result.returncode == 2
    assert "init_from" in result.stderr and "encoder_dim" in result.stderr


def test_a_run_refuses_to_resume_once_a_file_it_reads_was_replaced(short_run, tiny_corpus, tmp_path):
    """Same command, same paths, but the initialising checkpoint behind the path was re-trained:
    the config alone cannot tell, the recorded file digest does."""
    first = tmp_path / "first.pt"
    shutil.copy(short_run / "upstream.pt", first)
    args = tiny_args(tiny_corpus, tmp_path / "exp", (
        f"config.runner.total_steps=1,,config.runner.save_step=1,,config.model.init_from='{first}'"))
    assert run_pretrain(*args).returncode == 0
    payload = torch.load(tmp_path / "exp" / "states-1.ckpt", map_location="cpu", weights_only=True)
    assert set(payload["config"]["input_files"]) == {"model.init_from"}
    assert run_pretrain(*args).returncode == 0  # unchanged: the finished run is found, nothing redone
    teacher = load_teacher(first)
    with torch.no_grad():
        next(teacher.parameters()).add_(1.0)
    from upstream_distill.models import save_teacher

    save_teacher(teacher, first)
    result = run_pretrain(*args)
    assert result.returncode != 0
    assert "another config" in result.stderr and "input_files.model.init_from" in result.stderr
