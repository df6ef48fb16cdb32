"""The GPU path end to end, on random weights: ``make gpu-check`` (one script, minutes on one GPU).

    python -m upstream_distill.benchmark.gpu_check --out results/gpu.md          # on a CUDA machine
    python -m upstream_distill.benchmark.gpu_check --device cpu --shapes tiny    # the same path, tiny

What it runs, each as the user would:

1. distillation updates of DistilHuBERT, STaR and DPHuBERT (both stages) from a random HuBERT
   Base-shaped teacher, through ``run_pretrain.py`` with the papers' configs (their batch sizes,
   AMP on CUDA), on a generated LibriSpeech-layout folder of noise (the GPU path does not care what
   the audio says, and no corpus has to travel to the GPU machine);
2. a downstream task (keyword spotting, the embedded ``tiny`` corpus) for a few hundred updates
   through ``run_downstream.py`` on the first student;
3. inference throughput of the teacher and the three students at batch 1 and 16 on 10 s of audio,
   fp32 and (CUDA) fp16 autocast, as seconds of audio per second.

``--shapes tiny`` swaps the paper shapes for the ``tiny`` presets so that the same code runs on a
CPU in a test. Every check is reported with its status; the exit status is 1 if any failed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from upstream_distill.core.paths import CHECKOUT_ROOT, default_corpus_dir
from upstream_distill.training import read_metrics

__all__ = ["main"]

SAMPLE_RATE = 16000
METHODS = ("distilhubert", "star_hubert", "dphubert")
#: generated noise utterances for the paper-shape runs: enough for a few batches of 24 crops of 15.6 s
NOISE_UTTERANCES, NOISE_SECONDS = 72, 16.0


@dataclass
class Check:
    name: str
    ok: bool
    seconds: float
    detail: str = ""
    log: Optional[Path] = None


@dataclass
class Report:
    device: str
    checks: List[Check] = field(default_factory=list)
    throughput: Dict[str, Dict[str, float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def write_noise_corpus(root: Path, utterances: int, seconds: float, seed: int = 0) -> Path:
    """``root/LibriSpeech/train-clean-100`` of white-noise FLACs and its length list; returns the
    LibriSpeech folder."""
    import soundfile

    from upstream_distill.training.len_for_bucket import subset_lengths, write_length_csv

    libri = root / "LibriSpeech"
    rng = np.random.default_rng(seed)
    for index in range(utterances):
        folder = libri / "train-clean-100" / "1" / str(index // 10)
        folder.mkdir(parents=True, exist_ok=True)
        wav = (0.1 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)
        soundfile.write(folder / f"1-{index // 10}-{index:04d}.flac", wav, SAMPLE_RATE)
    write_length_csv(subset_lengths(libri, "train-clean-100"), libri / "len_for_bucket" / "train-clean-100.csv")
    return libri


def _run(command: List[str], log: Path) -> subprocess.CompletedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as handle:
        return subprocess.run([sys.executable, *command], cwd=CHECKOUT_ROOT, stdout=handle,
                              stderr=subprocess.STDOUT, text=True)


def _seconds_per_step(expdir: Path) -> str:
    """The runner's own sec_per_step of the last logging window (the first ones include warm-up)."""
    rows = read_metrics(expdir)
    if not rows:
        return "no metrics"
    last = rows[max(rows)]
    return f"{last['sec_per_step']:.3f} s/update at step {last['step']}"


def distil(method: str, teacher: Path, work: Path, args) -> Check:
    expdir = work / method
    overrides = [f"config.model.teacher.checkpoint='{teacher}'", f"config.runner.total_steps={args.steps}",
                 f"config.runner.save_step={args.steps}", "config.runner.log_step=1"]
    if args.shapes == "tiny":
        command = ["run_pretrain.py", "-u", method, "--preset", "tiny", "--corpus", str(args.corpus)]
    else:
        libri = work / "noise" / "LibriSpeech"
        overrides += [f"config.datarc.libri_root='{libri}'", f"config.datarc.bucket_dir='{libri / 'len_for_bucket'}'",
                      "config.datarc.sets=['train-clean-100']", "config.datarc.num_workers=4"]
        command = ["run_pretrain.py", "-u", method]
        if args.device.startswith("cuda"):
            overrides.append("config.runner.fp16=True")
    command += ["-p", str(expdir), "--device", args.device, "-o", ",,".join(overrides)]
    started = time.monotonic()
    result = _run(command, work / f"{method}.log")
    seconds = time.monotonic() - started
    final = expdir / "final" if (expdir / "final").is_dir() else expdir
    ok = result.returncode == 0 and (expdir / "upstream.pt").is_file()
    detail = _seconds_per_step(final) if ok else f"exit {result.returncode}"
    return Check(f"distil {method}", ok, seconds, detail, work / f"{method}.log")


def downstream(student: Path, work: Path, args) -> Check:
    expdir = work / "ks"
    command = ["run_downstream.py", "-m", "train", "-u", "distill_student", "-k", str(student), "-d", "ks",
               "--preset", "tiny", "--corpus", str(args.corpus), "-p", str(expdir), "--device", args.device,
               "-o", f"config.runner.total_steps={args.downstream_steps},,config.runner.eval_step="
                     f"{args.downstream_steps},,config.runner.save_step={args.downstream_steps}"]
    started = time.monotonic()
    result = _run(command, work / "ks.log")
    seconds = time.monotonic() - started
    ok = result.returncode == 0 and any(expdir.glob("states-*.ckpt"))
    detail = f"{args.downstream_steps} updates" if ok else f"exit {result.returncode}"
    return Check("downstream ks (distilhubert student)", ok, seconds, detail, work / "ks.log")


def throughput(models: Dict[str, torch.nn.Module], device: torch.device, repeats: int) -> Dict[str, Dict[str, float]]:
    """Seconds of audio encoded per second, per model and setting (batch 1/16 x fp32/fp16)."""
    settings = [(batch, half) for batch in (1, 16) for half in ((False, True) if device.type == "cuda" else (False,))]
    out: Dict[str, Dict[str, float]] = {}
    for name, model in models.items():
        model.to(device).eval()
        for batch, half in settings:
            wavs = torch.randn(batch, 10 * SAMPLE_RATE, device=device)
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=half):
                model(wavs)  # warm-up: kernels chosen, memory allocated
                times = []
                for _ in range(repeats):
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    started = time.perf_counter()
                    model(wavs)
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - started)
            out.setdefault(name, {})[f"batch {batch}, {'fp16' if half else 'fp32'}"] = 10 * batch / float(np.median(times))
        model.cpu()
    return out


def render(report: Report) -> str:
    """The page's body (write_stamped_page adds the title, command, machine and date)."""
    lines = [f"Device {report.device}. Random weights: these are timings of the code path, not scores.\n",
             "| check | status | seconds | detail |", "|---|---|---|---|"]
    for check in report.checks:
        lines.append(f"| {check.name} | {'ok' if check.ok else 'FAILED'} | {check.seconds:.1f} | {check.detail} |")
    if report.throughput:
        settings = list(next(iter(report.throughput.values())))
        lines += ["", "Inference throughput, seconds of audio per second (10 s utterances, median):", "",
                  "| model | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
        for name, values in report.throughput.items():
            lines.append(f"| {name} | " + " | ".join(f"{values[s]:.0f}" for s in settings) + " |")
    return "\n".join(lines) + "\n"


def run_checks(args) -> Report:
    from upstream_distill.models import (
        TeacherModel,
        hubert_base_config,
        load_student,
        save_teacher,
        tiny_teacher_config,
    )

    device = torch.device(args.device)
    report = Report(device=str(torch.cuda.get_device_name(device) if device.type == "cuda" else device))
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"[gpu-check] working in {work}", flush=True)
    torch.manual_seed(0)
    teacher = TeacherModel(hubert_base_config() if args.shapes == "paper" else tiny_teacher_config())
    teacher_file = work / "teacher.pt"
    save_teacher(teacher, teacher_file)
    if args.shapes == "paper":
        write_noise_corpus(work / "noise", NOISE_UTTERANCES, NOISE_SECONDS)
    for method in METHODS:
        check = distil(method, teacher_file, work, args)
        report.checks.append(check)
        print(f"[gpu-check] {check.name}: {'ok' if check.ok else 'FAILED, see ' + str(check.log)} "
              f"({check.seconds:.0f} s; {check.detail})", flush=True)
    first = work / METHODS[0] / "upstream.pt"
    if first.is_file():
        report.checks.append(downstream(first, work, args))
        print(f"[gpu-check] {report.checks[-1].name}: {'ok' if report.checks[-1].ok else 'FAILED'}", flush=True)
    models = {"teacher": teacher}
    models.update({method: load_student(work / method / "upstream.pt") for method in METHODS
                   if (work / method / "upstream.pt").is_file()})
    report.throughput = throughput(models, device, args.repeats)
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu for a dry run")
    parser.add_argument("--shapes", choices=("paper", "tiny"), default="paper",
                        help="paper: HuBERT Base teacher and the papers' configs; tiny: the tiny presets")
    parser.add_argument("--steps", type=int, default=20, help="distillation updates per method (per stage)")
    parser.add_argument("--downstream-steps", type=int, default=300, help="keyword-spotting updates")
    parser.add_argument("--repeats", type=int, default=10, help="timed forwards per model and setting")
    parser.add_argument("--corpus", type=Path, help="the embedded tiny corpus (default data/mini_superb/tiny, "
                                                    "built if missing)")
    parser.add_argument("--work", type=Path, help="working folder (default: a new temporary one)")
    parser.add_argument("--out", type=Path, help="also write the report here, e.g. results/gpu.md")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available here (--device cpu --shapes tiny runs the "
                     f"same path on the CPU)")
    if args.corpus is None:
        from upstream_distill.mini_superb import build_corpus

        args.corpus = default_corpus_dir("tiny")
        build_corpus("tiny", args.corpus)  # returns at once when it is there
    report = run_checks(args)
    command = "python -m upstream_distill.benchmark.gpu_check " + " ".join(argv if argv is not None else sys.argv[1:])
    text = render(report)
    print(text)
    if args.out:
        from .report import write_stamped_page

        print(f"wrote {write_stamped_page(args.out, 'GPU check', command.strip(), text)}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
