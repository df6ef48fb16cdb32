"""Build a corpus: plan every task, synthesise all files in one pool, write metadata.

The build goes to a temporary sibling folder ``.<name>.partial-<pid>`` and is
renamed into place only once complete (manifest last), so an interrupted build
never leaves a half corpus that looks finished.  A corpus whose manifest
matches (preset, seed, generator version, spec) is returned at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from upstream_distill.core.atomic_files import process_alive

from . import iemocap, librispeech, speech_commands, voxceleb
from .layout import (
    IEMOCAP,
    LIBRISPEECH,
    MANIFEST,
    SPEECH_COMMANDS,
    SPEECH_COMMANDS_TEST,
    VOXCELEB,
)
from .manifest import matches, new_manifest, read_manifest, write_manifest
from .seeds import rng_for
from .spec import GENERATOR_VERSION, CorpusSpec, resolve_spec
from .synth import WorkContext, run_jobs
from .text import SentencePool, load_sentences
from .voices import prepare_espeak_data, require_binaries

log = logging.getLogger("upstream_distill.mini_superb")

# task name in the manifest -> (writer module, field of CorpusSpec); order fixes text allocation
TASKS = {
    "librispeech": (librispeech, "librispeech"),
    "voxceleb1": (voxceleb, "voxceleb"),
    "iemocap": (iemocap, "iemocap"),
    "speech_commands": (speech_commands, "speech_commands"),
}
_CORPUS_ENTRIES = {MANIFEST, LIBRISPEECH, VOXCELEB, IEMOCAP, SPEECH_COMMANDS, SPEECH_COMMANDS_TEST}


def build_corpus(preset: str | CorpusSpec, out_dir: str | Path, seed: int = 0, jobs: int = 2) -> dict:
    """Build the ``preset`` corpus (``tiny`` or ``mini``) into ``out_dir``; return its manifest.

    Idempotent: returns at once when ``out_dir/manifest.json`` already describes
    the same preset, seed and generator version.  Deterministic for a seed.
    ``jobs`` is the number of synthesis processes.
    """
    spec = resolve_spec(preset)
    out = Path(out_dir).expanduser().resolve()
    existing = read_manifest(out / MANIFEST)
    if matches(existing, spec, seed):
        msg = "%s already holds the %s corpus (seed %d, generator %s): nothing to do"
        log.info(msg, out, spec.name, seed, GENERATOR_VERSION)
        return existing
    _check_replaceable(out)
    require_binaries()

    t0 = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        log.info("building the %s corpus (seed %d, %d jobs) in %s", spec.name, seed, jobs, tmp)
        sentences = load_sentences()
        pool = SentencePool(sentences, rng_for(seed, "sentences"))
        plans = {name: module.plan(getattr(spec, field), pool, seed) for name, (module, field) in TASKS.items()}
        log.info("text: %d sentences available, %d used", len(sentences), len(sentences) - pool.remaining)

        work = tmp / "_work"
        voices = [v for p in plans.values() for v in p.espeak_voices]
        espeak_paths = prepare_espeak_data(work / "espeak", voices)
        n_variants, n_folders = len({v.key for v in voices}), len(set(espeak_paths.values()))
        log.info("espeak-ng data: %d custom voice variants in %d folder(s)", n_variants, n_folders)
        ctx = WorkContext(root=tmp, espeak_paths=espeak_paths)

        all_jobs = [job for p in plans.values() for job in p.jobs]
        log.info("%s", ", ".join(f"{name}: {len(p.jobs)} jobs" for name, p in plans.items()))
        results = run_jobs(all_jobs, ctx, procs=jobs, desc=f"mini_superb {spec.name}")

        sections, start = {}, 0
        for name, p in plans.items():
            sections[name] = p.write(results[start : start + len(p.jobs)], tmp)
            start += len(p.jobs)
        shutil.rmtree(work)
        manifest = new_manifest(spec, seed, sections, time.monotonic() - t0, jobs)
        write_manifest(tmp / MANIFEST, manifest)
        _swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    hours = manifest["hours"]
    per_task = ", ".join(f"{k} {v:.2f} h" for k, v in hours.items() if k != "total")
    log.info("built %s in %.1f s: %.2f h of speech (%s)", out, manifest["build_seconds"], hours["total"], per_task)
    return manifest


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that is neither empty nor a (possibly older) corpus."""
    if not out.exists():
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a folder")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in _CORPUS_ENTRIES)
    if foreign:
        raise FileExistsError(f"{out} holds files that are not part of a corpus ({', '.join(foreign[:5])}); not replacing it")
    log.info("%s holds another or an incomplete corpus: rebuilding it", out)


def _remove_stale(out: Path) -> None:
    """Remove leftovers of interrupted builds of ``out`` whose process is gone."""
    for kind in ("partial", "old"):
        for p in out.parent.glob(f".{out.name}.{kind}-*"):
            suffix = p.name.rsplit("-", 1)[-1]
            if suffix.isdigit() and (int(suffix) == os.getpid() or not process_alive(suffix)):
                log.info("removing %s left by an interrupted build", p)
                shutil.rmtree(p, ignore_errors=True)


def _swap_into_place(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)
