"""One latency measurement in a process of its own: ``python -m upstream_distill.benchmark.latency_probe``.

Loads one network through one backend with a fixed number of threads,
encodes one clip of batch 1 (a warm-up, then ``--repeats`` timed forwards)
and prints one JSON line: the median and all times in milliseconds, the
process's resident memory after its imports and after loading, and its
peak resident memory while encoding.  The peak is the kernel's high-water
mark (``VmHWM``), reset after loading (``/proc/self/clear_refs``, once the
memory loading freed is handed back) so it counts what inference holds, not
a transient of loading; where the reset is not allowed, the lifetime peak is
reported and marked so.

An ONNX Runtime probe imports onnxruntime and numpy only, not torch: a
deployment with ONNX Runtime does not carry torch's memory either.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import statistics
import time
from typing import Callable, Dict

__all__ = ["BACKENDS", "main"]

SAMPLE_RATE = 16000
#: backend -> what is loaded (see latency.py for the files)
BACKENDS = ("torch fp32", "torch int8", "onnxruntime fp32", "onnxruntime int8")


def _status_mb(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process in MiB (from /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(f"/proc/self/status has no {field}")


def _release_freed_memory() -> None:
    """Hand memory freed while loading back to the kernel (glibc keeps it otherwise, and it would
    count as resident): what a long-running service's loader leaves behind, not what it holds."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _reset_peak() -> bool:
    """Reset the resident high-water mark to the current RSS (Linux >= 4.0); False when refused."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def _torch_runner(kind: str, path: str, quantize: bool, threads: int, samples: int) -> Callable[[], object]:
    import torch

    from upstream_distill.models import load_student, load_teacher, quantize_dynamic_int8

    torch.set_num_threads(threads)
    model = load_teacher(path) if kind == "teacher" else load_student(path)
    if quantize:  # the teacher has no int8 file format: it is quantised here, before the peak is reset
        model = quantize_dynamic_int8(model)
    wav = torch.randn(1, samples, generator=torch.Generator().manual_seed(0)) * 0.1

    def run():
        with torch.inference_mode():
            return model(wav)
    return run


def _onnx_runner(path: str, threads: int, samples: int) -> Callable[[], object]:
    import numpy as np

    from upstream_distill.export.runtime import onnx_session

    session = onnx_session(path, threads)
    feeds = {"waveforms": (np.random.default_rng(0).standard_normal((1, samples)) * 0.1).astype(np.float32),
             "lengths": np.array([samples], dtype=np.int64)}
    return lambda: session.run(None, feeds)


def measure(backend: str, kind: str, path: str, threads: int, seconds: float, repeats: int,
            warmup: int = 1) -> Dict[str, object]:
    after_imports = _status_mb("VmRSS")
    samples = int(seconds * SAMPLE_RATE)
    if backend.startswith("torch"):
        run = _torch_runner(kind, path, backend == "torch int8" and kind == "teacher", threads, samples)
    else:
        run = _onnx_runner(path, threads, samples)
    _release_freed_memory()
    loaded = _status_mb("VmRSS")
    peak_reset = _reset_peak()
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "times_ms": times, "rss_after_imports_mb": after_imports,
            "rss_loaded_mb": loaded, "peak_rss_mb": _status_mb("VmHWM"), "peak_since_load": peak_reset}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", required=True, choices=BACKENDS)
    parser.add_argument("--kind", choices=("student", "teacher"), default="student",
                        help="how a torch file is read (load_student / load_teacher)")
    parser.add_argument("--file", required=True, help="student / teacher file, or .onnx")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args(argv)
    if args.backend.startswith("torch"):
        import torch  # noqa: F401 - imported before the baseline, as a torch deployment would

        from upstream_distill import models  # noqa: F401
    else:
        import onnxruntime  # noqa: F401
    print(json.dumps(measure(args.backend, args.kind, args.file, args.threads, args.seconds, args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
