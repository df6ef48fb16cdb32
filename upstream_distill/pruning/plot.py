"""The figure DPHuBERT's paper draws of a pruned model: what each layer kept."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from upstream_distill.core.atomic_files import write_atomically
from upstream_distill.models import PrunedConfig

__all__ = ["plot_pruned_shape"]


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
