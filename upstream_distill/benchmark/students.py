"""Students the benchmark distils before scoring them (``pretrain/students.yaml``).

``run_benchmark.py --student NAME`` runs ``run_pretrain.py`` for the recipe NAME as a
subprocess (``--preset``, ``--cache-teacher``, the recipe's ``-g``/``-o``) into
``exp/benchmark/students/<preset>/NAME/``, then scores ``distill_student -k .../upstream.pt`` under
the row name NAME. An interrupted distillation resumes from its last checkpoint; a finished
one returns at once, so re-running the benchmark redoes nothing. A run whose config has changed
since it began (the method's YAML or preset, the recipe's ``-o``) or whose teacher (or other input
file) was since replaced behind the same path is moved to ``NAME.superseded/`` and distilled
afresh. A row ``int8_of: ROW`` is ROW's student quantised to int8 by ``run_export.py --format int8``
(ROW distilled first if needed), scored the same way. ``--study NAME`` does the same for every row of a study and writes its own table
(``results/<preset>/NAME.md``).
"""
from __future__ import annotations

import logging
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional

import yaml

from ..commands.pretrain import changed_runs
from ..core.atomic_files import write_atomically
from ..core.errors import ConfigError
from ..core.paths import DATA_ROOT, PRETRAIN_ROOT, STUDENT_RECIPES
from ..training.config import INPUT_FILES_KEY
from ..training.runner import EXPORT_NAME  # what run_pretrain.py leaves in the experiment folder
from .runs import RunFailed, run_logged, set_aside
from .upstream_spec import UpstreamSpec

LOG = logging.getLogger("benchmark")

#: ``run_pretrain.py`` as a module, so that it runs from a checkout and from an installed package alike
RUN_PRETRAIN = ("-m", "upstream_distill.commands.pretrain")
RUN_EXPORT = ("-m", "upstream_distill.export.cli")
STUDENT_UPSTREAM = "distill_student"


@dataclass(frozen=True)
class StudentRecipe:
    name: str
    method: Optional[str] = None  # pretrain/<method>/; None for an int8 row (int8_of)
    config: Optional[str] = None
    override: Optional[str] = None
    cache_teacher: bool = True  # false for objectives that need attention maps or unit logits
    seed: Optional[int] = None  # run_pretrain.py --seed; a second seed of a recipe measures distillation noise
    int8_of: Optional[str] = None  # this row is that student row's int8 version (run_export.py --format int8)
    base: Optional["StudentRecipe"] = None  # int8_of's recipe, resolved by read_recipes

    def expdir(self, exp_root: Path, preset: str) -> Path:
        return exp_root / preset / self.name

    def pretrain_command(self, preset: str, corpus: Path, expdir: Path) -> List[str]:
        return [sys.executable, *RUN_PRETRAIN, *self.pretrain_args(preset, corpus, expdir)]

    def pretrain_args(self, preset: str, corpus: Path, expdir: Path) -> List[str]:
        """``run_pretrain.py``'s flags for this recipe."""
        cmd = ["-u", self.method, "--preset", preset, "--corpus", str(corpus), "-p", str(expdir)]
        overrides = [self.override] if self.override else []
        if self.cache_teacher:
            # one cache for all students of the preset: it is keyed by teacher file, layers and corpus
            cmd.append("--cache-teacher")
            overrides.insert(0, f"config.model.teacher.cache_dir='{expdir.parent / 'teacher_cache'}'")
        if self.config:
            cmd += ["-g", str(DATA_ROOT / self.config)]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        if overrides:
            cmd += ["-o", ",,".join(overrides)]
        return cmd

    def export(self, exp_root: Path, preset: str) -> Path:
        """The student file a finished distillation leaves."""
        return self.expdir(exp_root, preset) / EXPORT_NAME

    def upstream(self, exp_root: Path, preset: str) -> UpstreamSpec:
        return UpstreamSpec(STUDENT_UPSTREAM, str(self.export(exp_root, preset)), alias=self.name)


@dataclass(frozen=True)
class Study:
    name: str
    title: str
    rows: Dict[str, str]  # row name (student or upstream) -> its description


@dataclass(frozen=True)
class Recipes:
    students: Dict[str, StudentRecipe]
    studies: Dict[str, Study]
    source: Path

    def student(self, name: str) -> StudentRecipe:
        if name not in self.students:
            raise SystemExit(f"run_benchmark.py: error: --student: unknown student {name!r}; "
                             f"{self.source} has {', '.join(self.students) or 'none'}")
        return self.students[name]

    def study(self, name: str) -> Study:
        if name not in self.studies:
            raise SystemExit(f"run_benchmark.py: error: --study: unknown study {name!r}; "
                             f"{self.source} has {', '.join(self.studies) or 'none'}")
        return self.studies[name]


def read_recipes(path: Path = STUDENT_RECIPES) -> Recipes:
    """The recipes file; a student whose method has no ``pretrain/<method>/`` is refused."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"run_benchmark.py: error: --recipes: {path} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        students = {name: StudentRecipe(name=name, **{k: v for k, v in fields.items() if k != "base"})
                    for name, fields in (data.get("students") or {}).items()}
        studies = {name: Study(name=name, title=fields["title"], rows=dict(fields["rows"]))
                   for name, fields in (data.get("studies") or {}).items()}
    except (TypeError, KeyError) as err:
        raise SystemExit(f"run_benchmark.py: error: {path}: {err}") from None
    for name, recipe in list(students.items()):
        if recipe.int8_of is not None:
            base = students.get(recipe.int8_of)
            if base is None or base.int8_of is not None or recipe.method is not None:
                raise SystemExit(f"run_benchmark.py: error: {path}: student {name}: int8_of must name a distilled "
                                 f"student row of the file (and the row has no method of its own)")
            students[name] = replace(recipe, base=base)
            continue
        if recipe.method is None:
            raise SystemExit(f"run_benchmark.py: error: {path}: student {name}: no method (or int8_of)")
        if not (PRETRAIN_ROOT / recipe.method / "pretrain_expert.py").is_file():
            raise SystemExit(f"run_benchmark.py: error: {path}: student {recipe.name}: no method "
                             f"pretrain/{recipe.method}/")
        if recipe.seed is not None and (isinstance(recipe.seed, bool) or not isinstance(recipe.seed, int)):
            raise SystemExit(f"run_benchmark.py: error: {path}: student {recipe.name}: seed must be an integer, "
                             f"not {recipe.seed!r}")
        if recipe.config and not (DATA_ROOT / recipe.config).is_file():
            raise SystemExit(f"run_benchmark.py: error: {path}: student {recipe.name}: config "
                             f"{recipe.config} does not exist")
    return Recipes(students, studies, path)


#: figures a distillation leaves in its folder (or a pipeline's stage folders) that the tables show
RUN_FIGURES = ("pruned_shape.png", "sparsity.png", "layer_groups.png")


def changed_since_distilled(recipe: StudentRecipe, preset: str, corpus: Path, exp_root: Path) -> List[str]:
    """What changed since the recipe's run began, so that ``run_pretrain.py`` would refuse to resume it:
    ``"model.teacher.checkpoint replaced"``, ``"config.model.pruning.gate_lr changed"``, ..."""
    expdir = recipe.expdir(exp_root, preset)
    try:
        changed = changed_runs(recipe.pretrain_args(preset, corpus, expdir))
    except ConfigError:  # a broken recipe: run_pretrain.py says what is wrong, in its log
        return []
    prefix = f"config.{INPUT_FILES_KEY}."
    keys = {key for differ in changed.values() for key in differ}
    return sorted(f"{key[len(prefix):]} replaced" if key.startswith(prefix) else f"{key} changed" for key in keys)


def looks_distilled(recipe: StudentRecipe, preset: str, corpus: Path, exp_root: Path) -> bool:
    """The recipe's export is there and its config and inputs unchanged: ``distil`` will most likely
    return at once (run_pretrain.py has the last word). For the benchmark's plan."""
    if recipe.base is not None:
        return looks_distilled(recipe.base, preset, corpus, exp_root) and _int8_is_current(recipe, preset, exp_root)
    return (recipe.export(exp_root, preset).is_file()
            and not changed_since_distilled(recipe, preset, corpus, exp_root))


def _int8_is_current(recipe: StudentRecipe, preset: str, exp_root: Path) -> bool:
    int8, source = recipe.export(exp_root, preset), recipe.base.export(exp_root, preset)
    return int8.is_file() and source.is_file() and int8.stat().st_mtime_ns >= source.stat().st_mtime_ns


def _quantize(recipe: StudentRecipe, preset: str, corpus: Path, exp_root: Path) -> Path:
    """An int8 row: its student distilled (or found), then quantised by run_export.py, redone whenever the
    student file is newer than the int8 one."""
    source = distil(recipe.base, preset, corpus, exp_root)
    expdir = recipe.expdir(exp_root, preset)
    export = expdir / EXPORT_NAME
    if not _int8_is_current(recipe, preset, exp_root):
        expdir.mkdir(parents=True, exist_ok=True)
        run_logged([sys.executable, *RUN_EXPORT, "-k", str(source), "--format", "int8", "-o", str(export)],
                   expdir / "benchmark_export.log")
    if not export.is_file():
        raise RunFailed(f"quantising {recipe.base.name} left no {export}; see {expdir / 'benchmark_export.log'}")
    return export


def distil(recipe: StudentRecipe, preset: str, corpus: Path, exp_root: Path) -> Path:
    """Run (or resume, or find finished) the recipe's distillation; returns its ``upstream.pt``."""
    if recipe.base is not None:
        return _quantize(recipe, preset, corpus, exp_root)
    expdir = recipe.expdir(exp_root, preset)
    changed = changed_since_distilled(recipe, preset, corpus, exp_root)
    if changed:
        LOG.info("student %s: %s since it was distilled; old run set aside in %s", recipe.name,
                 ", ".join(changed), set_aside(expdir))
    expdir.mkdir(parents=True, exist_ok=True)
    run_logged(recipe.pretrain_command(preset, corpus, expdir), expdir / "benchmark_pretrain.log")
    export = expdir / EXPORT_NAME
    if not export.is_file():
        raise RunFailed(f"distilling {recipe.name} left no {export}; see {expdir / 'train.log'}")
    return export


def publish_run_figures(expdir: Path, row: str, results: Path) -> List[Path]:
    """Copy the figures a student's run drew (its pruned shape, its layer groups) to
    ``results/<preset>/<figure>_<row>.png``, so the tables' reader sees what was scored."""
    published = []
    for name in RUN_FIGURES:
        found = sorted(expdir.glob(name)) or sorted(expdir.glob(f"*/{name}"))
        if not found:
            continue
        target = results / f"{Path(name).stem}_{row}.png"
        write_atomically(target, lambda tmp: shutil.copyfile(found[0], tmp))
        published.append(target)
    return published
