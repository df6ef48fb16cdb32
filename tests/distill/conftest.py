"""Distillation tests: a small random HuBERT teacher written as a real checkpoint file."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pytest
import torch

from upstream_distill.models import TeacherModel, save_teacher, tiny_teacher_config


@pytest.fixture(scope="session")
def teacher_file(tmp_path_factory) -> Path:
    """A ~66k-parameter HuBERT (2 x 48, unit head) in save_teacher format."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "tiny_teacher.pt"
    save_teacher(TeacherModel(tiny_teacher_config()), path)
    return path


def distill_args(corpus: Path, expdir: Path, teacher: Path, overrides: str = "",
                 method: str = "distilhubert") -> List[str]:
    """``run_pretrain.py`` flags: ``method``'s tiny preset on the tiny corpus with ``teacher``."""
    teacher_override = f"config.model.teacher.checkpoint='{teacher}'"
    joined = teacher_override + (",," + overrides if overrides else "")
    return ["-u", method, "--preset", "tiny", "--corpus", str(corpus), "-p", str(expdir), "-o", joined]
