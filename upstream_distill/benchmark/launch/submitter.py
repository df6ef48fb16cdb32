"""Submitting one target as a submitit job, with the resources of its section of the launcher config."""
from __future__ import annotations

import re
from datetime import datetime

from .config import LauncherConfig
from .records import SUBMITIT_FOLDER, JobRecord
from .targets import Target

#: --launcher -> submitit's executor; submitit-local runs each job as a process of this machine, for tests
CLUSTERS = {"slurm": "slurm", "submitit-local": "local"}


class LauncherUnavailable(RuntimeError):
    """The launcher cannot submit from this machine; the message names the flag."""


def job_name(target: Target) -> str:
    """A Slurm job name (squeue shows it): ``bench-fbank-er-fold1``."""
    return "bench-" + re.sub(r"[^A-Za-z0-9_.-]+", "-", target.name).strip("-")


class Submitter:
    def __init__(self, launcher: str, config: LauncherConfig):
        self.launcher, self.cluster, self.config = launcher, CLUSTERS[launcher], config
        if self.cluster == "slurm":
            from submitit import SlurmExecutor

            if SlurmExecutor.affinity() <= 0:
                raise LauncherUnavailable("--launcher slurm: no Slurm here (srun is not on the PATH): run the "
                                          "command on a login node of the cluster")

    def submit(self, target: Target) -> JobRecord:
        import submitit

        folder = target.folder / SUBMITIT_FOLDER
        executor = submitit.AutoExecutor(folder=folder, cluster=self.cluster)
        executor.update_parameters(name=job_name(target), **self.config.parameters(target.kind))
        job = executor.submit(target.job)
        return JobRecord(str(job.job_id), self.cluster, str(folder), target.protocol,
                         datetime.now().isoformat(timespec="seconds"))
