"""File provenance: what identifies an input file is its bytes, not its path or timestamp.

A teacher re-trained under the same path (same size, or copied with its mtime kept) is another
teacher; a copy of the same teacher elsewhere is the same one. This is the one digest rule of the
project: the run record (``config.input_files``, which makes a resume refuse a replaced file), the
teacher-target cache key and the k-means unit cache key all use it.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Union

__all__ = ["file_digest"]

_BLOCK = 1 << 20


def file_digest(path: Union[str, Path]) -> str:
    """SHA-1 (16 hex digits) of a file's bytes; for a folder (a Hugging Face model), of every file in
    it, each with its relative path, in sorted order. OSError for a path that cannot be read."""
    path = Path(path)
    sha = hashlib.sha1()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if file != path:
            sha.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                sha.update(block)
    return sha.hexdigest()[:16]
