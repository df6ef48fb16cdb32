"""mini_superb: a small synthetic SUPERB corpus (ASR, PR, SID, ER, KS) made offline.

Speech is synthesised with espeak-ng (many custom voices) and flite, text comes
from the Debian ``fortunes`` files, and every task is written in the layout
s3prl's task experts read (LibriSpeech, VoxCeleb1, IEMOCAP, Speech Commands).

    from upstream_distill.mini_superb import build_corpus, corpus_paths
    manifest = build_corpus("tiny", Path("data/mini_superb/tiny"), seed=0, jobs=2)
    paths = corpus_paths("data/mini_superb/tiny")   # roots for the s3prl configs

Command line: ``python -m upstream_distill.mini_superb --preset {tiny,mini} --out DIR``.
"""

from .build import build_corpus
from .layout import corpus_paths
from .manifest import read_manifest
from .spec import GENERATOR_VERSION, MINI, PRESETS, TINY, CorpusSpec

__all__ = [
    "build_corpus",
    "corpus_paths",
    "read_manifest",
    "CorpusSpec",
    "PRESETS",
    "TINY",
    "MINI",
    "GENERATOR_VERSION",
]
