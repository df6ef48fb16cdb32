"""Speed and size, measured side by side in one run: ``python -m upstream_distill.benchmark.speed``.

Prints, on the same 10 s of audio and this machine's CPU:

1. parameters and inference time of the HuBERT Base architecture vs the
   DistilHuBERT architecture, Wang et al.'s deep & thin student, on the
   waveform CNN and on the Fbank front-end, and HuBERT Base pruned to
   DPHuBERT's sparsity 0.75 (random weights: speed does not depend on them;
   the units removed chosen by a seeded random score, so CNN channels go as
   often as FFN units: a trained DPHuBERT's gates decide that, and its time);
2. the shipped ``tiny_hubert`` teacher vs its mini students of the same
   shapes (the presets' architectures, or a trained ``--student`` checkpoint
   in place of the DistilHuBERT one);
3. distillation updates per second of that pair with the teacher's targets
   computed on the fly vs read from the ``--cache-teacher`` disk cache (a
   subset of the mini corpus, the real runner's batches and expert).

Timings interleave the contenders (A, B, A, B, ...) and report medians, so a
background load slows both alike and the ratios stay comparable. ``--out
results/speed.md`` also keeps the printout, stamped with the machine and date.
Deployment latency (the same shapes on PyTorch and ONNX Runtime, float32 and
int8, 10 s and 1 s clips, 1 and 2 threads, peak memory) is ``latency.py``
(``make latency``), which reuses these shapes (:data:`STUDENT_SHAPES`,
:func:`configured_student`, :func:`pruned_shape`).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch

from upstream_distill.core.paths import PRETRAIN_ROOT

__all__ = ["interleaved_medians", "inference_seconds", "main"]

SAMPLE_RATE = 16000


def interleaved_medians(contenders: Dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> Dict[str, float]:
    """Median wall seconds of each callable, run in turns ``repeats`` times after ``warmup`` turns."""
    times: Dict[str, List[float]] = {name: [] for name in contenders}
    for turn in range(warmup + repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            if turn >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def inference_seconds(models: Dict[str, torch.nn.Module], seconds: float = 10.0, repeats: int = 5,
                      seed: int = 0, upstream_api: bool = False) -> Dict[str, float]:
    """Median forward time of each model on the same random ``seconds`` of audio:
    ``model(wav[None])`` (a network), or ``model([wav])`` with ``upstream_api`` (an s3prl upstream)."""
    wav = torch.randn(int(seconds * SAMPLE_RATE), generator=torch.Generator().manual_seed(seed))
    batch = [wav] if upstream_api else wav[None]

    def forward(model):
        def run():
            with torch.inference_mode():
                model(batch)
        return run

    for model in models.values():
        model.eval()
    return interleaved_medians({name: forward(model) for name, model in models.items()}, repeats)


def _print_pair(title: str, models: Dict[str, torch.nn.Module], times: Dict[str, float]) -> None:
    from upstream_distill.models import TRAINING_ONLY_PREFIXES, count_parameters

    # millions, without the training-only heads: the size of what s3prl runs
    params = {name: count_parameters(model, TRAINING_ONLY_PREFIXES) / 1e6 for name, model in models.items()}
    names = list(models)
    reference = names[0]
    print(f"\n{title}")
    print(f"  {'model':<34} {'params':>9} {'10 s audio':>11} {'time vs ' + reference:>22}")
    for name in names:
        print(f"  {name:<34} {params[name]:>8.2f}M {times[name] * 1000:>9.0f} ms "
              f"{times[name] / times[reference]:>21.3f}x")
    for name in names[1:]:
        print(f"  -> {name}: {params[reference] / params[name]:.2f}x fewer parameters, "
              f"{times[reference] / times[name]:.2f}x faster than {reference}")


#: (label, method, model config relative to pretrain/ or None for the method's own)
STUDENT_SHAPES = (
    ("DistilHuBERT, CNN (2 x wide)", "distilhubert", None),
    ("deep & thin, CNN", "asr_distill", None),
    ("deep & thin, Fbank front-end", "asr_distill", "asr_distill/variants/fbank.yaml"),
)


def configured_student(method: str, model_file: Optional[str], preset: Optional[str], teacher_dim: int):
    """A randomly initialised student as ``pretrain/<method>`` (with ``-g model_file``) builds it."""
    from upstream_distill.models.student import StudentModel
    from upstream_distill.models.student_config import StudentConfig
    from upstream_distill.training.config import compose_config

    folder = PRETRAIN_ROOT / method
    config = compose_config(folder / "config_runner.yaml",
                            PRETRAIN_ROOT / model_file if model_file else folder / "config_model.yaml", preset)
    student = dict(config["model"]["student"])
    if student.get("prediction_heads", "none") != "none":
        student["head_dim"] = teacher_dim
    model = StudentModel(StudentConfig.from_dict(student))
    if hasattr(model.frontend, "estimate_statistics"):  # an Fbank front-end: any statistics time the same
        model.frontend.estimate_statistics([torch.randn(SAMPLE_RATE) * 0.1], progress=False)
    return model


def _student_shapes(preset: Optional[str], teacher_dim: int) -> Dict[str, torch.nn.Module]:
    return {label: configured_student(method, model_file, preset, teacher_dim)
            for label, method, model_file in STUDENT_SHAPES}


def pruned_shape(teacher, sparsity: float, seed: int = 0) -> torch.nn.Module:
    """``teacher`` (a TeacherModel) pruned to ``sparsity`` with gates set by a seeded random score,
    no training: the shape and size of a DPHuBERT student of that sparsity."""
    from upstream_distill.models import PrunedModel
    from upstream_distill.pruning import parameter_count, prune
    from upstream_distill.pruning.budget import random_masks_for_budget

    full = PrunedModel.from_teacher(teacher)
    budget = int(round((1.0 - sparsity) * parameter_count(full.config)))
    return prune(full, random_masks_for_budget(full.config, budget, seed))


def _print_frontend_ratio(times: Dict[str, float], teacher: str) -> None:
    cnn, fbank = times["deep & thin, CNN"], times["deep & thin, Fbank front-end"]
    print(f"  -> Fbank front-end: {cnn / fbank:.2f}x faster than the same encoder on the waveform CNN; "
          f"{fbank / times[teacher]:.3f}x the time of {teacher}")


def _distillation_steps(teacher_file: Path, corpus: Path, utterances: int, steps: int) -> Dict[str, float]:
    """Updates per second of the mini DistilHuBERT expert, targets on the fly vs from the disk cache."""
    from upstream_distill.core.yaml_config import substitute
    from upstream_distill.distill import DistillationExpert
    from upstream_distill.training import DistEnv, ExpertContext
    from upstream_distill.training.config import TrainingConfig, compose_config
    from upstream_distill.training.data import BatchPlan, BatchStream, read_utterances
    from upstream_distill.training.optim import build_optimizer

    folder = PRETRAIN_ROOT / "distilhubert"
    raw = compose_config(folder / "config_runner.yaml", folder / "config_model.yaml", "mini")
    raw = substitute(raw, {"corpus": corpus, "tiny_hubert": teacher_file})
    config = TrainingConfig.from_dict(raw)
    subset = read_utterances(config.datarc)[:utterances]
    workdir = Path(tempfile.mkdtemp(prefix="speed-cache-"))

    def runner_step(cache_teacher: bool):
        context = ExpertContext(expdir=workdir, device=torch.device("cpu"), data=config.datarc,
                                utterances=subset, seed=0, dist=DistEnv(), log=lambda _: None,
                                cache_teacher=cache_teacher)
        expert = DistillationExpert(config.model, context).train()
        optimizer = build_optimizer(expert.trainable_parameters(), config.optimizer)
        plan = BatchPlan([u.length for u in subset], config.datarc, 0)
        stream = BatchStream(subset, plan, 0)

        def step():
            loss, _ = expert(next(stream), 0)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return step

    on_the_fly, cached = runner_step(False), runner_step(True)  # the second builds the cache first
    times = interleaved_medians({"on the fly": on_the_fly, "cached": cached}, repeats=steps, warmup=2)
    return {name: 1.0 / seconds for name, seconds in times.items()}


class _Tee(io.TextIOBase):
    """stdout that also keeps a copy of what was printed."""

    def __init__(self, stream):
        self.stream, self.kept = stream, io.StringIO()

    def write(self, text: str) -> int:
        self.kept.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()


def write_report(printout: str, path: Path, command: str) -> Path:
    """The printout as a markdown page that names the command, machine and date (atomically)."""
    from .report import write_stamped_page

    return write_stamped_page(path, "Speed and size", command, f"```\n{printout.strip()}\n```\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards per model (median)")
    parser.add_argument("--student", type=Path, help="also time this trained tiny_hubert student (upstream.pt)")
    parser.add_argument("--steps", type=int, default=10, help="timed distillation updates per variant (median)")
    parser.add_argument("--utterances", type=int, default=64, help="mini-corpus utterances for the update timing")
    parser.add_argument("--corpus", type=Path, help="mini corpus (default data/mini_superb/mini)")
    parser.add_argument("--threads", type=int, help="torch cpu threads (default: torch's)")
    parser.add_argument("--out", type=Path, help="also write the printout to this markdown file, e.g. results/speed.md")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.out:
        return _measure(args)
    tee = _Tee(sys.stdout)
    with contextlib.redirect_stdout(tee):
        status = _measure(args)
    command = "python -m upstream_distill.benchmark.speed " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"wrote {write_report(tee.kept.getvalue(), args.out, command.strip())}")
    return status


def _measure(args) -> int:
    """Sections 1-3 of the module docstring, printed as they finish."""
    from upstream_distill.benchmark.report import machine_description
    from upstream_distill.core.paths import TINY_HUBERT_CHECKPOINT, default_corpus_dir
    from upstream_distill.models import TeacherModel, hubert_base_config, load_student, load_teacher

    print(f"speed benchmark on {machine_description()}, {torch.get_num_threads()} threads; "
          f"10 s of audio, median of {args.repeats}; parameters without training-only heads "
          f"(HuBERT's unit head: +0.33M, the 94.7M usually quoted)")
    torch.manual_seed(0)
    base = TeacherModel(hubert_base_config())
    models = {"HuBERT Base": base, **_student_shapes(None, 768),
              "HuBERT Base pruned 0.75 (random)": pruned_shape(base, 0.75)}
    times = inference_seconds(models, repeats=args.repeats)
    _print_pair("1. architectures of the papers (random weights)", models, times)
    _print_frontend_ratio(times, "HuBERT Base")

    if not TINY_HUBERT_CHECKPOINT.is_file():
        print(f"\n2./3. skipped: {TINY_HUBERT_CHECKPOINT} is missing (see the README to make it)")
        return 0
    teacher = load_teacher(TINY_HUBERT_CHECKPOINT)
    models = {"tiny_hubert": teacher, **_student_shapes("mini", teacher.config.encoder_dim),
              "tiny_hubert pruned 0.8 (random)": pruned_shape(teacher, 0.8)}
    if args.student:
        models["trained student " + args.student.parent.name] = load_student(args.student)
    times = inference_seconds(models, repeats=args.repeats)
    _print_pair("2. the embedded default's teacher and its mini students (random weights unless trained)",
                models, times)
    _print_frontend_ratio(times, "tiny_hubert")

    corpus = args.corpus or default_corpus_dir("mini")
    if not (corpus / "LibriSpeech").is_dir():
        print(f"\n3. skipped: no mini corpus at {corpus} (python -m upstream_distill.mini_superb --preset mini)")
        return 0
    rates = _distillation_steps(TINY_HUBERT_CHECKPOINT, corpus, args.utterances, args.steps)
    print(f"\n3. distillation updates (mini DistilHuBERT preset, batch of 8 crops <= 5 s, median of {args.steps})")
    for name, rate in rates.items():
        print(f"  teacher targets {name:<11} {rate:6.2f} updates/s")
    print(f"  -> cached targets: {rates['cached'] / rates['on the fly']:.2f}x the updates per second")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
