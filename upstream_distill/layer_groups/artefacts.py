"""What a run folder keeps of its layer groups, so the recipe stays reviewable.

* ``layer_similarity.csv``: S; first row ``layer,<i>,...``, then one row per hidden state ``i``;
* ``layer_groups.yaml``: ``groups``, ``layers``, ``contiguous``, ``settings`` (config, teacher and
  calibration digests, cache key, the similarity clusters under an ablation grouping);
* ``layer_groups.png``: :mod:`.plot`.

Each file is written to a temporary name and renamed into place.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import List, Tuple

import numpy as np
import yaml

from upstream_distill.core.atomic_files import write_atomically

from .plot import plot_layer_groups

__all__ = ["read_similarity_csv", "write_layer_group_artefacts"]

SIMILARITY_CSV, GROUPS_YAML, GROUPS_PNG = "layer_similarity.csv", "layer_groups.yaml", "layer_groups.png"


def _atomic_text(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _plain(value):
    """numpy scalars and tuples as YAML's plain types."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_layer_group_artefacts(groups, folder: Path) -> None:
    """Write ``layer_similarity.csv``, ``layer_groups.yaml`` and ``layer_groups.png`` of
    :class:`~upstream_distill.layer_groups.LayerGroups` ``groups`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(["layer"] + [str(layer) for layer in groups.layers])]
    for layer, row in zip(groups.layers, np.asarray(groups.similarity)):
        lines.append(",".join([str(layer)] + [repr(float(value)) for value in row]))
    _atomic_text(folder / SIMILARITY_CSV, "\n".join(lines) + "\n")
    record = {"groups": [[int(layer) for layer in group] for group in groups.groups],
              "layers": [int(layer) for layer in groups.layers], "contiguous": bool(groups.contiguous),
              "settings": _plain(groups.settings)}
    _atomic_text(folder / GROUPS_YAML, yaml.safe_dump(record, sort_keys=False, default_flow_style=None))
    plot_layer_groups(groups, folder / GROUPS_PNG)


def read_similarity_csv(path: Path) -> Tuple[List[int], np.ndarray]:
    """``(layers, S)`` of a ``layer_similarity.csv``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    layers = [int(value) for value in rows[0][1:]]
    matrix = np.array([[float(value) for value in row[1:]] for row in rows[1:]])
    return layers, matrix
