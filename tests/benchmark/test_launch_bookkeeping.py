"""The job records of --launcher: which target is finished, still running, failed or to submit, and what
one command does about each, across the commands that follow one another (the scheduler faked)."""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from upstream_distill.benchmark.launch import stock
from upstream_distill.benchmark.launch.probe import failure_text, probe, raised_message
from upstream_distill.benchmark.launch.records import (
    FAILED_JOB_FILE,
    JOB_FILE,
    JobRecord,
    read_record,
    retire_failed,
    write_record,
)
from upstream_distill.benchmark.launch.status import JobState, Status, classify
from upstream_distill.benchmark.launch.targets import Target

RUNNING, ENDED = JobState(True, "RUNNING"), JobState(False, "FAILED")


def record(job_id="42", protocol="p1", cluster="slurm", log_folder="/nowhere") -> JobRecord:
    return JobRecord(job_id, cluster, log_folder, protocol, "2026-01-01T00:00:00")


@pytest.mark.parametrize("done, rec, state, status", [
    (True, None, None, Status.DONE),
    (True, record(), ENDED, Status.DONE),  # a score counts however it was made
    (False, None, None, Status.SUBMIT),
    (False, record(), RUNNING, Status.ACTIVE),  # pending or running: never submitted twice
    (False, record(protocol="p0"), RUNNING, Status.ACTIVE),  # an old protocol's job still writes the folder
    (False, record(), ENDED, Status.FAILED),
    (False, record(protocol="p0"), ENDED, Status.SUBMIT),  # ended under an old protocol: not a failure
])
def test_classify(done, rec, state, status):
    assert classify(done, rec, "p1", state) is status


def test_a_record_is_written_read_and_retired(tmp_path):
    write_record(tmp_path / "run", record())
    assert read_record(tmp_path / "run") == record()
    retire_failed(tmp_path / "run")
    assert read_record(tmp_path / "run") is None and read_record(tmp_path / "run", FAILED_JOB_FILE) == record()


def test_an_unreadable_record_counts_as_none(tmp_path, caplog):
    (tmp_path / JOB_FILE).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="benchmark"):
        assert read_record(tmp_path) is None
    assert "unreadable job record" in caplog.text


def test_local_jobs_are_running_while_their_process_lives_and_ended_after(tmp_path):
    # submitit's local job id is its controller's pid; "submitit" in the command line tells it from a reused pid
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(60)", "submitit"])
    try:
        alive = record(str(proc.pid), cluster="local", log_folder=str(tmp_path))
        mine = record(str(os.getpid()), cluster="local", log_folder=str(tmp_path))  # not a job
        assert [state.active for state in probe([alive, mine])] == [True, False]
    finally:
        proc.kill()
        proc.wait()
    assert probe([alive]) == [JobState(False, "ENDED")]


def test_a_job_that_left_its_result_has_ended_and_its_error_is_quoted(tmp_path):
    from submitit.core.utils import cloudpickle_dump

    rec = record("7", cluster="slurm", log_folder=str(tmp_path))  # no sacct call: the result file decides
    trace = ('Traceback (most recent call last):\n  File "x.py", line 1, in f\n    raise RunFailed(...)\n'
             "upstream_distill.benchmark.runs.RunFailed: exit code 1; see /exp/ks/train.log. Last lines:\n"
             "ValueError: no audio\n")
    cloudpickle_dump(("error", trace), rec.result_file())
    [state] = probe([rec])
    assert state == JobState(False, "COMPLETED")
    text = failure_text(rec, state)
    assert "RunFailed: exit code 1; see /exp/ks/train.log" in text and "ValueError: no audio" in text
    assert 'File "x.py"' not in text
    assert "killed by the scheduler" in failure_text(record(log_folder=str(tmp_path / "none")), ENDED)
    assert raised_message("no traceback\nat all") == ["no traceback", "at all"]


class Scheduler:
    """A fake scheduler: ``submit`` hands out job ids, ``states`` is what probe would say of each."""

    def __init__(self):
        self.submitted, self.states = [], {}

    def submit(self, target: Target) -> JobRecord:
        job_id = str(100 + len(self.submitted))
        self.submitted.append(target.name)
        self.states[job_id] = RUNNING
        return record(job_id, target.protocol, log_folder=str(target.folder / "submitit"))

    def probe(self, records):
        return [self.states[r.job_id] for r in records]


def target(tmp_path: Path, name: str, finished: set) -> Target:
    folder = tmp_path / name
    return Target(name, "ks", folder, "p1", lambda: name in finished, lambda: folder.mkdir(exist_ok=True),
                  job=lambda: None)


def test_submitted_runs_are_not_submitted_again_and_failed_ones_are_by_the_next_command(tmp_path, monkeypatch, caplog):
    scheduler, finished = Scheduler(), set()
    monkeypatch.setattr(stock, "probe", scheduler.probe)
    caplog.set_level(logging.INFO, logger="benchmark")
    targets = [target(tmp_path, "a", finished), target(tmp_path, "b", finished)]

    def command():
        caplog.clear()
        entries = stock.survey(targets)
        return [entry.status for entry in entries], stock.act(entries, scheduler.submit)

    statuses, tally = command()  # 1: both submitted
    assert statuses == [Status.SUBMIT] * 2 and tally.submitted == ["a", "b"] and scheduler.submitted == ["a", "b"]
    assert read_record(tmp_path / "a").job_id == "100"

    statuses, tally = command()  # 2: both still running: nothing submitted
    assert statuses == [Status.ACTIVE] * 2 and tally.running == ["a", "b"] and len(scheduler.submitted) == 2
    assert "a: still running as job 100 (RUNNING)" in caplog.text

    finished.add("a")  # a wrote its score; b's job died
    scheduler.states["101"] = ENDED
    statuses, tally = command()  # 3: b reported, with its logs, and not yet resubmitted
    assert statuses == [Status.DONE, Status.FAILED] and tally.failed == ["b"] and len(scheduler.submitted) == 2
    assert "b FAILED: job 101" in caplog.text and str(tmp_path / "b" / "submitit" / "101_0_log.err") in caplog.text
    assert "resubmitted by the next run_benchmark.py" in caplog.text

    statuses, tally = command()  # 4: b submitted again
    assert statuses == [Status.DONE, Status.SUBMIT] and scheduler.submitted == ["a", "b", "b"]
    assert "b: submitted as job 102, again after job 101 failed" in caplog.text


def test_a_refused_submission_is_a_failure_and_the_others_still_go(tmp_path, monkeypatch):
    scheduler = Scheduler()

    def submit(t):
        if t.name == "a":
            raise RuntimeError("sbatch: error: invalid partition specified: gpu")
        return scheduler.submit(t)

    tally = stock.act(stock.survey([target(tmp_path, "a", set()), target(tmp_path, "b", set())]), submit)
    assert tally.failed == ["a"] and tally.submitted == ["b"] and read_record(tmp_path / "a") is None


def test_a_run_another_command_is_training_is_left_to_it(tmp_path):
    scheduler = Scheduler()
    busy = Target("a", "ks", tmp_path / "a", "p1", lambda: False, lambda: None, job=lambda: None, busy=lambda: True)
    tally = stock.act(stock.survey([busy]), scheduler.submit)
    assert tally.left == ["a"] and scheduler.submitted == []
