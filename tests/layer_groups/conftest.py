"""Tiny random teachers saved to disk and short random-noise corpora, for the layer-group tests.

The real-format checkpoints (a Hugging Face WavLM folder, a fairseq HuBERT ``.pt``) come from
tests/models, built once per session there."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import List, Sequence

import numpy as np
import pytest
import soundfile
import torch

from upstream_distill.models import TeacherModel, save_teacher, tiny_teacher_config
from upstream_distill.training.data import Utterance

from ..models.conftest import fairseq_references, hf_models, hf_references  # noqa: F401  (fixtures)

SAMPLE_RATE = 16000
#: the tiny teacher here has 4 transformer layers: hidden states 0..4
TINY_LAYERS = 4


def write_noise_corpus(folder: Path, lengths: Sequence[int], seed: int = 0, prefix: str = "utt") -> List[Utterance]:
    """One random-noise WAV per length (samples, 16 kHz) and its Utterance."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    utterances = []
    for index, length in enumerate(lengths):
        key = f"{prefix}-{index:03d}.wav"
        soundfile.write(str(folder / key), (0.3 * rng.standard_normal(length)).astype(np.float32), SAMPLE_RATE)
        utterances.append(Utterance(key=key, path=folder / key, length=int(length)))
    return utterances


def tiny_teacher(seed: int) -> TeacherModel:
    torch.manual_seed(seed)
    model = TeacherModel(dataclasses.replace(tiny_teacher_config(), encoder_layers=TINY_LAYERS))
    with torch.no_grad():  # jitter the layer norms so the layers differ
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    return model.eval()


@pytest.fixture
def corpus(tmp_path) -> List[Utterance]:
    return write_noise_corpus(tmp_path / "corpus", [4800, 6400, 8000, 5600, 7200, 3200])


@pytest.fixture
def teacher_file(tmp_path) -> Path:
    path = tmp_path / "teacher.pt"
    save_teacher(tiny_teacher(seed=0), path)
    return path
