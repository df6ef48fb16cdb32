"""`run_downstream.py`: s3prl's downstream runner with the project's defaults.

Everything s3prl's runner accepts passes through unchanged (`-m -u -k -g -d -c -o -n
-p -s -e -a -f ...`). On top of it:

* the project's upstreams are registered into `s3prl.hub`, so `-u` accepts them;
* `-d` takes the product's task names (pr, asr, ks, sid, er) or s3prl's expert names;
* `-c` defaults to `downstream_configs/<task>.yaml` (the SUPERB paper settings), or to
  `downstream_configs/<preset>/<task>.yaml` with `--preset {tiny,mini}`, which also points
  the task at the embedded mini-SUPERB corpus (`--corpus DIR`);
* `${corpus}` and `${configs}` in a config are replaced by the corpus root and the
  `downstream_configs` folder, so configs work from any working directory;
* files named by the config are checked before training starts, and a missing one is
  reported with its config key and the `-o` override that sets it;
* `-v foldN` selects the IEMOCAP fold for `er` (s3prl's config would silently ignore it);
* `--device` defaults to cpu when there is no CUDA.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import yaml

from upstream_distill.core.errors import ConfigError
from upstream_distill.core.paths import DOWNSTREAM_CONFIG_ROOT, default_corpus_dir
from upstream_distill.core.yaml_config import read_yaml, substitute

from .tasks import ER_FOLDS, PRESETS, Task, default_config, resolve_task


class UsageError(ValueError):
    """A flag or file given to the runner is wrong; the message names it."""


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
    parser.add_argument("--device")
    parser.add_argument("--preset", choices=PRESETS)
    parser.add_argument("--corpus", type=Path)
    return parser


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def read_config(config_file: Path) -> dict:
    """Read a YAML config; `_inherit: other.yaml` (relative to the file) is deep-merged under it."""
    if not config_file.is_file():
        raise UsageError(f"-c/--config: config file {config_file} not found")
    try:
        return read_yaml(config_file)
    except ConfigError as err:
        raise UsageError(f"-c/--config: {err}") from None


def check_config_paths(task: Task, config: dict, config_file: Path) -> None:
    """Raise UsageError naming the key and path of the first file the task needs but lacks."""
    for key in task.path_keys:
        value = _lookup(config, key)
        if value is None:
            raise UsageError(f"{config_file}: key {key} is missing")
        for path in value if isinstance(value, list) else [value]:
            if not Path(path).exists():
                raise UsageError(
                    f"{config_file}: {key} = {path} does not exist "
                    f"(set it with -o \"config.{key}='/your/path'\")"
                )


def load_task_config(
    task: Task,
    config_file: Path,
    corpus: Optional[Path],
    fold: Optional[str] = None,
    override: Optional[str] = None,
) -> dict:
    """Read a task config, fill in placeholders, the ER fold and -o overrides, and check paths."""
    config = read_config(config_file)
    replacements = {"configs": DOWNSTREAM_CONFIG_ROOT}
    if corpus is not None:
        replacements["corpus"] = corpus.resolve()
    config = substitute(config, replacements)
    if fold is not None:
        if task.name != "er":
            raise UsageError(f"-v/--downstream_variant: {fold!r} is only meaningful for er")
        if fold not in ER_FOLDS:
            raise UsageError(f"-v/--downstream_variant: unknown fold {fold!r}; choose one of {', '.join(ER_FOLDS)}")
        config["downstream_expert"]["datarc"]["test_fold"] = fold
    if override:
        from s3prl.utility.helper import override as s3prl_override

        # Same semantics as s3prl (it applies -o again later, which is idempotent).
        s3prl_override(override, argparse.Namespace(), config)
    check_config_paths(task, config, config_file)
    return config


def check_corpus(preset: str, corpus: Path) -> None:
    if not (corpus / "manifest.json").is_file():
        raise UsageError(
            f"--corpus: no mini-SUPERB corpus at {corpus} (manifest.json missing); build it with "
            f"`python -m upstream_distill.mini_superb --preset {preset} --out {corpus}`"
        )


def check_upstream(name: Optional[str]) -> None:
    from . import prepare_s3prl

    prepare_s3prl()  # s3prl.hub cannot import before the shims; also registers our upstreams
    import s3prl.hub as hub

    if name is None:
        raise UsageError("-u/--upstream: no upstream given")
    if name.startswith("_") or not callable(getattr(hub, name, None)):
        known = ", ".join(sorted(n for n in dir(hub) if not n.startswith("_"))[:20])
        raise UsageError(f"-u/--upstream: unknown upstream {name!r} (known upstreams include: {known}, ...)")


def build_s3prl_argv(argv: List[str]) -> List[str]:
    """Translate this runner's command line into s3prl's (writing a resolved config if needed)."""
    ours, rest = _project_parser().parse_known_args(argv)
    if {"-h", "--help"} & set(rest):
        print("run_downstream.py adds to s3prl's flags: --preset {tiny,mini}, --corpus DIR, -v foldN for er "
              "(see upstream_distill/s3prl_bridge/run_downstream.py)\n")
        return list(argv)  # s3prl's own parser prints its usage and exits
    out = list(rest)
    for flag, value in (("-m", ours.mode), ("-u", ours.upstream), ("-e", ours.past_exp),
                        ("-p", ours.expdir), ("-n", ours.expname), ("-o", ours.override)):
        if value is not None:
            out += [flag, value]
    if ours.mode is None:
        raise UsageError("-m/--mode: required (train, evaluate or inference)")
    if ours.past_exp is None:
        check_upstream(ours.upstream)
    out += ["--device", ours.device or ("cuda" if _cuda_available() else "cpu")]

    if ours.past_exp is not None:
        # Args and config come from the checkpoint (s3prl's rule); -d/-c are not needed.
        if not Path(ours.past_exp).exists():
            raise UsageError(f"-e/--past_exp: {ours.past_exp} does not exist")
        if ours.downstream:
            out += ["-d", resolve_task(ours.downstream).expert]
        return out

    if ours.downstream is None:
        raise UsageError("-d/--downstream: required (one of pr, asr, ks, sid, er)")
    try:
        task = resolve_task(ours.downstream)
    except ValueError as err:
        raise UsageError(str(err)) from None
    corpus = None
    if ours.preset:
        corpus = ours.corpus or default_corpus_dir(ours.preset)
        check_corpus(ours.preset, corpus)
    elif ours.corpus:
        corpus = ours.corpus
    config_file = Path(ours.config) if ours.config else default_config(task, ours.preset)
    config = load_task_config(task, config_file, corpus, ours.downstream_variant, ours.override)
    resolved = tempfile.NamedTemporaryFile("w", suffix=f"_{task.name}.yaml", delete=False)
    with resolved:
        yaml.safe_dump(config, resolved, sort_keys=False)
    if task.finetune and not {"-f", "--upstream_trainable"} & set(out):
        out.append("-f")  # e.g. asr_low_ft: s3prl trains the upstream with the downstream
    return out + ["-d", task.expert, "-c", resolved.name]


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


def main(argv: Optional[List[str]] = None) -> None:
    from . import prepare_s3prl

    argv = sys.argv[1:] if argv is None else argv
    prepare_s3prl()
    try:
        s3prl_argv = build_s3prl_argv(argv)
    except UsageError as err:
        print(f"run_downstream.py: error: {err}", file=sys.stderr)
        raise SystemExit(2)
    import s3prl.run_downstream

    isolate_voxceleb1_cache(experiment_dir(s3prl_argv))
    sys.argv = ["run_downstream.py"] + s3prl_argv
    s3prl.run_downstream.main()


if __name__ == "__main__":
    main()
