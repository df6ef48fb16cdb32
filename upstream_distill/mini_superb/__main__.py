"""python -m upstream_distill.mini_superb --preset {tiny,mini} --out DIR [--seed N] [--jobs N]"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .build import build_corpus
from .spec import PRESETS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m upstream_distill.mini_superb",
        description="Synthesise the mini-SUPERB corpus (LibriSpeech, VoxCeleb1, IEMOCAP, Speech Commands layouts).",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), required=True)
    parser.add_argument("--out", type=Path, required=True, help="corpus folder (created or replaced atomically)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="synthesis processes (default 2)")
    parser.add_argument("--quiet", action="store_true", help="only warnings")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
    )
    manifest = build_corpus(args.preset, args.out, seed=args.seed, jobs=args.jobs)
    summary = {k: manifest[k] for k in ("preset", "seed", "hours", "counts", "build_seconds")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
