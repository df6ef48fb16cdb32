"""``--distill-only``: distil the students of ``--student``/``--study`` and stop; scoring them is the same
command without the flag (a finished student is not redone)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from ..plan import CHECK_KIND, DISTIL_KIND
from ..progress import BenchmarkProgress, StepTimes
from ..runs import RunFailed
from ..students import StudentRecipe, distil, looks_distilled, publish_run_figures
from .requested import Requested, corpus_of, ensure_corpus

LOG = logging.getLogger("benchmark")


def students_root(args: argparse.Namespace) -> Path:
    return args.exp_root / "students"


def distil_student(recipe: StudentRecipe, args: argparse.Namespace, corpus: Path) -> None:
    """Distil (or resume, or find finished) one student, then publish the figures its run drew."""
    root = students_root(args)
    LOG.info("student %s: distilling (%s)", recipe.name, recipe.expdir(root, args.preset))
    distil(recipe, args.preset, corpus, root)
    for figure in publish_run_figures(recipe.expdir(root, args.preset), recipe.name, args.results / args.preset):
        LOG.info("student %s: %s", recipe.name, figure)


def distil_kind(recipe: StudentRecipe, args: argparse.Namespace) -> str:
    """A student found distilled is only checked again (run_pretrain.py returns at once): another kind of
    step for the ETA than a distillation."""
    return CHECK_KIND if looks_distilled(recipe, args.preset, corpus_of(args), students_root(args)) else DISTIL_KIND


def distill_only(args: argparse.Namespace) -> int:
    requested = Requested.from_args(args)
    corpus = corpus_of(args)
    ensure_corpus(args, corpus)
    kinds = {recipe.name: distil_kind(recipe, args) for recipe in requested.students}
    to_distil = [name for name, kind in kinds.items() if kind == DISTIL_KIND]
    LOG.info("plan: students: %d to distil (%s), %d distilled before", len(to_distil), ", ".join(to_distil) or "none",
             len(kinds) - len(to_distil))
    failures = []
    progress = BenchmarkProgress(list(kinds.values()), StepTimes())
    try:
        with logging_redirect_tqdm():
            for recipe in requested.students:
                try:
                    with progress.step(kinds[recipe.name], f"distil {recipe.name}"):
                        distil_student(recipe, args, corpus)
                except RunFailed as err:
                    LOG.error("student %s FAILED: %s", recipe.name, err)
                    failures.append(recipe.name)
    finally:
        progress.close()
    distilled = [name for name in kinds if name not in failures]
    LOG.info("--distill-only: distilled %s; not scored", ", ".join(distilled) or "nothing")
    if failures:
        LOG.error("%d student(s) failed: %s", len(failures), ", ".join(failures))
    return 1 if failures else 0
