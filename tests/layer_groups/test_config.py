"""config.model.layer_groups: defaults, and errors that name the key."""
from __future__ import annotations

import pytest

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.yaml_config import typed_section
from upstream_distill.layer_groups import LayerGroupConfig


def _section(**values) -> LayerGroupConfig:
    return typed_section(LayerGroupConfig, values, "model.layer_groups")


def test_defaults_and_coercion():
    config = _section()
    assert (config.similarity, config.linkage, config.groups, config.distance_threshold) == \
        ("linear_cka", "average", 4, None)
    assert (config.grouping, config.include_first, config.calibration_utterances) == ("similarity", True, 256)
    config = _section(groups=None, distance_threshold="0.3", max_frames="1000", cache_dir=None)
    assert (config.groups, config.distance_threshold, config.max_frames) == (None, 0.3, 1000)


@pytest.mark.parametrize("values, key", [
    (dict(similarity="procrustes"), "similarity"),
    (dict(linkage="centroid"), "linkage"),
    (dict(grouping="shuffled"), "grouping"),
    (dict(groups=0), "groups"),
    (dict(groups=2.5), "groups"),
    (dict(groups=4, distance_threshold=0.5), "groups"),
    (dict(groups=None), "distance_threshold"),
    (dict(groups=None, distance_threshold=-0.1), "distance_threshold"),
    (dict(calibration_utterances=0), "calibration_utterances"),
    (dict(max_seconds=0), "max_seconds"),
    (dict(max_frames=1), "max_frames"),
    (dict(include_first="yes"), "include_first"),
    (dict(n_groups=4), "n_groups"),  # typed_section's own check
])
def test_errors_name_the_key(values, key):
    with pytest.raises(ConfigError, match=f"config\\.model\\.layer_groups\\.{key}"):
        _section(**values)
