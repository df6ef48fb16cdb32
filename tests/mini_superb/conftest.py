"""Fixtures over the session's ``tiny`` corpus (the ``tiny_corpus`` fixture of tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from upstream_distill.mini_superb import corpus_paths, read_manifest


@pytest.fixture(scope="session")
def tiny_manifest(tiny_corpus) -> dict:
    manifest = read_manifest(tiny_corpus / "manifest.json")
    assert manifest is not None
    return manifest


@pytest.fixture(scope="session")
def tiny_paths(tiny_corpus) -> dict[str, Path]:
    return corpus_paths(tiny_corpus)
