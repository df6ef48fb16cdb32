"""Clustering a similarity matrix into groups of layers, and the ablation groupings."""
from __future__ import annotations

import numpy as np
import pytest

from upstream_distill.layer_groups import (
    LINKAGES,
    cluster_layers,
    is_contiguous,
    random_contiguous_groups,
    single_layer_groups,
)

BLOCKS = [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]


def block_similarity(blocks=BLOCKS, within: float = 0.9, across: float = 0.3, noise: float = 0.04,
                     seed: int = 0) -> np.ndarray:
    """A symmetric matrix with ones on the diagonal, ``within`` ± noise inside a block, ``across`` ±
    noise elsewhere, and similarity falling slowly with depth distance inside the noise."""
    count = sum(len(block) for block in blocks)
    block_of = {layer: k for k, block in enumerate(blocks) for layer in block}
    rng = np.random.default_rng(seed)
    matrix = np.empty((count, count))
    for i in range(count):
        for j in range(count):
            base = within if block_of[i] == block_of[j] else across
            matrix[i, j] = base - 0.005 * abs(i - j)
    matrix += noise * rng.uniform(-1, 1, (count, count))
    matrix = (matrix + matrix.T) / 2
    np.fill_diagonal(matrix, 1.0)
    return matrix


@pytest.mark.parametrize("method", LINKAGES)
def test_block_structure_gives_its_contiguous_blocks(method):
    similarity = block_similarity()
    groups, tree = cluster_layers(similarity, list(range(13)), method, groups=4)
    assert groups == BLOCKS
    assert is_contiguous(groups, range(13))
    assert tree.shape == (12, 4)
    again, tree_again = cluster_layers(similarity, list(range(13)), method, groups=4)
    assert again == groups and np.array_equal(tree, tree_again)  # deterministic


def test_layers_are_named_by_hidden_state_index():
    """include_first: false -> rows are hidden states 1..12; the groups name those indices."""
    similarity = block_similarity()[1:, 1:]
    groups, _ = cluster_layers(similarity, list(range(1, 13)), "average", groups=3)
    assert groups == BLOCKS[1:]


def test_distance_threshold_cuts_the_tree():
    similarity = block_similarity()
    groups, _ = cluster_layers(similarity, list(range(13)), "average", distance_threshold=0.4)
    assert groups == BLOCKS
    groups, _ = cluster_layers(similarity, list(range(13)), "average", distance_threshold=0.9)
    assert groups == [list(range(13))]
    groups, _ = cluster_layers(similarity, list(range(13)), "average", distance_threshold=0.01)
    assert groups == [[layer] for layer in range(13)]


def test_non_contiguous_clusters_are_reported_as_such():
    # layers 0 and 2 alike, 1 and 3 alike: the clusters interleave
    similarity = np.array([[1.0, 0.1, 0.9, 0.1], [0.1, 1.0, 0.1, 0.9], [0.9, 0.1, 1.0, 0.1], [0.1, 0.9, 0.1, 1.0]])
    groups, _ = cluster_layers(similarity, [0, 1, 2, 3], "average", groups=2)
    assert groups == [[0, 2], [1, 3]]
    assert not is_contiguous(groups, [0, 1, 2, 3])


def test_one_layer_and_bad_counts():
    assert cluster_layers(np.ones((1, 1)), [5], "ward", groups=1) == ([[5]], None)
    with pytest.raises(ValueError, match="5 groups asked of 4 layers"):
        cluster_layers(np.eye(4), [0, 1, 2, 3], "average", groups=5)
    with pytest.raises(ValueError, match="exactly one"):
        cluster_layers(np.eye(4), [0, 1, 2, 3], "average", groups=2, distance_threshold=0.5)


@pytest.mark.parametrize("count", [1, 3, 4, 13])
def test_random_contiguous_groups(count):
    layers = list(range(13))
    groups = random_contiguous_groups(layers, count, seed=3)
    assert len(groups) == count
    assert sorted(layer for group in groups for layer in group) == layers
    assert is_contiguous(groups, layers)
    assert groups == random_contiguous_groups(layers, count, seed=3)
    assert groups == random_contiguous_groups(list(reversed(layers)), count, seed=3)


def test_random_contiguous_groups_depend_on_the_seed():
    draws = {tuple(map(tuple, random_contiguous_groups(range(1, 13), 4, seed))) for seed in range(8)}
    assert len(draws) > 1
    assert all(group[0][0] == 1 and group[-1][-1] == 12 for group in draws)
    with pytest.raises(ValueError):
        random_contiguous_groups(range(4), 5, seed=0)
    with pytest.raises(ValueError):
        random_contiguous_groups(range(4), 0, seed=0)


def test_single_layer_groups():
    assert single_layer_groups([3, 1, 2]) == [[1], [2], [3]]
