"""What a job runs: the callables submitit pickles into the job's folder and calls on the compute node.

They do what the command's own loop does (runs.execute, students.distil), so a job's run folder is the
same as a local run's. They are Checkpointable: a job that reaches its time limit is requeued by submitit
(``slurm_max_num_timeout``, 3 by default) and calls the same callable again, which resumes from the run's
last checkpoint (s3prl's ``-a``, run_pretrain.py's own resume).
"""
from __future__ import annotations

from pathlib import Path

from submitit.helpers import Checkpointable

from ..runs import RunFailed, TaskRun, claim, execute
from ..students import StudentRecipe, distil


class TaskRunJob(Checkpointable):
    """Train and score one (upstream, task, fold) run; returns its score record."""

    def __init__(self, run: TaskRun, preset: str, corpus: Path):
        self.run, self.preset, self.corpus = run, preset, Path(corpus)

    def __call__(self) -> dict:
        run = self.run
        with claim(run) as mine:  # the lock a benchmark command's own loop takes too
            if not mine:
                raise RunFailed(f"{run.name}: another benchmark command is training it; this job did nothing")
            if run.done():  # finished meanwhile, e.g. by a command without --launcher
                return run.load_score()
            print(f"{run.name}: training and scoring (logs in {run.expdir})", flush=True)
            return execute(run, self.preset, self.corpus)


class DistilJob(Checkpointable):
    """Distil (or resume) one student; returns the path of its export."""

    def __init__(self, recipe: StudentRecipe, preset: str, corpus: Path, students_root: Path):
        self.recipe, self.preset, self.corpus, self.students_root = recipe, preset, Path(corpus), Path(students_root)

    def __call__(self) -> str:
        expdir = self.recipe.expdir(self.students_root, self.preset)
        print(f"student {self.recipe.name}: distilling (log in {expdir / 'benchmark_pretrain.log'})", flush=True)
        return str(distil(self.recipe, self.preset, self.corpus, self.students_root))
