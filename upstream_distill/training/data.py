"""Pretraining audio: LibriSpeech-layout utterances, length-bucketed batches, random crops.

Why it is built this way:

* the utterance list and lengths come from s3prl's ``len_for_bucket/<subset>.csv``
  (no need to open 281k files to learn their lengths), any list of subsets;
* the whole batch plan of an epoch (which utterances, which crop) is a pure
  function of ``(seed, epoch)``: a resumed run regenerates it and skips the
  batches already consumed, so the data order continues exactly, whatever
  the number of loader workers;
* batches are length-bucketed (pools of ``bucket_pool`` batches are sorted
  by length before being cut), so little compute goes into padding;
* crops start at a multiple of ``crop_multiple`` samples so frame-level
  targets (e.g. HuBERT's units at 20 ms) stay aligned: a :class:`Batch`
  carries each crop's utterance key and start;
* distributed runs take every ``world_size``-th batch of the same plan;
* one loader serves the whole run, its worker processes *spawned* once: a
  worker forked from the trainer keeps a private copy of every page the
  trainer rewrites after the fork, so a loader re-forked each epoch ended up
  doubling the trainer's memory (5.6 GB private in the one worker of the mini
  DPHuBERT stage 1, beside a 6 GB trainer), and ``num_workers`` times that.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Sequence, Tuple

import numpy as np
import soundfile
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from upstream_distill.core.errors import DataError

from .config import DataConfig

__all__ = ["Batch", "BatchPlan", "BatchStream", "Utterance", "read_audio", "read_utterances"]

LEN_FOR_BUCKET_COMMAND = ("python -m upstream_distill.training.len_for_bucket -i <LibriSpeech root> "
                          "-o <bucket_dir> -s <subsets>")

#: one batch entry: (utterance index, crop start, crop length), samples
Crop = Tuple[int, int, int]


@dataclass(frozen=True)
class Utterance:
    key: str  # path relative to the LibriSpeech root, e.g. "train-clean-100/103/1240/103-1240-0000.flac"
    path: Path
    length: int  # samples, as listed in the CSV


def read_utterances(config: DataConfig) -> List[Utterance]:
    """Every utterance of ``config.sets`` at least ``min_timestep`` long, in CSV order.

    DataError names the missing CSV (and the command that writes it), a
    missing LibriSpeech folder, or a corpus without usable utterances.
    """
    root, bucket_dir = Path(config.libri_root), Path(config.bucket_dir)
    if not root.is_dir():
        raise DataError(f"config.datarc.libri_root: the LibriSpeech folder {root} does not exist")
    utterances = []
    for subset in config.sets:
        table = bucket_dir / f"{subset}.csv"
        if not table.is_file():
            raise DataError(f"config.datarc.bucket_dir: {table} does not exist (subset {subset!r}); "
                            f"write it with `{LEN_FOR_BUCKET_COMMAND}`")
        with table.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                try:
                    key, length = row["file_path"], int(row["length"])
                except (KeyError, TypeError, ValueError):
                    raise DataError(f"{table}: expected s3prl's columns ',file_path,length,label', "
                                    f"got row {row}") from None
                if length >= config.min_timestep:
                    utterances.append(Utterance(key, root / key, length))
    if not utterances:
        raise DataError(f"empty corpus: no utterance of at least {config.min_timestep} samples "
                        f"(config.datarc.min_timestep) in subsets {config.sets} of {root} "
                        f"(lists in {bucket_dir})")
    return utterances


def read_audio(path: Path, start: int, frames: int, sample_rate: int) -> np.ndarray:
    """``frames`` float32 samples from ``start`` of a mono file at ``sample_rate``.

    DataError names the file when it is unreadable, not mono, at another
    rate, or shorter than its listed length.
    """
    try:
        with soundfile.SoundFile(str(path)) as handle:
            if handle.samplerate != sample_rate:
                raise DataError(f"audio file {path}: sample rate {handle.samplerate} Hz, expected "
                                f"{sample_rate} Hz (config.datarc.sample_rate); resample the corpus")
            if handle.channels != 1:
                raise DataError(f"audio file {path}: {handle.channels} channels, expected mono")
            handle.seek(start)
            samples = handle.read(frames, dtype="float32")
    except DataError:
        raise
    except (RuntimeError, OSError, soundfile.LibsndfileError) as err:  # missing, truncated, not audio
        raise DataError(f"audio file {path}: cannot be read ({err})") from None
    if len(samples) != frames:
        raise DataError(f"audio file {path}: has fewer samples than its len_for_bucket length "
                        f"(read {len(samples)} of {frames} from sample {start}); regenerate the lists "
                        f"with `{LEN_FOR_BUCKET_COMMAND}`")
    return samples


@dataclass
class Batch:
    """A padded batch of crops: what an expert's ``forward`` receives."""

    wavs: Tensor  # (B, T) float32, zero padded at the end
    lengths: Tensor  # (B,) real samples per row
    keys: List[str]  # utterance keys (Utterance.key)
    offsets: Tensor  # (B,) where each crop starts in its utterance, samples

    def to(self, device) -> "Batch":
        return Batch(self.wavs.to(device, non_blocking=True), self.lengths.to(device), self.keys,
                     self.offsets.to(device))

    def __len__(self) -> int:
        return len(self.keys)


class _CropDataset(Dataset):
    def __init__(self, utterances: Sequence[Utterance], sample_rate: int):
        self.utterances, self.sample_rate = utterances, sample_rate

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, crop: Crop):
        index, start, length = crop
        utt = self.utterances[index]
        return torch.from_numpy(read_audio(utt.path, start, length, self.sample_rate)), utt.key, start


def _collate(items) -> Batch:
    wavs, keys, starts = zip(*items)
    lengths = torch.tensor([len(w) for w in wavs], dtype=torch.long)
    padded = torch.zeros(len(wavs), int(lengths.max()))
    for row, wav in enumerate(wavs):
        padded[row, :len(wav)] = wav
    return Batch(padded, lengths, list(keys), torch.tensor(starts, dtype=torch.long))


class BatchPlan:
    """The batches (with crops) of every epoch, a pure function of ``(seed, epoch)``."""

    def __init__(self, lengths: Sequence[int], config: DataConfig, seed: int,
                 rank: int = 0, world_size: int = 1):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.config, self.seed = config, int(seed)
        self.rank, self.world_size = rank, world_size
        if len(self.lengths) < config.batch_size * world_size:
            raise DataError(f"only {len(self.lengths)} utterances for batches of "
                            f"{config.batch_size} on {world_size} process(es) (config.datarc.batch_size)")

    @property
    def batches_per_epoch(self) -> int:
        """This process's number of batches in every epoch: the pools' sizes, not their contents, decide it."""
        cfg, count = self.config, len(self.lengths)
        pool_size = cfg.batch_size * cfg.bucket_pool
        per_pool = -(-pool_size // cfg.batch_size)
        batches = count // pool_size * per_pool + -(-(count % pool_size) // cfg.batch_size)
        return (batches - batches % self.world_size) // self.world_size

    def epoch(self, epoch: int) -> List[List[Crop]]:
        """This process's batches of ``epoch``; every rank gets the same number."""
        cfg = self.config
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        pool_size = cfg.batch_size * cfg.bucket_pool
        batches = []
        for begin in range(0, len(order), pool_size):
            pool = order[begin:begin + pool_size]
            pool = pool[np.argsort(-self.lengths[pool], kind="stable")]
            batches += [pool[i:i + cfg.batch_size] for i in range(0, len(pool), cfg.batch_size)]
        batches = [batches[i] for i in rng.permutation(len(batches))]
        usable = len(batches) - len(batches) % self.world_size
        plan = []
        for batch in batches[:usable]:
            plan.append([self._crop(int(index), rng) for index in batch])
        return plan[self.rank::self.world_size]

    def _crop(self, index: int, rng: np.random.Generator) -> Crop:
        length, limit, step = int(self.lengths[index]), self.config.max_timestep, self.config.crop_multiple
        if length <= limit:
            return index, 0, length
        start = int(rng.integers(0, (length - limit) // step + 1)) * step
        return index, start, limit


class _PlanBatches(Sampler):
    """The plan's batches from ``(epoch, batch)`` on, epoch after epoch, without end."""

    def __init__(self, plan: BatchPlan, epoch: int, batch: int):
        self.plan, self.epoch, self.batch = plan, epoch, batch

    def __iter__(self) -> Iterator[List[Crop]]:
        epoch, first = self.epoch, self.batch
        while True:
            yield from self.plan.epoch(epoch)[first:]
            epoch, first = epoch + 1, 0


class BatchStream:
    """An endless iterator over batches that knows its position ``(epoch, batch)``.

    ``position`` is the next batch to be *consumed*, whatever the loader
    workers have prefetched, so a checkpoint taken between two updates
    resumes at exactly the next batch.
    """

    def __init__(self, utterances: Sequence[Utterance], plan: BatchPlan, num_workers: int,
                 epoch: int = 0, batch: int = 0):
        self.dataset = _CropDataset(utterances, plan.config.sample_rate)
        self.plan, self.num_workers = plan, num_workers
        self.epoch, self.batch = epoch, batch
        self._iterator = None

    @property
    def position(self) -> Tuple[int, int]:
        return self.epoch, self.batch

    def _open(self) -> Iterator[Batch]:
        if self.batch >= self.plan.batches_per_epoch:  # a checkpoint taken at the very end of an epoch
            self.epoch, self.batch = self.epoch + 1, 0
        # Own generator: the loader must not draw from the global torch RNG,
        # which the checkpoint restores for the model's dropout and masks.
        generator = torch.Generator().manual_seed(self.plan.seed * 1000003 + self.epoch)
        return iter(DataLoader(self.dataset, batch_sampler=_PlanBatches(self.plan, self.epoch, self.batch),
                               collate_fn=_collate, num_workers=self.num_workers, generator=generator,
                               multiprocessing_context="spawn" if self.num_workers > 0 else None))

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> Batch:
        if self._iterator is None:
            self._iterator = self._open()
        batch = next(self._iterator)
        self.batch += 1
        if self.batch == self.plan.batches_per_epoch:
            self.epoch, self.batch = self.epoch + 1, 0
        return batch
