"""The resources of the benchmark's jobs: ``downstream_configs/launcher.yaml`` or ``--launcher-config FILE``.

``defaults`` are submitit AutoExecutor parameters (timeout_min, mem_gb, gpus_per_node, cpus_per_task,
and slurm_* keys: slurm_partition, slurm_account, slurm_qos, slurm_constraint, slurm_setup, ...);
``tasks.<task>`` and ``distill`` are merged over them for that task's runs (every ER fold alike) and for
the distillation of a student. The file is checked whole before anything is submitted: a typo in a
parameter would otherwise surface at the first submission, with some jobs already queued.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import yaml

from ...core.paths import DOWNSTREAM_CONFIG_ROOT
from ...core.yaml_config import did_you_mean
from ...s3prl_bridge.tasks import ALL_TASKS

DEFAULT_LAUNCHER_CONFIG = DOWNSTREAM_CONFIG_ROOT / "launcher.yaml"
FLAG = "--launcher-config"
#: the section of a distillation (a task run's section is its task's name)
DISTILL_SECTION = "distill"
SECTIONS = ("defaults", "tasks", DISTILL_SECTION)


class LauncherConfigError(ValueError):
    """A launcher config that cannot be used; the message names the flag, the file and the key."""


@dataclass(frozen=True)
class LauncherConfig:
    source: Path
    defaults: Dict[str, Any]
    overrides: Dict[str, Dict[str, Any]]  # a task's name, or DISTILL_SECTION -> its parameters

    def parameters(self, kind: str) -> Dict[str, Any]:
        """The submitit parameters of a job of ``kind`` (a task's name, or DISTILL_SECTION)."""
        return {**self.defaults, **self.overrides.get(kind, {})}


def _mapping(value: Any, where: str, source: Path) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LauncherConfigError(f"{FLAG} {source}: {where} must be a mapping of parameters, not {value!r}")
    return dict(value)


def check_parameters(parameters: Dict[str, Any], where: str, source: Path) -> None:
    """Let submitit judge the parameters (names, and types of the generic ones) as it would at submission.

    An executor of the local kind does: it checks slurm_* names against Slurm's list too, without needing
    a cluster, and it creates nothing but its folder, here a temporary one."""
    import submitit

    with tempfile.TemporaryDirectory() as folder:
        executor = submitit.AutoExecutor(folder=folder, cluster="local")
        try:
            executor.update_parameters(**parameters)
        except (NameError, ValueError, TypeError, AssertionError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise LauncherConfigError(f"{FLAG} {source}: {where}: {first}") from None


def read_launcher_config(path: Path = DEFAULT_LAUNCHER_CONFIG) -> LauncherConfig:
    path = Path(path)
    if not path.is_file():
        raise LauncherConfigError(f"{FLAG}: {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise LauncherConfigError(f"{FLAG} {path}: not YAML ({err})") from None
    data = _mapping(data, "the file", path)
    unknown = [key for key in data if key not in SECTIONS]
    if unknown:
        named = ", ".join(str(key) + did_you_mean(str(key), SECTIONS) for key in unknown)
        raise LauncherConfigError(f"{FLAG} {path}: unknown section(s) {named}; the sections are {', '.join(SECTIONS)}")
    defaults = _mapping(data.get("defaults"), "defaults", path)
    tasks = _mapping(data.get("tasks"), "tasks", path)
    unknown = [name for name in tasks if name not in ALL_TASKS]
    if unknown:
        named = ", ".join(str(name) + did_you_mean(str(name), ALL_TASKS) for name in unknown)
        raise LauncherConfigError(f"{FLAG} {path}: tasks: unknown task(s) {named}; choose from {', '.join(ALL_TASKS)}")
    overrides = {name: _mapping(value, f"tasks.{name}", path) for name, value in tasks.items()}
    overrides[DISTILL_SECTION] = _mapping(data.get(DISTILL_SECTION), DISTILL_SECTION, path)
    config = LauncherConfig(path, defaults, overrides)
    check_parameters(defaults, "defaults", path)
    for kind in overrides:
        where = DISTILL_SECTION if kind == DISTILL_SECTION else f"tasks.{kind}"
        check_parameters(config.parameters(kind), where, path)
    return config
