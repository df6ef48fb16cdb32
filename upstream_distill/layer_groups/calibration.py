"""SKILL's calibration set C and the teacher's hidden states on it.

1. ``calibration_utterances`` utterances drawn without replacement from the corpus with
   ``numpy.random.default_rng(seed)`` (all of them when the corpus is smaller), kept in corpus order;
2. each cropped to its first ``max_seconds`` (an utterance shorter than the teacher's receptive
   field is left out, with a log line);
3. the teacher in eval mode under ``torch.no_grad`` returns ``ModelOutput.hidden_states`` (index 0:
   projected CNN output, index l: output of layer l) for padded, length-sorted batches; padding is
   dropped with ``frame_mask``;
4. the frames of all utterances, concatenated in corpus order (``F`` in all), are subsampled to
   ``max_frames`` frame positions drawn with ``default_rng([seed, 1])``; the same positions are kept
   in every hidden state, so row t of every layer's matrix is the same frame of the same utterance.

Only the kept frames are stored (``max_frames × (L+1) × D`` float32: 1.2 GB for a Base model at
30 000 frames), on the teacher's device.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from upstream_distill.core.errors import ConfigError
from upstream_distill.training.data import Utterance, read_audio

from .config import SECTION

__all__ = ["BATCH_SIZE", "calibration_crops", "choose_calibration", "collect_hidden_states"]

#: utterances per teacher forward
BATCH_SIZE = 8


def choose_calibration(utterances: Sequence[Utterance], count: int, seed: int) -> List[Utterance]:
    """``count`` utterances (all when fewer) drawn with a seeded generator, in corpus order.
    ConfigError naming ``calibration_utterances`` for an empty corpus or choice."""
    if count < 1:
        raise ConfigError(f"{SECTION}.calibration_utterances: the calibration set is empty ({count} "
                          f"utterances); use at least 1")
    if not utterances:
        raise ConfigError(f"{SECTION}.calibration_utterances: the corpus holds no utterances to draw "
                          f"the calibration set from (check config.datarc)")
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(utterances), size=min(count, len(utterances)), replace=False))
    return [utterances[int(i)] for i in chosen]


def calibration_crops(utterances: Sequence[Utterance], max_samples: int,
                      min_samples: int) -> Tuple[List[Utterance], List[int]]:
    """The utterances long enough for one frame, and their crop lengths (≤ ``max_samples``)."""
    kept = [u for u in utterances if min(int(u.length), max_samples) >= min_samples]
    return kept, [min(int(u.length), max_samples) for u in kept]


def _teacher_device(teacher: torch.nn.Module) -> Tuple[torch.device, torch.dtype]:
    parameter = next(iter(teacher.parameters()), None)
    if parameter is None:
        return torch.device("cpu"), torch.float32
    dtype = parameter.dtype if parameter.dtype.is_floating_point else torch.float32
    return parameter.device, dtype


def collect_hidden_states(teacher, utterances: Sequence[Utterance], sample_rate: int, max_seconds: float,
                          max_frames: int, seed: int,
                          log: Callable[[str], None] = print) -> Tuple[List[Tensor], dict]:
    """``(features, info)``: one ``(n, D)`` float32 tensor per hidden state over the same ``n ≤
    max_frames`` calibration frames, and what was used (``utterances``, ``skipped``, ``frames``,
    ``frames_kept``). ConfigError (``calibration_utterances``) when no utterance is long enough."""
    max_samples = max(1, int(round(max_seconds * sample_rate)))
    receptive_field = int(teacher.config.receptive_field)
    kept, lengths = calibration_crops(utterances, max_samples, receptive_field)
    if len(kept) < len(utterances):
        log(f"layer groups: {len(utterances) - len(kept)} calibration utterances shorter than the teacher's "
            f"{receptive_field}-sample receptive field left out")
    if not kept:
        raise ConfigError(f"{SECTION}.calibration_utterances: no calibration utterance is long enough for "
                          f"one frame of the teacher ({receptive_field} samples)")
    counts = teacher.frame_lengths(torch.tensor(lengths)).tolist()
    offsets = np.concatenate([[0], np.cumsum(counts)])
    total = int(offsets[-1])
    rng = np.random.default_rng([seed, 1])
    chosen = np.sort(rng.choice(total, size=min(max_frames, total), replace=False))
    # per utterance, the positions of its chosen frames among its own
    picks = [chosen[(chosen >= offsets[i]) & (chosen < offsets[i + 1])] - offsets[i] for i in range(len(kept))]

    device, dtype = _teacher_device(teacher)
    per_utterance: List[List[Tensor]] = [[] for _ in kept]
    order = sorted(range(len(kept)), key=lambda i: -lengths[i])
    was_training = teacher.training
    teacher.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), BATCH_SIZE):
                rows = order[start:start + BATCH_SIZE]
                if not any(len(picks[i]) for i in rows):
                    continue
                width = max(lengths[i] for i in rows)
                waves = torch.zeros(len(rows), width)
                for row, i in enumerate(rows):
                    waves[row, :lengths[i]] = torch.from_numpy(
                        read_audio(kept[i].path, 0, lengths[i], sample_rate))
                output = teacher(waves.to(device=device, dtype=dtype),
                                 torch.tensor([lengths[i] for i in rows], device=device))
                real = output.frame_mask.sum(dim=-1).tolist()
                for row, i in enumerate(rows):
                    if int(real[row]) != counts[i]:
                        raise RuntimeError(f"{kept[i].path}: the teacher gave {int(real[row])} frames, "
                                           f"its frame_lengths {counts[i]}")
                    index = torch.as_tensor(picks[i], dtype=torch.long, device=device)
                    per_utterance[i] = [hidden[row].index_select(0, index).float()
                                        for hidden in output.hidden_states]
    finally:
        teacher.train(was_training)
    layers = next(len(h) for h in per_utterance if h)  # every utterance holds >= 1 frame, total >= 1 is chosen
    features = [torch.cat([h[layer] for h in per_utterance if h]) for layer in range(layers)]
    info = {"utterances": len(kept), "skipped": len(utterances) - len(kept), "frames": total,
            "frames_kept": int(len(chosen))}
    return features, info
