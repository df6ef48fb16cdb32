"""run_downstream.py: flag handling and clear errors, through a real subprocess."""
import subprocess
import sys
from pathlib import Path

import pytest

from upstream_distill.s3prl_bridge.run_downstream import (
    UsageError,
    build_s3prl_argv,
    load_task_config,
    read_config,
)
from upstream_distill.s3prl_bridge.tasks import ALL_TASKS, TASKS, default_config, resolve_task

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, str(REPO_ROOT / "run_downstream.py"), *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_task_names_accept_product_and_s3prl_names():
    assert resolve_task("pr") is resolve_task("ctc") is TASKS["pr"]
    assert resolve_task("sid").expert == "voxceleb1"
    with pytest.raises(ValueError, match="-d/--downstream: unknown task 'nope'"):
        resolve_task("nope")


@pytest.mark.parametrize("preset", [None, "mini", "tiny", "superb"])
@pytest.mark.parametrize("task", sorted(ALL_TASKS))
def test_every_task_has_a_config_per_preset(task, preset):
    config = read_config(default_config(ALL_TASKS[task], preset))
    for key in ("total_steps", "gradient_accumulate_steps", "eval_step", "save_step", "eval_dataloaders"):
        assert key in config["runner"], (task, preset, key)
    assert "downstream_expert" in config


def test_tiny_configs_inherit_mini_and_only_shorten_the_schedule():
    for task in ALL_TASKS.values():
        tiny, mini = read_config(default_config(task, "tiny")), read_config(default_config(task, "mini"))
        assert tiny["downstream_expert"] == mini["downstream_expert"]
        assert tiny["runner"]["total_steps"] < mini["runner"]["total_steps"]


def test_paper_configs_keep_superb_settings():
    asr = read_config(default_config(TASKS["asr"], None))
    assert asr["runner"]["total_steps"] == 200000 and asr["optimizer"]["lr"] == 1e-4
    pr = read_config(default_config(TASKS["pr"], None))
    assert pr["optimizer"]["lr"] == 1e-2 and pr["downstream_expert"]["model"]["select"] == "FrameLevel"
    assert read_config(default_config(TASKS["er"], None))["runner"]["gradient_accumulate_steps"] == 8


def test_missing_corpus_path_names_key_and_override(tmp_path):
    with pytest.raises(UsageError) as err:
        load_task_config(TASKS["asr"], default_config(TASKS["asr"], None), None)
    message = str(err.value)
    assert "downstream_expert.datarc.libri_root" in message and "/path/to/LibriSpeech" in message
    assert "-o" in message


def test_override_is_applied_before_the_path_check(tmp_path):
    (tmp_path / "root").mkdir()
    with pytest.raises(UsageError, match="bucket_file"):
        load_task_config(TASKS["asr"], default_config(TASKS["asr"], None), None,
                         override=f"config.downstream_expert.datarc.libri_root={tmp_path / 'root'}")


def test_files_inside_the_corpus_folders_are_checked_all_at_once(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "lengths").mkdir()
    (tmp_path / "lengths" / "train-clean-100.csv").write_text("")
    with pytest.raises(UsageError) as err:
        load_task_config(TASKS["asr"], default_config(TASKS["asr"], None), None,
                         override=f"config.downstream_expert.datarc.libri_root={tmp_path / 'root'},,"
                                  f"config.downstream_expert.datarc.bucket_file={tmp_path / 'lengths'}")
    message = str(err.value)  # the test split's length file too: s3prl would read it after training
    assert "its length file of dev-clean dev-clean.csv does not exist" in message
    assert "its length file of test-clean test-clean.csv" in message and "train-clean-100.csv" not in message
    (tmp_path / "meta" / "Session1").mkdir(parents=True)
    with pytest.raises(UsageError, match="meta_data = .*Session2: its fold2 list train_meta_data.json"):
        load_task_config(TASKS["er"], default_config(TASKS["er"], None), None, fold="fold2",
                         override=f"config.downstream_expert.datarc.root={tmp_path / 'root'},,"
                                  f"config.downstream_expert.datarc.meta_data={tmp_path / 'meta'}")


def test_er_fold_goes_into_the_config(tiny_corpus):
    config = load_task_config(TASKS["er"], default_config(TASKS["er"], "tiny"), tiny_corpus, fold="fold3")
    assert config["downstream_expert"]["datarc"]["test_fold"] == "fold3"
    assert config["downstream_expert"]["datarc"]["root"] == str(tiny_corpus.resolve() / "IEMOCAP")
    with pytest.raises(UsageError, match="unknown fold"):
        load_task_config(TASKS["er"], default_config(TASKS["er"], "tiny"), tiny_corpus, fold="fold9")


def test_argv_translation_defaults(tiny_corpus, tmp_path):
    argv = build_s3prl_argv(["-m", "train", "-u", "fbank", "-d", "pr", "--preset", "tiny",
                             "--corpus", str(tiny_corpus), "-p", str(tmp_path / "x")])
    assert argv[argv.index("-d") + 1] == "ctc"
    assert argv[argv.index("--device") + 1] == "cpu"
    assert Path(argv[argv.index("-c") + 1]) == tmp_path / "x" / "resolved_config.yaml"  # not the temp folder
    resolved = read_config(Path(argv[argv.index("-c") + 1]))
    assert resolved["downstream_expert"]["corpus"]["path"] == str(tiny_corpus.resolve() / "LibriSpeech")


def test_cli_unknown_task_names_the_flag():
    proc = run_cli("-m", "train", "-u", "fbank", "-d", "weather")
    assert proc.returncode == 2
    assert "-d/--downstream: unknown task 'weather'" in proc.stderr


def test_cli_unknown_upstream_names_the_flag(tiny_corpus):
    # the corpus is checked before -u (which imports s3prl), so it must exist here
    proc = run_cli("-m", "train", "-u", "no_such_model", "-d", "ks", "--preset", "tiny", "--corpus", str(tiny_corpus))
    assert proc.returncode == 2
    assert "-u/--upstream: unknown upstream 'no_such_model'" in proc.stderr


def test_cli_missing_corpus_names_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    proc = run_cli("-m", "train", "-u", "fbank", "-d", "ks", "--preset", "tiny", "--corpus", str(missing))
    assert proc.returncode == 2
    assert f"--corpus: no mini-SUPERB corpus at {missing}" in proc.stderr
    assert "python -m upstream_distill.mini_superb --preset tiny" in proc.stderr


def test_cli_missing_config_file_names_the_flag(tmp_path):
    proc = run_cli("-m", "train", "-u", "fbank", "-d", "ks", "-c", str(tmp_path / "none.yaml"))
    assert proc.returncode == 2
    assert f"-c/--config: config file {tmp_path / 'none.yaml'} not found" in proc.stderr


@pytest.mark.parametrize("task, finetuned", [("asr_low", False), ("asr_low_ft", True), ("asr", False)])
def test_low_resource_asr_trains_on_a_tenth_frozen_or_fine_tuned(tiny_corpus, tmp_path, task, finetuned):
    argv = build_s3prl_argv(["-m", "train", "-u", "fbank", "-d", task, "--preset", "tiny",
                             "--corpus", str(tiny_corpus), "-p", str(tmp_path / "x")])
    assert argv[argv.index("-d") + 1] == "asr"
    assert ("-f" in argv) is finetuned
    datarc = read_config(Path(argv[argv.index("-c") + 1]))["downstream_expert"]["datarc"]
    bucket = Path(datarc["bucket_file"])
    if task == "asr":
        assert datarc["train"] == ["train-clean-100"]
        return
    assert datarc["train"] == ["train-clean-100-1in10"]
    full = (bucket / "train-clean-100.csv").read_text().splitlines()[1:]
    tenth = (bucket / "train-clean-100-1in10.csv").read_text().splitlines()[1:]
    files = lambda rows: {row.split(",")[1] for row in rows}  # noqa: E731
    assert files(tenth) < files(full) and len(tenth) == -(-len(full) // 10)
