"""Small random students of every shape the project writes, their files, and s3prl when a test needs it.

Weights are jittered away from their initialisation (LayerNorms at 1/0, WavLM's
gate constant at 1, zero biases), so a dropped, swapped or misnamed tensor
cannot go unnoticed.  The shapes keep HuBERT's frame geometry (400-sample
window, 320-sample hop) at widths of a few dozen.
"""
from __future__ import annotations

import pytest
import torch

from upstream_distill.models import (
    PrunedModel,
    PruningMasks,
    StudentModel,
    TeacherModel,
    save_student,
    tiny_teacher_config,
)
from upstream_distill.models.student_config import StudentConfig
from upstream_distill.pruning import prune

CNN = [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]]
ENCODER = dict(encoder_dim=48, encoder_layers=2, encoder_heads=4, ffn_dim=64, pos_conv_kernel=16, pos_conv_groups=4)


def jittered(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def varied_audio(count: int, seed: int):
    """Noise whose loudness rises along each clip: filterbank statistics as speech's vary."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(16000, generator=generator) * torch.linspace(0.01, 0.6, 16000) ** 2 for _ in range(count)]


def cnn_student(seed: int = 0, **changes) -> StudentModel:
    """DistilHuBERT's shape in small: HuBERT's CNN, 2 layers, heads predicting teacher layers 1 and 2."""
    settings = dict(conv_layers=CNN, prediction_heads="distilhubert", head_targets=[1, 2], head_dim=48, **ENCODER)
    settings.update(changes)
    torch.manual_seed(seed)
    return jittered(StudentModel(StudentConfig(**settings)), seed)


def fbank_student(seed: int = 1) -> StudentModel:
    """Wang et al.'s Fbank front-end student, with filterbank statistics."""
    torch.manual_seed(seed)
    model = StudentModel(StudentConfig(frontend="fbank", fbank=dict(out_dim=40, channels=24), **ENCODER))
    model.frontend.estimate_statistics(varied_audio(4, seed), progress=False)
    return jittered(model, seed)


def pruned_student(arch: str = "hubert", seed: int = 2) -> PrunedModel:
    """The tiny teacher pruned by hand: soft CNN masks (a feature scale that is not 1), some heads and
    FFN units gone in layer 1, layer 2's attention (HuBERT) or feed-forward (WavLM) gone entirely."""
    torch.manual_seed(seed)
    full = PrunedModel.from_teacher(jittered(TeacherModel(tiny_teacher_config(arch)), seed))
    generator = torch.Generator().manual_seed(seed)
    conv = [(torch.rand(c, generator=generator) > 0.3).float() * 0.8 for c, _, _ in full.config.conv_layers]
    heads = [torch.tensor([1.0, 0.0, 1.0, 1.0]), torch.zeros(4) if arch == "hubert" else torch.tensor([0.0, 1, 0, 0])]
    ffn = [(torch.rand(96, generator=generator) > 0.4).float(), torch.ones(96) if arch == "hubert" else torch.zeros(96)]
    return jittered(prune(full, PruningMasks(conv=conv, heads=heads, ffn_units=ffn)), seed + 10)


@pytest.fixture(scope="session")
def students():
    """name -> network: the shapes every export is tried on."""
    return {"cnn": cnn_student(), "fbank": fbank_student(), "pruned": pruned_student("hubert"),
            "pruned_wavlm": pruned_student("wavlm")}


@pytest.fixture(scope="session")
def student_files(students, tmp_path_factory):
    """name -> save_student file of each student."""
    root = tmp_path_factory.mktemp("students")
    files = {}
    for name, model in students.items():
        files[name] = root / f"{name}.pt"
        save_student(model, files[name])
    return files


@pytest.fixture(scope="session")
def s3prl_hub():
    """s3prl's hub, as the project reaches it (``import s3prl.hub`` alone fails in this environment)."""
    from upstream_distill.s3prl_bridge import prepare_s3prl

    prepare_s3prl()
    import s3prl.hub

    return s3prl.hub


def speech_like(seconds: float = 1.0, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    samples = int(seconds * 16000)
    return torch.randn(samples, generator=generator) * torch.linspace(0.02, 0.5, samples) ** 2


def hidden_states(model, waveforms: torch.Tensor, lengths=None):
    with torch.inference_mode():
        return model(waveforms, lengths, output_predictions=False)
