"""--launcher through submitit's local executor, end to end on the tiny corpus: each run pickled as a job
and run by another process, the command returning at once; the same command later collects the scores
into the table, or reports a failed job with its logs.

Both sets of jobs are submitted first and waited for together (the jobs are most of the time), then
each test collects its own."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from upstream_distill.benchmark import rows as score_table
from upstream_distill.benchmark.launch.probe import probe
from upstream_distill.benchmark.launch.records import FAILED_JOB_FILE, JOB_FILE, read_record

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
GOOD_RUNS = ("ks", "er-fold1")


def start(root: Path, corpus: Path, tasks: str, log_name: str):
    """One command, started; its output to a file, not a pipe: the jobs it starts inherit its stdout and
    stderr, and a pipe would keep the test waiting for them to end."""
    log = root / log_name
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "run_benchmark.py"), "--preset", "tiny", "-u", "fbank", "--tasks", tasks,
             "--er-folds", "1", "--speed-reference", "none", "--launcher", "submitit-local", "--corpus", str(corpus),
             "--exp-root", str(root / "exp"), "--results", str(root / "results")],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    return proc, log


def finish(started):
    proc, log = started
    return proc.wait(timeout=300), log.read_text()


def benchmark(root: Path, corpus: Path, tasks: str, log_name: str):
    return finish(start(root, corpus, tasks, log_name))


def wait_for_jobs(folders, timeout: float = 300.0) -> None:
    records = [read_record(folder) for folder in folders]
    assert all(records), folders
    deadline = time.monotonic() + timeout
    while any(state.active for state in probe(records)):
        assert time.monotonic() < deadline, "the jobs did not end"
        time.sleep(1.0)


def broken_ks_corpus(corpus: Path, into: Path) -> Path:
    """The tiny corpus with an empty Speech Commands training folder: a KS job fails in its data loader."""
    into.mkdir()
    for entry in corpus.iterdir():
        if entry.name == "speech_commands_v0.01":
            (into / entry.name).mkdir()
        elif entry.name == "manifest.json":  # a copy: the corpus counts as built, and is not rebuilt
            (into / entry.name).write_bytes(entry.read_bytes())
        else:
            (into / entry.name).symlink_to(entry)
    return into


@pytest.fixture(scope="module")
def submitted(tiny_corpus, tmp_path_factory):
    good, bad = tmp_path_factory.mktemp("launch_good"), tmp_path_factory.mktemp("launch_bad")
    bad_corpus = broken_ks_corpus(tiny_corpus, bad / "corpus")
    started = {"good": start(good, tiny_corpus, "ks,er", "submit.log"), "bad": start(bad, bad_corpus, "ks", "submit.log")}
    first = {name: finish(command) for name, command in started.items()}
    wait_for_jobs([good / "exp" / "tiny" / "fbank" / run for run in GOOD_RUNS] + [bad / "exp" / "tiny" / "fbank" / "ks"])
    return {"good": (good, tiny_corpus), "bad": (bad, bad_corpus)}, first


def test_two_runs_are_submitted_as_jobs_then_collected_into_the_table(submitted):
    (root, corpus), first = submitted[0]["good"], submitted[1]["good"]
    returncode, text = first
    assert returncode == 0, text[-3000:]
    assert "2 task runs planned: 0 finished, 0 still running, 0 failed, 2 to submit now" in text
    for run in ("fbank/ks", "fbank/er/fold1"):
        assert f"{run}: submitted as job " in text
    runs = [root / "exp" / "tiny" / "fbank" / run for run in GOOD_RUNS]
    for folder in runs:  # the job was pickled there, and ran in another process
        job_id = read_record(folder).job_id
        assert (folder / "submitit" / f"{job_id}_submitted.pkl").is_file()
        assert (folder / "submitit" / f"{job_id}_0_log.out").is_file()

    returncode, text = benchmark(root, corpus, "ks,er", "collect.log")
    assert returncode == 0, text[-3000:]
    assert "2 task runs planned: 2 finished, 0 still running, 0 failed, 0 to submit now" in text
    assert "submitted as job" not in text and "2/2 task runs finished" in text
    [row] = score_table.read_rows(root / "results" / "tiny" / "scores.csv")
    assert row["upstream"] == "fbank"
    assert 0.0 <= float(row["ks_acc"]) <= 100.0 and 0.0 <= float(row["er_acc"]) <= 100.0
    assert sorted(score_table.parse_protocols(row[score_table.PROTOCOL_COLUMN])) == ["er", "ks"]


def test_a_failed_job_is_reported_with_its_logs_and_left_to_the_next_command(submitted):
    (root, corpus), (returncode, text) = submitted[0]["bad"], submitted[1]["bad"]
    assert returncode == 0 and "fbank/ks: submitted as job " in text, text[-3000:]
    folder = root / "exp" / "tiny" / "fbank" / "ks"
    job_id = read_record(folder).job_id

    returncode, text = benchmark(root, corpus, "ks", "collect.log")
    assert returncode == 1, text[-3000:]
    stderr_log = folder / "submitit" / f"{job_id}_0_log.err"
    assert f"fbank/ks FAILED: job {job_id} ended without its result; it raised:" in text
    assert f"see {folder / 'train.log'}" in text  # the run's own log, named by the error the job raised
    assert str(stderr_log) in text and stderr_log.is_file() and "RunFailed" in stderr_log.read_text()
    assert "resubmitted by the next run_benchmark.py with the same flags" in text
    assert "submitted as job" not in text  # not in the command that reports it
    assert not (folder / JOB_FILE).exists() and read_record(folder, FAILED_JOB_FILE).job_id == job_id
