"""SKILL's groups of teacher layers (Zampierin et al., ICASSP-W SASB 2024; arXiv 2402.16830).

SKILL distils DPHuBERT-style, but each target is the mean of a *group* of teacher layers, the
groups found by a hierarchical clustering of a layer-similarity matrix computed on a small
calibration set. This package finds the groups; the loss that uses them is
:mod:`upstream_distill.losses.group_mean`. One concept per module:

    config.py       LayerGroupConfig: ``config.model.layer_groups``, validated; the PROPOSED defaults
    calibration.py  the calibration set C (seeded draw, crops) and the teacher's hidden states on it,
                    subsampled to the same frames in every layer
    similarity.py   linear CKA, RBF CKA, frame-wise cosine; the (L+1)x(L+1) similarity matrix S
    clustering.py   1 - S -> scipy linkage -> fcluster; random contiguous and single-layer ablations
    cache.py        S cached per (teacher bytes, calibration utterances, settings), written atomically
    groups.py       LayerGroups and compute_layer_groups(): the steps above, cached
    plot.py         layer_groups.png: S with the groups boxed, beside the dendrogram
    artefacts.py    write_layer_group_artefacts(): layer_similarity.csv, layer_groups.yaml, the figure

PROPOSED, not known from the paper (whose retrievable text names only "hierarchical clustering"
of "layer similarity measures" on "a small calibration dataset"; see
``/work/shared/notes/pruning-and-skill.md`` §2.2): the similarity measure (``linear_cka``: the
standard, rotation- and scale-invariant measure of layer similarity, cheap on many frames), the
linkage (``average``: neither single's chaining nor complete's sensitivity to one outlier pair),
the number of groups (``4``: as many targets as DPHuBERT's layers 0/4/8/12, so SKILL against
DPHuBERT changes which layers are averaged, not how many targets there are), whether hidden state 0
takes part (yes, as in DPHuBERT), and the calibration set's size (256 utterances ≤ 15 s, 30 000
frames). The alternatives are all settings (``rbf_cka``, ``cosine``; ``ward`` ...; ``groups`` or
``distance_threshold``; ``grouping: random_contiguous | single_layers`` for the ablations).
"""
from .artefacts import write_layer_group_artefacts
from .clustering import cluster_layers, is_contiguous, random_contiguous_groups, single_layer_groups
from .config import GROUPINGS, LINKAGES, SIMILARITIES, LayerGroupConfig
from .groups import LayerGroups, compute_layer_groups
from .similarity import frame_cosine, linear_cka, rbf_cka, similarity_matrix

__all__ = [
    "GROUPINGS",
    "LINKAGES",
    "LayerGroupConfig",
    "LayerGroups",
    "SIMILARITIES",
    "cluster_layers",
    "compute_layer_groups",
    "frame_cosine",
    "is_contiguous",
    "linear_cka",
    "random_contiguous_groups",
    "rbf_cka",
    "similarity_matrix",
    "single_layer_groups",
    "write_layer_group_artefacts",
]
