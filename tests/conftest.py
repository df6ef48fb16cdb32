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
    # one build per test session, also when pytest-xdist runs it in several worker processes: they share
    # the parent of their temporary folders, and the lock makes the second wait for the first's corpus
    from upstream_distill.core.locks import exclusive_lock

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    out = shared / "mini_superb_tiny" / "tiny"
    with exclusive_lock(out.parent / ".build.lock"):
        build_corpus("tiny", out, seed=0, jobs=2)  # returns at once when the corpus is already there
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


#: the two g2p lexicons --preset superb's PR reads from DATA_ROOT/lexicon/
SUPERB_LEXICONS = ("librispeech-lexicon-200k-g2p.txt", "librispeech-lexicon-allothers-g2p.txt")


@pytest.fixture
def empty_real_corpora(tmp_path) -> Path:
    """A --data-root with every folder and file the five tasks' path checks look for, all empty: it passes
    the checks of --preset superb without a corpus (a test removes one piece and expects it named)."""
    root = tmp_path / "data"
    for subset in ("train-clean-100", "dev-clean", "test-clean"):
        (root / "LibriSpeech" / subset).mkdir(parents=True)
    (root / "len_for_bucket").mkdir()
    for subset in ("train-clean-100", "train-clean-100-1in10", "dev-clean", "test-clean"):
        (root / "len_for_bucket" / f"{subset}.csv").write_text(",file_path,length,label\n")
    (root / "lexicon").mkdir()
    for name in SUPERB_LEXICONS:
        (root / "lexicon" / name).write_text("")
    (root / "VoxCeleb1").mkdir()
    (root / "VoxCeleb1" / "iden_split.txt").write_text("")
    for session in range(1, 6):
        folder = root / "IEMOCAP" / "meta_data" / f"Session{session}"
        folder.mkdir(parents=True)
        for name in ("train_meta_data.json", "test_meta_data.json"):
            (folder / name).write_text("{}")
    (root / "speech_commands_v0.01").mkdir()
    (root / "speech_commands_test_set_v0.01").mkdir()
    return root
