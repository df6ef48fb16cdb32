"""Shared fixtures: one ``tiny`` corpus per test session.

Set ``MINI_SUPERB_TINY=/path/to/tiny`` to reuse an already built tiny corpus
(it is used only if its manifest matches the current tiny preset and
generator version; otherwise a fresh one is built in a temporary folder).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from upstream_distill.mini_superb import TINY, build_corpus, corpus_paths, read_manifest
from upstream_distill.mini_superb.manifest import matches

TINY_SEED = 0


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    reuse = os.environ.get("MINI_SUPERB_TINY")
    if reuse:
        manifest = read_manifest(Path(reuse) / "manifest.json")
        if manifest is not None and matches(manifest, TINY, manifest.get("seed")):
            return Path(reuse).resolve()
        warnings.warn(f"MINI_SUPERB_TINY={reuse} is not a current tiny corpus; building a fresh one")
    out = tmp_path_factory.mktemp("mini_superb") / "tiny"
    build_corpus("tiny", out, seed=TINY_SEED, jobs=2)
    return out


@pytest.fixture(scope="session")
def tiny_manifest(tiny_corpus) -> dict:
    manifest = read_manifest(tiny_corpus / "manifest.json")
    assert manifest is not None
    return manifest


@pytest.fixture(scope="session")
def tiny_paths(tiny_corpus) -> dict[str, Path]:
    return corpus_paths(tiny_corpus)
