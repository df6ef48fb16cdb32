"""run_benchmark.py's flag checks, in process: a bad --tasks is refused before the corpus or an upstream
is touched, with a message naming the flag and the valid tasks."""
from __future__ import annotations

import pytest

from upstream_distill.benchmark import cli
from upstream_distill.benchmark.modes import score


@pytest.fixture
def nothing_runs(monkeypatch, tmp_path):
    """Flags that keep every output in tmp_path, and stubs that fail the test if a run would start."""
    def started(*args, **kwargs):
        raise AssertionError("the benchmark got past its flag checks")

    monkeypatch.setattr(score, "ensure_corpus", started)
    monkeypatch.setattr(score, "measure_upstream", started)
    return ["--preset", "tiny", "-u", "fbank", "--speed-reference", "none", "--corpus", str(tmp_path / "corpus"),
            "--exp-root", str(tmp_path / "exp"), "--results", str(tmp_path / "results")]


def refused(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("tasks", ["", ",", " , "])
def test_no_task_is_refused_not_an_empty_row(tasks, nothing_runs, capsys, tmp_path):
    err = refused(nothing_runs + ["--tasks", tasks], capsys)
    assert "--tasks: give at least one task; choose from pr, asr, ks, sid, er" in err
    assert not (tmp_path / "results").exists()


def test_a_misspelt_task_is_named_with_the_nearest_one(nothing_runs, capsys):
    err = refused(nothing_runs + ["--tasks", "ks,asrr"], capsys)
    assert "--tasks: unknown task(s) asrr (did you mean asr?); choose from pr, asr, ks" in err


def test_a_task_named_twice_runs_once():
    """Two plans of one (upstream, task) would share its run folder."""
    assert cli.parse_args(["-u", "fbank", "--tasks", "ks,sid,ks"]).tasks == ["ks", "sid"]


@pytest.mark.parametrize("argv", [["--help"], ["-u", "fbank", "--help"]])
def test_help_is_always_reachable(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: ")
