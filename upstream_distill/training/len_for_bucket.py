"""Length files that s3prl's asr expert buckets by (`bucket_file/<subset>.csv`).

s3prl's own generator lives only in its git repository, asks for subsets on stdin and
calls torchaudio functions removed in torchaudio 2.9; this one reads lengths with
soundfile and writes the same format: header `,file_path,length,label`, one row per
utterance, `file_path` relative to the LibriSpeech root, sorted by length descending.

    python -m upstream_distill.training.len_for_bucket -i /data/LibriSpeech -o /data/len_for_bucket \
        -s train-clean-100 dev-clean test-clean

``--one-in 10`` also writes ``<subset>-1in10.csv``: every 10th utterance in path order (so every
speaker keeps about a tenth of its speech), the low-resource ASR list of ``-d asr_low``.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Iterable, List, Tuple

import soundfile

from upstream_distill.core.atomic_files import write_atomically

DEFAULT_SUBSETS = ("train-clean-100", "dev-clean", "dev-other", "test-clean", "test-other")


def subset_lengths(root: Path, subset: str, extension: str = ".flac") -> List[Tuple[str, int]]:
    folder = root / subset
    if not folder.is_dir():
        raise FileNotFoundError(f"LibriSpeech subset folder {folder} not found")
    rows = []
    for path in sorted(folder.rglob(f"*{extension}")):
        try:
            frames = soundfile.info(str(path)).frames
        except RuntimeError as err:
            raise RuntimeError(f"cannot read audio file {path}: {err}") from None
        rows.append((path.relative_to(root).as_posix(), frames))
    if not rows:
        raise FileNotFoundError(f"no *{extension} files under {folder}")
    rows.sort(key=lambda row: row[1], reverse=True)
    return rows


def one_in(rows: Iterable[Tuple[str, int]], n: int) -> List[Tuple[str, int]]:
    """Every ``n``-th row in ``file_path`` order (speakers and chapters spread evenly), sorted by
    length descending as s3prl expects."""
    if n < 1:
        raise ValueError(f"one_in: n must be >= 1, got {n}")
    kept = sorted(rows)[::n]
    return sorted(kept, key=lambda row: (-row[1], row[0]))


def subset_name(subset: str, n: int) -> str:
    return f"{subset}-1in{n}"


def write_length_csv(rows: Iterable[Tuple[str, int]], csv_path: Path) -> None:
    """Write (file_path, length) rows, in the order given, in s3prl's CSV format."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["", "file_path", "length", "label"])
            for index, (file_path, length) in enumerate(rows):
                writer.writerow([index, file_path, length, ""])

    write_atomically(csv_path, write)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-i", "--input", type=Path, required=True, help="LibriSpeech root")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder for <subset>.csv")
    parser.add_argument("-s", "--subsets", nargs="+", default=None, help=f"default: those of {DEFAULT_SUBSETS} present")
    parser.add_argument("-a", "--audio-extension", default=".flac")
    parser.add_argument("--one-in", type=int, metavar="N",
                        help="also write <subset>-1inN.csv with every N-th utterance (low-resource lists)")
    args = parser.parse_args(argv)
    subsets = args.subsets or [s for s in DEFAULT_SUBSETS if (args.input / s).is_dir()]
    if not subsets:
        parser.error(f"-i/--input: no LibriSpeech subsets found in {args.input}")
    for subset in subsets:
        rows = subset_lengths(args.input, subset, args.audio_extension)
        write_length_csv(rows, args.output / f"{subset}.csv")
        print(f"{subset}: {len(rows)} files -> {args.output / (subset + '.csv')}")
        if args.one_in:
            name = subset_name(subset, args.one_in)
            kept = one_in(rows, args.one_in)
            write_length_csv(kept, args.output / f"{name}.csv")
            print(f"{name}: {len(kept)} files -> {args.output / (name + '.csv')}")


if __name__ == "__main__":
    main()
