"""--preset superb end to end: the paper configs on the tiny corpus laid out as the real corpora under one
--data-root, schedules shortened with --task-override, all five tasks through the real s3prl harness."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SUPERB_LEXICONS
from upstream_distill.benchmark import rows as score_table
from upstream_distill.benchmark.protocol import current_task_configs

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

CORPORA = ("LibriSpeech", "VoxCeleb1", "IEMOCAP", "speech_commands_v0.01", "speech_commands_test_set_v0.01")
#: a few steps, one evaluation, no dataloader worker processes
SHORT = "config.runner.total_steps=2,,config.runner.log_step=1,,config.runner.eval_step=2,,config.runner.save_step=2"


def tiny_as_real_corpora(tiny: Path, root: Path) -> Path:
    """The tiny corpus under the standard names (symlinks): its LibriSpeech's length files and lexicon
    become DATA_ROOT/len_for_bucket and both g2p lexicons of DATA_ROOT/lexicon/."""
    root.mkdir(parents=True)
    for name in CORPORA:
        (root / name).symlink_to(tiny / name, target_is_directory=True)
    (root / "len_for_bucket").symlink_to(tiny / "LibriSpeech" / "len_for_bucket", target_is_directory=True)
    (root / "lexicon").mkdir()
    for name in SUPERB_LEXICONS:
        (root / "lexicon" / name).symlink_to(tiny / "LibriSpeech" / "lexicon.txt")
    return root


def task_overrides(tiny: Path) -> dict:
    """What the tiny corpus needs beyond a short schedule: PR's phone set is the synthesiser's, not the g2p
    lexicons' ARPAbet; the paper's ASR BiLSTM (2 x 1024) would take seconds a step, so it is narrowed."""
    workers = "num_workers=0"
    return {
        "pr": f"{SHORT},,config.downstream_expert.corpus.{workers},,"
              f"config.downstream_expert.text.vocab_file='{tiny / 'LibriSpeech' / 'phoneme.txt'}'",
        "asr": f"{SHORT},,config.downstream_expert.datarc.{workers},,config.downstream_expert.modelrc.project_dim=32,,"
               "config.downstream_expert.modelrc.RNNs.dim=[32, 32]",
        "ks": f"{SHORT},,config.downstream_expert.datarc.{workers}",
        "sid": f"{SHORT},,config.downstream_expert.datarc.{workers}",
        "er": f"{SHORT},,config.downstream_expert.datarc.{workers},,config.runner.gradient_accumulate_steps=1",
    }


def benchmark(tmp_path, data_root, overrides):
    flags = [flag for task, text in overrides.items() for flag in ("--task-override", f"{task}:{text}")]
    cmd = [sys.executable, str(REPO_ROOT / "run_benchmark.py"), "--preset", "superb", "-u", "fbank",
           "--data-root", str(data_root), "--er-folds", "1", "--speed-reference", "none",
           "--exp-root", str(tmp_path / "exp"), "--results", str(tmp_path / "results"), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)


@pytest.fixture(scope="module")
def superb_run(tiny_corpus, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("superb")
    data_root = tiny_as_real_corpora(tiny_corpus, tmp_path / "data")
    overrides = task_overrides(tiny_corpus)
    proc = benchmark(tmp_path, data_root, overrides)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp_path, data_root, overrides, proc


def test_paper_configs_score_all_five_tasks_into_results_superb(superb_run):
    tmp_path, data_root, overrides, _ = superb_run
    results = tmp_path / "results" / "superb"
    rows = score_table.read_rows(results / "scores.csv")
    assert [r["upstream"] for r in rows] == ["fbank"]
    row = rows[0]
    assert row["preset"] == "superb"
    for column in ("pr_per", "asr_wer", "ks_acc", "sid_acc", "er_acc", "overall"):
        assert row[column] != "", column
    assert float(row["macs_g"]) > 0.0 and float(row["params_m"]) == 0.0
    for column in ("superb_score", "pr_retention_pct", "er_retention_pct"):  # empty until `hubert` is scored
        assert column in row
    table = (results / "scores.md").read_text()
    assert table.startswith("# SUPERB scores, preset `superb`")
    for header in ("MACs (G)", "SUPERB score", "PR retention %", "`fbank` = 0 and `hubert` = 1000"):
        assert header in table, header
    # every score is recorded under the paper config with this command's overrides
    recorded = score_table.parse_protocols(row[score_table.PROTOCOL_COLUMN])
    current = current_task_configs("superb", overrides)
    assert recorded == {task: current[task] for task in ("pr", "asr", "ks", "sid", "er")}
    assert current["ks"] != current_task_configs("superb")["ks"]  # the shortened schedule is another protocol


def test_each_run_read_the_paper_config_with_paths_from_the_data_root(superb_run):
    tmp_path, data_root, _, _ = superb_run
    runs = tmp_path / "exp" / "superb" / "fbank"
    assert sorted(p.parent.name for p in runs.glob("*/score.json")) == ["asr", "er-fold1", "ks", "pr", "sid"]
    import yaml

    ks = yaml.safe_load((runs / "ks" / "resolved_config.yaml").read_text())
    assert ks["downstream_expert"]["datarc"]["speech_commands_root"] == str(data_root / "speech_commands_v0.01")
    assert ks["optimizer"]["lr"] == 1.0e-4 and ks["runner"]["total_steps"] == 2  # paper lr, shortened schedule
    pr = yaml.safe_load((runs / "pr" / "resolved_config.yaml").read_text())
    assert pr["downstream_expert"]["corpus"]["lexicon"] == [str(data_root / "lexicon" / n) for n in SUPERB_LEXICONS]
    assert "--data-root" in (runs / "sid" / "train.log").read_text()
    assert json.loads((runs / "er-fold1" / "score.json").read_text())["fold"] == "fold1"


def test_rerun_resumes_without_redoing_finished_runs(superb_run):
    tmp_path, data_root, overrides, _ = superb_run
    scores = sorted((tmp_path / "exp" / "superb" / "fbank").glob("*/score.json"))
    before = {p: p.stat().st_mtime_ns for p in scores}
    proc = benchmark(tmp_path, data_root, overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "5 already finished (resumed), 0 to do" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in scores} == before
