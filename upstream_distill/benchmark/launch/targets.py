"""What can be submitted as a job: a task run or a student's distillation, with what the bookkeeping
needs of each: its folder (for ``job.json`` and submitit's logs), whether it is finished, the protocol its
job must have been submitted under, and what to do to its folder just before a job is submitted."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..protocol import PROTOCOL_FILE
from ..runs import TaskRun, claim, set_aside
from ..students import StudentRecipe, changed_since_distilled, looks_distilled
from .config import DISTILL_SECTION
from .jobs import DistilJob, TaskRunJob


@dataclass(frozen=True)
class Target:
    name: str  # as the command reports it: fbank/ks, fbank/er/fold1, distil star_hubert
    kind: str  # its launcher config section: the task's name, or DISTILL_SECTION
    folder: Path  # job.json and submitit/ go here
    protocol: str  # a job submitted under another one does not count ("" for a distillation)
    done: Callable[[], bool]
    prepare: Callable[[], None]  # just before submitting: the folder as the job must find it
    job: Callable[[], object]  # what the job runs (pickled)
    busy: Callable[[], bool] = lambda: False  # another benchmark command is at it now, outside any job


def _prepare_run(run: TaskRun) -> None:
    """Set an older protocol's folder aside and write protocol.txt now, not in the job: the job's
    ``execute`` would otherwise take the folder, which holds job.json and submitit's logs, for an old run."""
    if run.started_under_another_protocol():
        run.set_aside()
    run.expdir.mkdir(parents=True, exist_ok=True)
    (run.expdir / PROTOCOL_FILE).write_text(f"{run.protocol}\n")


def _being_trained(run: TaskRun) -> bool:
    """A command without --launcher holds the run's claim: a job would find it taken and fail."""
    with claim(run) as mine:
        return not mine


def run_target(run: TaskRun, preset: str, corpus: Path) -> Target:
    return Target(run.name, run.task.name, run.expdir, str(run.protocol), run.done, lambda: _prepare_run(run),
                  TaskRunJob(run, preset, corpus), lambda: _being_trained(run))


def _prepare_distillation(recipe: StudentRecipe, preset: str, corpus: Path, students_root: Path) -> None:
    """Set aside a distillation whose config changed or whose teacher (or other input) was replaced, as
    ``distil`` would in the job, with job.json and the logs inside it."""
    expdir = recipe.expdir(students_root, preset)
    if changed_since_distilled(recipe, preset, corpus, students_root):
        set_aside(expdir)
    expdir.mkdir(parents=True, exist_ok=True)


def distillation_target(recipe: StudentRecipe, preset: str, corpus: Path, students_root: Path) -> Target:
    expdir = recipe.expdir(students_root, preset)
    return Target(f"distil {recipe.name}", DISTILL_SECTION, expdir, "",
                  lambda: looks_distilled(recipe, preset, corpus, students_root),
                  lambda: _prepare_distillation(recipe, preset, corpus, students_root),
                  DistilJob(recipe, preset, corpus, students_root))
