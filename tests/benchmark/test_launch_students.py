"""--launcher with a student not yet distilled: its distillation is submitted as a job, its task runs wait
for a later command, and the plan says so (the scheduler faked: nothing is trained here)."""
from __future__ import annotations

import logging

import cloudpickle

from upstream_distill.benchmark import cli
from upstream_distill.benchmark.launch import mode as launch_mode
from upstream_distill.benchmark.launch.jobs import DistilJob
from upstream_distill.benchmark.launch.records import JobRecord, read_record
from upstream_distill.benchmark.launch.submitter import Submitter


def test_a_new_student_is_distilled_as_a_job_before_its_runs_are_planned(tmp_path, monkeypatch, caplog):
    recipes = tmp_path / "students.yaml"
    recipes.write_text("students:\n  small_dh: {method: distilhubert}\n")
    submitted = []

    def submit(self, target):
        submitted.append(target)
        return JobRecord(str(len(submitted)), "local", str(target.folder / "submitit"), target.protocol, "now")

    monkeypatch.setattr(Submitter, "submit", submit)
    monkeypatch.setattr(launch_mode, "ensure_corpus", lambda preset, corpus: None)
    caplog.set_level(logging.INFO, logger="benchmark")
    code = cli.main(["--preset", "tiny", "-u", "fbank", "--student", "small_dh", "--recipes", str(recipes),
                     "--tasks", "ks,er", "--er-folds", "2", "--speed-reference", "none", "--launcher", "submitit-local",
                     "--corpus", str(tmp_path / "corpus"), "--exp-root", str(tmp_path / "exp"),
                     "--results", str(tmp_path / "results")])
    assert code == 0
    assert [t.name for t in submitted] == ["distil small_dh", "fbank/ks", "fbank/er/fold1", "fbank/er/fold2"]
    assert ("students to distil as jobs: small_dh (to submit); their 3 task runs are submitted by a later command"
            in caplog.text)
    assert "3 task runs planned: 0 finished, 0 still running, 0 failed, 3 to submit now" in caplog.text
    assert "0/6 task runs finished; run the same command again" in caplog.text
    student = tmp_path / "exp" / "students" / "tiny" / "small_dh"
    assert read_record(student).job_id == "1"
    job = cloudpickle.loads(cloudpickle.dumps(submitted[0].job))  # what submitit pickles for the job
    assert isinstance(job, DistilJob) and job.recipe.name == "small_dh" and job.students_root == student.parents[1]
