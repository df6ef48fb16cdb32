"""``--launcher`` and ``--launcher-config``: which flags they take, and the mode they select."""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .config import DEFAULT_LAUNCHER_CONFIG

LOCAL = "local"
#: the choices --help shows; submitit-local (each job a process of this machine) is for the tests
LAUNCHERS = (LOCAL, "slurm")
TESTING_LAUNCHERS = ("submitit-local",)


def add_launcher_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--launcher", choices=LAUNCHERS + TESTING_LAUNCHERS, default=LOCAL,
                        metavar="{" + ",".join(LAUNCHERS) + "}",
                        help="local (default): train every run in this command; slurm: submit every run (and "
                             "every student's distillation) as a Slurm job and return; the same command run "
                             "again collects what finished, resubmits what failed and rewrites the tables")
    parser.add_argument("--launcher-config", type=Path, metavar="FILE",
                        help="the jobs' resources (time, memory, GPUs, partition; per task and for distilling) "
                             f"for --launcher slurm (default: {DEFAULT_LAUNCHER_CONFIG.parent.name}/"
                             f"{DEFAULT_LAUNCHER_CONFIG.name})")


def with_launcher(parser: argparse.ArgumentParser, args: argparse.Namespace, mode):
    """The mode to run: ``mode``, or its job-submitting form under --launcher other than local."""
    if args.launcher == LOCAL:
        if args.launcher_config is not None:
            parser.error("--launcher-config: only read with --launcher slurm")
        return mode
    if mode.flag:
        parser.error(f"--launcher {args.launcher}: {mode.flag} runs here; only scoring submits jobs (the "
                     f"distillations of its students too): drop {mode.flag} or --launcher")
    args.launcher_config = args.launcher_config or DEFAULT_LAUNCHER_CONFIG
    from .mode import score_with_jobs

    return dataclasses.replace(mode, flag="--launcher", run=score_with_jobs)
