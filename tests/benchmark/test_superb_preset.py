"""run_benchmark.py --preset superb, in process and without a run: every missing path is named with its flag
before anything runs, flags that do not fit the real corpora are refused, and the runs get the corpora's flags."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SUPERB_LEXICONS
from upstream_distill.benchmark import cli, runs
from upstream_distill.benchmark.modes import score
from upstream_distill.benchmark.plan import plan_runs
from upstream_distill.benchmark.protocol import current_task_configs, task_config_digest
from upstream_distill.benchmark.upstream_spec import UpstreamSpec
from upstream_distill.s3prl_bridge.real_corpora import RealCorpora
from upstream_distill.s3prl_bridge.tasks import ALL_TASKS


class Started(Exception):
    """Raised by the stubs: the command got past its checks."""


@pytest.fixture
def nothing_runs(monkeypatch, tmp_path):
    def started(*args, **kwargs):
        raise Started

    monkeypatch.setattr(score, "measure_upstream", started)
    monkeypatch.setattr(runs, "run_logged", started)
    return ["-u", "fbank", "--speed-reference", "none", "--exp-root", str(tmp_path / "exp"),
            "--results", str(tmp_path / "results")]


def superb(root: Path, *extra) -> list:
    return ["--preset", "superb", "--data-root", str(root), *extra]


def refused_before_any_run(argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    return str(exit_.value.code)


def test_a_complete_layout_passes_the_checks(empty_real_corpora, nothing_runs):
    with pytest.raises(Started):  # measuring the first upstream: after every path was found
        cli.main(nothing_runs + superb(empty_real_corpora, "--er-folds", "5"))


def test_missing_corpus_lexicon_and_length_file_are_named_together_before_any_run(empty_real_corpora, nothing_runs):
    root = empty_real_corpora
    (root / "lexicon" / SUPERB_LEXICONS[0]).unlink()
    (root / "len_for_bucket" / "dev-clean.csv").unlink()
    (root / "speech_commands_test_set_v0.01").rmdir()
    message = refused_before_any_run(nothing_runs + superb(root))
    assert message.startswith("run_benchmark.py: error: the real corpora lack what the planned runs read:")
    assert f"--lexicon: {root / 'lexicon' / SUPERB_LEXICONS[0]} does not exist" in message
    assert f"--len-for-bucket: length file of dev-clean {root / 'len_for_bucket' / 'dev-clean.csv'}" in message
    assert f"--speech-commands-test: {root / 'speech_commands_test_set_v0.01'} does not exist" in message
    assert message.count("\n") == 3  # those three, each once (PR and ASR both read LibriSpeech: no line for it)


def test_only_the_planned_tasks_and_folds_are_checked(empty_real_corpora, nothing_runs):
    (empty_real_corpora / "IEMOCAP" / "meta_data" / "Session5" / "train_meta_data.json").unlink()
    with pytest.raises(Started):
        cli.main(nothing_runs + superb(empty_real_corpora, "--er-folds", "4"))
    message = refused_before_any_run(nothing_runs + superb(empty_real_corpora, "--er-folds", "5", "--tasks", "er"))
    assert "--iemocap-meta: fold5 list " in message


def test_a_missing_data_root_is_said_once(tmp_path, nothing_runs):
    message = refused_before_any_run(nothing_runs + superb(tmp_path / "nowhere"))
    assert message.splitlines()[1:] == [f"  --data-root: {tmp_path / 'nowhere'} is not a folder"]


@pytest.mark.parametrize("extra, error", [
    (["--task-override", "asr:config.downstream_expert.datarc.libri_rot='/x'"], "did you mean"),  # superb's keys
    (["--student", "distilhubert"], "--student/--study distil on the embedded corpus"),
    (["--corpus", "/x"], "--corpus: the embedded corpus"),
])
def test_bad_flags_are_refused_naming_the_flag(empty_real_corpora, nothing_runs, capsys, extra, error):
    with pytest.raises(SystemExit) as exit_:
        cli.main(nothing_runs + superb(empty_real_corpora, *extra))
    assert exit_.value.code == 2
    assert error in capsys.readouterr().err


def test_corpus_flags_need_the_superb_preset(nothing_runs, capsys, tmp_path):
    with pytest.raises(SystemExit):
        cli.main(nothing_runs + ["--preset", "mini", "--librispeech", str(tmp_path)])
    assert "--librispeech: the real corpora are read by --preset superb only" in capsys.readouterr().err


def test_the_superb_protocol_is_the_paper_config_with_the_overrides():
    asr = ALL_TASKS["asr"]
    shortened = task_config_digest(asr, "superb", "config.runner.total_steps=20000")
    assert task_config_digest(asr, "superb") != shortened
    assert current_task_configs("superb", {"asr": "config.runner.total_steps=20000"})["asr"] == shortened
    assert task_config_digest(asr, "superb") not in {task_config_digest(asr, p) for p in (None, "mini", "tiny")}


def test_a_run_gets_the_corpora_flags_and_its_override(tmp_path, monkeypatch):
    commands = []

    def logged(cmd, log_file, env=None):
        commands.append(cmd)
        raise Started

    monkeypatch.setattr(runs, "run_logged", logged)
    fbank = UpstreamSpec.parse("fbank")
    override = "config.runner.total_steps=20000"
    [run] = plan_runs([fbank], ["asr"], 1, tmp_path, "superb", {fbank: "w0"}, {"asr": override})
    assert run.override == override and run.protocol.task_config == task_config_digest(ALL_TASKS["asr"], "superb",
                                                                                        override)
    corpora = RealCorpora(tmp_path / "data", {"lexicon": tmp_path / "lex"})
    with pytest.raises(Started):
        runs.execute(run, "superb", corpora)
    cmd = commands[0]
    assert cmd[cmd.index("--preset") + 1] == "superb" and cmd[cmd.index("-o") + 1] == override
    assert cmd[cmd.index("--data-root") + 1] == str(tmp_path / "data")
    assert cmd[cmd.index("--lexicon") + 1] == str(tmp_path / "lex") and "--corpus" not in cmd
