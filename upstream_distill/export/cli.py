"""``run_export.py``: a student checkpoint -> a deployable file, checked against the student.

    python run_export.py -k EXP/upstream.pt --format onnx            # EXP/upstream.onnx
    python run_export.py -k EXP/upstream.pt --format int8 -o out/    # out/upstream.int8.pt
    python run_export.py -k distilhubert_ls960_4-8-12.ckpt --format student -o dh.pt

``-k`` takes any student file the project writes (``upstream.pt``, a run's
``states-N.ckpt``; CNN or Fbank front-end, pruned students) and also s3prl's
distiller checkpoints and DPHuBERT's files (read as the project's networks).
``-o`` is a file, or a folder to put the default file name in (an existing folder,
a path ending in ``/`` or without a suffix); for ``hf`` it is the model folder
itself.  Default: beside ``-k``.  Every format is read back after writing and compared with the float
PyTorch network on a padded two-utterance batch; the largest absolute
difference of any hidden state on any real frame is printed.  A float format
above ``--atol`` exits 1; int8 formats report their (larger) difference.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

from .checks import check_huggingface, check_onnx, check_torch
from .network import describe
from .reading import load_for_export
from .runtime import Difference

__all__ = ["FORMATS", "main"]

#: format -> (default file name from the checkpoint's stem, what it is)
FORMATS: Dict[str, tuple] = {
    "onnx": ("{stem}.onnx", "ONNX graph (waveform in, every hidden state out), float32"),
    "onnx-int8": ("{stem}.int8.onnx", "the ONNX graph with ONNX Runtime's dynamic int8 Linear layers"),
    "int8": ("{stem}.int8.pt", "PyTorch dynamic int8 student: -u distill_student -k FILE"),
    "hf": ("{stem}_hf", "transformers HubertModel folder (save_pretrained)"),
    "distiller": ("{stem}.distiller.ckpt", "s3prl's distiller checkpoint: -u distiller_local -k FILE"),
    "dphubert": ("{stem}.dphubert.pth", "DPHuBERT's {config, state_dict} pruned model"),
    "student": ("{stem}.student.pt", "the project's student file (from a distiller or DPHuBERT file)"),
}
DEFAULT_ATOL = 1e-4


def output_path(checkpoint: Path, out: Optional[Path], fmt: str) -> Path:
    """``-o`` as given when it names a file; the format's default name inside a folder otherwise."""
    name = FORMATS[fmt][0].format(stem=checkpoint.name.split(".")[0])
    if out is None:
        return checkpoint.parent / name
    if fmt == "hf" or out.is_dir() or str(out).endswith(("/", "\\")) or not out.suffix:
        return out if fmt == "hf" else out / name
    return out


#: a writer returns its report and the difference ``--atol`` bounds (None: an int8 format, reported only)
Report = Tuple[str, Optional[Difference]]


def _export_onnx(model, out: Path, args) -> Report:
    from .onnx_file import export_onnx

    export_onnx(model, out, opset=args.opset, source=str(args.k))
    check = check_onnx(model, out, args.check_seconds)
    return f"ONNX Runtime vs PyTorch: {check}", check


def _export_onnx_int8(model, out: Path, args) -> Report:
    from .onnx_file import export_onnx, quantize_onnx

    with tempfile.TemporaryDirectory(prefix="run_export-") as tmp:
        fp32 = export_onnx(model, Path(tmp) / "fp32.onnx", opset=args.opset, source=str(args.k))
        float_check = check_onnx(model, fp32, args.check_seconds)
        quantize_onnx(fp32, out)
    return (f"ONNX Runtime float32 vs PyTorch: {float_check}; int8 vs PyTorch float32: "
            f"{check_onnx(model, out, args.check_seconds)}"), None


def _export_int8(model, out: Path, args) -> Report:
    from upstream_distill.models import load_student

    from .int8 import save_int8

    save_int8(model, out)
    check = check_torch(model, load_student(out), args.check_seconds)
    return f"int8 (as -u distill_student loads it) vs float32: {check}", None


def _export_hf(model, out: Path, args) -> Report:
    from .huggingface import load_huggingface, save_huggingface

    save_huggingface(model, out)
    check = check_huggingface(model, load_huggingface(out), args.check_seconds)
    return f"transformers HubertModel vs PyTorch: {check}", check


def _export_distiller(model, out: Path, args) -> Report:
    import torch

    from .distiller import save_distiller, student_from_distiller

    save_distiller(model, out)
    back = student_from_distiller(torch.load(out, map_location="cpu", weights_only=True), str(out))
    check = check_torch(model, back, args.check_seconds)
    return f"read back: {check} (against s3prl's own distiller_local: tests/export)", check


def _export_dphubert(model, out: Path, args) -> Report:
    import torch

    from .dphubert import pruned_from_dphubert, save_dphubert

    save_dphubert(model, out)
    back = pruned_from_dphubert(torch.load(out, map_location="cpu", weights_only=True), str(out))
    check = check_torch(model, back, args.check_seconds)
    return f"read back: {check}", check


def _export_student(model, out: Path, args) -> Report:
    from upstream_distill.models import load_student, save_student

    save_student(model, out)
    check = check_torch(model, load_student(out), args.check_seconds)
    return f"read back: {check}", check


_WRITERS: Dict[str, Callable] = {"onnx": _export_onnx, "onnx-int8": _export_onnx_int8, "int8": _export_int8,
                                 "hf": _export_hf, "distiller": _export_distiller, "dphubert": _export_dphubert,
                                 "student": _export_student}


def build_parser() -> argparse.ArgumentParser:
    formats = "\n".join(f"  {name:<10} {text}" for name, (_, text) in FORMATS.items())
    parser = argparse.ArgumentParser(prog="run_export", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=f"formats:\n{formats}")
    parser.add_argument("-k", type=Path, required=True, metavar="CKPT",
                        help="student checkpoint (save_student file, states-N.ckpt, s3prl distiller .ckpt, "
                             "DPHuBERT .pth)")
    parser.add_argument("-o", "--out", type=Path, help="output file, or folder for the default name "
                                                       "(default: beside -k)")
    parser.add_argument("--format", required=True, choices=list(FORMATS), help="what to write (see below)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (onnx, onnx-int8)")
    parser.add_argument("--check-seconds", type=float, default=1.0, help="length of the check audio")
    parser.add_argument("--atol", type=float, default=DEFAULT_ATOL,
                        help="largest difference a float format may show against the student")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.check_seconds < 0.1:
        print("run_export: --check-seconds must be at least 0.1 (a few frames)", file=sys.stderr)
        return 2
    try:
        model, source = load_for_export(args.k)
    except ValueError as err:
        print(f"run_export: {err}", file=sys.stderr)
        return 2
    out = output_path(args.k, args.out, args.format)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{args.k}: {describe(model)}, read as {source}")
    try:
        report, bounded = _WRITERS[args.format](model, out, args)
    except ValueError as err:  # a shape the format cannot hold, said with its reasons
        print(f"run_export: --format {args.format}: {err}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({FORMATS[args.format][1]})\n  {report}")
    if bounded is not None and bounded.max_abs > args.atol:
        print(f"run_export: {out} differs from the student by {bounded.max_abs:.3g} > --atol {args.atol:g}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
