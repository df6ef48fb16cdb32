"""Figures of a pruning run: what each layer kept (the shape DPHuBERT's paper draws) and how the
expected sparsity followed its target while the Lagrange multipliers rose."""
from __future__ import annotations

from pathlib import Path
from typing import List, Mapping, Optional, Tuple

from upstream_distill.core.atomic_files import write_atomically
from upstream_distill.models import PrunedConfig

__all__ = ["SPARSITY_KEYS", "plot_pruned_shape", "plot_sparsity_trajectory", "sparsity_steps"]

#: the stage-1 scalars the trajectory figure draws, as the pruning expert logs them
SPARSITY_KEYS = ("pruning/expected_sparsity", "pruning/target_sparsity", "pruning/lambda_1", "pruning/lambda_2")


def plot_pruned_shape(pruned: PrunedConfig, full: PrunedConfig, path: Path, title: Optional[str] = None) -> Path:
    """Bars of the CNN channels per block, the heads and the FFN units per layer, kept (dark) against
    the teacher's (light); written atomically to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("CNN channels", [c for c, _, _ in full.conv_layers], [c for c, _, _ in pruned.conv_layers], "block"),
              ("attention heads", [len(h) for h in full.layer_heads], [len(h) for h in pruned.layer_heads], "layer"),
              ("FFN units", list(full.ffn_dims), list(pruned.ffn_dims), "layer")]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for axis, (name, before, after, unit) in zip(axes, panels):
        positions = range(1, len(before) + 1)
        axis.bar(positions, before, color="#d9d9d9", label="teacher")
        axis.bar(positions, after, color="#3a6ea5", label="kept")
        for x, kept in zip(positions, after):
            axis.text(x, kept, str(kept), ha="center", va="bottom", fontsize=7)
        axis.set_title(name)
        axis.set_xlabel(unit)
        axis.set_xticks(list(positions))
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", fontsize=8)  # outside the bars, which fill the panels
    if title:
        figure.suptitle(title)
    figure.tight_layout(rect=(0, 0, 0.94, 1))
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return Path(path)


def sparsity_steps(metrics: Mapping[int, Mapping[str, float]]) -> List[Tuple[int, Mapping[str, float]]]:
    """The logged steps (step, scalars) that hold every one of :data:`SPARSITY_KEYS`, in step order."""
    return [(step, row) for step, row in sorted(metrics.items()) if all(key in row for key in SPARSITY_KEYS)]


def plot_sparsity_trajectory(metrics: Mapping[int, Mapping[str, float]], path: Path,
                             title: Optional[str] = None) -> Path:
    """Stage 1 over its updates: the expected sparsity ŝ against the target t (left) and the multipliers
    λ1, λ2 of the Lagrangian λ1(ŝ−t) + λ2(ŝ−t)² (right), from the logged steps ``metrics`` (step → scalars,
    as ``read_metrics`` gives them); written atomically to ``path`` (PNG). Where ŝ ends short of t the
    pruned model ends above its budget, and the right panel says whether λ had stopped rising."""
    rows = sparsity_steps(metrics)
    if not rows:
        raise ValueError(f"no logged step holds the pruning scalars {', '.join(SPARSITY_KEYS)}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [step for step, _ in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    left.plot(steps, [row["pruning/target_sparsity"] for _, row in rows], color="#999999", linestyle="--",
              label="target t")
    left.plot(steps, [row["pruning/expected_sparsity"] for _, row in rows], color="#3a6ea5", label="expected ŝ")
    left.set_title("sparsity")
    left.set_ylim(0, 1)
    for name, colour in (("lambda_1", "#c44e52"), ("lambda_2", "#dd8452")):
        right.plot(steps, [row[f"pruning/{name}"] for _, row in rows], color=colour, label=name.replace("_", " "))
    right.axhline(0, color="#d9d9d9", linewidth=0.8)
    right.set_title("Lagrange multipliers (gradient ascent)")
    for axis in (left, right):
        axis.set_xlabel("update")
        axis.legend(fontsize=8)
    last_step, last = rows[-1]
    reached = (f"update {last_step}: expected sparsity {last['pruning/expected_sparsity']:.3f}, "
               f"target {last['pruning/target_sparsity']:.3f}")
    figure.suptitle(f"{title}, {reached}" if title else reached)
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return Path(path)
