"""Offline frame targets: k-means units of a corpus, computed once and cached on disk.

Masked-prediction pretraining (HuBERT) and any method that needs discrete
per-frame targets read them from a :class:`UnitTable`: one unit id per
model frame of every training utterance.  The features clustered are

* ``mfcc`` (HuBERT's first iteration): 13 Kaldi MFCCs + deltas + delta-deltas
  (39 dims), framed *exactly like the model* (window = the CNN's receptive
  field, hop = its stride product: 25 ms / 20 ms for the Base geometry), so
  unit ``t`` labels model frame ``t`` with no resampling of label rates;
* ``model`` (second iteration): hidden state ``model_layer`` of a teacher
  checkpoint (e.g. the first iteration's export); its frame geometry must be
  the same.

Features are clustered as they are, like fairseq's HuBERT recipe
(``standardize: true`` z-scores each dimension first; measured on the mini
corpus, that makes the MFCC units *less* predictable from the local spectrum:
a logistic regression on +-2 frames of MFCCs gets 82 % instead of 93 %,
because the noisy deltas gain weight), with scikit-learn's ``MiniBatchKMeans`` on at most
``fit_max_frames`` frames of randomly chosen utterances, then every
utterance is labelled.  ``utterance_cmvn: true`` first normalises each utterance's
features to zero mean and unit variance per dimension (Kaldi's per-utterance CMVN): on the
mini corpus, whose 40 synthetic voices differ far more than real readers do, it halves how much
the units say about the speaker (NMI of MFCC units with the speaker 0.20 -> 0.10), so the units
and the model that predicts them lean towards content.  Memory stays bounded on 960 h: only the fitting
sample is held.  The table is cached under a digest of the settings, the
frame geometry and the utterance list, so it is computed once per corpus and
reused by every run (and by resumed runs) that asks for the same units.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from upstream_distill.core.atomic_files import write_atomically
from upstream_distill.core.errors import ConfigError
from upstream_distill.core.provenance import file_digest
from upstream_distill.core.torchaudio_import import require_torchaudio

from .data import Utterance, read_audio

__all__ = ["IGNORE_INDEX", "UnitConfig", "UnitTable", "build_unit_table", "frame_count", "utterance_cmvn"]

#: target value of padded frames (torch's cross-entropy ignore_index)
IGNORE_INDEX = -100
FEATURES = ("mfcc", "model")


def frame_count(samples: int, window: int, hop: int) -> int:
    """Frames a valid (unpadded) framing of ``samples`` gives: as the model's CNN."""
    return 0 if samples < window else (samples - window) // hop + 1


@dataclass
class UnitConfig:
    """How the units are made (``labels:`` in a method's config_model.yaml)."""

    num_clusters: int
    features: str = "mfcc"  # "mfcc" | "model"
    num_ceps: int = 13  # mfcc: cepstra per frame
    delta_order: int = 2  # mfcc: append deltas up to this order (2: 39 dims)
    model_ckpt: Optional[str] = None  # model: a teacher checkpoint load_teacher reads
    model_layer: Optional[int] = None  # model: hidden-state index (0 = transformer input)
    standardize: bool = False  # z-score each feature dimension before k-means
    utterance_cmvn: bool = False  # normalise each utterance's features (mean 0, std 1 per dimension)
    fit_max_frames: int = 500_000  # frames k-means is fitted on
    kmeans_batch_size: int = 10_000
    kmeans_max_iter: int = 100
    kmeans_n_init: int = 3
    seed: int = 0
    cache_dir: Optional[str] = None  # default: <expdir>/labels

    def __post_init__(self):
        if self.features not in FEATURES:
            raise ConfigError(f"labels.features must be one of {FEATURES}, got {self.features!r}")
        if self.num_clusters < 2:
            raise ConfigError(f"labels.num_clusters must be >= 2, got {self.num_clusters}")
        if self.features == "model" and (not self.model_ckpt or self.model_layer is None):
            raise ConfigError("labels.features=model needs labels.model_ckpt and labels.model_layer")


class UnitTable:
    """Unit ids of every utterance, concatenated; ``crop`` gives the targets of a batch."""

    def __init__(self, keys: Sequence[str], counts: Sequence[int], units: np.ndarray,
                 num_clusters: int, hop: int, window: int):
        self.keys = list(keys)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]]).astype(np.int64)
        self.units = np.asarray(units, dtype=np.int16)
        self.num_clusters, self.hop, self.window = int(num_clusters), int(hop), int(window)
        self._index: Dict[str, int] = {key: i for i, key in enumerate(self.keys)}

    def units_of(self, key: str) -> np.ndarray:
        i = self._index[key]
        return self.units[self.starts[i]:self.starts[i] + self.counts[i]]

    def crop(self, keys: Sequence[str], offsets: Tensor, frames: Tensor) -> Tensor:
        """``(B, max frames)`` long targets of crops starting at ``offsets`` samples.

        Frames beyond a row's ``frames`` hold :data:`IGNORE_INDEX`.  Raises
        KeyError for an utterance the table lacks and ValueError for a crop
        that is not frame-aligned or runs past the utterance.
        """
        frames_list, offsets_list = frames.tolist(), offsets.tolist()
        targets = torch.full((len(keys), max(frames_list, default=0)), IGNORE_INDEX, dtype=torch.long)
        for row, (key, offset, count) in enumerate(zip(keys, offsets_list, frames_list)):
            if key not in self._index:
                raise KeyError(f"no units for utterance {key!r}: the unit table was made for another corpus")
            if offset % self.hop:
                raise ValueError(f"crop of {key} starts at sample {offset}, not a multiple of the "
                                 f"{self.hop}-sample frame hop (config.datarc.crop_multiple)")
            first = offset // self.hop
            units = self.units_of(key)
            if first + count > len(units):
                raise ValueError(f"crop of {key} needs frames {first}..{first + count - 1} but the "
                                 f"table holds {len(units)}")
            targets[row, :count] = torch.from_numpy(units[first:first + count].astype(np.int64))
        return targets.to(frames.device)

    def save(self, path: Path, meta: dict) -> None:
        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:  # a handle: np.savez would add ".npz" to a bare name
                np.savez(handle, keys=np.array(self.keys), counts=self.counts, units=self.units,
                         geometry=np.array([self.num_clusters, self.hop, self.window]),
                         meta=np.array(json.dumps(meta)))

        write_atomically(path, write)

    @classmethod
    def load(cls, path: Path) -> "UnitTable":
        with np.load(path, allow_pickle=False) as data:
            num_clusters, hop, window = (int(v) for v in data["geometry"])
            return cls(data["keys"].tolist(), data["counts"], data["units"], num_clusters, hop, window)


# ---------------------------------------------------------------------------
# features


def utterance_cmvn(feats: np.ndarray) -> np.ndarray:
    """(frames, dims) features with each dimension at mean 0 and std 1 over the utterance: what a
    recording or a voice adds as a constant offset or scale per dimension is gone."""
    return (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-5)


def _mfcc_features(config: UnitConfig, hop: int, window: int, sample_rate: int) -> Callable:
    require_torchaudio()  # importable on every install
    import torchaudio.compliance.kaldi as kaldi
    import torchaudio.functional as AF

    def features(wav: np.ndarray) -> np.ndarray:
        mfcc = kaldi.mfcc(torch.from_numpy(wav)[None], sample_frequency=sample_rate,
                          frame_length=1000.0 * window / sample_rate, frame_shift=1000.0 * hop / sample_rate,
                          num_ceps=config.num_ceps, snip_edges=True, dither=0.0)  # (N, ceps)
        stack, current = [mfcc], mfcc.T
        for _ in range(config.delta_order):
            current = AF.compute_deltas(current[None])[0]
            stack.append(current.T)
        return torch.cat(stack, dim=1).numpy()

    return features


def _model_features(config: UnitConfig, hop: int, window: int) -> Callable:
    from upstream_distill.models import load_teacher

    model = load_teacher(config.model_ckpt)
    if (model.config.downsample_rate, model.config.receptive_field) != (hop, window):
        raise ConfigError(f"labels.model_ckpt {config.model_ckpt}: frames of {model.config.receptive_field} "
                          f"samples every {model.config.downsample_rate}, but the trained model's are "
                          f"{window} every {hop}")
    if not 0 <= config.model_layer < len(model.layers) + 1:
        raise ConfigError(f"labels.model_layer {config.model_layer}: the model has hidden states "
                          f"0..{len(model.layers)}")

    @torch.no_grad()
    def features(wav: np.ndarray) -> np.ndarray:
        output = model(torch.from_numpy(wav)[None])
        return output.hidden_states[config.model_layer][0].float().numpy()

    return features


def _digest(config: UnitConfig, utterances: Sequence[Utterance], hop: int, window: int, sample_rate: int) -> str:
    settings = {k: v for k, v in asdict(config).items() if k != "cache_dir"}
    if config.features == "model":
        settings["model_file"] = file_digest(config.model_ckpt)
    blob = json.dumps([settings, hop, window, sample_rate, [(u.key, u.length) for u in utterances]])
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------
# building


def build_unit_table(utterances: Sequence[Utterance], config: UnitConfig, hop: int, window: int,
                     sample_rate: int, cache_dir: Path, log: Callable[[str], None] = print) -> UnitTable:
    """The cached table for these settings, computing it first if needed."""
    cache = Path(cache_dir) / f"units-{config.features}-{config.num_clusters}-" \
                              f"{_digest(config, utterances, hop, window, sample_rate)}.npz"
    if cache.is_file():
        log(f"units: using cached {cache}")
        return UnitTable.load(cache)
    from sklearn.cluster import MiniBatchKMeans

    started = time.monotonic()
    extract = (_mfcc_features(config, hop, window, sample_rate) if config.features == "mfcc"
               else _model_features(config, hop, window))

    def features_of(utt: Utterance) -> np.ndarray:
        feats = extract(read_audio(utt.path, 0, utt.length, sample_rate))
        expected = frame_count(utt.length, window, hop)
        if len(feats) != expected:
            raise RuntimeError(f"{utt.path}: {len(feats)} feature frames, expected {expected}")
        return utterance_cmvn(feats) if config.utterance_cmvn else feats

    # 1. fitting sample: random utterances until fit_max_frames frames
    rng = np.random.default_rng(config.seed)
    sample: Dict[int, np.ndarray] = {}
    total = 0
    for index in tqdm(rng.permutation(len(utterances)), desc="units: features", leave=False):
        if total >= config.fit_max_frames:
            break
        sample[int(index)] = features_of(utterances[index])
        total += len(sample[int(index)])
    stacked = np.concatenate(list(sample.values())).astype(np.float32)
    mean, std = np.zeros(stacked.shape[1], np.float32), np.ones(stacked.shape[1], np.float32)
    if config.standardize:
        mean, std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-5
    kmeans = MiniBatchKMeans(n_clusters=config.num_clusters, batch_size=config.kmeans_batch_size,
                             max_iter=config.kmeans_max_iter, n_init=config.kmeans_n_init,
                             random_state=config.seed, compute_labels=False)
    kmeans.fit((stacked - mean) / std)
    inertia = float(kmeans.inertia_) / len(stacked) if kmeans.inertia_ is not None else float("nan")
    del stacked

    # 2. label every utterance (the fitting sample's features are reused)
    counts: List[int] = []
    units: List[np.ndarray] = []
    for index, utt in enumerate(tqdm(utterances, desc="units: labels", leave=False)):
        feats = sample.pop(index) if index in sample else features_of(utt)
        labels = kmeans.predict(((feats - mean) / std).astype(np.float32))
        counts.append(len(labels))
        units.append(labels.astype(np.int16))
    all_units = np.concatenate(units)
    table = UnitTable([u.key for u in utterances], counts, all_units, config.num_clusters, hop, window)
    used = int(len(np.unique(all_units)))
    meta = {"config": asdict(config), "hop": hop, "window": window, "frames": int(len(all_units)),
            "fit_frames": int(total), "clusters_used": used, "mean_inertia": inertia}
    table.save(cache, meta)
    log(f"units: {config.num_clusters} {config.features} clusters ({used} used) over "
        f"{len(all_units)} frames of {len(utterances)} utterances in "
        f"{time.monotonic() - started:.0f} s -> {cache}")
    return table
