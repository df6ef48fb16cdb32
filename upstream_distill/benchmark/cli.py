"""`run_benchmark.py`: score upstreams on the five SUPERB tasks and write `results/<preset>/`.

    python run_benchmark.py --preset mini -u fbank -u tiny_hubert -u distill_student:exp/x/states-9000.ckpt
    python run_benchmark.py --preset mini -u fbank -u tiny_hubert --student distilhubert --student star_hubert
    python run_benchmark.py --preset mini --study star_loss_selection
    python run_benchmark.py --preset superb --data-root /data/superb -u fbank -u hubert -u distill_student:exp/x/upstream.pt

Builds the embedded corpus if it is missing (--preset superb: checks every path of the real corpora
under --data-root that a planned run reads, naming each missing one with its flag), runs every
(upstream, task[, fold]) through the real s3prl harness (see runs.py), skips runs that already left
a score, and rewrites results/<preset>/scores.{csv,md,png}. `--student NAME` first distils the student NAME of
pretrain/students.yaml from the preset's teacher (see students.py); `--study NAME` does so for
every row of a study and also writes results/<preset>/NAME.md. A failed run is reported with its log and makes the
command exit non-zero; the other runs still go ahead and the tables show what finished.

Modes: scoring (the default), --distill-only, --tables-only (also --drop alone) and --compare; each is
one entry function of modes/, and each takes only some of the row flags (-u, --student, --study, --drop).
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Tuple

from ..core.paths import STUDENT_RECIPES, work_root
from ..core.yaml_config import did_you_mean
from ..s3prl_bridge.real_corpora import add_corpus_flags, corpus_flags_given
from ..s3prl_bridge.tasks import ALL_TASKS, ER_FOLDS, PRESETS, REAL_CORPORA_PRESET, TASKS
from .launch.flags import add_launcher_flags, with_launcher
from .leaderboard import PRESET_REFERENCES
from .modes.compare import compare
from .modes.distill import distill_only
from .modes.score import score
from .modes.tables import tables_only
from .protocol import PROTOCOL_THREADS
from .seeds import FLAG as PROBE_SEEDS_FLAG
from .task_overrides import FLAG as TASK_OVERRIDE_FLAG
from .task_overrides import parse_task_overrides
from .upstream_spec import UpstreamSpec

#: the flags that name rows, by their argparse dest
ROW_FLAGS: Dict[str, str] = {"upstream": "-u/--upstream", "student": "--student", "study": "--study", "drop": "--drop"}


@dataclass(frozen=True)
class Mode:
    flag: str  # the flag that selects it ("" for scoring, the default)
    run: Callable[[argparse.Namespace], int]
    takes: Tuple[str, ...]  # the row flags it can be combined with
    needs: Tuple[str, ...] = ()  # at least one of these must be given
    needs_message: str = ""


MODES: Dict[str, Mode] = {
    "compare": Mode("--compare", compare, takes=()),
    "tables": Mode("--tables-only", tables_only, takes=("study", "drop")),
    "distill": Mode("--distill-only", distill_only, takes=("student", "study"), needs=("student", "study"),
                    needs_message="--distill-only: give the students to distil with --student or --study"),
    "score": Mode("", score, takes=tuple(ROW_FLAGS), needs=tuple(ROW_FLAGS),
                  needs_message="give at least one -u/--upstream, --student, --study, --compare or --drop"),
}


@dataclass(frozen=True)
class RowPair:
    """`--compare A,B`."""

    a: str
    b: str

    @classmethod
    def parse(cls, text: str) -> "RowPair":
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != 2 or not all(parts) or parts[0] == parts[1]:
            raise ValueError(text)
        return cls(*parts)


def selected_mode(args: argparse.Namespace) -> Mode:
    if args.compare:
        return MODES["compare"]
    if args.tables_only or (args.drop and not (args.upstream or args.student or args.study)):
        return MODES["tables"]  # --drop alone: nothing to score, the tables are redrawn without the row
    return MODES["distill"] if args.distill_only else MODES["score"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="mini",
                        help="task configs and corpus: tiny and mini, the embedded corpus (--corpus) and their "
                             f"scaled-down configs; {REAL_CORPORA_PRESET}, the SUPERB paper settings on the real "
                             "corpora (--data-root)")
    parser.add_argument("-u", "--upstream", action="append", default=[], metavar="NAME[:CKPT]",
                        help="an s3prl hub name, optionally with its checkpoint (-k); repeat for more rows")
    parser.add_argument("--student", action="append", default=[], metavar="NAME",
                        help="distil the student NAME of pretrain/students.yaml, then score it; repeatable")
    parser.add_argument("--study", action="append", default=[], metavar="NAME",
                        help="distil and score every row of a study in pretrain/students.yaml and write "
                             "results/<preset>/NAME.md; repeatable")
    parser.add_argument("--recipes", type=Path, default=STUDENT_RECIPES,
                        help="the students and studies file (default: pretrain/students.yaml)")
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help=f"comma-separated tasks (default: SUPERB's {','.join(TASKS)}; also "
                             f"{','.join(t for t in ALL_TASKS if t not in TASKS)}: low-resource ASR, "
                             "frozen and fine-tuned)")
    parser.add_argument("--er-folds", type=int, default=len(ER_FOLDS),
                        help="IEMOCAP-layout folds to run for er (SUPERB: all 5, score = their mean)")
    parser.add_argument(PROBE_SEEDS_FLAG, type=int, default=1, metavar="N",
                        help="train N probes per (upstream, task, ER fold), each with its own s3prl --seed (1337, "
                             "1338, ...; seed 1 is every earlier run's), in <task>/, <task>.seed2/, ...; the tables "
                             "show each score as mean ± sd over the seeds (default: 1). --compare uses every seed "
                             "a row has")
    parser.add_argument("--probe-threads", type=int, default=PROTOCOL_THREADS, metavar="N",
                        help="torch threads of every probe (OMP_NUM_THREADS and MKL_NUM_THREADS of its "
                             "run_downstream.py): part of the runs' protocol, since it changes their float path "
                             f"(default: {PROTOCOL_THREADS}, the thread count of every score measured before it was "
                             "recorded). Give the same to --tables-only and --compare")
    parser.add_argument("--corpus", type=Path,
                        help="the embedded corpus's folder (default: data/mini_superb/<preset>; not with "
                             f"--preset {REAL_CORPORA_PRESET})")
    parser.add_argument(TASK_OVERRIDE_FLAG, action="append", default=[], metavar="TASK:KEY=VALUE[,,KEY=VALUE]",
                        help="s3prl's -o for every run of TASK, e.g. asr:config.runner.total_steps=20000 to shorten "
                             "a paper schedule; part of the runs' protocol (a score measured without it is redone); "
                             "repeatable. Give the same ones to --tables-only and --compare")
    parser.add_argument("--exp-root", type=Path, default=work_root() / "exp" / "benchmark",
                        help="where each task run keeps its s3prl experiment folder")
    parser.add_argument("--results", type=Path, default=work_root() / "results", help="tables go to RESULTS/<preset>/")
    parser.add_argument("--speed-reference", metavar="NAME[:CKPT]",
                        help="column speedup_vs_teacher = its time / each upstream's time on 10 s of audio, "
                             "measured side by side in this run (default: the preset's reference row, tiny_hubert "
                             f"or, for {REAL_CORPORA_PRESET}, hubert; 'none': no column)")
    parser.add_argument("--drop", action="append", default=[], metavar="ROW",
                        help="remove the row ROW (and its layer-weight files) from results/<preset>/, e.g. a "
                             "student of a teacher since replaced; its runs stay in the experiment folder")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--distill-only", action="store_true",
                       help="distil the students of --student/--study and stop: no scoring, no tables (score "
                            "them by running the same command without it; a finished student is not redone)")
    modes.add_argument("--tables-only", action="store_true",
                       help="distil and score nothing: rewrite results/<preset>/ (and the tables of --study) from "
                            "its scores.csv, e.g. a study's table while its last rows are still being distilled; "
                            "rows without MACs get them where their upstream can still be built")
    modes.add_argument("--compare", action="append", default=[], metavar="A,B",
                       help="run nothing: paired significance tests of row A vs row B on the --tasks, from the "
                            "test outputs of their finished runs, written to results/<preset>/compare_A_vs_B.md; "
                            "repeatable")
    add_corpus_flags(parser)
    add_launcher_flags(parser)
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = _parser()
    args = parser.parse_args(argv)
    # a task named twice is run and scored once: two plans of one run would share its folder
    tasks = list(dict.fromkeys(t.strip() for t in args.tasks.split(",") if t.strip()))
    if not tasks:  # nothing to run would still add the upstreams' rows, empty, to scores.csv
        parser.error(f"--tasks: give at least one task; choose from {', '.join(ALL_TASKS)}")
    unknown = [t for t in tasks if t not in ALL_TASKS]
    if unknown:
        named = ", ".join(t + did_you_mean(t, ALL_TASKS) for t in unknown)
        parser.error(f"--tasks: unknown task(s) {named}; choose from {', '.join(ALL_TASKS)}")
    if not 1 <= args.er_folds <= len(ER_FOLDS):
        parser.error(f"--er-folds: must be between 1 and {len(ER_FOLDS)}")
    if args.probe_seeds < 1:
        parser.error(f"{PROBE_SEEDS_FLAG}: must be 1 or more (the number of probes trained per run)")
    if args.probe_threads < 1:
        parser.error("--probe-threads: must be 1 or more")
    try:
        args.compare = [RowPair.parse(pair) for pair in args.compare]
    except ValueError as err:
        parser.error(f"--compare {err}: give two different rows as A,B")
    _check_corpus_flags(parser, args)
    try:
        args.task_overrides = parse_task_overrides(args.task_override, tasks, args.preset)
    except ValueError as err:
        parser.error(str(err))
    mode = selected_mode(args)
    given = [dest for dest in ROW_FLAGS if getattr(args, dest)]
    if mode.needs and not any(dest in given for dest in mode.needs):
        parser.error(mode.needs_message)
    refused = [ROW_FLAGS[dest] for dest in given if dest not in mode.takes]
    if refused:
        allowed = " and ".join(ROW_FLAGS[dest] for dest in mode.takes) or "--tasks, --preset and the folder flags"
        parser.error(f"{mode.flag} does not take {', '.join(refused)}: combine it only with {allowed}")
    args.mode = with_launcher(parser, args, mode)
    args.tasks = tasks
    args.upstreams = [UpstreamSpec.parse(u) for u in args.upstream]
    reference = args.speed_reference or PRESET_REFERENCES[args.preset].reference
    args.speed_reference = None if reference == "none" else UpstreamSpec.parse(reference)
    return args


def _check_corpus_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The embedded presets read --corpus; --preset superb reads the real corpora, and distils nothing."""
    real_flags = corpus_flags_given(args)
    if args.preset != REAL_CORPORA_PRESET:
        if real_flags:
            parser.error(f"{', '.join(real_flags)}: the real corpora are read by --preset {REAL_CORPORA_PRESET} only")
        return
    if args.corpus:
        parser.error(f"--corpus: the embedded corpus; --preset {REAL_CORPORA_PRESET} reads the real corpora "
                     "under --data-root DIR")
    if args.student or args.study:
        parser.error("--student/--study distil on the embedded corpus; on the real corpora distil with "
                     "run_pretrain.py and score the export with -u distill_student:EXP/upstream.pt")


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    args = parse_args(argv)
    return args.mode.run(args)


if __name__ == "__main__":
    sys.exit(main())
