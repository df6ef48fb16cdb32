"""``config.model.layer_groups``: how SKILL's groups of teacher layers are found.

Read with ``typed_section(LayerGroupConfig, data, "model.layer_groups")``; a value
``__post_init__`` refuses comes back as a :class:`~upstream_distill.core.errors.ConfigError`
whose message names the key (``config.model.layer_groups.<key>``).

PROPOSED defaults (Zampierin et al. 2024 do not say, in any text retrievable here, which
similarity, linkage, number of groups or calibration set they use; see
``/work/shared/notes/pruning-and-skill.md`` §2.2-2.3):

* ``similarity: linear_cka``: Kornblith et al.'s linear CKA is the standard measure of layer
  similarity in self-supervised speech models (invariant to rotations and isotropic scaling, so a
  layer's norm does not decide its group), cheap on tens of thousands of frames;
* ``linkage: average``: UPGMA on ``1 - S`` neither chains layers together (single) nor splits on
  one outlier pair (complete); Ward is the ablation;
* ``groups: 4``: as many targets as DPHuBERT's layers 0/4/8/12, so the comparison changes only
  which layers are averaged, not how many targets are predicted;
* ``include_first: true``: DPHuBERT distils hidden state 0 (projected CNN output) too;
* 256 calibration utterances cropped to 15 s, 30 000 frames: a few minutes of speech, far more
  frames than a Base model's 768 dims, which linear CKA needs to be stable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

__all__ = ["GROUPINGS", "LINKAGES", "LayerGroupConfig", "SECTION", "SIMILARITIES"]

#: the config key of the section, as error messages name it
SECTION = "config.model.layer_groups"
#: similarity measures (:mod:`.similarity`)
SIMILARITIES = ("linear_cka", "rbf_cka", "cosine")
#: scipy.cluster.hierarchy.linkage methods that take a precomputed distance
LINKAGES = ("single", "complete", "average", "weighted", "ward")
#: how the groups are formed once S is known (:mod:`.clustering`)
GROUPINGS = ("similarity", "random_contiguous", "single_layers")


def _integer(key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{SECTION}.{key}: expected an integer, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{SECTION}.{key}: expected an integer, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"{SECTION}.{key}: expected an integer, got {value!r}")
    return int(number)


def _real(key: str, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{SECTION}.{key}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{SECTION}.{key}: expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{SECTION}.{key}: expected a finite number, got {value!r}")
    return number


def _choice(key: str, value, known) -> str:
    if value not in known:
        raise ValueError(f"{SECTION}.{key}: unknown {key} {value!r} (known: {', '.join(known)})")
    return value


@dataclass
class LayerGroupConfig:
    """SKILL's layer grouping; see the module docstring for why the defaults are what they are."""

    similarity: str = "linear_cka"  # linear_cka | rbf_cka | cosine
    linkage: str = "average"  # single | complete | average | weighted | ward
    groups: Optional[int] = 4  # clusters (fcluster maxclust); None when distance_threshold is given
    distance_threshold: Optional[float] = None  # cut the dendrogram at this distance 1 - S instead
    include_first: bool = True  # hidden state 0 (projected CNN output) takes part
    grouping: str = "similarity"  # similarity | random_contiguous | single_layers
    calibration_utterances: int = 256
    max_seconds: float = 15.0  # crop of each calibration utterance (from its start)
    max_frames: int = 30000  # frames kept for the similarity, the same for every layer
    seed: int = 0  # calibration choice, frame subsample, random_contiguous cuts
    cache_dir: Optional[str] = None  # None: the caller chooses

    def __post_init__(self):
        self.similarity = _choice("similarity", self.similarity, SIMILARITIES)
        self.linkage = _choice("linkage", self.linkage, LINKAGES)
        self.grouping = _choice("grouping", self.grouping, GROUPINGS)
        if (self.groups is None) == (self.distance_threshold is None):
            raise ValueError(f"{SECTION}.groups / {SECTION}.distance_threshold: give exactly one of them "
                             f"(got groups={self.groups!r}, distance_threshold={self.distance_threshold!r}); "
                             f"set the other to None")
        if self.groups is not None:
            self.groups = _integer("groups", self.groups)
            if self.groups < 1:
                raise ValueError(f"{SECTION}.groups: must be >= 1, got {self.groups}")
        if self.distance_threshold is not None:
            self.distance_threshold = _real("distance_threshold", self.distance_threshold)
            if self.distance_threshold <= 0:
                raise ValueError(f"{SECTION}.distance_threshold: must be > 0 (a distance 1 - similarity), "
                                 f"got {self.distance_threshold}")
        if not isinstance(self.include_first, bool):
            raise ValueError(f"{SECTION}.include_first: expected true or false, got {self.include_first!r}")
        self.calibration_utterances = _integer("calibration_utterances", self.calibration_utterances)
        if self.calibration_utterances < 1:
            raise ValueError(f"{SECTION}.calibration_utterances: the calibration set is empty "
                             f"({self.calibration_utterances} utterances); use at least 1 (default 256)")
        self.max_seconds = _real("max_seconds", self.max_seconds)
        if self.max_seconds <= 0:
            raise ValueError(f"{SECTION}.max_seconds: must be > 0, got {self.max_seconds}")
        self.max_frames = _integer("max_frames", self.max_frames)
        if self.max_frames < 2:
            raise ValueError(f"{SECTION}.max_frames: must be >= 2 (the similarity centres over frames), "
                             f"got {self.max_frames}")
        self.seed = _integer("seed", self.seed)
        if self.cache_dir is not None:
            self.cache_dir = str(self.cache_dir)
