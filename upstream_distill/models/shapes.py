"""What every model config shares: the waveform CNN's frame geometry and the plain-dict round trip."""
from __future__ import annotations

import math
from dataclasses import fields
from typing import List, Sequence, Tuple, Type, TypeVar

__all__ = ["CONV_NORMS", "config_from_dict", "conv_downsample_rate", "conv_problems", "conv_receptive_field"]

Config = TypeVar("Config")
#: group_norm: on the first CNN block only (Base models); layer_norm: on every block (Large models)
CONV_NORMS = ("group_norm", "layer_norm")


def conv_problems(conv_layers: Sequence[Tuple[int, int, int]], conv_norm: str) -> List[str]:
    """What is wrong with a waveform CNN's description (empty when nothing is)."""
    problems = []
    if conv_norm not in CONV_NORMS:
        problems.append(f"conv_norm must be one of {CONV_NORMS}, got {conv_norm!r}")
    if not conv_layers or any(len(layer) != 3 or min(layer) < 1 for layer in conv_layers):
        problems.append(f"conv_layers must be a non-empty list of positive (channels, kernel, stride), "
                        f"got {list(conv_layers)}")
    return problems


def conv_downsample_rate(conv_layers: Sequence[Tuple[int, int, int]]) -> int:
    """Waveform samples per output frame: the product of the strides (320 for every Base model)."""
    return math.prod(stride for _, _, stride in conv_layers)


def conv_receptive_field(conv_layers: Sequence[Tuple[int, int, int]]) -> int:
    """Samples one output frame sees; shorter waveforms give no frame (400 for Base)."""
    span = 1
    for _, kernel, stride in reversed(conv_layers):
        span = (span - 1) * stride + kernel
    return span


def config_from_dict(cls: Type[Config], data: dict) -> Config:
    """``cls(**data)``, with a ValueError that lists unknown keys instead of a TypeError."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown} (known: {sorted(known)})")
    return cls(**data)
