"""The rows a command was asked for: ``-u`` upstreams, ``--student`` recipes and the rows of ``--study``."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Union

from ...core.paths import default_corpus_dir
from ...s3prl_bridge.real_corpora import RealCorpora
from ...s3prl_bridge.tasks import REAL_CORPORA_PRESET
from ..corpus_check import real_corpora_problems
from ..students import Recipes, StudentRecipe, Study, read_recipes
from ..upstream_spec import UpstreamSpec


@dataclass(frozen=True)
class Requested:
    upstreams: List[UpstreamSpec]  # -u, in order
    recipes: Optional[Recipes]  # read when a student or study was named
    studies: List[Study]
    names: List[str]  # --student names, then every study's rows, each once

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Requested":
        recipes = read_recipes(args.recipes) if args.student or args.study else None
        studies = [recipes.study(name) for name in args.study]
        names = [recipes.student(name).name for name in args.student] + [row for s in studies for row in s.rows]
        return cls(list(args.upstreams), recipes, studies, list(dict.fromkeys(names)))

    @property
    def students(self) -> List[StudentRecipe]:
        """The named rows that are recipes, to distil before scoring."""
        return [self.recipes.student(name) for name in self.names if self.recipes and name in self.recipes.students]

    def specs(self, students_root: Path, preset: str) -> List[UpstreamSpec]:
        """Every row to score: the -u upstreams, then the named rows (a recipe's export, or a hub name)."""
        named = [self.recipes.student(name).upstream(students_root, preset)
                 if self.recipes and name in self.recipes.students else UpstreamSpec.parse(name)
                 for name in self.names]
        return list(dict.fromkeys(self.upstreams + named))


def corpus_of(args: argparse.Namespace) -> Union[Path, RealCorpora]:
    """The embedded corpus's folder, or the real corpora of ``--preset superb``."""
    if args.preset == REAL_CORPORA_PRESET:
        return RealCorpora.from_args(args)
    return args.corpus or default_corpus_dir(args.preset)


def ensure_corpus(args: argparse.Namespace, corpus: Union[Path, RealCorpora]) -> None:
    """Build the embedded corpus when it is missing; check every path of the real corpora that a planned run
    reads, before any runs (SystemExit naming each missing one with its flag)."""
    import logging

    log = logging.getLogger("benchmark")
    if isinstance(corpus, RealCorpora):
        problems = real_corpora_problems(corpus, args.tasks, args.er_folds, args.task_overrides)
        if problems:
            raise SystemExit("run_benchmark.py: error: the real corpora lack what the planned runs read:\n  "
                             + "\n  ".join(problems))
        log.info("corpora (preset %s): %s", args.preset, " ".join(corpus.flags()))
        return
    from ...mini_superb import build_corpus

    log.info("corpus: %s (preset %s)", corpus, args.preset)
    build_corpus(args.preset, corpus)
