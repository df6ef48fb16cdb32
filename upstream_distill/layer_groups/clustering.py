"""Groups of layers from their similarity matrix: agglomerative clustering, and the two ablations.

Distance and tree (scipy.cluster.hierarchy)::

    D = 1 - S              (0 on the diagonal, clipped at 0; condensed with squareform)
    Z = linkage(D, method) method ∈ single, complete, average (UPGMA), weighted (WPGMA), ward

cut into ``K`` clusters (``fcluster(Z, K, "maxclust")``: the lowest cut that leaves at most K; ties
in ``Z``'s heights can leave fewer) or at a height ``t`` (``fcluster(Z, t, "distance")``: clusters
whose cophenetic distance stays ≤ t). Ward's update assumes Euclidean distances; ``1 - S`` is not
one (for CKA and cosine, ``sqrt(2 (1 - S))`` would be), so Ward here is the Lance-Williams
recurrence applied to ``1 - S``, as scipy computes it on any precomputed distance.

Nothing constrains a cluster to be a run of consecutive layers; :func:`is_contiguous` tells.

Ablations (same number of groups K):

* :func:`random_contiguous_groups`: K contiguous runs, the K - 1 cut points drawn uniformly
  without replacement among the ``L - 1`` gaps between consecutive layers (seeded);
* :func:`single_layer_groups`: every layer its own group (distil all layers individually).

Groups are always returned ordered by their smallest layer, each sorted.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

__all__ = ["cluster_layers", "distance_matrix", "groups_from_labels", "is_contiguous", "layer_linkage",
           "random_contiguous_groups", "single_layer_groups"]


def distance_matrix(similarity: np.ndarray) -> np.ndarray:
    """``1 - S``, symmetrised, 0 on the diagonal, clipped at 0."""
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[0] != similarity.shape[1]:
        raise ValueError(f"the similarity matrix must be square, got shape {similarity.shape}")
    if not np.isfinite(similarity).all():
        raise ValueError("the similarity matrix holds NaN or infinite values")
    distance = np.clip(1.0 - (similarity + similarity.T) / 2, 0.0, None)
    np.fill_diagonal(distance, 0.0)
    return distance


def layer_linkage(similarity: np.ndarray, method: str = "average") -> Optional[np.ndarray]:
    """scipy's ``(L - 1, 4)`` linkage matrix of ``1 - S``; None for a single layer."""
    distance = distance_matrix(similarity)
    if len(distance) < 2:
        return None
    return linkage(squareform(distance, checks=False), method=method)


def groups_from_labels(layers: Sequence[int], labels: Sequence[int]) -> List[List[int]]:
    """Layers with the same label together; groups ordered by their smallest layer, each sorted."""
    found: Dict[int, List[int]] = {}
    for layer, label in zip(layers, labels):
        found.setdefault(int(label), []).append(int(layer))
    return sorted((sorted(group) for group in found.values()), key=lambda group: group[0])


def cluster_layers(similarity: np.ndarray, layers: Sequence[int], method: str = "average",
                   groups: Optional[int] = None,
                   distance_threshold: Optional[float] = None) -> Tuple[List[List[int]], Optional[np.ndarray]]:
    """``(groups, linkage matrix)``: the hierarchical clustering of ``layers`` (row i of ``similarity``
    is ``layers[i]``) cut into ``groups`` clusters or at ``distance_threshold`` (exactly one).

    ValueError when ``groups`` exceeds the number of layers."""
    layers = [int(layer) for layer in layers]
    if len(layers) != len(similarity):
        raise ValueError(f"{len(layers)} layers for a {len(similarity)}x{len(similarity)} similarity matrix")
    if (groups is None) == (distance_threshold is None):
        raise ValueError("give exactly one of groups and distance_threshold")
    if groups is not None and not 1 <= groups <= len(layers):
        raise ValueError(f"{groups} groups asked of {len(layers)} layers {layers}")
    tree = layer_linkage(similarity, method)
    if tree is None:
        return [layers], None
    if groups is not None:
        labels = fcluster(tree, t=groups, criterion="maxclust")
    else:
        labels = fcluster(tree, t=distance_threshold, criterion="distance")
    return groups_from_labels(layers, labels), tree


def random_contiguous_groups(layers: Sequence[int], count: int, seed: int) -> List[List[int]]:
    """``count`` runs of consecutive layers (in the order of ``sorted(layers)``) covering every layer
    once, the cut points drawn with ``numpy.random.default_rng(seed)``."""
    layers = sorted(int(layer) for layer in layers)
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers repeat: {layers}")
    if not 1 <= count <= len(layers):
        raise ValueError(f"cannot cut {len(layers)} layers into {count} contiguous groups")
    rng = np.random.default_rng(seed)
    cuts = sorted(int(c) + 1 for c in rng.choice(len(layers) - 1, size=count - 1, replace=False))
    bounds = [0] + cuts + [len(layers)]
    return [layers[start:end] for start, end in zip(bounds[:-1], bounds[1:])]


def single_layer_groups(layers: Sequence[int]) -> List[List[int]]:
    """Every layer its own group."""
    return [[int(layer)] for layer in sorted(layers)]


def is_contiguous(groups: Sequence[Sequence[int]], layers: Sequence[int]) -> bool:
    """Whether every group is a run of consecutive entries of ``sorted(layers)``."""
    position = {layer: i for i, layer in enumerate(sorted(layers))}
    for group in groups:
        places = sorted(position[layer] for layer in group)
        if places != list(range(places[0], places[0] + len(places))):
            return False
    return True
