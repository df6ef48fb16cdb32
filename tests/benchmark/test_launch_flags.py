"""--launcher and --launcher-config on run_benchmark.py's command line: what they combine with, refused
before anything is built or submitted."""
from __future__ import annotations

import shutil

import pytest

from upstream_distill.benchmark import cli
from upstream_distill.benchmark.launch import mode as launch_mode
from upstream_distill.benchmark.launch.config import DEFAULT_LAUNCHER_CONFIG


def refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.parse_args(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


def test_help_shows_local_and_slurm_only(capsys):
    with pytest.raises(SystemExit):
        cli.parse_args(["--help"])
    out = capsys.readouterr().out
    assert "--launcher {local,slurm}" in out and "submitit-local" not in out


def test_local_is_the_default_and_keeps_the_scoring_mode():
    args = cli.parse_args(["-u", "fbank"])
    assert args.launcher == "local" and args.mode.flag == "" and args.mode.run is cli.score


def test_a_job_launcher_selects_the_submitting_mode_and_the_shipped_config():
    args = cli.parse_args(["-u", "fbank", "--launcher", "submitit-local"])
    assert args.mode.run is launch_mode.score_with_jobs and args.launcher_config == DEFAULT_LAUNCHER_CONFIG


@pytest.mark.parametrize("extra, flag", [(["--tables-only"], "--tables-only"), (["--compare", "a,b"], "--compare"),
                                         (["--student", "distilhubert", "--distill-only"], "--distill-only")])
def test_modes_that_run_here_refuse_a_job_launcher(extra, flag, capsys):
    err = refused(["--launcher", "slurm"] + extra, capsys)
    assert f"--launcher slurm: {flag} runs here; only scoring submits jobs" in err


def test_a_launcher_config_without_a_job_launcher_is_refused(capsys, tmp_path):
    err = refused(["-u", "fbank", "--launcher-config", str(tmp_path / "x.yaml")], capsys)
    assert "--launcher-config: only read with --launcher slurm" in err


@pytest.mark.skipif(shutil.which("srun") is not None, reason="a Slurm machine")
def test_slurm_off_a_cluster_is_refused_before_anything_is_built(monkeypatch, tmp_path):
    def built(*args, **kwargs):
        raise AssertionError("the corpus was touched")

    monkeypatch.setattr(launch_mode, "ensure_corpus", built)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--preset", "tiny", "-u", "fbank", "--launcher", "slurm", "--exp-root", str(tmp_path / "exp"),
                  "--results", str(tmp_path / "results"), "--corpus", str(tmp_path / "corpus")])
    assert "--launcher slurm: no Slurm here (srun is not on the PATH)" in str(exit_.value.code)
