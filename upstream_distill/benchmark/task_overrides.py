"""``--task-override TASK:KEY=VALUE[,,KEY=VALUE...]``: s3prl's ``-o`` for one task of a benchmark command.

The paper schedules of ``--preset superb`` run for days (ASR and KS: 200k steps); a user shortens one with
``--task-override asr:config.runner.total_steps=20000``. Each run of the task gets the pairs as its ``-o``,
and they are part of its protocol (``protocol.task_config_digest``): a score measured under an override is
redone without it, and is never ranked beside the scores of another schedule unmarked. Keys are checked
against the task's config under the preset before anything runs, as ``run_downstream.py`` checks ``-o``.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

from ..core.errors import ConfigError
from ..core.yaml_config import did_you_mean, parse_overrides
from ..s3prl_bridge.errors import UsageError
from ..s3prl_bridge.overrides import check_override
from ..s3prl_bridge.run_downstream import read_config
from ..s3prl_bridge.tasks import ALL_TASKS, default_config

FLAG = "--task-override"
_OVERRIDE_PREFIX = "-o/--override: "


def parse_task_overrides(values: Sequence[str], tasks: Sequence[str], preset: str) -> Dict[str, str]:
    """task -> its ``-o`` string (several values for one task joined by ``,,``); ValueError names the value
    and the problem: no ``TASK:``, a task not run, a malformed pair, a key the task's config does not have."""
    pairs: Dict[str, List[str]] = {}
    for value in values:
        task, sep, text = value.partition(":")
        task, text = task.strip(), text.strip()
        if not sep or not task or not text:
            raise ValueError(f"{FLAG} {value!r}: write TASK:config.KEY=VALUE, e.g. "
                             "asr:config.runner.total_steps=20000")
        if task not in ALL_TASKS:
            raise ValueError(f"{FLAG} {value!r}: unknown task {task!r}{did_you_mean(task, ALL_TASKS)}")
        if task not in tasks:
            raise ValueError(f"{FLAG} {value!r}: {task} is not among --tasks ({', '.join(tasks)})")
        try:
            parse_overrides(text)  # config.* keys, Python literals: what the protocol digest applies
            check_override(text, read_config(default_config(ALL_TASKS[task], preset)))
        except (ConfigError, UsageError) as err:
            message = str(err)
            message = message[len(_OVERRIDE_PREFIX):] if message.startswith(_OVERRIDE_PREFIX) else message
            raise ValueError(f"{FLAG} {value!r}: {message}") from None
        pairs.setdefault(task, []).append(text)
    return {task: ",,".join(texts) for task, texts in pairs.items()}
