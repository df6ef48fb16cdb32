"""Stable random streams: one independent generator per (seed, name, ...) key.

Every random choice of the generator goes through these, so that a task's
content depends only on the build seed and its own key, never on the order in
which jobs run or on Python's hash randomisation.
"""

from __future__ import annotations

import hashlib

import numpy as np


def stable_seed(seed: int, *parts: object) -> int:
    """A 63-bit integer derived from ``seed`` and ``parts`` (stable across runs and machines)."""
    key = "\x1f".join([str(int(seed)), *map(str, parts)]).encode("utf-8")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") >> 1


def rng_for(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng(stable_seed(seed, *parts))
