"""Shared fixtures: the tiny embedded corpus, built once per test session."""
import os
import sys
import warnings
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The `tiny` mini-SUPERB corpus, built once per session.

    $MINI_SUPERB_TINY reuses an already built one if its manifest matches the current
    tiny preset and generator version; otherwise a fresh one is built in a temp folder.
    """
    from upstream_distill.mini_superb import TINY, build_corpus, read_manifest
    from upstream_distill.mini_superb.manifest import matches

    reuse = os.environ.get("MINI_SUPERB_TINY")
    if reuse:
        manifest = read_manifest(Path(reuse) / "manifest.json")
        if manifest is not None and matches(manifest, TINY, manifest.get("seed")):
            return Path(reuse).resolve()
        warnings.warn(f"MINI_SUPERB_TINY={reuse} is not a current tiny corpus; building a fresh one")
    out = tmp_path_factory.mktemp("mini_superb") / "tiny"
    build_corpus("tiny", out, seed=0, jobs=2)
    return out


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable


@pytest.fixture(scope="session")
def teacher_file(tmp_path_factory) -> Path:
    """A ~66k-parameter random HuBERT (2 x 48, unit head) in save_teacher format."""
    from upstream_distill.models import TeacherModel, save_teacher, tiny_teacher_config

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "tiny_teacher.pt"
    save_teacher(TeacherModel(tiny_teacher_config()), path)
    return path
