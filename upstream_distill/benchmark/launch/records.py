"""The record of a submitted job, ``job.json`` in the folder of what it runs (a task run, a distillation).

A command that finds a record of a job still queued or running does not submit that run again. A job
that ended without leaving its result has its record renamed ``job.failed.json`` by the command that
reports it: the next command then finds no record and submits the run again, and the failed job's logs
stay named there.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Tuple

from ..report import atomic_write

LOG = logging.getLogger("benchmark")
JOB_FILE = "job.json"
FAILED_JOB_FILE = "job.failed.json"
#: submitit's folder of a job's pickles and logs, inside the folder of what it runs
SUBMITIT_FOLDER = "submitit"


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    cluster: str  # submitit's executor: "slurm" or "local"
    log_folder: str  # submitit's folder: <job_id>_submitted.pkl, <job_id>_0_log.{out,err}, <job_id>_0_result.pkl
    protocol: str  # the run's protocol when it was submitted ("" for a distillation)
    submitted: str  # ISO time, for the reader

    def log_paths(self) -> Tuple[Path, Path]:
        """submitit's stderr and stdout files of the job (its first task)."""
        from submitit.core.utils import JobPaths

        paths = JobPaths(self.log_folder, job_id=self.job_id, task_id=0)
        return paths.stderr, paths.stdout

    def result_file(self) -> Path:
        """Where the job leaves its outcome (success or the error's trace) when its function returned or raised."""
        from submitit.core.utils import JobPaths

        return JobPaths(self.log_folder, job_id=self.job_id, task_id=0).result_pickle


def write_record(folder: Path, record: JobRecord) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / JOB_FILE
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(asdict(record), indent=2) + "\n"))
    return path


def read_record(folder: Path, name: str = JOB_FILE) -> Optional[JobRecord]:
    """The record in ``folder``, or None; an unreadable one is said and counts as none."""
    path = folder / name
    if not path.is_file():
        return None
    try:
        return JobRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        LOG.warning("%s: unreadable job record (%s); counted as no job", path, err)
        return None


def retire_failed(folder: Path) -> Path:
    """Rename the record of a job that failed to ``job.failed.json``: the next command submits the run again."""
    target = folder / FAILED_JOB_FILE
    os.replace(folder / JOB_FILE, target)
    return target
