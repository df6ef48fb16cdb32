"""Shared fixtures: the tiny embedded corpus, built once per test session."""
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """The `tiny` mini-SUPERB corpus (reuses $MINI_SUPERB_TINY when it points to one)."""
    from upstream_distill.mini_superb import build_corpus

    given = os.environ.get("MINI_SUPERB_TINY")
    out = Path(given) if given else tmp_path_factory.mktemp("corpus") / "tiny"
    build_corpus("tiny", out)
    return out


@pytest.fixture(scope="session")
def python() -> str:
    return sys.executable
