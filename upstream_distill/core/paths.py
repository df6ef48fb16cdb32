"""Where the project's files are: its shipped configs and teacher, and where work goes.

The package runs from a source checkout (``pip install -e .``, or the root
scripts) or installed as a package (``pip install .``, a wheel).  Its data is
found the same way in both: the checkout's ``pretrain/`` and
``downstream_configs/`` beside the package, or the copies the wheel carries
inside it (``setup.py`` ships them as package data).  Work folders (the
embedded corpus, experiment folders, result tables) go under the checkout
when there is one, as they always have, and under the current directory
otherwise, as s3prl's ``result/`` does.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = [
    "CHECKOUT_ROOT",
    "CORPUS_ENV",
    "DATA_ROOT",
    "DOWNSTREAM_CONFIG_ROOT",
    "PACKAGE_ROOT",
    "PRETRAIN_ROOT",
    "STUDENT_RECIPES",
    "TINY_HUBERT_CHECKPOINT",
    "default_corpus_dir",
    "work_root",
]

#: the ``upstream_distill`` folder
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def _checkout_root() -> Optional[Path]:
    root = PACKAGE_ROOT.parent
    return root if (root / "setup.py").is_file() and (root / "pretrain").is_dir() else None


#: the source checkout the package runs from; None when it is installed as a package
CHECKOUT_ROOT = _checkout_root()
#: the folder that holds ``pretrain/`` and ``downstream_configs/``: the checkout, or the installed package
DATA_ROOT = CHECKOUT_ROOT or PACKAGE_ROOT

#: one folder per method (``-u NAME``): config_model.yaml, config_runner.yaml, pretrain_expert.py
PRETRAIN_ROOT = DATA_ROOT / "pretrain"
#: the benchmark's student recipes (``--student NAME``) and studies
STUDENT_RECIPES = PRETRAIN_ROOT / "students.yaml"
#: the SUPERB task configs: paper settings at the top, ``tiny/`` and ``mini/`` for the embedded presets
DOWNSTREAM_CONFIG_ROOT = DATA_ROOT / "downstream_configs"
#: the shipped small teacher of the embedded default (``-u tiny_hubert``, ``${tiny_hubert}`` in configs)
TINY_HUBERT_CHECKPOINT = PACKAGE_ROOT / "upstreams" / "tiny_hubert" / "tiny_hubert.pt"

#: environment variable naming the parent folder of the embedded corpora
CORPUS_ENV = "MINI_SUPERB_ROOT"


def work_root() -> Path:
    """Where corpora, experiment folders and result tables go by default."""
    return CHECKOUT_ROOT or Path.cwd()


def default_corpus_dir(preset: str) -> Path:
    """Where ``--preset`` looks for the embedded corpus unless ``--corpus`` says otherwise."""
    return Path(os.environ.get(CORPUS_ENV) or work_root() / "data" / "mini_superb") / preset
