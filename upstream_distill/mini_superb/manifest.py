"""``manifest.json``: what a corpus folder holds and how it was made.

Written last, inside the temporary build folder, just before that folder is
renamed into place: a corpus folder with a manifest is complete.
"""

from __future__ import annotations

import json
from pathlib import Path

from .spec import GENERATOR_VERSION, CorpusSpec


def read_manifest(path: str | Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def write_manifest(path: str | Path, manifest: dict) -> None:
    Path(path).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def matches(manifest: dict | None, spec: CorpusSpec, seed: int) -> bool:
    """True if ``manifest`` describes the corpus that (spec, seed, this generator) would build."""
    return (
        manifest is not None
        and manifest.get("preset") == spec.name
        and manifest.get("seed") == seed
        and manifest.get("generator_version") == GENERATOR_VERSION
        and manifest.get("spec") == _jsonable(spec.to_dict())
    )


def _jsonable(value):
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def new_manifest(spec: CorpusSpec, seed: int, tasks: dict[str, dict], build_seconds: float, jobs: int) -> dict:
    hours = {name: section["hours"] for name, section in tasks.items()}
    return {
        "preset": spec.name,
        "seed": seed,
        "generator_version": GENERATOR_VERSION,
        "hours": {**hours, "total": round(sum(hours.values()), 4)},
        "counts": _counts(tasks),
        "build_seconds": round(build_seconds, 1),
        "build_jobs": jobs,
        "spec": spec.to_dict(),
        "tasks": tasks,
    }


def _counts(tasks: dict[str, dict]) -> dict:
    ls, vc, er, ks = tasks["librispeech"], tasks["voxceleb1"], tasks["iemocap"], tasks["speech_commands"]
    return {
        "librispeech": {split: s["utterances"] for split, s in ls["splits"].items()},
        "voxceleb1": {"speakers": vc["speakers"], **{f"split{k}": v for k, v in vc["utterances"].items()}},
        "iemocap": {"utterances": er["utterances"], **er["per_label"]},
        "speech_commands": {
            "train_root": ks["train_root"]["clips"],
            "test_root": ks["test_root"]["clips"],
            **{f"hash_{k}": v for k, v in ks["train_root"]["per_split"].items()},
        },
    }
