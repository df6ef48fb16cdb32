"""The similarity cache: the teacher's calibration forward passes and S are computed once.

Key (16 hex digits of SHA-1 over JSON)::

    key = sha1([CACHE_VERSION, file_digest(teacher file), sha1([(key, length) of C]), sample_rate,
                similarity, max_seconds, max_frames, seed])

i.e. the teacher's *bytes* (``core.provenance.file_digest``: a re-saved teacher with other weights
is another key, a copy elsewhere the same), the calibration utterances actually drawn (a changed
corpus, ``calibration_utterances`` or ``seed`` changes them) and every setting that changes S.
What only changes the clustering (``linkage``, ``groups``, ``distance_threshold``, ``grouping``,
``include_first``) is not in the key: S is kept for all hidden states 0..L and the clustering,
milliseconds, is redone on every call.

Layout: ``cache_dir/<key>/similarity.npy`` (``(L+1, L+1)`` float64) and ``meta.json``. A folder
is written whole under ``cache_dir/.tmp-<key>-<pid>-<random>/`` and renamed into place, so a
reader never sees half of one; when two processes race, the first rename wins and the second
process drops its copy and reads the winner's.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Tuple

import numpy as np

from upstream_distill.training.data import Utterance

from .config import LayerGroupConfig

__all__ = ["CACHE_VERSION", "cache_key", "calibration_digest", "load_similarity", "store_similarity"]

#: bump when what is cached, or how it is computed, changes
CACHE_VERSION = 1
_MATRIX, _META = "similarity.npy", "meta.json"


def _sha(payload) -> str:
    return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def calibration_digest(utterances: Sequence[Utterance]) -> str:
    """Digest of the calibration set: its utterance keys and listed lengths, in order."""
    return _sha([[str(u.key), int(u.length)] for u in utterances])


def cache_key(teacher_digest: str, calibration: str, sample_rate: int, config: LayerGroupConfig) -> str:
    return _sha([CACHE_VERSION, teacher_digest, calibration, int(sample_rate), config.similarity,
                 float(config.max_seconds), int(config.max_frames), int(config.seed)])


def load_similarity(folder: Path) -> Optional[Tuple[np.ndarray, dict]]:
    """``(S, meta)`` of a complete cache folder, None when there is none (or it cannot be read)."""
    folder = Path(folder)
    if not (folder / _MATRIX).is_file() or not (folder / _META).is_file():
        return None
    try:
        matrix = np.load(folder / _MATRIX, allow_pickle=False)
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return None
    return matrix, meta


def store_similarity(folder: Path, matrix: np.ndarray, meta: dict) -> Path:
    """Write ``folder`` (``similarity.npy``, ``meta.json``) atomically; returns the folder now in place
    (another process's, if it got there first)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{folder.name}-{os.getpid()}-", dir=folder.parent))
    try:
        np.save(tmp / _MATRIX, np.asarray(matrix, dtype=np.float64), allow_pickle=False)
        (tmp / _META).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
        if folder.exists() and load_similarity(folder) is None:  # a broken leftover: move it aside
            os.replace(folder, folder.with_name(f".broken{tmp.name}"))
        try:
            os.rename(tmp, folder)
        except OSError:
            if load_similarity(folder) is None:  # not a finished folder of another process: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder
