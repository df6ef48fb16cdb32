"""The protocol a score was measured under: which task config, and which upstream weights.

Two scores of a task are comparable only when both were measured with the same resolved task config
(under the preset, with the featurizer flags) and, for the same row, with the same weights: a re-trained
teacher or a re-distilled student under an old name is another upstream. A run writes its protocol to
``protocol.txt`` when it starts and into ``score.json`` when it finishes, as ``<config>+<weights>``
(two 12-hex digests); existing experiment folders and ``scores.csv`` hold that text, so its form and
the digests stay as they are.

Two later parts of the protocol keep that rule by being written only when they differ from what every
earlier score was measured with:

* the probe's torch thread count (``--probe-threads``): the split of a reduction over threads changes
  its floating-point sums, so a probe trained with 1 thread is not the float path of one trained with 2.
  2 threads is the protocol's implicit default, the thread count of every score measured before it was
  recorded (torch's default on the 2-core machines they ran on); the digest of the task config takes the
  thread count in only when it differs from 2, so every existing digest stays as it is.
* the probe seed (``--probe-seeds``, seeds.py): seed 1 is s3prl's default seed, that of every run before
  seeds were counted, and writes nothing; seed k > 1 adds ``+seed<k>`` after the two digests.
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
#: the torch thread count of every probe trained before the thread count was recorded (see the docstring)
PROTOCOL_THREADS = 2
_SEED_PREFIX = "seed"  # the third part of a protocol text, for probe seeds above 1


@dataclass(frozen=True)
class RunProtocol:
    task_config: str  # task_config_digest() of the task under the preset
    weights: str  # weights_fingerprint() of the upstream
    seed: int = 1  # the probe seed (seeds.py); 1, the seed of every earlier run, is not written

    def __str__(self) -> str:
        seed = f"{_SEPARATOR}{_SEED_PREFIX}{self.seed}" if self.seed != 1 else ""
        return f"{self.task_config}{_SEPARATOR}{self.weights}{seed}"

    @classmethod
    def parse(cls, text: str) -> "RunProtocol":
        """The protocol as written; a text without weights (none was ever written so) has ``weights=''``."""
        task_config, _, rest = text.strip().partition(_SEPARATOR)
        weights, _, seed = rest.partition(_SEPARATOR)
        if seed.startswith(_SEED_PREFIX) and seed[len(_SEED_PREFIX):].isdigit():
            return cls(task_config, weights, int(seed[len(_SEED_PREFIX):]))
        return cls(task_config, rest)


def task_config_digest(task: Task, preset: str, override: Optional[str] = None,
                       threads: int = PROTOCOL_THREADS) -> str:
    """Digest of everything that makes two scores of a task comparable: its resolved config under
    the preset (corpus paths left as placeholders, so moving the corpus changes nothing) with the
    command's ``--task-override`` pairs set in it, the featurizer flags, and the probe's torch thread
    count. Editing a task's config (or shortening its schedule) thus re-runs that task, and only that task."""
    from ..s3prl_bridge.run_downstream import read_config

    config = read_config(default_config(task, preset))
    if override:  # without one the digest stays what it was before overrides existed
        config = apply_overrides(config, parse_overrides(override))
    parts = [task.name, task.finetune, config, FEATURIZER_FLAGS]
    if threads != PROTOCOL_THREADS:  # at the implicit default the digest stays what it was before threads counted
        parts.append({"probe_threads": threads})
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def current_task_configs(preset: str, overrides: Optional[Dict[str, str]] = None,
                         threads: int = PROTOCOL_THREADS) -> Dict[str, str]:
    """task -> digest of its config under the preset (and this command's overrides and probe threads) now;
    the tables mark scores measured under another."""
    overrides = overrides or {}
    return {name: task_config_digest(task, preset, overrides.get(name), threads) for name, task in ALL_TASKS.items()}


def _tensor_bytes(value) -> bytes:
    """The bytes of a state-dict entry: a tensor, or what an int8 Linear packs (a tuple of an int8 weight
    tensor, with its scale and zero point, and a bias), so an int8 upstream has a fingerprint too."""
    if isinstance(value, (tuple, list)):
        return b"".join(_tensor_bytes(item) for item in value)
    if value is None:
        return b""
    if isinstance(value, torch.Tensor) and value.is_quantized:
        scale = torch.tensor([value.q_scale(), float(value.q_zero_point())], dtype=torch.float64)
        return _tensor_bytes(value.int_repr()) + _tensor_bytes(scale)
    if not isinstance(value, torch.Tensor):  # e.g. a packed Linear's dtype entry
        return repr(value).encode()
    return value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def weights_fingerprint(model: torch.nn.Module) -> str:
    """Digest of an upstream's parameters and buffers, as the harness builds it."""
    digest = hashlib.sha1()
    for name, value in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(_tensor_bytes(value))
    return digest.hexdigest()[:12]


def recorded_protocol(run_folder: Path) -> Optional[RunProtocol]:
    """The protocol a finished run's score.json was measured under (None: no score, or none recorded)."""
    score = run_folder / "score.json"
    if not score.is_file():
        return None
    text = json.loads(score.read_text()).get("protocol")
    return RunProtocol.parse(str(text)) if text else None
