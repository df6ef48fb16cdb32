"""Checkpoint I/O: ``states-<step>.ckpt`` written atomically, found, pruned, and RNG capture.

A checkpoint is written to a hidden temporary file in the same folder
(``.states-<step>.ckpt.tmp-<pid>``, which never matches ``states-*.ckpt``),
flushed to disk and then renamed with ``os.replace``: a run killed at any
moment leaves either the complete new checkpoint or none, never a partial
one under the real name.  Contents are plain tensors and Python types, so
files load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from upstream_distill.core.atomic_files import write_atomically

__all__ = [
    "CHECKPOINT_GLOB",
    "capture_rng",
    "checkpoint_path",
    "list_checkpoints",
    "load_checkpoint",
    "prune_checkpoints",
    "remove_stale_temporaries",
    "restore_rng",
    "save_atomic",
]

CHECKPOINT_GLOB = "states-*.ckpt"
_STEP = re.compile(r"^states-(\d+)\.ckpt$")
_TEMPORARY_GLOB = ".states-*.ckpt.tmp-*"


def checkpoint_path(expdir: Path, step: int) -> Path:
    return Path(expdir) / f"states-{step}.ckpt"


def list_checkpoints(expdir: Path) -> List[Path]:
    """``states-<step>.ckpt`` files of ``expdir``, oldest step first."""
    found = []
    for path in Path(expdir).glob(CHECKPOINT_GLOB):
        match = _STEP.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return [path for _, path in sorted(found)]


def save_atomic(payload: dict, path: Path) -> Path:
    """Write ``payload`` to ``path`` through a temporary file + fsync + ``os.replace``."""
    return write_atomically(path, lambda tmp: torch.save(payload, tmp), durable=True)


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def prune_checkpoints(expdir: Path, keep: int) -> List[Path]:
    """Delete all but the newest ``keep`` checkpoints; returns the deleted paths."""
    stale = list_checkpoints(expdir)[:-keep] if keep > 0 else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def remove_stale_temporaries(expdir: Path) -> List[Path]:
    """Temporary files a killed run left behind (they are never complete checkpoints)."""
    stale = list(Path(expdir).glob(_TEMPORARY_GLOB))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def capture_rng() -> dict:
    """Python, numpy, torch (and CUDA) generator states, as tensors and plain lists."""
    version, python_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(python_state), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Optional[dict]) -> None:
    if not state:
        return
    version, python_state, gauss = state["python"]
    random.setstate((version, tuple(python_state), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
