"""The default mode: distil the requested students, score every row on the tasks, redraw the tables.

Before anything runs, the command says its plan (students to distil, runs to train, runs done) and then
keeps one progress bar over all of it, with an ETA from the runs it has timed (progress.py). A failed
run or distillation is reported with its log and makes the command exit non-zero; the other runs still
go ahead and the tables show what finished.
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tqdm.contrib.logging import logging_redirect_tqdm

from ..layers import upstream_layer_weights
from ..measure import UnusableUpstream, UpstreamMeasures, measure_upstream, relative_speeds
from ..plan import DISTIL_KIND, BenchmarkPlan, folds_of, plan_runs
from ..probe_env import row_facts
from ..progress import BenchmarkProgress, StepTimes
from ..protocol import PROTOCOL_THREADS, current_task_configs
from ..publish import TableUpdate, publish
from ..rows import SeedSpread, make_row
from ..runs import RunFailed, TaskRun, claim, execute
from ..seeds import summarize
from ..upstream_spec import UpstreamSpec
from .distill import distil_kind, distil_student, students_root
from .requested import Requested, corpus_of, ensure_corpus
from .tables import refuse_unknown_drops

LOG = logging.getLogger("benchmark")


def _fold_mean(records: List[dict], key: str) -> float:
    """One seed's score of a task: the mean over its ER folds (one record elsewhere), summed as it always was."""
    values = [record[key] for record in records]
    return sum(values) / len(values)


def collect_row(spec: UpstreamSpec, runs: List[TaskRun], measures: UpstreamMeasures, preset: str,
                speedup: Optional[float] = None) -> dict:
    """Task scores of one upstream: per probe seed the mean over its ER folds, then the mean (and sd) over
    the seeds; a task counts only when every run planned for it finished, unfinished tasks stay empty."""
    planned: Dict[str, int] = {}
    scores: Dict[str, Dict[int, List[dict]]] = {}  # task -> seed -> score records of its runs (ER: folds)
    configs: Dict[str, str] = {}
    threads = PROTOCOL_THREADS
    for run in runs:
        if run.upstream != spec:
            continue
        planned[run.task.name] = planned.get(run.task.name, 0) + 1
        threads = run.threads  # one command, one thread count
        if run.done():
            scores.setdefault(run.task.name, {}).setdefault(run.seed, []).append(run.load_score())
            configs[run.task.name] = run.protocol.task_config
    finished = {task: by_seed for task, by_seed in scores.items()
                if sum(map(len, by_seed.values())) == planned[task]}
    percents: Dict[str, float] = {}
    cers: Dict[str, float] = {}
    spread = SeedSpread()
    for task, by_seed in finished.items():
        summary = summarize([_fold_mean(records, "percent") for records in by_seed.values()])
        percents[task], spread.counts[task] = summary.mean, summary.n
        if summary.sd is not None:
            spread.sds[task] = summary.sd
        if all("cer" in record for records in by_seed.values() for record in records):  # ASR tasks: no folds
            cer = summarize([_fold_mean(records, "cer") for records in by_seed.values()])
            cers[task] = cer.mean
            if cer.sd is not None:
                spread.cer_sds[task] = cer.sd
    configs = {task: digest for task, digest in configs.items() if task in percents}
    records = [record for by_seed in finished.values() for records in by_seed.values() for record in records]
    row = make_row(spec.label, measures.params_m, percents, preset, cers, configs, measures.macs_g, spread,
                   row_facts(records, threads))
    if speedup is not None:
        row["speedup_vs_teacher"] = round(speedup, 2)
    return row


def _measure(spec: UpstreamSpec) -> UpstreamMeasures:
    try:
        return measure_upstream(spec)
    except UnusableUpstream as err:
        raise SystemExit(f"run_benchmark.py: error: {err}") from None


def _export_stamp(spec: UpstreamSpec) -> Optional[Tuple[int, int]]:
    """When and how big a student's export is: a check that re-distilled it changes this."""
    path = Path(spec.ckpt) if spec.ckpt else None
    if path is None or not path.is_file():
        return None
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


class _Scoring:
    """One scoring command's state: the rows, their measures and runs, as the plan unfolds."""

    def __init__(self, args: argparse.Namespace, requested: Requested):
        self.args = args
        self.runs_root = args.exp_root / args.preset
        self.students = requested.students
        self.spec_of = {r.name: r.upstream(students_root(args), args.preset) for r in self.students}
        self.specs = requested.specs(students_root(args), args.preset)
        self.kinds = {recipe.name: distil_kind(recipe, args) for recipe in self.students}
        waiting = {self.spec_of[name] for name, kind in self.kinds.items() if kind == DISTIL_KIND}
        self.measures = {spec: _measure(spec) for spec in self.specs if spec not in waiting}
        self.stamps = {spec: _export_stamp(spec) for spec in self.measures}
        self.runs = self._plan([spec for spec in self.specs if spec in self.measures])
        self.runs_per_row = [name for name in args.tasks for _ in range(args.probe_seeds)
                             for _ in folds_of(name, args.er_folds)]
        self.plan = BenchmarkPlan(
            to_distil=[name for name, kind in self.kinds.items() if kind == DISTIL_KIND],
            distilled=[name for name, kind in self.kinds.items() if kind != DISTIL_KIND],
            runs=self.runs, runs_of_students_to_distil=self.runs_per_row * len(waiting))

    def _plan(self, specs: List[UpstreamSpec]) -> List[TaskRun]:
        fingerprints = {spec: self.measures[spec].fingerprint for spec in specs}
        return plan_runs(specs, self.args.tasks, self.args.er_folds, self.runs_root, self.args.preset, fingerprints,
                         self.args.task_overrides, self.args.probe_seeds, self.args.probe_threads)

    def replan(self, spec: UpstreamSpec, progress: BenchmarkProgress) -> None:
        """After a student's distillation: measure it when its weights are new, and plan its runs again."""
        if spec in self.measures and _export_stamp(spec) == self.stamps[spec]:
            return
        old = [run for run in self.runs if run.upstream == spec]
        for kind in [run.task.name for run in old if not run.done()] if old else self.runs_per_row:
            progress.skip(kind)
        self.measures[spec], self.stamps[spec] = _measure(spec), _export_stamp(spec)
        new = self._plan([spec])
        self.runs = [run for run in self.runs if run.upstream != spec] + new
        progress.add([run.task.name for run in new if not run.done()])

    def drop_student(self, name: str, progress: BenchmarkProgress) -> None:
        """A failed distillation: no row, and none of its runs."""
        spec = self.spec_of[name]
        self.specs.remove(spec)
        if spec not in self.measures:
            for kind in self.runs_per_row:
                progress.skip(kind)
        else:
            for run in self.runs:
                if run.upstream == spec and not run.done():
                    progress.skip(run.task.name)
            self.runs = [run for run in self.runs if run.upstream != spec]
            del self.measures[spec]


def _train(run: TaskRun, progress: BenchmarkProgress, preset: str, corpus: Path) -> bool:
    """Train and score one run unless another command has it; False when it failed."""
    with claim(run) as mine:
        if not mine or run.done():  # another command is running it, or finished it meanwhile
            LOG.warning("%s: %s by another benchmark command; not run here", run.name,
                        "being run" if not mine else "finished")
            progress.skip(run.task.name)
            return True
        LOG.info("%s: training and scoring (logs in %s)", run.name, run.expdir)
        try:
            with progress.step(run.task.name, run.name):
                record = execute(run, preset, corpus)
        except RunFailed as err:
            LOG.error("%s FAILED: %s", run.name, err)
            return False
    LOG.info("%s: %s %s = %.4g (train %.0fs, test %.0fs)", run.name, record["split"], record["metric"],
             record["value"], record["train_seconds"], record["eval_seconds"])
    return True


def score(args: argparse.Namespace) -> int:
    requested = Requested.from_args(args)
    refuse_unknown_drops(args)
    corpus = corpus_of(args)
    ensure_corpus(args, corpus)
    scoring = _Scoring(args, requested)
    for line in scoring.plan.describe():
        LOG.info("plan: %s", line)
    failures = []
    progress = BenchmarkProgress(scoring.plan.step_kinds(), StepTimes.of_finished_runs(scoring.runs_root))
    try:
        with logging_redirect_tqdm():
            for recipe in scoring.students:
                try:
                    with progress.step(scoring.kinds[recipe.name], f"distil {recipe.name}"):
                        distil_student(recipe, args, corpus)
                except RunFailed as err:
                    LOG.error("student %s FAILED: %s", recipe.name, err)
                    failures.append(recipe.name)
                    scoring.drop_student(recipe.name, progress)
                    continue
                scoring.replan(scoring.spec_of[recipe.name], progress)
            speedups = {}
            if args.speed_reference is not None and scoring.specs:
                speedups = relative_speeds(scoring.specs, args.speed_reference)
                LOG.info("speed vs %s on 10 s of audio: %s", args.speed_reference.label,
                         ", ".join(f"{spec.label} {x:.2f}x" for spec, x in speedups.items()))
            for run in [run for run in scoring.runs if not run.done()]:
                if not _train(run, progress, args.preset, corpus):
                    failures.append(run.name)
    finally:
        progress.close()

    def rows():
        return [collect_row(spec, scoring.runs, scoring.measures[spec], args.preset, speedups.get(spec))
                for spec in scoring.specs]

    def layer_weights():
        return {spec.label: upstream_layer_weights([r for r in scoring.runs if r.upstream == spec])
                for spec in scoring.specs}

    update = TableUpdate(collect_rows=rows, measured=args.tasks, drop=args.drop,
                         collect_layer_weights=layer_weights, studies=requested.studies)
    current = current_task_configs(args.preset, args.task_overrides, args.probe_threads)
    written = publish(args.results / args.preset, args.preset, update, current)
    LOG.info("wrote %s", ", ".join(str(p) for p in written))
    if failures:
        LOG.error("%d run(s) failed: %s", len(failures), ", ".join(failures))
        return 1
    return 0
