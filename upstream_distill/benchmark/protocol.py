"""The protocol a score was measured under: which task config, and which upstream weights.

Two scores of a task are comparable only when both were measured with the same resolved task config
(under the preset, with the featurizer flags) and, for the same row, with the same weights: a re-trained
teacher or a re-distilled student under an old name is another upstream. A run writes its protocol to
``protocol.txt`` when it starts and into ``score.json`` when it finishes, as ``<config>+<weights>``
(two 12-hex digests); existing experiment folders and ``scores.csv`` hold that text, so its form and
the digests stay as they are.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import torch

from ..core.yaml_config import apply_overrides, parse_overrides
from ..s3prl_bridge.tasks import ALL_TASKS, Task, default_config

#: Part of the protocol: s3prl's featurizer layer-normalises every hidden state before its weighted
#: sum. Pre-LN networks (the tiny_hubert teacher, WavLM/wav2vec 2.0 Large) carry un-normalised
#: residual streams (tiny_hubert: std ~30 in layers 1-5, ~1 after its final layer norm), post-LN
#: students and FBANK do not; the short mini schedules would otherwise rank feature scales rather
#: than content (measured on the second-iteration tiny_hubert: mini PR PER 51.2 without, 47.8 with it).
FEATURIZER_FLAGS = ("--upstream_feature_normalize",)
PROTOCOL_FILE = "protocol.txt"
_SEPARATOR = "+"  # between the two digests in protocol.txt and score.json


@dataclass(frozen=True)
class RunProtocol:
    task_config: str  # task_config_digest() of the task under the preset
    weights: str  # weights_fingerprint() of the upstream

    def __str__(self) -> str:
        return f"{self.task_config}{_SEPARATOR}{self.weights}"

    @classmethod
    def parse(cls, text: str) -> "RunProtocol":
        """The protocol as written; a text without weights (none was ever written so) has ``weights=''``."""
        task_config, _, weights = text.strip().partition(_SEPARATOR)
        return cls(task_config, weights)


def task_config_digest(task: Task, preset: str, override: Optional[str] = None) -> str:
    """Digest of everything that makes two scores of a task comparable: its resolved config under
    the preset (corpus paths left as placeholders, so moving the corpus changes nothing) with the
    command's ``--task-override`` pairs set in it, and the featurizer flags. Editing a task's config
    (or shortening its schedule) thus re-runs that task, and only that task."""
    from ..s3prl_bridge.run_downstream import read_config

    config = read_config(default_config(task, preset))
    if override:  # without one the digest stays what it was before overrides existed
        config = apply_overrides(config, parse_overrides(override))
    blob = json.dumps([task.name, task.finetune, config, FEATURIZER_FLAGS], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def current_task_configs(preset: str, overrides: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """task -> digest of its config under the preset (and this command's overrides) now; the tables mark
    scores measured under another."""
    overrides = overrides or {}
    return {name: task_config_digest(task, preset, overrides.get(name)) for name, task in ALL_TASKS.items()}


def weights_fingerprint(model: torch.nn.Module) -> str:
    """Digest of an upstream's parameters and buffers, as the harness builds it."""
    digest = hashlib.sha1()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:12]


def recorded_protocol(run_folder: Path) -> Optional[RunProtocol]:
    """The protocol a finished run's score.json was measured under (None: no score, or none recorded)."""
    score = run_folder / "score.json"
    if not score.is_file():
        return None
    text = json.loads(score.read_text()).get("protocol")
    return RunProtocol.parse(str(text)) if text else None
