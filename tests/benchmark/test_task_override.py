"""--task-override TASK:KEY=VALUE: checked before anything runs, passed to every run of the task as its -o, and
part of the runs' protocol (a score measured without it is not one measured with it)."""
from __future__ import annotations

import pytest

from upstream_distill.benchmark import cli, runs
from upstream_distill.benchmark.modes import score
from upstream_distill.benchmark.plan import plan_runs
from upstream_distill.benchmark.protocol import current_task_configs, task_config_digest
from upstream_distill.benchmark.upstream_spec import UpstreamSpec
from upstream_distill.s3prl_bridge.tasks import ALL_TASKS

SHORT = "config.runner.total_steps=20"


class Started(Exception):
    """Raised by the stubs: the command got past its checks."""


@pytest.fixture
def nothing_runs(monkeypatch, tmp_path):
    def started(*args, **kwargs):
        raise Started

    monkeypatch.setattr(score, "ensure_corpus", started)
    monkeypatch.setattr(runs, "run_logged", started)
    return ["--preset", "mini", "-u", "fbank", "--speed-reference", "none", "--corpus", str(tmp_path / "corpus"),
            "--exp-root", str(tmp_path / "exp"), "--results", str(tmp_path / "results")]


@pytest.mark.parametrize("value, error", [
    ("asr=config.runner.total_steps=2", "write TASK:config.KEY=VALUE"),
    ("asx:config.runner.total_steps=2", "unknown task 'asx' (did you mean asr?)"),
    ("asr_low:config.runner.total_steps=2", "asr_low is not among --tasks (pr, asr, ks, sid, er)"),
    ("asr:config.runner.total_step=2", "did you mean config.runner.total_steps?"),
    ("asr:args.seed=2", "is not of the form config.<key>"),
    ("asr:config.runner.total_steps=2,config.runner.eval_step=2", "joins two settings with one comma"),
])
def test_a_bad_override_is_refused_naming_the_flag(nothing_runs, capsys, value, error):
    with pytest.raises(SystemExit) as exit_:
        cli.main(nothing_runs + ["--task-override", value])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"--task-override {value!r}: " in err and error in err


def test_overrides_of_one_task_are_joined(nothing_runs):
    args = cli.parse_args(nothing_runs + ["--task-override", f"ks:{SHORT}",
                                          "--task-override", "ks:config.runner.eval_step=10"])
    assert args.task_overrides == {"ks": f"{SHORT},,config.runner.eval_step=10"}


def test_an_override_is_part_of_the_protocol():
    ks = ALL_TASKS["ks"]
    assert task_config_digest(ks, "mini", None) == task_config_digest(ks, "mini")  # no override: as before
    assert task_config_digest(ks, "mini", SHORT) != task_config_digest(ks, "mini")
    assert task_config_digest(ks, "mini", SHORT) == task_config_digest(ks, "mini", "config.runner.total_steps= 20")
    current = current_task_configs("mini", {"ks": SHORT})
    assert current["ks"] == task_config_digest(ks, "mini", SHORT)
    assert current["sid"] == current_task_configs("mini")["sid"]  # the other tasks keep theirs


def test_a_run_is_trained_with_its_override(tmp_path, monkeypatch):
    commands = []

    def logged(cmd, log_file, env=None):
        commands.append(cmd)
        raise Started

    monkeypatch.setattr(runs, "run_logged", logged)
    fbank = UpstreamSpec.parse("fbank")
    ks, sid = plan_runs([fbank], ["ks", "sid"], 1, tmp_path, "mini", {fbank: "w0"}, {"ks": SHORT})
    assert (ks.override, sid.override) == (SHORT, None)
    assert ks.protocol.task_config == task_config_digest(ALL_TASKS["ks"], "mini", SHORT)
    for run in (ks, sid):
        with pytest.raises(Started):
            runs.execute(run, "mini", tmp_path / "corpus")
    assert commands[0][commands[0].index("-o") + 1] == SHORT and "-o" not in commands[1]
    assert commands[0][commands[0].index("--corpus") + 1] == str(tmp_path / "corpus")
