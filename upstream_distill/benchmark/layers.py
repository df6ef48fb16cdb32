"""Which layers each task uses: s3prl's learned featurizer weights, per upstream and task.

SUPERB's featurizer feeds a downstream the softmax-weighted sum of all hidden
states; after training, the weights show where each task finds what it needs
(content tasks such as PR/ASR lean on upper layers of a HuBERT, speaker and
emotion tasks on lower ones: the structure layer-wise distillation exploits).
The benchmark reads them from the checkpoint it scored and writes
``layer_weights_<upstream>.{csv,png}`` beside the score tables.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Tuple

import torch

from ..core.atomic_files import write_atomically
from .runs import TaskRun, scoring_checkpoint

__all__ = ["featurizer_weights", "upstream_layer_weights", "write_layer_weights"]


def featurizer_weights(checkpoint: Path) -> List[float]:
    """Softmax of the featurizer's layer weights in an s3prl downstream checkpoint ([] if it has none)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # s3prl pickles its Args
    weights = state.get("Featurizer", {}).get("weights")
    return [] if weights is None else torch.softmax(weights.float(), dim=0).tolist()


def upstream_layer_weights(runs: List[TaskRun]) -> Dict[str, List[float]]:
    """Task (mean over its ER folds and probe seeds) -> layer weights, for the finished runs of one upstream."""
    per_task: Dict[str, List[List[float]]] = {}
    for run in runs:
        if not run.done():
            continue
        weights = featurizer_weights(scoring_checkpoint(run))
        if weights:
            per_task.setdefault(run.task.name, []).append(weights)
    return {task: [sum(column) / len(column) for column in zip(*folds)] for task, folds in per_task.items()}


def layer_weight_files(label: str, out_dir: Path) -> Tuple[Path, Path]:
    """Where an upstream's layer weights go: ``layer_weights_<label>.csv`` and ``.png``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    return out_dir / f"layer_weights_{safe}.csv", out_dir / f"layer_weights_{safe}.png"


def _earlier_rows(csv_path: Path, layers: int, preset: str) -> Dict[str, Tuple[List[float], str]]:
    """task -> (weights, measured_on) already in the file, for the same preset and layer count."""
    if not csv_path.is_file():
        return {}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return {row["task"]: ([float(row[f"h{i}"]) for i in range(layers)], row["measured_on"]) for row in rows
            if row.get("preset") == preset and f"h{layers - 1}" in row and f"h{layers}" not in row}


def write_layer_weights(label: str, weights: Dict[str, List[float]], out_dir: Path, preset: str,
                        stamp: str) -> List[Path]:
    """``layer_weights_<label>.csv`` and a heatmap ``.png`` (tasks x hidden states). The tasks this run
    did not measure keep their earlier rows (a run of --tasks ks,sid must not erase PR's), as in scores.csv."""
    if not weights:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = len(next(iter(weights.values())))
    csv_path, png_path = layer_weight_files(label, out_dir)
    rows = {**_earlier_rows(csv_path, layers, preset), **{task: (w, stamp) for task, w in weights.items()}}
    weights = {task: w for task, (w, _) in rows.items()}
    tasks = list(weights)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="", encoding="utf-8") as handle:  # each row says where and when
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["task", *(f"h{i}" for i in range(layers)), "preset", "measured_on"])
        writer.writerows([task, *(f"{w:.4f}" for w in task_weights), preset, when]
                         for task, (task_weights, when) in rows.items())

    fig, ax = plt.subplots(figsize=(1.2 + 0.7 * layers, 0.8 + 0.5 * len(tasks)))
    image = ax.imshow([weights[t] for t in tasks], cmap="viridis", aspect="auto", vmin=0)
    ax.set_xticks(range(layers), ["h0\n(CNN)"] + [f"h{i}" for i in range(1, layers)])
    ax.set_yticks(range(len(tasks)), [t.upper() for t in tasks])
    for row, task in enumerate(tasks):
        for column, value in enumerate(weights[task]):
            ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 0.6 * max(weights[task]) else "black")
    stamps = "; ".join(sorted({when for _, when in rows.values()}))
    ax.set_title(f"{label}: featurizer layer weights per task (preset {preset})\n{stamps}", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    write_atomically(png_path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    plt.close(fig)
    return [csv_path, png_path]
