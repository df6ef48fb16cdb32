"""run_pretrain.py's bad inputs, in process: each is refused before anything starts, with a message
naming the flag, config key or file (exit 2 for usage errors, 1 for a missing corpus).

``load_expert_class`` is replaced by a stub that stops the command: it runs right before the runner,
so a bad input that got past the checks fails the test at once instead of training."""
from __future__ import annotations

from pathlib import Path

import pytest

from upstream_distill.commands import pretrain
from upstream_distill.core.paths import DATA_ROOT, PRETRAIN_ROOT


class Started(Exception):
    """The command got past every check to the run itself."""


@pytest.fixture
def started(monkeypatch):
    """The method folders the command would have run (the stub raises :class:`Started`)."""
    folders = []

    def stop(folder):
        folders.append(Path(folder))
        raise Started(folder)

    monkeypatch.setattr(pretrain, "load_expert_class", stop)
    return folders


def tiny(corpus: Path, expdir: Path, *extra: str) -> list:
    return ["-u", "hubert_teacher", "--preset", "tiny", "--corpus", str(corpus), "-p", str(expdir),
            "--threads", "1", *extra]


def refused(argv, capsys, status=2) -> str:
    assert pretrain.main(argv) == status
    err = capsys.readouterr().err
    assert err.startswith("run_pretrain.py: error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize("override", [
    # the tester's run: fp16's value swallowed total_steps=10 as a string, and the preset's 20 steps ran
    "config.runner.fp16=False,config.runner.total_steps=10",
    "config.model.labels.cache_dir='c',config.runner.total_steps=10",
])
def test_one_comma_between_settings_is_refused(override, tiny_corpus, tmp_path, capsys, started):
    err = refused(tiny(tiny_corpus, tmp_path / "exp", "-o", override), capsys)
    assert f"-o/--override: {override!r} joins two settings with one comma" in err and "config.a=1,,config.b=2" in err
    assert not started and not (tmp_path / "exp").exists()


@pytest.mark.parametrize("value, got", [("1e3", "1000.0 (float); write 1000"), ("'ten'", "'ten' (str)"),
                                        ("ten", "'ten' (str)"), ("'1e3'", "'1e3' (str)")])
def test_an_integer_key_refuses_a_float_or_a_string(value, got, tiny_corpus, tmp_path, capsys, started):
    err = refused(tiny(tiny_corpus, tmp_path / "exp", "-o", f"config.runner.total_steps={value}"), capsys)
    assert f"config.runner.total_steps: expected an integer, got {got}" in err
    assert not started


@pytest.mark.parametrize("override, named", [
    ("config.runner.total_stpes=3", "unknown keys ['config.runner.total_stpes'] "
                                    "(did you mean config.runner.total_steps?)"),
    ("config.runer.total_steps=3", "-o/--override: config.runer.total_steps: no section 'runer' in the config "
                                   "(did you mean config.runner?)"),
    ("config.seed=3", "-o/--override: config.seed: give the seed with --seed"),  # --seed replaced it, silently
])
def test_an_unknown_key_is_refused_with_the_nearest_known_one(override, named, tiny_corpus, tmp_path, capsys,
                                                              started):
    assert named in refused(tiny(tiny_corpus, tmp_path / "exp", "-o", override), capsys)
    assert not started


def test_a_path_to_a_method_folder_selects_that_method(tiny_corpus, tmp_path, capsys, started, monkeypatch):
    """s3prl users type paths: relative to the current folder, else to the checkout, or absolute."""
    expected = PRETRAIN_ROOT / "hubert_teacher"
    monkeypatch.chdir(DATA_ROOT)
    for method in ("pretrain/hubert_teacher", "./pretrain/hubert_teacher/", str(expected)):
        with pytest.raises(Started):
            pretrain.main(tiny(tiny_corpus, tmp_path / "exp", "-u", method))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Started):
        pretrain.main(tiny(tiny_corpus, tmp_path / "exp", "-u", "pretrain/hubert_teacher"))
    assert [folder.resolve() for folder in started] == [expected.resolve()] * 4
    (tmp_path / "not_a_method").mkdir()
    err = refused(tiny(tiny_corpus, tmp_path / "exp", "-u", "not_a_method"), capsys)
    assert "-u/--upstream: not_a_method holds no pretrain_expert.py" in err


def test_a_corpus_that_is_a_file_names_the_flag(tiny_corpus, tmp_path, capsys, started):
    file = tmp_path / "corpus.tar"
    file.write_bytes(b"")
    err = refused(tiny(file, tmp_path / "exp"), capsys)
    assert f"--corpus {file}: is a file, not a folder" in err
    assert not started and not (tmp_path / "exp").exists()


def test_a_missing_real_corpus_is_named_before_the_run_with_both_ways_out(tmp_path, capsys, started):
    """The README's first command without a corpus: refused before the experiment folder, the
    teacher or the progress bar, saying how to set the real paths or use the embedded corpus."""
    missing = tmp_path / "LibriSpeech"
    err = refused(["-u", "star_hubert", "-p", str(tmp_path / "exp"), "-o",
                   f"config.datarc.libri_root='{missing}'"], capsys, status=1)
    assert f"config.datarc.libri_root: the LibriSpeech folder {missing} does not exist" in err
    assert "--preset mini to run on the embedded corpus" in err
    assert "-o \"config.datarc.libri_root='/path/to/LibriSpeech',,config.datarc.bucket_dir=" in err
    assert not started and not (tmp_path / "exp").exists()


def test_a_missing_length_list_is_named_before_the_run(tiny_corpus, tmp_path, capsys, started):
    err = refused(tiny(tiny_corpus, tmp_path / "exp", "-o", f"config.datarc.bucket_dir='{tmp_path}/nowhere'"),
                  capsys, status=1)
    assert f"config.datarc.bucket_dir: {tmp_path}/nowhere/train-clean-100.csv does not exist" in err
    assert "--preset mini" not in err  # the preset is given: only the key is wrong
    assert not started and not (tmp_path / "exp").exists()


@pytest.mark.parametrize("argv", [["--help"], ["-u", "no_such_method", "--help"]])
def test_help_is_always_reachable(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        pretrain.main(argv)
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: run_pretrain.py")
