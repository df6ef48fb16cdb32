"""The benchmark end to end on the tiny corpus: all five tasks through the real s3prl harness."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from upstream_distill.benchmark import rows as score_table

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def benchmark(tmp_path, corpus, *extra):
    cmd = [sys.executable, str(REPO_ROOT / "run_benchmark.py"), "--preset", "tiny", "-u", "fbank",
           "--er-folds", "1", "--corpus", str(corpus), "--exp-root", str(tmp_path / "exp"),
           "--results", str(tmp_path / "results"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)


@pytest.fixture(scope="module")
def finished_benchmark(tiny_corpus, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("bench")
    proc = benchmark(tmp_path, tiny_corpus)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp_path, proc


def test_all_five_tasks_are_scored(finished_benchmark):
    tmp_path, _ = finished_benchmark
    rows = score_table.read_rows(tmp_path / "results" / "tiny" / "scores.csv")
    assert [r["upstream"] for r in rows] == ["fbank"]
    row = rows[0]
    for column in ("ks_acc", "sid_acc", "er_acc"):
        assert 0.0 <= float(row[column]) <= 100.0, column  # accuracies parsed from s3prl's output
    for column in ("pr_per", "asr_wer"):
        assert float(row[column]) >= 0.0, column  # error rates can exceed 100 (insertions)
    flipped = [100 - float(row["pr_per"]), 100 - float(row["asr_wer"]),
               float(row["ks_acc"]), float(row["sid_acc"]), float(row["er_acc"])]
    assert float(row["overall"]) == pytest.approx(sum(flipped) / 5, abs=0.01)
    assert float(row["params_m"]) == 0.0  # fbank has no parameters
    assert row["preset"] == "tiny" and row["machine"] and row["date"]
    assert float(row["speedup_vs_teacher"]) > 1.0  # fbank vs the tiny_hubert teacher, timed in the run
    from upstream_distill.benchmark.protocol import current_task_configs

    recorded = score_table.parse_protocols(row[score_table.PROTOCOL_COLUMN])  # the config each score was measured under
    assert recorded == {task: digest for task, digest in current_task_configs("tiny").items() if task in recorded}
    assert sorted(recorded) == ["asr", "er", "ks", "pr", "sid"]
    scores = sorted((tmp_path / "exp" / "tiny" / "fbank").glob("*/score.json"))
    assert [p.parent.name for p in scores] == ["asr", "er-fold1", "ks", "pr", "sid"]
    for path in scores:
        record = json.loads(path.read_text())
        log = (path.parent / "test.log").read_text()
        assert f"{record['split']} {record['metric']}: " in log
        assert "--upstream_feature_normalize" in (path.parent / "train.log").read_text()  # the protocol
    assert (tmp_path / "results" / "tiny" / "scores.png").stat().st_size > 1000


def test_sid_file_lists_are_cached_in_the_experiment_not_in_s3prl(finished_benchmark):
    tmp_path, _ = finished_benchmark
    import s3prl

    sid = tmp_path / "exp" / "tiny" / "fbank" / "sid"
    assert (sid / ".voxceleb1_cache" / "train.pkl").is_file()
    package_cache = Path(s3prl.__file__).parent / "downstream" / "voxceleb1" / ".cache"
    assert not (package_cache / "train.pkl").exists()


def test_rerun_resumes_without_redoing_finished_runs(finished_benchmark, tiny_corpus):
    tmp_path, _ = finished_benchmark
    scores = sorted((tmp_path / "exp" / "tiny" / "fbank").glob("*/score.json"))
    before = {p: p.stat().st_mtime_ns for p in scores}
    proc = benchmark(tmp_path, tiny_corpus)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "5 already finished (resumed), 0 to do" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in scores} == before


def test_half_finished_run_is_redone_alone(finished_benchmark, tiny_corpus):
    tmp_path, _ = finished_benchmark
    ks = tmp_path / "exp" / "tiny" / "fbank" / "ks"
    (ks / "score.json").unlink()
    proc = benchmark(tmp_path, tiny_corpus, "--tasks", "ks,sid")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 already finished (resumed), 1 to do" in proc.stderr
    assert (ks / "score.json").is_file()


def test_a_score_of_an_older_task_config_is_redone_and_kept_aside(finished_benchmark, tiny_corpus):
    tmp_path, _ = finished_benchmark
    ks = tmp_path / "exp" / "tiny" / "fbank" / "ks"
    record = json.loads((ks / "score.json").read_text())
    current = record["protocol"]
    assert (ks / "protocol.txt").read_text().strip() == current
    (ks / "score.json").write_text(json.dumps(dict(record, protocol="0123456789ab")))  # as if the config changed
    (ks / "protocol.txt").write_text("0123456789ab\n")
    proc = benchmark(tmp_path, tiny_corpus, "--tasks", "ks")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "0 already finished (resumed), 1 to do" in proc.stderr and "redone: fbank/ks" in proc.stderr
    assert json.loads((ks / "score.json").read_text())["protocol"] == current
    assert json.loads((ks.with_name("ks.superseded") / "score.json").read_text())["protocol"] == "0123456789ab"


def test_corrupt_audio_is_reported_with_its_path(tiny_corpus, tmp_path):
    corpus = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, corpus)
    first = (corpus / "VoxCeleb1" / "iden_split.txt").read_text().split("\n")[0].split()[1]
    victim = next((corpus / "VoxCeleb1").glob(f"*/wav/{first}"))
    victim.write_bytes(b"RIFF\x00\x00not really audio")
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "run_downstream.py"), "-m", "train", "-u", "fbank", "-d", "sid",
         "--preset", "tiny", "--corpus", str(corpus), "-p", str(tmp_path / "exp"),
         "-o", "config.downstream_expert.datarc.num_workers=0"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    assert proc.returncode != 0
    assert str(victim) in proc.stderr and "not a readable audio file" in proc.stderr
