"""``--compare A,B``: paired significance tests of two rows from their runs' test outputs (paired.py);
runs nothing."""
from __future__ import annotations

import argparse
import logging

from ..paired import write_comparison
from ..protocol import current_task_configs

LOG = logging.getLogger("benchmark")


def compare(args: argparse.Namespace) -> int:
    runs_root = args.exp_root / args.preset
    for pair in args.compare:
        missing = [row for row in (pair.a, pair.b) if not (runs_root / row).is_dir()]
        if missing:
            raise SystemExit(f"run_benchmark.py: error: --compare: no runs of {', '.join(missing)} in {runs_root}")
        path = write_comparison(runs_root, pair.a, pair.b, args.tasks,
                                args.results / args.preset / f"compare_{pair.a}_vs_{pair.b}.md", args.preset,
                                current_task_configs(args.preset, args.task_overrides, args.probe_threads))
        LOG.info("wrote %s", path)
    return 0
