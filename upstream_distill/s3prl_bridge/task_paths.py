"""Every file and folder a task's s3prl expert will open, read off its resolved config.

The keys of a task's record (``tasks.py``: ``path_keys``) name the corpus roots and list files; inside
them the experts open more, and find out only when they get there, some at the end of a day of training:
ASR reads ``bucket_file/<subset>.csv`` of every subset it trains, validates and tests on (a missing one is a
warning, then an empty split), PR rglobs ``path/<subset>/`` of its train, dev and test subsets, ER opens
``meta_data/SessionN/{train,test}_meta_data.json`` of its test fold. Listing them here lets a run check all
of them before it trains.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, List, Optional

from .tasks import Task

__all__ = ["NeededPath", "lookup", "needed_paths"]


@dataclass(frozen=True)
class NeededPath:
    key: str  # the config key it comes from (a file inside a folder: the folder's key)
    path: Path
    what: str = ""  # "" for the key's own value; else what the file inside is ("length file of dev-clean")


def lookup(config: dict, dotted: str) -> Optional[Any]:
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _listed(value) -> List[str]:
    return [str(item) for item in (value if isinstance(value, list) else [value])]


def _split_subsets(datarc: dict, splits: Iterable[str]) -> List[str]:
    """The subsets of the named splits (``train: [train-clean-100]``), each once."""
    subsets: List[str] = []
    for split in splits:
        subsets += [s for s in _listed(datarc.get(split) or []) if s not in subsets]
    return subsets


def _inside(task: Task, config: dict) -> List[NeededPath]:
    """The files the expert derives from the task's folders (only for folders that exist)."""
    runner = config.get("runner") or {}
    if task.expert == "asr":
        datarc = lookup(config, "downstream_expert.datarc") or {}
        key, folder = "downstream_expert.datarc.bucket_file", Path(str(datarc.get("bucket_file")))
        splits = [runner.get("train_dataloader", "train"), *_listed(runner.get("eval_dataloaders") or []),
                  task.test_split]
        return [NeededPath(key, folder / f"{subset}.csv", f"length file of {subset}")
                for subset in _split_subsets(datarc, splits) if folder.is_dir()]
    if task.expert == "ctc":
        corpus = lookup(config, "downstream_expert.corpus") or {}
        key, root = "downstream_expert.corpus.path", Path(str(corpus.get("path")))
        return [NeededPath(key, root / subset, f"subset {subset}")
                for subset in _split_subsets(corpus, ("train", "dev", "test")) if root.is_dir()]
    if task.expert == "emotion":
        datarc = lookup(config, "downstream_expert.datarc") or {}
        key, folder = "downstream_expert.datarc.meta_data", Path(str(datarc.get("meta_data")))
        session = str(datarc.get("test_fold") or "fold1").replace("fold", "Session")
        return [NeededPath(key, folder / session / name, f"{datarc.get('test_fold') or 'fold1'} list")
                for name in ("train_meta_data.json", "test_meta_data.json") if folder.is_dir()]
    return []


def needed_paths(task: Task, config: dict) -> List[NeededPath]:
    """The task's path keys (a list value gives one entry per item), then the files the expert reads inside
    them. A key absent from the config is not listed: ``check_config_paths`` names it."""
    found = [NeededPath(key, Path(item)) for key in task.path_keys
             if (value := lookup(config, key)) is not None for item in _listed(value)]
    return found + _inside(task, config)
