"""What a scoring command will do, said before it starts: students to distil, runs to train, runs done.

A run is (upstream, task, ER fold, probe seed), tied to its protocol; it is done when it left a score
under that protocol. The runs of a student still to be distilled are all to train: its weights do not exist yet.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

from ..s3prl_bridge.tasks import ALL_TASKS, ER_FOLDS
from .protocol import PROTOCOL_THREADS, RunProtocol, task_config_digest
from .runs import TaskRun, run_folder
from .upstream_spec import UpstreamSpec

#: the progress kind of a distillation (a task run's is its task's name)
DISTIL_KIND = "distil"
CHECK_KIND = "check distilled"


def folds_of(task: str, er_folds: int) -> Sequence:
    return ER_FOLDS[:er_folds] if task == "er" else (None,)


def plan_runs(upstreams: Sequence[UpstreamSpec], tasks: Sequence[str], er_folds: int, runs_root: Path,
              preset: str, fingerprints: Dict[UpstreamSpec, str],
              overrides: Optional[Mapping[str, str]] = None, seeds: int = 1,
              threads: int = PROTOCOL_THREADS) -> List[TaskRun]:
    """Every (upstream, task, probe seed, ER fold) run, each tied to its task config (with the task's
    ``--task-override`` pairs, which it runs with, and the probe's thread count), upstream weights and seed."""
    overrides = overrides or {}
    configs = {name: task_config_digest(ALL_TASKS[name], preset, overrides.get(name), threads) for name in tasks}
    return [TaskRun(spec, ALL_TASKS[name], fold, run_folder(runs_root, spec.label, name, fold, seed),
                    RunProtocol(configs[name], fingerprints[spec], seed), overrides.get(name), threads, seed)
            for spec in upstreams for name in tasks for seed in range(1, seeds + 1)
            for fold in folds_of(name, er_folds)]


@dataclass(frozen=True)
class BenchmarkPlan:
    to_distil: List[str]  # students whose distillation is not finished
    distilled: List[str]  # students found distilled (run_pretrain.py checks them again, quickly)
    runs: List[TaskRun]  # the runs of the upstreams whose weights exist now
    runs_of_students_to_distil: List[str]  # their task names, one per run (all to train)

    @property
    def todo(self) -> List[TaskRun]:
        return [run for run in self.runs if not run.done()]

    def step_kinds(self) -> List[str]:
        """The progress steps, in the order the command takes them."""
        return ([CHECK_KIND] * len(self.distilled) + [DISTIL_KIND] * len(self.to_distil)
                + self.runs_of_students_to_distil + [run.task.name for run in self.todo])

    def describe(self) -> List[str]:
        todo = self.todo
        lines = []
        if self.to_distil or self.distilled:
            lines.append(f"students: {len(self.to_distil)} to distil ({', '.join(self.to_distil) or 'none'}), "
                         f"{len(self.distilled)} distilled before ({', '.join(self.distilled) or 'none'})")
        pending = len(self.runs_of_students_to_distil)
        lines.append(f"{len(self.runs) + pending} task runs planned, {len(self.runs) - len(todo)} already finished "
                     f"(resumed), {len(todo) + pending} to do"
                     + (f" ({pending} of the students still to distil)" if pending else ""))
        redone = [run.name for run in todo if run.score_file.is_file()]
        if redone:
            lines.append("scored under another task config, featurizer protocol, probe thread count or upstream "
                         "weights, so redone: " + ", ".join(redone))
        return lines
