"""`run_downstream.py`: s3prl's downstream runner with the project's defaults.

Everything s3prl's runner accepts passes through unchanged (`-m -u -k -g -d -c -o -n
-p -s -e -a -f ...`). On top of it:

* the project's upstreams are registered into `s3prl.hub`, so `-u` accepts them;
* `-d` takes the product's task names (pr, asr, ks, sid, er) or s3prl's expert names;
* `-c` defaults to `downstream_configs/<task>.yaml` (the SUPERB paper settings), or to
  `downstream_configs/<preset>/<task>.yaml` with `--preset {tiny,mini}`, which also points
  the task at the embedded mini-SUPERB corpus (`--corpus DIR`); `--preset superb` is the paper
  settings on the real corpora under `--data-root DIR` (one flag per corpus moves it: real_corpora.py);
* `${corpus}` and `${configs}` in a config are replaced by the corpus root and the
  `downstream_configs` folder, so configs work from any working directory;
* files named by the config, and those the expert opens inside them (task_paths.py), are checked
  before training starts; a missing one is reported with the flag that sets it (`--data-root`,
  `--librispeech`, ...) or with its config key and the `-o` override that sets it;
* `-v foldN` selects the IEMOCAP fold for `er` (s3prl's config would silently ignore it);
* `--device` defaults to cpu when there is no CUDA;
* the resolved config goes into the experiment folder (`resolved_config.yaml`), not the temp folder;
* `-o` pairs are checked: a malformed pair, or a misspelt key, is named (with the nearest key);
* a resume (`-e`, or `-a` with checkpoints) starts from the newest complete checkpoint, and writes into
  the folder of this command line (`-p`, else the `-e` folder), never the one stored in the checkpoint;
* a bad flag or file (`-e`, `-k`, `-o`, ...) ends in one line naming it, not a traceback;
* `-h/--help` works whatever else is on the command line;
* `--threads N` sets torch's thread count (torch.set_num_threads: OMP_NUM_THREADS alone is capped at
  the machine's cores by torch), and the first line printed names the torch version and thread count the
  run uses (runtime.py): both change a probe's floating-point path, and the benchmark records them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import yaml

from upstream_distill.core.atomic_files import write_atomically
from upstream_distill.core.errors import ConfigError
from upstream_distill.core.paths import DOWNSTREAM_CONFIG_ROOT, default_corpus_dir
from upstream_distill.core.yaml_config import read_yaml, substitute

from .errors import UsageError
from .overrides import check_override, check_overrides_in_s3prl, parse_override
from .real_corpora import RealCorpora, add_corpus_flags, corpus_flags_given, expected_once
from .resume import pin_experiment_dir, resume_point
from .runtime import current_runtime, pin_threads
from .task_paths import lookup, needed_paths
from .tasks import ER_FOLDS, PRESETS, REAL_CORPORA_PRESET, Task, default_config, resolve_task
from .upstream_ckpt import check_upstream_ckpt, report_upstream_errors

__all__ = ["UsageError", "build_s3prl_argv", "experiment_dir", "load_task_config", "main", "read_config"]

RESOLVED_CONFIG = "resolved_config.yaml"  # beside s3prl's own config_<time>.yaml copies
_OUR_FLAGS = ("--preset {tiny,mini,superb}, --corpus DIR, --data-root DIR and one flag per real corpus "
              "(--librispeech, ...), -v foldN for er, --threads N for torch's thread count")


def _project_parser() -> argparse.ArgumentParser:
    # Only the flags this wrapper reads or adds; everything else goes to s3prl untouched.
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-m", "--mode")
    parser.add_argument("-d", "--downstream")
    parser.add_argument("-c", "--config")
    parser.add_argument("-u", "--upstream")
    parser.add_argument("-o", "--override")
    parser.add_argument("-v", "--downstream_variant")
    parser.add_argument("-e", "--past_exp")
    parser.add_argument("-p", "--expdir")
    parser.add_argument("-n", "--expname")
    parser.add_argument("-a", "--auto_resume", action="store_true")
    parser.add_argument("-k", "--upstream_ckpt")
    parser.add_argument("--device")
    parser.add_argument("--preset", choices=PRESETS)
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--threads", type=int)
    add_corpus_flags(parser)
    return parser


def read_config(config_file: Path) -> dict:
    """Read a YAML config; `_inherit: other.yaml` (relative to the file) is deep-merged under it."""
    if not config_file.is_file():
        raise UsageError(f"-c/--config: config file {config_file} not found")
    try:
        return read_yaml(config_file)
    except ConfigError as err:
        raise UsageError(f"-c/--config: {err}") from None


def config_path_problems(task: Task, config: dict, config_file: Path,
                         corpora: Optional[RealCorpora] = None) -> List[str]:
    """One line per file or folder the task needs but lacks: named with the flag that sets it where one of
    ``corpora`` holds it, else with its config key and the -o that sets it."""
    problems = [f"{config_file}: key {key} is missing" for key in task.path_keys if lookup(config, key) is None]
    for needed in needed_paths(task, config):
        if needed.path.exists():
            continue
        flagged = corpora.describe_missing(needed.path, needed.what) if corpora is not None else None
        if flagged is not None:
            problems.append(flagged)
        elif needed.what:
            problems.append(f"{config_file}: {needed.key} = {needed.path.parent}: its {needed.what} "
                            f"{needed.path.name} does not exist")
        else:
            problems.append(f"{config_file}: {needed.key} = {needed.path} does not exist "
                            f"(set it with -o \"config.{needed.key}='/your/path'\")")
    return expected_once(list(dict.fromkeys(problems)))


def check_config_paths(task: Task, config: dict, config_file: Path, corpora: Optional[RealCorpora] = None) -> None:
    """Raise UsageError naming every file the task needs but lacks (see config_path_problems)."""
    problems = config_path_problems(task, config, config_file, corpora)
    if problems:
        raise UsageError("\n  ".join(problems))


def load_task_config(
    task: Task,
    config_file: Path,
    corpus: Optional[Path],
    fold: Optional[str] = None,
    override: Optional[str] = None,
    corpora: Optional[RealCorpora] = None,
) -> dict:
    """Read a task config, fill in placeholders (the embedded ``corpus`` or the real ``corpora``), the ER
    fold and -o overrides, and check paths."""
    config = read_config(config_file)
    replacements = {"configs": DOWNSTREAM_CONFIG_ROOT}
    if corpus is not None:
        replacements["corpus"] = corpus.resolve()
    if corpora is not None:
        replacements.update(corpora.replacements())
    config = substitute(config, replacements)
    if fold is not None:
        if task.name != "er":
            raise UsageError(f"-v/--downstream_variant: {fold!r} is only meaningful for er")
        if fold not in ER_FOLDS:
            raise UsageError(f"-v/--downstream_variant: unknown fold {fold!r}; choose one of {', '.join(ER_FOLDS)}")
        config["downstream_expert"]["datarc"]["test_fold"] = fold
    if override:
        from s3prl.utility.helper import override as s3prl_override

        check_override(override, config)
        # Same semantics as s3prl (it applies -o again later, which is idempotent).
        s3prl_override(override, argparse.Namespace(), config)
    check_config_paths(task, config, config_file, corpora)
    return config


def check_corpus(preset: str, corpus: Path) -> None:
    if not (corpus / "manifest.json").is_file():
        raise UsageError(
            f"--corpus: no mini-SUPERB corpus at {corpus} (manifest.json missing); build it with "
            f"`python -m upstream_distill.mini_superb --preset {preset} --out {corpus}`"
        )


def corpus_of(ours: argparse.Namespace) -> Tuple[Optional[Path], Optional[RealCorpora]]:
    """The embedded corpus (``--preset tiny|mini``, ``--corpus``) or the real corpora (``--preset superb``)."""
    real_flags = corpus_flags_given(ours)
    if ours.preset == REAL_CORPORA_PRESET:
        if ours.corpus:
            raise UsageError(f"--corpus: the embedded corpus; --preset {REAL_CORPORA_PRESET} reads the real "
                             "corpora under --data-root DIR")
        return None, RealCorpora.from_args(ours)
    if real_flags:
        raise UsageError(f"{', '.join(real_flags)}: the real corpora are read by --preset {REAL_CORPORA_PRESET} "
                         "only (without it, set a config's paths with -o)")
    if ours.preset:
        corpus = ours.corpus or default_corpus_dir(ours.preset)
        check_corpus(ours.preset, corpus)
        return corpus, None
    return ours.corpus, None


def check_upstream(name: Optional[str]) -> None:
    from . import prepare_s3prl

    prepare_s3prl()  # s3prl.hub cannot import before the shims; also registers our upstreams
    import s3prl.hub as hub

    if name is None:
        raise UsageError("-u/--upstream: no upstream given")
    if name.startswith("_") or not callable(getattr(hub, name, None)):
        known = ", ".join(sorted(n for n in dir(hub) if not n.startswith("_"))[:20])
        raise UsageError(f"-u/--upstream: unknown upstream {name!r} (known upstreams include: {known}, ...)")


def wants_help(argv: List[str]) -> bool:
    """-h, --help or an abbreviation argparse accepts (--he, --hel), wherever it is on the line."""
    return any(arg == "-h" or (len(arg) >= 4 and "--help".startswith(arg)) for arg in argv)


def build_s3prl_argv(argv: List[str]) -> List[str]:
    """Translate this runner's command line into s3prl's (writing the resolved config into the experiment folder).

    Cheap checks come first (mode, -o pairs, -e/-a checkpoints, -d, config, corpus, -k) so that a wrong
    flag is reported before s3prl and the upstream are imported.
    """
    ours, rest = _project_parser().parse_known_args(argv)
    if ours.mode is None:
        raise UsageError("-m/--mode: required (train, evaluate or inference); "
                         "`run_downstream.py --help` lists every flag")
    if ours.override:
        parse_override(ours.override)  # malformed pairs; the keys are checked against the config
    resume = resume_point(ours.past_exp, experiment_dir(argv), ours.auto_resume)
    out = list(rest)
    for flag, value in (("-m", ours.mode), ("-u", ours.upstream), ("-k", ours.upstream_ckpt),
                        ("-p", ours.expdir), ("-n", ours.expname), ("-o", ours.override)):
        if value is not None:
            out += [flag, value]
    out += ["--device", ours.device or ("cuda" if _cuda_available() else "cpu")]

    if resume is not None:
        # Args and config come from the checkpoint (s3prl's rule); -d/-c are not needed. -a is dropped:
        # s3prl would pick the newest checkpoint itself, complete or not.
        out += ["-e", str(resume)]
        if ours.downstream:
            try:
                out += ["-d", resolve_task(ours.downstream).expert]
            except ValueError as err:
                raise UsageError(str(err)) from None
        return out
    if ours.auto_resume:
        out.append("-a")

    if ours.downstream is None:
        raise UsageError("-d/--downstream: required (one of pr, asr, ks, sid, er)")
    try:
        task = resolve_task(ours.downstream)
    except ValueError as err:
        raise UsageError(str(err)) from None
    corpus, corpora = corpus_of(ours)
    config_file = Path(ours.config) if ours.config else default_config(task, ours.preset)
    config = load_task_config(task, config_file, corpus, ours.downstream_variant, ours.override, corpora)
    check_upstream_ckpt(ours.upstream_ckpt)
    check_upstream(ours.upstream)
    resolved = write_resolved_config(config, experiment_dir(argv))
    if task.finetune and not {"-f", "--upstream_trainable"} & set(out):
        out.append("-f")  # e.g. asr_low_ft: s3prl trains the upstream with the downstream
    return out + ["-d", task.expert, "-c", str(resolved)]


def write_resolved_config(config: dict, expdir: Path) -> Path:
    """``<expdir>/resolved_config.yaml``, written whole or not at all (it used to be a temp file left behind)."""
    path = write_atomically(expdir / RESOLVED_CONFIG,
                            lambda tmp: tmp.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8"))
    return path


def experiment_dir(argv: List[str]) -> Path:
    """The folder s3prl will write to (-p, result/downstream/<-n>, or the -e checkpoint's folder)."""
    ours, _ = _project_parser().parse_known_args(argv)
    if ours.expdir:
        return Path(ours.expdir)
    if ours.past_exp:
        past = Path(ours.past_exp)
        return past if past.is_dir() else past.parent
    return Path("result/downstream") / str(ours.expname)


def isolate_voxceleb1_cache(expdir: Path) -> None:
    """s3prl's SID dataset caches file lists inside the installed package, keyed only by
    split name, so a second corpus would silently reuse the first one's lists. Keep the
    cache in the experiment folder instead: its config (and so its file lists) is fixed."""
    import s3prl.downstream.voxceleb1.dataset as voxceleb1_dataset

    voxceleb1_dataset.CACHE_PATH = str(expdir / ".voxceleb1_cache") + "/"


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _print_help() -> None:
    from . import prepare_s3prl

    print(f"run_downstream.py adds to s3prl's flags: {_OUR_FLAGS} "
          "(see upstream_distill/s3prl_bridge/run_downstream.py)\n", flush=True)
    prepare_s3prl()  # s3prl's usage lists the hub's upstreams, ours included
    import s3prl.run_downstream

    sys.argv = ["run_downstream.py", "--help"]  # alone: s3prl's parser would stop at a bad flag before it
    s3prl.run_downstream.get_downstream_args()  # prints the usage and exits 0


def _last_line(err: BaseException) -> str:
    """An error's own message: a DataLoader worker's error arrives wrapped with the worker's traceback."""
    lines = [line for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
    last = lines[-1].strip()
    for prefix in (f"{type(err).__module__}.{type(err).__qualname__}: ", f"{type(err).__qualname__}: "):
        if last.startswith(prefix):
            return last[len(prefix):]
    return last


def _run_s3prl(s3prl_argv: List[str]) -> None:
    """s3prl's own main, with this command line's experiment folder and checks in place (s3prl prepared)."""
    import s3prl.run_downstream
    from s3prl.downstream.runner import Runner

    from .compat.audio_io import AudioReadError

    expdir = experiment_dir(s3prl_argv)
    isolate_voxceleb1_cache(expdir)
    pin_experiment_dir(s3prl.run_downstream, expdir)
    check_overrides_in_s3prl(s3prl.run_downstream)
    report_upstream_errors(Runner)
    sys.argv = ["run_downstream.py"] + s3prl_argv
    try:
        s3prl.run_downstream.main()
    except AudioReadError as err:  # a clip of the corpus: the message names it
        print(f"run_downstream.py: error: {_last_line(err)}", file=sys.stderr)
        raise SystemExit(1)


def main(argv: Optional[List[str]] = None) -> None:
    from . import prepare_s3prl

    argv = sys.argv[1:] if argv is None else argv
    if wants_help(argv):
        _print_help()
        return
    try:
        s3prl_argv = build_s3prl_argv(argv)
        pin_threads(_project_parser().parse_known_args(argv)[0].threads)
        print(current_runtime().line(), flush=True)
        prepare_s3prl()
        _run_s3prl(s3prl_argv)
    except UsageError as err:
        print(f"run_downstream.py: error: {err}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
