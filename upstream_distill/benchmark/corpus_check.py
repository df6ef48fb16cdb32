"""Before any run of ``--preset superb``: every path that every planned run will read, checked at once.

A SUPERB run of one upstream trains for about a day per task; a lexicon missing at PR's first batch, or
ASR's test-clean length file missing at the end of its 200k steps, would cost that day. So each planned
task (each ER fold) is resolved here as its run will resolve it (the real corpora, the fold, its
``--task-override``), and every file it lacks is named with the flag that sets it, all in one message.
"""
from __future__ import annotations

from typing import List, Mapping, Sequence

from ..s3prl_bridge.errors import UsageError
from ..s3prl_bridge.real_corpora import RealCorpora, expected_once
from ..s3prl_bridge.run_downstream import load_task_config
from ..s3prl_bridge.tasks import ALL_TASKS, REAL_CORPORA_PRESET, default_config
from .plan import folds_of


def real_corpora_problems(corpora: RealCorpora, tasks: Sequence[str], er_folds: int,
                          overrides: Mapping[str, str]) -> List[str]:
    """One line per missing path of the planned runs (empty: every run finds what it reads)."""
    problems: List[str] = []
    for name in tasks:
        task = ALL_TASKS[name]
        for fold in folds_of(name, er_folds):
            try:
                load_task_config(task, default_config(task, REAL_CORPORA_PRESET), None, fold, overrides.get(name),
                                 corpora)
            except UsageError as err:
                problems += [line.strip() for line in str(err).splitlines() if line.strip()]
    problems = list(dict.fromkeys(problems))  # a corpus that two tasks read is named once
    root = corpora.data_root
    if root is not None and not root.is_dir():  # everything under it is missing: one line says so
        problems = [f"--data-root: {root} is not a folder"] + [line for line in problems if f"{root}/" not in line]
    return expected_once(problems)
