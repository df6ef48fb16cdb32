"""SKILL's layer groups of a teacher: calibration set -> hidden states -> S -> clusters, cached.

:func:`compute_layer_groups` runs the steps of :mod:`.calibration`, :mod:`.similarity` and
:mod:`.clustering`; S (over every hidden state 0..L) is cached by :mod:`.cache`. The layers that
take part are ``0..L`` (``include_first``) or ``1..L``; ``LayerGroups.similarity`` is S restricted
to them, and the clustering sees only them. With ``grouping``:

* ``similarity``: the clusters of ``1 - S`` (``groups`` clusters, or cut at ``distance_threshold``);
  a cluster that is not a run of consecutive layers is logged and kept;
* ``random_contiguous``: as many contiguous groups as the similarity clustering gives, cut at
  random (``seed``): the ablation that asks whether the similarity matters;
* ``single_layers``: every layer its own group.

The similarity dendrogram is kept (``linkage_matrix``) whatever the grouping, for the artefacts.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

import numpy as np

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.provenance import file_digest
from upstream_distill.training.data import Utterance

from .cache import cache_key, calibration_digest, load_similarity, store_similarity
from .calibration import choose_calibration, collect_hidden_states
from .clustering import cluster_layers, is_contiguous, random_contiguous_groups, single_layer_groups
from .config import SECTION, LayerGroupConfig
from .similarity import similarity_matrix

__all__ = ["LayerGroups", "compute_layer_groups"]


@dataclass
class LayerGroups:
    """The groups and what they were found from."""

    layers: List[int]  # hidden-state indices that took part, e.g. [0..12]
    similarity: np.ndarray  # (len(layers), len(layers)); row i is layers[i]
    groups: List[List[int]]  # hidden-state indices per group, ordered by depth, each sorted
    linkage_matrix: Optional[np.ndarray]  # scipy linkage of 1 - similarity; None for one layer
    settings: dict  # plain types: the config, teacher and calibration digests, the cache key, counts
    contiguous: bool  # whether every group is a run of consecutive layers


def _hidden_state_count(teacher) -> int:
    return len(teacher.layers) + 1


def compute_layer_groups(teacher, teacher_file: Union[str, Path], utterances: Sequence[Utterance],
                         sample_rate: int, config: LayerGroupConfig, cache_dir: Path,
                         log: Callable[[str], None] = print) -> LayerGroups:
    """The layer groups of ``teacher`` (a :class:`~upstream_distill.models.TeacherModel` loaded from
    ``teacher_file``) on a calibration set drawn from ``utterances``; S computed once per cache key
    under ``cache_dir/<key>/`` (see :mod:`.cache`), reused after. ConfigError (naming the key of
    ``config.model.layer_groups``) for an empty calibration set or more groups than layers."""
    hidden_states = _hidden_state_count(teacher)
    layers = list(range(0 if config.include_first else 1, hidden_states))
    if not layers:
        raise ConfigError(f"{SECTION}.include_first: false leaves no layer of a teacher without transformer layers")
    if config.grouping != "single_layers" and config.groups is not None and config.groups > len(layers):
        note = "" if config.include_first else "; include_first: false"
        raise ConfigError(f"{SECTION}.groups: {config.groups} groups asked of {len(layers)} layers "
                          f"(hidden states {layers[0]}..{layers[-1]}{note})")
    calibration = choose_calibration(utterances, config.calibration_utterances, config.seed)
    teacher_digest = file_digest(teacher_file)
    calibration_key = calibration_digest(calibration)
    key = cache_key(teacher_digest, calibration_key, sample_rate, config)
    folder = Path(cache_dir) / key

    cached = load_similarity(folder)
    if cached is not None and len(cached[0]) == hidden_states:
        full, meta = cached
        log(f"layer groups: reusing the {config.similarity} similarity of {hidden_states} hidden states "
            f"cached in {folder}")
    else:
        started = time.monotonic()
        features, info = collect_hidden_states(teacher, calibration, sample_rate, config.max_seconds,
                                               config.max_frames, config.seed, log)
        if len(features) != hidden_states:
            raise RuntimeError(f"the teacher returned {len(features)} hidden states, expected {hidden_states}")
        full = similarity_matrix(features, config.similarity)
        del features
        meta = {**info, "hidden_states": hidden_states, "similarity": config.similarity,
                "teacher_file": str(teacher_file), "teacher_digest": teacher_digest,
                "calibration_digest": calibration_key, "sample_rate": int(sample_rate),
                "seconds": round(time.monotonic() - started, 2)}
        folder = store_similarity(folder, full, meta)
        log(f"layer groups: computed the {config.similarity} similarity of {hidden_states} hidden states on "
            f"{info['utterances']} calibration utterances ({info['frames_kept']} of {info['frames']} frames) "
            f"in {meta['seconds']:.1f} s -> {folder}")

    similarity = full[np.ix_(layers, layers)]
    if config.distance_threshold is not None:
        count, threshold = None, config.distance_threshold
    else:  # single_layers uses only the dendrogram: its cut may ask for as many groups as there are layers
        count, threshold = min(config.groups, len(layers)), None
    found, tree = cluster_layers(similarity, layers, config.linkage, count, threshold)
    if count is not None and len(found) < count and config.grouping != "single_layers":
        log(f"layer groups: the {config.linkage} clustering gives {len(found)} groups, not {count} "
            f"(tied merge heights)")
    if config.grouping == "similarity":
        groups = found
        if not is_contiguous(groups, layers):
            log(f"layer groups: the {config.similarity}/{config.linkage} clusters are not contiguous in depth: "
                f"{groups} (kept as they are)")
    elif config.grouping == "random_contiguous":
        groups = random_contiguous_groups(layers, len(found), config.seed)
    else:
        groups = single_layer_groups(layers)

    settings = {"config": asdict(config), "teacher_file": str(teacher_file), "teacher_digest": teacher_digest,
                "calibration_digest": calibration_key, "calibration_utterances": int(meta.get("utterances", 0)),
                "calibration_frames": int(meta.get("frames_kept", 0)), "sample_rate": int(sample_rate),
                "cache_key": key, "similarity_clusters": [list(g) for g in found]}
    return LayerGroups(layers=layers, similarity=similarity, groups=groups, linkage_matrix=tree,
                       settings=settings, contiguous=is_contiguous(groups, layers))
