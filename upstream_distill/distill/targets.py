"""Teacher targets for a batch of crops: computed on the fly, or read from a disk cache.

On the fly (default) the frozen teacher encodes each batch; attention maps
and unit logits are available.  With ``--cache-teacher`` the hidden states
the objectives need are computed once per training utterance (the whole
utterance, so each frame sees its full context) and stored as float16
memory-mapped arrays; a batch then costs a slice per crop instead of a
teacher forward, for every epoch after the first.  Crops start on a frame
boundary (``datarc.crop_multiple`` is a multiple of the 320-sample hop), so
frame ``t`` of a crop at ``offset`` is cached frame ``offset / 320 + t``.

The cache folder is keyed by a digest of the teacher's bytes (its file, or
the files of its Hugging Face folder), the layers and the utterance list, so
runs that share ``teacher.cache_dir`` reuse it, also through a copy of the
teacher elsewhere, and a changed teacher or corpus never reads a stale cache.

Concurrency and kills: the builder holds ``<digest>.lock`` (a second run
that needs the same cache waits, then reads it), writes into a temporary
folder of its own (``<digest>.partial-<pid>``), writes the completion
marker last and publishes the folder with one rename; if another builder
published first (a file system without locks), its cache is kept and this
one is dropped.  A reader refuses a folder without the marker, so no run
ever trains on a half-written cache; a killed build leaves only its own
temporary folder, which the next build removes.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from upstream_distill.core.atomic_files import process_alive
from upstream_distill.core.errors import ConfigError, DataError
from upstream_distill.core.faults import fault_point
from upstream_distill.core.locks import exclusive_lock
from upstream_distill.core.provenance import file_digest
from upstream_distill.models import CheckpointError, ModelOutput, TeacherModel, load_teacher
from upstream_distill.training import ExpertContext
from upstream_distill.training.data import Batch, Utterance, read_audio

from .objectives import Objective, TeacherNeeds

__all__ = ["OnTheFlyTargets", "CachedTargets", "cache_digest", "load_section_teacher", "teacher_targets"]

# 3: published with a completion marker (a folder of version 2 could hold arrays half-written by a
#    second builder); 2: the teacher identified by its bytes (1: path, size, mtime)
CACHE_VERSION = 3
#: written last into a complete cache; readers refuse a folder without it
COMPLETE_MARKER = "complete.json"


class OnTheFlyTargets:
    """The teacher's forward on each batch, without gradients, in eval mode."""

    def __init__(self, teacher: TeacherModel, needs: TeacherNeeds):
        self.teacher, self.needs = teacher, needs

    def __call__(self, batch: Batch) -> ModelOutput:
        with torch.no_grad():
            return self.teacher(batch.wavs, batch.lengths, output_attentions=self.needs.attentions,
                                output_unit_logits=self.needs.unit_logits)


def cache_digest(teacher_file: Path, layers: Sequence[int], utterances: Sequence[Utterance]) -> str:
    identity = {"version": CACHE_VERSION, "teacher": file_digest(teacher_file),
                "layers": sorted(layers), "utterances": [(u.key, u.length) for u in utterances]}
    return hashlib.sha1(json.dumps(identity).encode()).hexdigest()[:16]


class CachedTargets:
    """Hidden states ``layers`` of every utterance, float16 on disk; ``__call__(batch)`` crops them."""

    def __init__(self, folder: Path, layers: Sequence[int], num_layers: int, hop: int, receptive_field: int):
        self.folder, self.layers, self.num_layers = Path(folder), sorted(layers), num_layers
        self.hop, self.receptive_field = hop, receptive_field
        if not (self.folder / COMPLETE_MARKER).is_file():
            raise DataError(f"teacher cache {self.folder} is incomplete (no {COMPLETE_MARKER}): a build was cut "
                            f"short or is still running; delete the folder and run again")
        index = json.loads((self.folder / "index.json").read_text())
        self.rows: Dict[str, tuple] = {key: (start, count) for key, start, count in index["utterances"]}
        self.arrays = {layer: np.load(self.folder / f"layer{layer}.npy", mmap_mode="r") for layer in self.layers}

    @classmethod
    def build(cls, folder: Path, teacher: TeacherModel, teacher_file: Path, needs: TeacherNeeds,
              utterances: Sequence[Utterance], sample_rate: int, crop_multiple: int, device: torch.device,
              log: Callable[[str], None] = print) -> "CachedTargets":
        """Open the cache for these settings under ``folder``, computing it first if needed."""
        if needs.attentions or needs.unit_logits:
            raise ConfigError("--cache-teacher stores hidden states only; an objective here needs the "
                              "teacher's attention maps or unit logits: run without --cache-teacher")
        hop = teacher.downsample_rate
        if crop_multiple % hop:
            raise ConfigError(f"--cache-teacher: config.datarc.crop_multiple ({crop_multiple}) must be a "
                              f"multiple of the teacher's frame hop {hop} so crops align with cached frames")
        layers = sorted(needs.layers)
        target = Path(folder) / cache_digest(teacher_file, layers, utterances)

        def waiting(pid) -> None:
            log(f"teacher cache: another run (pid {pid or '?'}) is building {target}; waiting for it")

        with exclusive_lock(target.with_name(target.name + ".lock"), on_wait=waiting):
            if not (target / COMPLETE_MARKER).is_file():
                _write_cache(target, teacher, layers, utterances, sample_rate, device, log)
            else:
                log(f"teacher cache: reusing {target}")
        return cls(target, layers, len(teacher.layers), hop, teacher.config.receptive_field)

    def __call__(self, batch: Batch) -> ModelOutput:
        lengths = batch.lengths.cpu()
        frames = torch.clamp(torch.div(lengths - self.receptive_field, self.hop, rounding_mode="floor") + 1, min=0)
        width = int(frames.max())
        hidden: List[Optional[Tensor]] = [None] * (self.num_layers + 1)
        for layer in self.layers:
            array = self.arrays[layer]
            out = np.zeros((len(batch), width, array.shape[1]), dtype=np.float32)
            for row, (key, offset) in enumerate(zip(batch.keys, batch.offsets.tolist())):
                start, count = self.rows[key]
                first = offset // self.hop
                take = min(int(frames[row]), count - first)
                out[row, :take] = array[start + first:start + first + take]
            hidden[layer] = torch.from_numpy(out).to(batch.wavs.device)
        frame_mask = torch.arange(width)[None, :] < frames[:, None]
        return ModelOutput(hidden_states=hidden, frame_mask=frame_mask.to(batch.wavs.device))


def _write_cache(target: Path, teacher: TeacherModel, layers: List[int], utterances: Sequence[Utterance],
                 sample_rate: int, device: torch.device, log: Callable[[str], None]) -> None:
    counts = [int(teacher.frame_lengths(torch.tensor([u.length]))[0]) for u in utterances]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(int).tolist()
    total, dim = int(sum(counts)), teacher.config.encoder_dim
    log(f"teacher cache: {len(utterances)} utterances, {total} frames x {len(layers)} layers x {dim} dims "
        f"(float16, {total * len(layers) * dim * 2 / 2**30:.2f} GiB) -> {target}")
    for stale in target.parent.glob(f"{target.name}.partial-*"):  # left by killed builds
        if not process_alive(stale.name.rsplit("-", 1)[-1]):
            shutil.rmtree(stale, ignore_errors=True)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    partial.mkdir(parents=True)
    arrays = {layer: np.lib.format.open_memmap(partial / f"layer{layer}.npy", mode="w+",
                                               dtype=np.float16, shape=(total, dim)) for layer in layers}
    teacher.eval()
    with torch.no_grad():
        for utt, start, count in tqdm(list(zip(utterances, starts, counts)), desc="teacher cache",
                                      unit="utt", dynamic_ncols=True):
            wav = torch.from_numpy(read_audio(utt.path, 0, utt.length, sample_rate)).to(device)
            output = teacher(wav[None])
            for layer in layers:
                arrays[layer][start:start + count] = output.hidden_states[layer][0, :count].cpu().numpy()
    for array in arrays.values():
        array.flush()
    del arrays
    index = {"layers": layers, "utterances": [[u.key, s, c] for u, s, c in zip(utterances, starts, counts)]}
    (partial / "index.json").write_text(json.dumps(index))
    for path in partial.iterdir():  # on disk before the marker says so
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    (partial / COMPLETE_MARKER).write_text(json.dumps({"version": CACHE_VERSION, "frames": total}))
    fault_point("cache-filled")
    if (target / COMPLETE_MARKER).is_file():  # another builder published first (no lock on this file system)
        shutil.rmtree(partial, ignore_errors=True)
        return
    shutil.rmtree(target, ignore_errors=True)  # an incomplete folder under the real name
    os.replace(partial, target)


def load_section_teacher(checkpoint: str) -> TeacherModel:
    """``config.model.teacher.checkpoint``, loaded frozen; ConfigError naming the key for a bad file."""
    try:
        return load_teacher(checkpoint)
    except CheckpointError as err:
        raise ConfigError(f"config.model.teacher.checkpoint: {err}") from None


def teacher_targets(teacher: TeacherModel, teacher_file: str, cache_dir: Optional[str],
                    objectives: Iterable[Objective], context: ExpertContext):
    """``(needs, targets)``: what the objectives read from the teacher, and where each batch's comes
    from: the teacher's forward, or the ``--cache-teacher`` disk cache (built first by the main rank;
    ``cache_dir`` or ``<expdir>/teacher_cache``)."""
    needs = TeacherNeeds()
    for objective in objectives:
        needs = needs | objective.needs
    if not context.cache_teacher:
        return needs, OnTheFlyTargets(teacher, needs)
    with context.dist.main_first():
        return needs, CachedTargets.build(
            Path(cache_dir) if cache_dir else context.expdir / "teacher_cache", teacher, Path(teacher_file), needs,
            context.utterances, context.data.sample_rate, context.data.crop_multiple, context.device, context.log)
