"""Deployment latency, teacher and students side by side: ``python -m upstream_distill.benchmark.latency``.

For the teacher and each student (the papers' shapes with random weights, as
``speed.py``'s first section, or ``--shapes mini``: ``tiny_hubert`` and its mini
students; ``--student FILE`` adds a trained one), on each backend

* PyTorch float32, PyTorch int8 (dynamic quantisation of the Linears),
* ONNX Runtime float32 and int8 (the files ``run_export.py`` writes),

and for a 10 s utterance and a 1 s chunk (batch 1) with 1 and 2 threads,
the median of ``--repeats`` forwards after a warm-up, the speed-up over the
teacher on the same backend, length and threads, and the peak resident
memory.  Every (network, backend, length, threads) runs in a fresh process
(``latency_probe.py``), so one measurement's memory never counts in another's;
the networks of one backend, length and thread count run one after the other,
teacher first, so that a background load weighs on a ratio's two sides
alike.  ``--out results/latency.md`` writes the tables stamped with the
machine and date (``make latency``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .latency_probe import BACKENDS

__all__ = ["Contender", "Measurement", "latency_markdown", "main", "measure_latency", "prepare_files"]

PACKAGE_PARENT = Path(__file__).resolve().parents[2]


@dataclass
class Contender:
    """A network to time; the first of a run is the teacher the ratios refer to."""

    name: str
    model: torch.nn.Module
    teacher: bool = False


@dataclass
class Measurement:
    name: str
    backend: str
    seconds: float
    threads: int
    median_ms: float
    peak_rss_mb: float
    rss_after_imports_mb: float
    peak_since_load: bool


def _slug(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")


def prepare_files(contenders: Sequence[Contender], workdir: Path,
                  backends: Sequence[str]) -> Dict[Tuple[str, str], Path]:
    """``(name, backend) -> file`` the probe loads: the float file, the int8 student file, the ONNX graph
    and its int8 twin.  A teacher's int8 is quantised in the probe from its float file."""
    from upstream_distill.export.int8 import save_int8
    from upstream_distill.export.onnx_file import export_onnx, quantize_onnx
    from upstream_distill.models import save_student, save_teacher

    workdir.mkdir(parents=True, exist_ok=True)
    files = {}
    for contender in contenders:
        stem, model = workdir / _slug(contender.name), contender.model
        if {"torch fp32", "torch int8"} & set(backends):
            float_file = stem.with_suffix(".pt")
            (save_teacher if contender.teacher else save_student)(model, float_file)
            files[contender.name, "torch fp32"] = float_file
            if contender.teacher:
                files[contender.name, "torch int8"] = float_file
            else:
                files[contender.name, "torch int8"] = stem.with_suffix(".int8.pt")
                save_int8(model, files[contender.name, "torch int8"])
        if {"onnxruntime fp32", "onnxruntime int8"} & set(backends):
            files[contender.name, "onnxruntime fp32"] = export_onnx(model, stem.with_suffix(".onnx"))
            files[contender.name, "onnxruntime int8"] = quantize_onnx(stem.with_suffix(".onnx"),
                                                                      stem.with_suffix(".int8.onnx"))
    return files


def _probe(backend: str, kind: str, path: Path, threads: int, seconds: float, repeats: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "upstream_distill.benchmark.latency_probe", "--backend", backend,
               "--kind", kind, "--file", str(path), "--threads", str(threads), "--seconds", str(seconds),
               "--repeats", str(repeats)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"latency probe failed ({backend}, {path.name}, {threads} threads, {seconds} s):\n"
                           f"{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_latency(contenders: Sequence[Contender], files: Dict[Tuple[str, str], Path], seconds: Sequence[float],
                    threads: Sequence[int], backends: Sequence[str], repeats: int,
                    progress=print) -> List[Measurement]:
    """Every configuration in a fresh process; one backend/length/threads group at a time, teacher first."""
    results = []
    for length in seconds:
        for count in threads:
            for backend in backends:
                for contender in contenders:
                    kind = "teacher" if contender.teacher and backend.startswith("torch") else "student"
                    out = _probe(backend, kind, files[contender.name, backend], count, length, repeats)
                    results.append(Measurement(contender.name, backend, length, count, out["median_ms"],
                                               out["peak_rss_mb"], out["rss_after_imports_mb"],
                                               out["peak_since_load"]))
                    progress(f"  {contender.name:<36} {backend:<17} {length:>4g} s {count} thr "
                             f"{out['median_ms']:9.1f} ms  peak {out['peak_rss_mb']:7.0f} MB")
    return results


def latency_markdown(contenders: Sequence[Contender], results: Sequence[Measurement], repeats: int) -> str:
    """One table per clip length: rows network x backend, columns per thread count."""
    from upstream_distill.models import TRAINING_ONLY_PREFIXES, count_parameters

    by_key = {(m.name, m.backend, m.seconds, m.threads): m for m in results}
    teacher = contenders[0].name
    threads = sorted({m.threads for m in results})
    backends = [b for b in BACKENDS if any(m.backend == b for m in results)]
    params = {c.name: count_parameters(c.model, TRAINING_ONLY_PREFIXES) / 1e6 for c in contenders}
    lines = []
    for seconds in sorted({m.seconds for m in results}, reverse=True):
        head = ["network", "params", "backend"]
        for count in threads:
            head += [f"{count} thread{'s' if count > 1 else ''}: ms", f"x {teacher}", "peak RSS MB"]
        lines += [f"\n### {seconds:g} s of audio, batch 1\n", "| " + " | ".join(head) + " |",
                  "|" + "---|" * 3 + "---:|---:|---:|" * len(threads)]
        for contender in contenders:
            for backend in backends:
                row = [contender.name, f"{params[contender.name]:.2f}M", backend]
                for count in threads:
                    mine = by_key.get((contender.name, backend, seconds, count))
                    ref = by_key.get((teacher, backend, seconds, count))
                    if mine is None:
                        row += ["", "", ""]
                        continue
                    row += [f"{mine.median_ms:.1f}", f"{ref.median_ms / mine.median_ms:.2f}" if ref else "",
                            f"{mine.peak_rss_mb:.0f}" + ("" if mine.peak_since_load else " (lifetime)")]
                lines.append("| " + " | ".join(row) + " |")
    baseline = {}
    for m in results:
        baseline.setdefault("torch" if m.backend.startswith("torch") else "onnxruntime", []).append(
            m.rss_after_imports_mb)
    bare = ", ".join(f"{k} {sorted(v)[len(v) // 2]:.0f} MB" for k, v in sorted(baseline.items()))
    notes = (f"Median of {repeats} forwards after one warm-up, each (network, backend, length, threads) in a fresh "
             f"process. `x {teacher}`: the teacher's time on the same backend, length and threads over the "
             f"network's (higher is faster). Peak RSS: the process's resident high-water mark while encoding "
             f"(imports, weights, activations; reset after loading). A bare process after its imports holds "
             f"{bare}; ONNX Runtime processes do not import torch.")
    return notes + "\n" + "\n".join(lines) + "\n"


def write_report(body: str, path: Path, command: str) -> Path:
    from .report import write_stamped_page

    return write_stamped_page(path, "Deployment latency", command, body)


def _contenders(shapes: str, student_files: Sequence[Path]) -> List[Contender]:
    """The teacher first, then its students (random weights: time does not depend on them)."""
    from upstream_distill.core.paths import TINY_HUBERT_CHECKPOINT
    from upstream_distill.export.reading import load_for_export
    from upstream_distill.models import TeacherModel, hubert_base_config, load_teacher

    from .speed import STUDENT_SHAPES, configured_student, pruned_shape

    torch.manual_seed(0)
    if shapes == "papers":
        teacher, name, preset, sparsity = TeacherModel(hubert_base_config()).eval(), "HuBERT Base", None, 0.75
    else:
        if not TINY_HUBERT_CHECKPOINT.is_file():
            raise SystemExit(f"--shapes mini needs the shipped teacher {TINY_HUBERT_CHECKPOINT}")
        teacher, name, preset, sparsity = load_teacher(TINY_HUBERT_CHECKPOINT), "tiny_hubert", "mini", 0.8
    contenders = [Contender(name, teacher, teacher=True)]
    contenders += [Contender(label, configured_student(method, model_file, preset, teacher.config.encoder_dim).eval())
                   for label, method, model_file in STUDENT_SHAPES]
    contenders.append(Contender(f"{name} pruned {sparsity} (random)", pruned_shape(teacher, sparsity).eval()))
    for path in student_files:
        contenders.append(Contender(f"trained {path.parent.name}/{path.name}", load_for_export(path)[0]))
    return contenders


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", choices=("papers", "mini"), default="papers",
                        help="papers: HuBERT Base and the papers' student shapes; mini: tiny_hubert and its students")
    parser.add_argument("--student", type=Path, action="append", default=[], help="also time this student file")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 1.0], help="clip lengths")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), metavar="BACKEND",
                        help=f"subset of {', '.join(repr(b) for b in BACKENDS)}")
    parser.add_argument("--repeats", type=int, default=10, help="timed forwards per configuration (median)")
    parser.add_argument("--workdir", type=Path, help="where the exported files go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="write the tables to this markdown file, e.g. results/latency.md")
    args = parser.parse_args(argv)
    contenders = _contenders(args.shapes, args.student)
    with tempfile.TemporaryDirectory(prefix="latency-") as tmp:
        workdir = args.workdir or Path(tmp)
        print(f"exporting {len(contenders)} networks to {workdir}")
        files = prepare_files(contenders, workdir, args.backends)
        results = measure_latency(contenders, files, args.seconds, args.threads, args.backends, args.repeats)
    body = latency_markdown(contenders, results, args.repeats)
    print(body)
    if args.out:
        command = "python -m upstream_distill.benchmark.latency " + " ".join(argv if argv is not None else sys.argv[1:])
        print(f"wrote {write_report(body, args.out, command.strip())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
