"""`run_benchmark.py`: score upstreams on the five SUPERB tasks and write `results/<preset>/`.

    python run_benchmark.py --preset mini -u fbank -u tiny_hubert -u distill_student:exp/x/states-9000.ckpt
    python run_benchmark.py --preset mini -u fbank -u tiny_hubert --student distilhubert --student star_hubert
    python run_benchmark.py --preset mini --study star_loss_selection

Builds the embedded corpus if it is missing, runs every (upstream, task[, fold]) through the
real s3prl harness (see runs.py), skips runs that already left a score, and rewrites
results/<preset>/scores.{csv,md,png}. `--student NAME` first distils the student NAME of
pretrain/students.yaml from the preset's teacher (see students.py); `--study NAME` does so for
every row of a study and also writes results/<preset>/NAME.md. A failed run is reported with its log and makes the
command exit non-zero; the other runs still go ahead and the tables show what finished.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional

from tqdm import tqdm

from ..core.paths import STUDENT_RECIPES, default_corpus_dir, work_root
from ..core.yaml_config import did_you_mean
from ..models import count_parameters
from ..s3prl_bridge.tasks import ALL_TASKS, ER_FOLDS, PRESETS, TASKS
from . import report
from .layers import layer_weight_files, upstream_layer_weights, write_layer_weights
from .paired import write_comparison
from .runs import (
    RunFailed,
    TaskRun,
    UpstreamSpec,
    claim,
    execute,
    recorded_config_digest,
    run_folder,
    task_protocol,
    task_run_folders,
    weights_fingerprint,
)
from .speed import inference_seconds
from .students import distil, publish_run_figures, read_recipes

LOG = logging.getLogger("benchmark")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=PRESETS, default="mini", help="embedded corpus and task configs")
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
    parser.add_argument("--corpus", type=Path, help="corpus folder (default: data/mini_superb/<preset>)")
    parser.add_argument("--exp-root", type=Path, default=work_root() / "exp" / "benchmark",
                        help="where each task run keeps its s3prl experiment folder")
    parser.add_argument("--results", type=Path, default=work_root() / "results", help="tables go to RESULTS/<preset>/")
    parser.add_argument("--speed-reference", default="tiny_hubert", metavar="NAME[:CKPT]",
                        help="column speedup_vs_teacher = its time / each upstream's time on 10 s of audio, "
                             "measured side by side in this run ('none': no column)")
    parser.add_argument("--distill-only", action="store_true",
                        help="distil the students of --student/--study and stop: no scoring, no tables (score "
                             "them by running the same command without it; a finished student is not redone)")
    parser.add_argument("--tables-only", action="store_true",
                        help="distil and score nothing: rewrite results/<preset>/ (and the tables of --study) from "
                             "its scores.csv, e.g. a study's table while its last rows are still being distilled")
    parser.add_argument("--compare", action="append", default=[], metavar="A,B",
                        help="run nothing: paired significance tests of row A vs row B on the --tasks, from the "
                             "test outputs of their finished runs, written to results/<preset>/compare_A_vs_B.md; "
                             "repeatable")
    parser.add_argument("--drop", action="append", default=[], metavar="ROW",
                        help="remove the row ROW (and its layer-weight files) from results/<preset>/, e.g. a "
                             "student of a teacher since replaced; its runs stay in the experiment folder")
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
    if not (args.upstream or args.student or args.study or args.drop or args.tables_only or args.compare):
        parser.error("give at least one -u/--upstream, --student, --study, --compare or --drop")
    pairs = [tuple(p.strip() for p in pair.split(",")) for pair in args.compare]
    if any(len(pair) != 2 or not all(pair) or pair[0] == pair[1] for pair in pairs):
        parser.error("--compare: give two different rows as A,B")
    if pairs and (args.upstream or args.student or args.study or args.drop or args.tables_only or args.distill_only):
        parser.error("--compare runs nothing: combine it only with --tasks, --preset and the folder flags")
    if args.tables_only and (args.upstream or args.student or args.distill_only):
        parser.error("--tables-only runs nothing: combine it only with --study and --drop")
    if args.distill_only and not (args.student or args.study):
        parser.error("--distill-only: give the students to distil with --student or --study")
    args.tasks = tasks
    args.compare = pairs
    args.upstreams = [UpstreamSpec.parse(u) for u in args.upstream]
    args.speed_reference = None if args.speed_reference == "none" else UpstreamSpec.parse(args.speed_reference)
    return args


def plan_runs(upstreams: List[UpstreamSpec], tasks: List[str], er_folds: int, exp_root: Path,
              preset: str, fingerprints: Dict[UpstreamSpec, str]) -> List[TaskRun]:
    """Every (upstream, task, ER fold) run, each tied to its task protocol and upstream weights."""
    protocols = {name: task_protocol(ALL_TASKS[name], preset) for name in tasks}
    runs = []
    for spec in upstreams:
        for name in tasks:
            folds = ER_FOLDS[:er_folds] if name == "er" else (None,)
            for fold in folds:
                expdir = run_folder(exp_root, spec.label, name, fold)
                protocol = f"{protocols[name]}+{fingerprints[spec]}"
                runs.append(TaskRun(spec, ALL_TASKS[name], fold, expdir, protocol))
    return runs


def build_upstream(spec: UpstreamSpec, flag: str = "-u/--upstream"):
    """The upstream as the harness builds it (s3prl hub entry, with -k when given)."""
    from ..s3prl_bridge.hub import UnknownUpstream
    from ..s3prl_bridge.hub import build_upstream as build_hub_upstream

    try:
        return build_hub_upstream(spec.name, spec.ckpt)
    except UnknownUpstream:
        raise SystemExit(f"run_benchmark.py: error: {flag}: unknown upstream {spec.name!r}") from None
    except (OSError, ValueError) as err:
        raise SystemExit(f"run_benchmark.py: error: {flag} {spec.label}: {err}") from None


def relative_speeds(models: Dict[UpstreamSpec, object], reference: UpstreamSpec) -> Dict[UpstreamSpec, float]:
    """``reference time / upstream time`` on the same 10 s of audio, timed in turns in this run."""
    timed = dict(models)
    if reference not in timed:
        timed[reference] = build_upstream(reference, "--speed-reference")
    seconds = inference_seconds({spec.label: model for spec, model in timed.items()}, upstream_api=True)
    return {spec: seconds[reference.label] / seconds[spec.label] for spec in models}


def ensure_corpus(preset: str, corpus: Path) -> None:
    from ..mini_superb import build_corpus

    LOG.info("corpus: %s (preset %s)", corpus, preset)
    build_corpus(preset, corpus)


def collect_row(spec: UpstreamSpec, runs: List[TaskRun], params_m: float, preset: str,
                speedup: Optional[float] = None) -> dict:
    """Task scores of one upstream (ER = mean over its folds); unfinished tasks stay empty."""
    per_task: Dict[str, List[float]] = {}
    cers: Dict[str, float] = {}
    protocols: Dict[str, str] = {}
    expected: Dict[str, int] = {}
    for run in runs:
        if run.upstream != spec:
            continue
        expected[run.task.name] = expected.get(run.task.name, 0) + 1
        if run.done():
            score = run.load_score()
            per_task.setdefault(run.task.name, []).append(score["percent"])
            protocols[run.task.name] = run.task_config_digest
            if "cer" in score:  # ASR tasks run once (no folds)
                cers[run.task.name] = score["cer"]
    percents = {task: sum(v) / len(v) for task, v in per_task.items() if len(v) == expected[task]}
    protocols = {task: digest for task, digest in protocols.items() if task in percents}
    row = report.make_row(spec.label, params_m, percents, preset, cers, protocols)
    if speedup is not None:
        row["speedup_vs_teacher"] = round(speedup, 2)
    return row


def current_protocols(preset: str) -> Dict[str, str]:
    """task -> digest of its config under the preset now; the tables mark scores measured under another."""
    return {name: task_protocol(task, preset) for name, task in ALL_TASKS.items()}


def with_recorded_protocols(row: dict, runs_root: Path) -> dict:
    """A row from before the score table kept task protocols gets them from its runs' score.json
    (runs_root/<row>/<task>[-<fold>]/), where all of a task's runs agree."""
    recorded = report.parse_protocols(row.get(report.PROTOCOL_COLUMN))
    columns = {**report.TASK_COLUMNS, **report.EXTRA_COLUMNS}
    for task, column in columns.items():
        if task in recorded or row.get(column, "") == "":
            continue
        digests = set()
        for folder in task_run_folders(runs_root, row["upstream"], task):
            if (folder / "score.json").is_file():
                digests.add(recorded_config_digest(folder))
        if len(digests) == 1 and "" not in digests:
            recorded[task] = digests.pop()
    return dict(row, **{report.PROTOCOL_COLUMN: report.format_protocols(recorded)}) if recorded else row


def student_or_upstream(name: str, recipes, args, corpus: Path) -> UpstreamSpec:
    """A study row or --student: a recipe is distilled first (or found finished); else a hub name."""
    if name not in recipes.students:
        return UpstreamSpec.parse(name)
    recipe, root = recipes.student(name), args.exp_root / "students"
    LOG.info("student %s: distilling (%s)", name, recipe.expdir(root, args.preset))
    distil(recipe, args.preset, corpus, root)
    for figure in publish_run_figures(recipe.expdir(root, args.preset), name, args.results / args.preset):
        LOG.info("student %s: %s", name, figure)
    return recipe.upstream(root, args.preset)


def compare_rows(args: argparse.Namespace) -> int:
    """--compare A,B: paired tests from the runs' test outputs (see paired.py); runs nothing."""
    runs_root = args.exp_root / args.preset
    for row_a, row_b in args.compare:
        missing = [row for row in (row_a, row_b) if not (runs_root / row).is_dir()]
        if missing:
            raise SystemExit(f"run_benchmark.py: error: --compare: no runs of {', '.join(missing)} in {runs_root}")
        path = write_comparison(runs_root, row_a, row_b, args.tasks,
                                args.results / args.preset / f"compare_{row_a}_vs_{row_b}.md", args.preset,
                                current_protocols(args.preset))
        LOG.info("wrote %s", path)
    return 0


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    args = parse_args(argv)
    if args.compare:
        return compare_rows(args)
    corpus = args.corpus or default_corpus_dir(args.preset)
    recipes = read_recipes(args.recipes) if args.student or args.study else None
    studies = [recipes.study(name) for name in args.study]
    out_dir = args.results / args.preset
    table = out_dir / "scores.csv"
    if args.tables_only and not table.is_file():
        raise SystemExit(f"run_benchmark.py: error: --tables-only: no score table {table} yet")
    wanted = [] if args.tables_only else (
        [recipes.student(name).name for name in args.student] + [row for study in studies for row in study.rows])
    unknown = [name for name in args.drop if name not in {row["upstream"] for row in report.read_rows(table)}]
    if unknown:
        raise SystemExit(f"run_benchmark.py: error: --drop: no row {', '.join(unknown)} in {table}")
    if args.upstreams or wanted:
        ensure_corpus(args.preset, corpus)
    failures = []
    for name in dict.fromkeys(wanted):
        try:
            args.upstreams.append(student_or_upstream(name, recipes, args, corpus))
        except RunFailed as err:
            LOG.error("student %s FAILED: %s", name, err)
            failures.append(name)
    if args.distill_only:
        distilled = [name for name in dict.fromkeys(wanted) if name in recipes.students and name not in failures]
        LOG.info("--distill-only: distilled %s; not scored", ", ".join(distilled) or "nothing")
        if failures:
            LOG.error("%d student(s) failed: %s", len(failures), ", ".join(failures))
        return 1 if failures else 0
    args.upstreams = list(dict.fromkeys(args.upstreams))
    models = {spec: build_upstream(spec) for spec in args.upstreams}
    params = {spec: count_parameters(model) / 1e6 for spec, model in models.items()}  # millions, every parameter the upstream holds
    fingerprints = {spec: weights_fingerprint(model) for spec, model in models.items()}
    speedups = {}
    if args.speed_reference is not None and models:
        speedups = relative_speeds(models, args.speed_reference)
        LOG.info("speed vs %s on 10 s of audio: %s", args.speed_reference.label,
                 ", ".join(f"{spec.label} {x:.2f}x" for spec, x in speedups.items()))
    del models

    runs = plan_runs(args.upstreams, args.tasks, args.er_folds, args.exp_root / args.preset, args.preset,
                     fingerprints)
    todo = [run for run in runs if not run.done()]
    stale = [run.name for run in todo if run.score_file.is_file()]
    LOG.info("%d task runs planned, %d already finished (resumed), %d to do",
             len(runs), len(runs) - len(todo), len(todo))
    if stale:
        LOG.info("scored under another task config, featurizer protocol or upstream weights, so redone: %s",
                 ", ".join(stale))
    with tqdm(todo, desc="benchmark", unit="run", dynamic_ncols=True, disable=not todo) as bar:
        for run in bar:
            bar.set_postfix_str(run.name)
            with claim(run) as mine:
                if not mine or run.done():  # another command is running it, or finished it meanwhile
                    LOG.warning("%s: %s by another benchmark command; not run here", run.name,
                                "being run" if not mine else "finished")
                    continue
                LOG.info("%s: training and scoring (logs in %s)", run.name, run.expdir)
                try:
                    record = execute(run, args.preset, corpus)
                except RunFailed as err:
                    LOG.error("%s FAILED: %s", run.name, err)
                    failures.append(run.name)
                    continue
            LOG.info("%s: %s %s = %.4g (train %.0fs, test %.0fs)", run.name, record["split"], record["metric"],
                     record["value"], record["train_seconds"], record["eval_seconds"])

    current = current_protocols(args.preset)
    with report.table_lock(out_dir):  # two benchmark commands may finish at once: merge, never overwrite
        # collected under the lock: a run another command finished is either read here or written after
        rows = [collect_row(spec, runs, params[spec], args.preset, speedups.get(spec)) for spec in args.upstreams]
        stamp = f"{rows[0]['machine']}, {rows[0]['date']}" if rows else ""
        rows = report.merge_rows(report.read_rows(table), rows, measured=args.tasks)
        rows = [with_recorded_protocols(row, args.exp_root / args.preset) for row in rows
                if row["upstream"] not in args.drop]
        for name in args.drop:
            for path in layer_weight_files(name, out_dir):
                path.unlink(missing_ok=True)
        written = list(report.write_reports(rows, out_dir, args.preset, current).values())
        for spec in args.upstreams:
            written += write_layer_weights(spec.label, upstream_layer_weights([r for r in runs if r.upstream == spec]),
                                           out_dir, args.preset, stamp)
        for study in studies:
            written.append(report.write_study_table(study, rows, out_dir / f"{study.name}.md", args.preset, current))
    LOG.info("wrote %s", ", ".join(str(p) for p in written))
    if failures:
        LOG.error("%d run(s) failed: %s", len(failures), ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
