"""The scoring mode with ``--launcher slurm``: submit every run as a job, collect the finished ones, redraw.

Each command submits the targets that are neither finished nor queued or running, reports the jobs that
are still running and those that failed (with their logs; the next command submits those again), and
writes the tables from the runs finished so far. It never waits: run the same command again to collect.

Students are distilled as jobs too: a student not yet distilled has its distillation submitted, and its
task runs are planned by a later command, once it is distilled (a run's protocol names the weights it
scores, which do not exist before). A new student thus takes three commands (distillation, task runs,
collection), an already distilled one two; the plan says which runs wait for a distillation.
"""
from __future__ import annotations

import argparse
import logging
from typing import List

from ..layers import upstream_layer_weights
from ..measure import relative_speeds
from ..modes.distill import students_root
from ..modes.requested import Requested, corpus_of, ensure_corpus
from ..modes.score import _Scoring, collect_row
from ..modes.tables import refuse_unknown_drops
from ..plan import DISTIL_KIND
from ..protocol import current_task_configs
from ..publish import TableUpdate, publish
from ..students import publish_run_figures
from .config import LauncherConfigError, read_launcher_config
from .status import Status
from .stock import Entry, Tally, act, survey
from .submitter import LauncherUnavailable, Submitter
from .targets import distillation_target, run_target

LOG = logging.getLogger("benchmark")


def _count(entries: List[Entry], status: Status) -> int:
    return sum(entry.status is status for entry in entries)


def describe(distillations: List[Entry], runs: List[Entry], waiting: int, launcher: str, source) -> List[str]:
    """The plan, before anything is submitted."""
    lines = [f"--launcher {launcher}: every run is a job (resources from {source}); this command submits and "
             "returns, the same command run again collects"]
    if distillations:
        said = ", ".join(f"{entry.target.name.split(' ', 1)[1]} ({entry.status.value})" for entry in distillations)
        lines.append(f"students to distil as jobs: {said}; their {waiting} task runs are submitted by a later "
                     "command, once they are distilled")
    failed = _count(runs, Status.FAILED)
    lines.append(f"{len(runs)} task runs planned: {_count(runs, Status.DONE)} finished, "
                 f"{_count(runs, Status.ACTIVE)} still running, {failed} failed"
                 + (" (reported below; the next command submits them again)" if failed else "")
                 + f", {_count(runs, Status.SUBMIT)} to submit now")
    return lines


def summary(tally: Tally, runs: List[Entry], waiting: int) -> str:
    finished = _count(runs, Status.DONE)
    text = (f"jobs: {len(tally.submitted)} submitted, {len(tally.running)} still running, {len(tally.failed)} "
            f"failed; {finished}/{len(runs) + waiting} task runs finished")
    if tally.submitted or tally.running or tally.failed or waiting:
        text += "; run the same command again to collect what finishes" + (
            " and to resubmit what failed" if tally.failed else "")
    return text


def score_with_jobs(args: argparse.Namespace) -> int:
    requested = Requested.from_args(args)
    refuse_unknown_drops(args)
    try:
        config = read_launcher_config(args.launcher_config)
        submitter = Submitter(args.launcher, config)
    except (LauncherConfigError, LauncherUnavailable) as err:
        raise SystemExit(f"run_benchmark.py: error: {err}") from None
    corpus = corpus_of(args)
    ensure_corpus(args, corpus)
    scoring = _Scoring(args, requested)  # measures the upstreams whose weights exist, plans their runs
    root = students_root(args)
    to_distil = [recipe for recipe in scoring.students if scoring.kinds[recipe.name] == DISTIL_KIND]
    waiting = len(scoring.runs_per_row) * len(to_distil)
    distillations = survey([distillation_target(recipe, args.preset, corpus, root) for recipe in to_distil])
    runs = survey([run_target(run, args.preset, corpus) for run in scoring.runs])
    for line in describe(distillations, runs, waiting, args.launcher, config.source):
        LOG.info("plan: %s", line)
    tally = act(distillations + runs, submitter.submit)

    for recipe in scoring.students:
        if recipe not in to_distil:  # the figures its distillation drew, as the command's own loop publishes
            for figure in publish_run_figures(recipe.expdir(root, args.preset), recipe.name,
                                              args.results / args.preset):
                LOG.info("student %s: %s", recipe.name, figure)
    scored = [spec for spec in scoring.specs if spec in scoring.measures]  # a student to distil has no row yet
    speedups = {}
    if args.speed_reference is not None and scored:
        speedups = relative_speeds(scored, args.speed_reference)

    def rows():
        return [collect_row(spec, scoring.runs, scoring.measures[spec], args.preset, speedups.get(spec))
                for spec in scored]

    def layer_weights():
        return {spec.label: upstream_layer_weights([r for r in scoring.runs if r.upstream == spec]) for spec in scored}

    update = TableUpdate(collect_rows=rows, measured=args.tasks, drop=args.drop,
                         collect_layer_weights=layer_weights, studies=requested.studies)
    # the digests this command's runs are planned under: its overrides and probe threads included
    current = current_task_configs(args.preset, args.task_overrides, args.probe_threads)
    written = publish(args.results / args.preset, args.preset, update, current)
    LOG.info("wrote %s", ", ".join(str(p) for p in written))
    LOG.info("%s", summary(tally, runs, waiting))
    if tally.failed:
        LOG.error("%d job(s) failed: %s", len(tally.failed), ", ".join(tally.failed))
        return 1
    return 0
