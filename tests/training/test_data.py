"""The data plan: length buckets, aligned crops, a deterministic order per (seed, epoch), sharding, audio checks."""
from __future__ import annotations

import multiprocessing
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from upstream_distill.training import DataError
from upstream_distill.training.config import DataConfig
from upstream_distill.training.data import BatchPlan, BatchStream, Utterance, read_audio, read_utterances


def _config(**values) -> DataConfig:
    base = dict(libri_root="/x", bucket_dir="/x", sets=["s"], batch_size=4, max_timestep=8000,
                crop_multiple=320, bucket_pool=2)
    return DataConfig(**{**base, **values})


LENGTHS = list(np.random.default_rng(0).integers(2000, 30000, size=37))


def test_every_utterance_appears_once_per_epoch_in_length_buckets():
    plan = BatchPlan(LENGTHS, _config(), seed=1)
    batches = plan.epoch(0)
    indices = [index for batch in batches for index, _, _ in batch]
    assert sorted(indices) == list(range(37))
    for batch in batches:  # within a pool of 2 batches, sorted by length: little padding
        lengths = [LENGTHS[i] for i, _, _ in batch]
        assert lengths == sorted(lengths, reverse=True)


def test_crops_are_aligned_bounded_and_inside_the_utterance():
    for batch in BatchPlan(LENGTHS, _config(), seed=1).epoch(3):
        for index, start, length in batch:
            assert start % 320 == 0 and length == min(LENGTHS[index], 8000)
            assert start + length <= LENGTHS[index]


def test_the_plan_is_a_function_of_seed_and_epoch():
    plan = BatchPlan(LENGTHS, _config(), seed=1)
    assert plan.epoch(2) == BatchPlan(LENGTHS, _config(), seed=1).epoch(2)
    assert plan.epoch(2) != plan.epoch(3)
    assert plan.epoch(2) != BatchPlan(LENGTHS, _config(), seed=2).epoch(2)


def test_ranks_get_disjoint_equal_shards_of_the_same_plan():
    shards = [BatchPlan(LENGTHS, _config(), seed=1, rank=r, world_size=2).epoch(0) for r in range(2)]
    assert len(shards[0]) == len(shards[1])
    seen = [{i for batch in shard for i, _, _ in batch} for shard in shards]
    assert not seen[0] & seen[1]


def _stream_setup(tiny_corpus):
    libri = tiny_corpus / "LibriSpeech"
    config = _config(libri_root=str(libri), bucket_dir=str(libri / "len_for_bucket"),
                     sets=["train-clean-100"], batch_size=3)
    utterances = read_utterances(config)
    return utterances, BatchPlan([u.length for u in utterances], config, seed=5)


def test_the_stream_resumes_at_its_position(tiny_corpus):
    utterances, plan = _stream_setup(tiny_corpus)
    stream = BatchStream(utterances, plan, num_workers=0)
    keys = [next(stream).keys for _ in range(len(plan.epoch(0)) + 3)]
    assert stream.position == (1, 3)
    later = BatchStream(utterances, plan, num_workers=0, epoch=0, batch=5)
    assert [next(later).keys for _ in range(len(keys) - 5)] == keys[5:]
    batch = next(stream)
    assert batch.wavs.shape[0] == len(batch) == 3 and batch.lengths.max() == batch.wavs.shape[1]
    assert all(offset % 320 == 0 for offset in batch.offsets.tolist())


def test_a_stream_with_a_worker_gives_the_same_batches_across_epochs_and_resumes(tiny_corpus):
    utterances, plan = _stream_setup(tiny_corpus)
    count = 2 * len(plan.epoch(0)) + 2
    alone = BatchStream(utterances, plan, num_workers=0)
    expected = [next(alone) for _ in range(count)]
    helped = BatchStream(utterances, plan, num_workers=1)
    got = [next(helped) for _ in range(count)]
    assert helped.position == alone.position == (2, 2)
    assert [b.keys for b in got] == [b.keys for b in expected]
    assert all(torch.equal(a.wavs, b.wavs) for a, b in zip(got, expected))
    resumed = BatchStream(utterances, plan, num_workers=1, epoch=0, batch=len(plan.epoch(0)))  # end of epoch 0
    assert next(resumed).keys == expected[len(plan.epoch(0))].keys and resumed.position == (1, 1)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads a process's resident size in /proc")
def test_the_loader_worker_does_not_hold_a_copy_of_the_trainer(tiny_corpus):
    """A forked worker maps (and, as the trainer rewrites its pages, keeps privately) all of the trainer's
    memory; a spawned one holds only its imports."""
    utterances, plan = _stream_setup(tiny_corpus)
    trainer_state = torch.ones(3 * 2**27)  # 1.5 GiB, resident
    stream = BatchStream(utterances, plan, num_workers=1)
    next(stream)
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        status = Path(f"/proc/{worker.pid}/status").read_text()
        resident = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
        assert resident < trainer_state.numel() * 4 / 2, f"a worker holds {resident / 2**30:.2f} GiB"


def test_min_timestep_filters_and_an_empty_result_names_the_folder(tiny_corpus):
    libri = tiny_corpus / "LibriSpeech"
    config = _config(libri_root=str(libri), bucket_dir=str(libri / "len_for_bucket"), sets=["train-clean-100"],
                     max_timestep=10**9, min_timestep=10**9 - 1)
    with pytest.raises(DataError, match=f"empty corpus.*{libri}"):
        read_utterances(config)


@pytest.mark.parametrize("problem", ["rate", "channels", "garbage", "short"])
def test_unusable_audio_is_named(tmp_path, problem):
    path = tmp_path / "a.flac"
    if problem == "rate":
        soundfile.write(path, np.zeros(8000), 8000)
    elif problem == "channels":
        soundfile.write(path, np.zeros((16000, 2)), 16000)
    elif problem == "garbage":
        path.write_bytes(b"not audio at all")
    else:
        soundfile.write(path, np.zeros(1000), 16000)
    expected = {"rate": "sample rate 8000 Hz, expected 16000 Hz", "channels": "2 channels, expected mono",
                "garbage": "cannot be read", "short": "fewer samples than its len_for_bucket length"}[problem]
    with pytest.raises(DataError, match=expected) as caught:
        read_audio(path, 0, 4000, 16000)
    assert str(path) in str(caught.value)
    assert Utterance("k", path, 4000).length == 4000
