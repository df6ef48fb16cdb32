"""A method of several runs: ``pipeline.yaml`` in its folder (DPHuBERT: prune, then distil the pruned model).

::

    stages:                      # run in order, each in <expdir>/<name>/ (``${previous}``: the one before)
      - {name: prune, model: config_model.yaml, runner: config_runner.yaml}
      - {name: final, model: config_model_final.yaml, runner: config_runner_final.yaml}
    ladder:                      # optional: a list under one of ``sizes`` runs the stages once per size
      sizes: [model.pruning.sparsity, model.pruning.target_params]
      continue_key: model.student.continue_from

``run_pretrain.py`` (:mod:`upstream_distill.commands.pretrain`) runs them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.yaml_config import read_yaml, typed_section

__all__ = ["PIPELINE_FILE", "Ladder", "Pipeline", "Stage", "ladder_rungs", "read_pipeline"]

#: a method folder with this file runs several stages in order
PIPELINE_FILE = "pipeline.yaml"


@dataclass
class Stage:
    """One run of a method's ``pipeline.yaml``: its folder name and its two config files."""

    name: str
    model: str
    runner: str


@dataclass
class Ladder:
    """``ladder:`` of a ``pipeline.yaml``: when one of the ``sizes`` keys holds a list, the stages run
    once per size, each rung's first stage continuing the previous rung's (``continue_key`` is set
    to that folder)."""

    sizes: List[str]  # dotted keys of the full config, e.g. model.pruning.target_params
    continue_key: str  # dotted key, e.g. model.student.continue_from


@dataclass
class Pipeline:
    stages: List[Stage]
    ladder: Optional[Ladder] = None


def read_pipeline(folder: Path) -> Optional[Pipeline]:
    """``folder/pipeline.yaml``, or None for a method of one run."""
    path = folder / PIPELINE_FILE
    if not path.is_file():
        return None
    data = read_yaml(path)
    try:
        stages = [typed_section(Stage, stage, f"stages[{i}]") for i, stage in enumerate(data.get("stages") or [])]
        ladder = typed_section(Ladder, data["ladder"], "ladder") if data.get("ladder") else None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    names = [stage.name for stage in stages]
    if not stages or len(set(names)) != len(names):
        raise ConfigError(f"{path}: 'stages' must list runs with distinct names, got {names}")
    return Pipeline(stages, ladder)


def _get(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def ladder_rungs(pipeline: Pipeline, first_config: dict) -> List[Tuple[str, List[Tuple[List[str], Any]]]]:
    """``[(folder name, settings)]`` per rung: one unnamed rung unless a ``sizes`` key holds a list."""
    if pipeline.ladder is None:
        return [("", [])]
    lists = [(key, _get(first_config, key)) for key in pipeline.ladder.sizes]
    lists = [(key, value) for key, value in lists if isinstance(value, list)]
    if not lists:
        return [("", [])]
    if len(lists) > 1 or not lists[0][1]:
        raise ConfigError(f"a pruning ladder lists its sizes under one of {pipeline.ladder.sizes}, got "
                          f"{dict(lists)}")
    key, sizes = lists[0]
    return [(f"{rung}_{size}", [(key.split("."), size)]) for rung, size in enumerate(sizes, start=1)]
