"""The run folder's layer_similarity.csv, layer_groups.yaml and layer_groups.png."""
from __future__ import annotations

import numpy as np
import yaml

from upstream_distill.layer_groups import LayerGroups, cluster_layers, is_contiguous, write_layer_group_artefacts
from upstream_distill.layer_groups.artefacts import read_similarity_csv

from .test_clustering import BLOCKS, block_similarity


def _groups(similarity, layers, groups=None) -> LayerGroups:
    found, tree = cluster_layers(similarity, layers, "average", groups=len(BLOCKS) if len(layers) > 1 else 1)
    groups = groups or found
    settings = {"config": {"similarity": "linear_cka", "linkage": "average", "grouping": "similarity",
                           "distance_threshold": None}, "similarity_clusters": found, "calibration_frames": 100,
                "teacher_digest": "0123456789abcdef", "frames": np.int64(100)}
    return LayerGroups(layers=layers, similarity=similarity, groups=groups, linkage_matrix=tree,
                       settings=settings, contiguous=is_contiguous(groups, layers))


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_the_three_files(tmp_path):
    groups = _groups(block_similarity(), list(range(13)))
    write_layer_group_artefacts(groups, tmp_path / "run")
    assert _files(tmp_path / "run") == ["layer_groups.png", "layer_groups.yaml", "layer_similarity.csv"]
    layers, matrix = read_similarity_csv(tmp_path / "run" / "layer_similarity.csv")
    assert layers == list(range(13))
    np.testing.assert_array_equal(matrix, groups.similarity)  # repr(float) round-trips exactly
    header = (tmp_path / "run" / "layer_similarity.csv").read_text().splitlines()[0]
    assert header == "layer," + ",".join(str(i) for i in range(13))
    record = yaml.safe_load((tmp_path / "run" / "layer_groups.yaml").read_text())
    assert record["groups"] == BLOCKS and record["layers"] == list(range(13)) and record["contiguous"] is True
    assert record["settings"]["teacher_digest"] == "0123456789abcdef" and record["settings"]["frames"] == 100
    assert (tmp_path / "run" / "layer_groups.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_non_contiguous_and_single_layer_groups_draw(tmp_path):
    layers = list(range(1, 13))
    interleaved = [[1, 3, 5, 7, 9, 11], [2, 4, 6, 8, 10, 12]]
    groups = _groups(block_similarity()[1:, 1:], layers, groups=interleaved)
    assert not groups.contiguous
    write_layer_group_artefacts(groups, tmp_path / "a")
    assert yaml.safe_load((tmp_path / "a" / "layer_groups.yaml").read_text())["groups"] == interleaved
    write_layer_group_artefacts(_groups(np.ones((1, 1)), [4]), tmp_path / "b")  # one layer: no dendrogram
    assert _files(tmp_path / "b") == ["layer_groups.png", "layer_groups.yaml", "layer_similarity.csv"]


def test_artefacts_of_a_computed_grouping(teacher_file, corpus, tmp_path):
    from upstream_distill.layer_groups import LayerGroupConfig, compute_layer_groups
    from upstream_distill.models import load_teacher

    from .conftest import SAMPLE_RATE

    config = LayerGroupConfig(calibration_utterances=3, max_seconds=0.3, max_frames=40, groups=3)
    groups = compute_layer_groups(load_teacher(teacher_file), teacher_file, corpus, SAMPLE_RATE, config,
                                  tmp_path / "cache", log=lambda message: None)
    write_layer_group_artefacts(groups, tmp_path / "run")
    record = yaml.safe_load((tmp_path / "run" / "layer_groups.yaml").read_text())
    assert record["groups"] == groups.groups
    assert record["settings"]["config"]["groups"] == 3 and record["settings"]["cache_key"]
    _, matrix = read_similarity_csv(tmp_path / "run" / "layer_similarity.csv")
    np.testing.assert_array_equal(matrix, groups.similarity)
