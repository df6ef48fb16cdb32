"""``layer_groups.png``: the similarity matrix with the groups boxed, beside the dendrogram.

Left: a heat map of ``S`` (rows and columns are hidden-state indices), each group's runs of
consecutive layers boxed on the diagonal in the group's colour (a non-contiguous group has several
boxes of one colour), the tick labels coloured by group. Right: the similarity clustering's
dendrogram (``scipy.cluster.hierarchy.dendrogram`` of ``1 - S``, height = merge distance) with the
cut that gave its clusters drawn as a dashed line; under the ablation groupings it still shows the
similarity tree, and the title says which grouping was used.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from upstream_distill.core.atomic_files import write_atomically

__all__ = ["cut_height", "plot_layer_groups"]

_COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
            "#bcbd22", "#7f7f7f"]


def cut_height(linkage_matrix: np.ndarray, clusters: int, threshold: Optional[float] = None) -> float:
    """Where the dendrogram is cut: ``threshold`` if given, else midway between the merges that
    leave ``clusters`` and ``clusters - 1`` clusters."""
    if threshold is not None:
        return float(threshold)
    heights = np.sort(linkage_matrix[:, 2])
    n = len(heights) + 1
    below = heights[n - clusters - 1] if n - clusters - 1 >= 0 else 0.0
    above = heights[n - clusters] if n - clusters <= n - 2 else heights[-1] * 1.05 + 1e-3
    return float((below + above) / 2)


def _runs(group: List[int], position: dict) -> List[Tuple[int, int]]:
    """(first position, length) of each run of consecutive positions of ``group``."""
    places = sorted(position[layer] for layer in group)
    runs, start = [], places[0]
    for previous, current in zip(places, places[1:] + [None]):
        if current != previous + 1:
            runs.append((start, previous - start + 1))
            start = current
    return runs


def _link_colours(linkage_matrix: np.ndarray, layers: List[int], group_of: dict):
    """A link is drawn in its group's colour when all the layers under it are in that group, else grey."""
    members = {i: {layer} for i, layer in enumerate(layers)}
    for i, (left, right, _, _) in enumerate(linkage_matrix):
        members[len(layers) + i] = members[int(left)] | members[int(right)]

    def colour(link: int) -> str:
        found = {group_of.get(layer) for layer in members[link]}
        if len(found) == 1 and None not in found:
            return _COLOURS[found.pop() % len(_COLOURS)]
        return "#7f7f7f"

    return colour


def plot_layer_groups(groups, path: Path) -> Path:
    """Draw :class:`~upstream_distill.layer_groups.LayerGroups` ``groups`` into ``path`` (PNG, written
    atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from scipy.cluster.hierarchy import dendrogram

    layers = list(groups.layers)
    similarity = np.asarray(groups.similarity)
    position = {layer: i for i, layer in enumerate(layers)}
    group_of = {layer: k for k, group in enumerate(groups.groups) for layer in group}
    config = groups.settings.get("config", {})
    size = max(4.0, 0.42 * len(layers) + 2.0)
    figure, (heat, tree) = plt.subplots(1, 2, figsize=(2 * size + 1, size))

    low = min(0.0, float(similarity.min()))
    image = heat.imshow(similarity, cmap="viridis", vmin=low, vmax=1.0, origin="upper")
    figure.colorbar(image, ax=heat, fraction=0.046, pad=0.04)
    if len(layers) <= 16:
        for i in range(len(layers)):
            for j in range(len(layers)):
                value = similarity[i, j]
                heat.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                          color="black" if value > low + 0.6 * (1 - low) else "white")
    for k, group in enumerate(groups.groups):
        for start, length in _runs(group, position):
            heat.add_patch(Rectangle((start - 0.5, start - 0.5), length, length, fill=False,
                                     edgecolor=_COLOURS[k % len(_COLOURS)], linewidth=2.5))
    heat.set_xticks(range(len(layers)))
    heat.set_yticks(range(len(layers)))
    heat.set_xticklabels([str(layer) for layer in layers])
    heat.set_yticklabels([str(layer) for layer in layers])
    for label, layer in zip(heat.get_xticklabels() + heat.get_yticklabels(), layers + layers):
        label.set_color(_COLOURS[group_of[layer] % len(_COLOURS)] if layer in group_of else "black")
    heat.set_xlabel("hidden state")
    heat.set_ylabel("hidden state")
    heat.set_title(f"{config.get('similarity', 'similarity')} ({groups.settings.get('calibration_utterances', '?')} "
                   f"utterances, {groups.settings.get('calibration_frames', '?')} frames)", fontsize=10)

    if groups.linkage_matrix is not None:
        clusters = len(groups.settings.get("similarity_clusters") or groups.groups)
        height = cut_height(np.asarray(groups.linkage_matrix), clusters, config.get("distance_threshold"))
        dendrogram(np.asarray(groups.linkage_matrix), labels=[str(layer) for layer in layers], ax=tree,
                   link_color_func=_link_colours(np.asarray(groups.linkage_matrix), layers, group_of))
        tree.axhline(height, color="black", linestyle="--", linewidth=1)
        for label in tree.get_xticklabels():
            layer = int(label.get_text())
            label.set_color(_COLOURS[group_of[layer] % len(_COLOURS)] if layer in group_of else "black")
        tree.set_ylabel("distance 1 - S")
        tree.set_xlabel("hidden state")
        tree.set_title(f"{config.get('linkage', '?')} linkage, {clusters} clusters", fontsize=10)
    else:
        tree.axis("off")
        tree.text(0.5, 0.5, "one layer: no dendrogram", ha="center", va="center")
    grouping = config.get("grouping", "similarity")
    figure.suptitle(f"layer groups ({grouping}): {groups.groups}", fontsize=10)
    figure.tight_layout()
    write_atomically(path, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return Path(path)
