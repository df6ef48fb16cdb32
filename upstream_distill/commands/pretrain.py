"""``run_pretrain.py``'s command line, s3prl style.

    python run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert
    python run_pretrain.py -u hubert_teacher -n hubert_ls960 \\
        -o "config.datarc.libri_root='/data/LibriSpeech',,config.datarc.bucket_dir='/data/len_for_bucket'"

* ``-u NAME`` selects ``pretrain/NAME/`` (``config_model.yaml``,
  ``config_runner.yaml``, ``pretrain_expert.py`` with ``UpstreamPretrainExpert``); a
  path to such a folder works too (``-u pretrain/distilhubert``, ``-u ./my_method/``); a
  ``pipeline.yaml`` there runs several stages in order, each in ``<expdir>/<stage>``;
* ``-g`` / ``-c`` replace the model / runner config file;
* ``-o`` overrides keys of the full config (``config.runner.total_steps=100,,config.optimizer.lr=1e-3``;
  ``config.model.*`` for the model file's keys);
* ``-n NAME`` -> ``result/pretrain/NAME``, or ``-p DIR``;
* ``--preset {tiny,mini}`` uses the embedded corpus (``--corpus DIR``, default
  ``data/mini_superb/<preset>``, built if missing) and the YAML's ``presets``
  block; without it the configs are the real (LibriSpeech 960 h) settings;
* ``--cache-teacher`` (distillation) computes the teacher targets once to disk;
* ``${tiny_hubert}`` in a config is the shipped small teacher's checkpoint;
* ``--device`` defaults to cuda when available, else cpu; ``--seed``; ``--threads``
  (cpu threads: 1 is faster than 2 on a 2-core machine another job also uses).

Re-running a command whose folder holds ``states-*.ckpt`` resumes it.  Errors
the user can fix (bad flag, key, file, NaN loss) print one message, no
traceback; exit status 2 for usage errors, 1 for the others.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import logging
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

import yaml

from upstream_distill.core.atomic_files import write_atomically
from upstream_distill.core.errors import ConfigError, DataError, TrainingError
from upstream_distill.core.paths import DATA_ROOT, PRETRAIN_ROOT, TINY_HUBERT_CHECKPOINT, default_corpus_dir
from upstream_distill.core.yaml_config import apply_overrides, did_you_mean, parse_overrides, substitute
from upstream_distill.mini_superb.spec import PRESETS as CORPUS_PRESETS
from upstream_distill.training.config import (
    INPUT_FILES_KEY,
    DataConfig,
    TrainingConfig,
    compose_config,
    input_file_digests,
    resume_conflicts,
)
from upstream_distill.training.expert import PretrainExpert

from .pipeline import Pipeline, ladder_rungs, read_pipeline

__all__ = ["PRESETS", "build_parser", "changed_runs", "load_expert_class", "main", "resolve_config"]

PRESETS = tuple(CORPUS_PRESETS)  # the embedded corpus sizes: tiny, mini
DEFAULT_SEED = 1337


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_pretrain.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("-u", "--upstream", required=True,
                        help="a folder of pretrain/ (the method), or a path to a folder holding pretrain_expert.py")
    parser.add_argument("-g", "--upstream_config", type=Path, help="replaces pretrain/<u>/config_model.yaml")
    parser.add_argument("-c", "--config", type=Path, help="replaces pretrain/<u>/config_runner.yaml")
    parser.add_argument("-o", "--override", help="config.a.b=value,,config.c=value (Python literals)")
    parser.add_argument("-n", "--expname", help="experiment folder result/pretrain/<expname>")
    parser.add_argument("-p", "--expdir", type=Path, help="experiment folder (instead of -n)")
    parser.add_argument("--preset", choices=PRESETS, help="embedded corpus + the YAML's preset settings")
    parser.add_argument("--corpus", type=Path, help="mini-SUPERB corpus folder (default data/mini_superb/<preset>)")
    parser.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available, else cpu)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--threads", type=int, help="torch cpu threads (default: torch's, one per core)")
    parser.add_argument("--cache-teacher", action="store_true",
                        help="distillation: compute the teacher's targets once to a disk cache and reuse "
                             "them every epoch (default: on the fly)")
    return parser


def method_folder(name: str) -> Path:
    """``pretrain/NAME/``, or the folder a path names: s3prl users type ``-u pretrain/distilhubert``
    (relative to the current folder, else to the checkout), and the error lists the methods that way."""
    methods = sorted(p.name for p in PRETRAIN_ROOT.iterdir() if (p / "pretrain_expert.py").is_file()) \
        if PRETRAIN_ROOT.is_dir() else []
    if name in methods:
        return PRETRAIN_ROOT / name
    path = Path(name).expanduser()
    if len(path.parts) > 1 or path.is_dir():
        for candidate in [path] + ([] if path.is_absolute() else [DATA_ROOT / path]):
            if (candidate / "pretrain_expert.py").is_file():
                return candidate.resolve()
        if path.is_dir():
            raise ConfigError(f"-u/--upstream: {name} holds no pretrain_expert.py (a method folder has it, with "
                              f"config_model.yaml and config_runner.yaml)")
    listed = ", ".join(f"pretrain/{m}" for m in methods) or "none"
    raise ConfigError(f"-u/--upstream: unknown method {name!r}{did_you_mean(path.name, methods)}; "
                      f"available: {listed}")


def load_expert_class(folder: Path) -> Type[PretrainExpert]:
    """``UpstreamPretrainExpert`` of ``folder/pretrain_expert.py``."""
    path = folder / "pretrain_expert.py"
    spec = importlib.util.spec_from_file_location(f"pretrain_{folder.name}_expert", path)
    module = importlib.util.module_from_spec(spec)
    # registered first, as an import would: dataclasses resolve their (string) annotations through it
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    expert = getattr(module, "UpstreamPretrainExpert", None)
    if not (isinstance(expert, type) and issubclass(expert, PretrainExpert)):
        raise ConfigError(f"{path} must define UpstreamPretrainExpert, a subclass of "
                          f"upstream_distill.training.PretrainExpert")
    return expert


def _corpus_root(args) -> Optional[Path]:
    if args.corpus is not None and args.corpus.exists() and not args.corpus.is_dir():
        # checked here, not by the corpus builder: its error would name neither the flag nor the fix
        raise ConfigError(f"--corpus {args.corpus}: is a file, not a folder; give the mini-SUPERB corpus folder "
                          f"(default data/mini_superb/<preset>)")
    if args.preset is None:
        if args.corpus is not None and not args.corpus.is_dir():
            raise ConfigError(f"--corpus {args.corpus}: no such folder (only --preset builds a missing corpus)")
        return args.corpus.resolve() if args.corpus else None
    from upstream_distill.mini_superb import build_corpus

    corpus = (args.corpus or default_corpus_dir(args.preset)).resolve()
    build_corpus(args.preset, corpus)  # returns at once when the corpus is already there
    return corpus


def resolve_config(args, runner_file: Optional[Path] = None, model_file: Optional[Path] = None,
                   previous: Optional[Path] = None, later_stage: bool = False,
                   settings: Sequence[Tuple[List[str], Any]] = ()) -> dict:
    """The full config the flags describe (files, preset, overrides, placeholders, seed).

    ``runner_file``/``model_file``: a pipeline stage's files (default: the method's, or -c/-g);
    ``previous``: the previous stage's folder, for ``${previous}``; ``later_stage``: -o sets only
    the keys whose section this stage's config has (the pipeline's first stage takes them all,
    so a misspelt key is still an error there); ``settings``: what the pipeline sets after -o,
    each only where its section exists (a ladder rung's size, the run it continues).
    """
    config = _composed(args, runner_file, model_file, later_stage, settings)
    corpus = _corpus_root(args)
    replacements = {"tiny_hubert": TINY_HUBERT_CHECKPOINT}
    if corpus is not None:
        replacements["corpus"] = corpus
    if previous is not None:
        replacements["previous"] = previous
    config = substitute(config, replacements)
    config["seed"] = args.seed
    config[INPUT_FILES_KEY] = input_file_digests(config.get("model") or {})
    return config


def _composed(args, runner_file: Optional[Path] = None, model_file: Optional[Path] = None,
              later_stage: bool = False, settings: Sequence[Tuple[List[str], Any]] = ()) -> dict:
    """The files composed (preset applied) with -o and ``settings`` set: :func:`resolve_config`
    before anything touches the corpus or digests a file."""
    folder = method_folder(args.upstream)
    runner_file = runner_file or args.config or folder / "config_runner.yaml"
    model_file = model_file or args.upstream_config or folder / "config_model.yaml"
    for flag, path in (("-c/--config", runner_file), ("-g/--upstream_config", model_file)):
        if not Path(path).is_file():
            raise ConfigError(f"{flag}: {path} does not exist")
    config = compose_config(runner_file, model_file, args.preset)
    overrides = parse_overrides(args.override)
    if later_stage:
        overrides = [(path, value) for path, value in overrides if _has_section(config, path)]
    else:
        _check_override_sections(config, overrides)
    config = apply_overrides(config, overrides)
    return apply_overrides(config, [(path, value) for path, value in settings if _has_section(config, path)])


def _check_override_sections(config: dict, overrides: Sequence[Tuple[List[str], Any]]) -> None:
    """-o's top-level keys must be sections of the composed files. The keys below are checked by the
    typed reader of their section (the runner's, the method's expert's), which names the nearest
    known key; a misspelt section would instead reach TrainingConfig, whose message has no suggestion,
    and ``config.seed`` would be replaced by --seed without a word."""
    for path, _ in overrides:
        key = "config." + ".".join(path)
        if path[0] == "seed":
            raise ConfigError(f"-o/--override: {key}: give the seed with --seed")
        if path[0] not in config:
            raise ConfigError(f"-o/--override: {key}: no section {path[0]!r} in the config"
                              f"{did_you_mean(path[0], config, 'config.')}; sections: "
                              f"{', '.join(f'config.{k}' for k in sorted(config))}")


def _has_section(config: dict, path: List[str]) -> bool:
    node = config
    for part in path[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return False
    return True


def _experiment_dir(args) -> Path:
    if args.expdir is not None:
        return args.expdir
    if not args.expname:
        raise ConfigError("give the experiment folder with -n NAME (result/pretrain/NAME) or -p DIR")
    return Path("result") / "pretrain" / args.expname


def _device(requested: Optional[str]) -> str:
    import torch

    if requested is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available (use --device cpu)")
    return requested


def _check_corpus_paths(data: DataConfig, preset: Optional[str]) -> None:
    """The corpus folder and its length lists, checked before anything starts (the expdir, the teacher,
    the progress bar): the runner reads them only once it is under way. Without --preset the configs
    hold the real LibriSpeech paths, so the message says how to set them or use the embedded corpus."""
    from upstream_distill.training.data import LEN_FOR_BUCKET_COMMAND

    root, bucket_dir = Path(data.libri_root), Path(data.bucket_dir)
    if not root.is_dir():
        problem = f"config.datarc.libri_root: the LibriSpeech folder {root} does not exist"
    else:
        missing = [subset for subset in data.sets if not (bucket_dir / f"{subset}.csv").is_file()]
        if not missing:
            return
        problem = (f"config.datarc.bucket_dir: {bucket_dir / (missing[0] + '.csv')} does not exist (subset "
                   f"{missing[0]!r}); write it with `{LEN_FOR_BUCKET_COMMAND}`")
    if preset is None:
        problem += ("\n  without --preset the configs are the real (LibriSpeech 960 h) settings: set the real paths "
                    "with -o \"config.datarc.libri_root='/path/to/LibriSpeech',,config.datarc.bucket_dir="
                    "'/path/to/len_for_bucket'\", or add --preset mini to run on the embedded corpus "
                    "(data/mini_superb/mini, built if missing)")
    raise DataError(problem)


def _run(args, config: dict, folder: Path, expdir: Path) -> Path:
    """One run of the shared runner into ``expdir`` (resumed when it holds checkpoints)."""
    typed = TrainingConfig.from_dict(config)
    _check_corpus_paths(typed.datarc, args.preset)
    expert_class = load_expert_class(folder)
    from upstream_distill.training.distributed import DistEnv
    from upstream_distill.training.runner import EXPORT_NAME, Runner

    dist = DistEnv.from_environment()
    if dist.is_main:
        expdir.mkdir(parents=True, exist_ok=True)
        if not any(expdir.glob("states-*.ckpt")):
            (expdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    Runner(typed, expert_class, expdir, _device(args.device), dist, cache_teacher=args.cache_teacher).run()
    return expdir / EXPORT_NAME


@dataclass(frozen=True)
class _StageRun:
    """One run of a command: its folder, and its config resolved when asked (as the run starts, so a
    stage's file digests see what the stages before it wrote)."""

    folder: Path
    resolve: Callable[[], dict]
    label: str = ""  # "rung 1/2 (1_4.5M), stage 1/2 'prune'" in a pipeline
    copy_to: Tuple[Path, ...] = ()  # where its export and figures go once it has run (a rung's last stage)


def _stage_runs(args, folder: Path, pipeline: Optional[Pipeline], expdir: Path) -> List[_StageRun]:
    """The runs ``run_pretrain.py`` makes, in order: one into ``expdir``, or a pipeline's stages.

    Each stage of a pipeline runs into ``expdir/<name>``; ``${previous}`` is the folder before, and
    the last stage's export and figures are copied to ``expdir``, as a one-run method leaves them.
    A ladder (several sizes) runs the stages once per size in ``expdir/<n>_<size>/``, each rung's
    first stage continuing the one of the rung before; every rung's export is copied to its folder,
    and the last (smallest) rung's to ``expdir`` too.
    """
    if pipeline is None:
        return [_StageRun(expdir, lambda: resolve_config(args))]
    # the sizes only: the stages' full configs (corpus, file digests) are resolved as each one starts
    first = _composed(args, args.config or folder / pipeline.stages[0].runner,
                      args.upstream_config or folder / pipeline.stages[0].model)
    rungs = ladder_rungs(pipeline, first)
    runs, continued = [], None
    for rung, (rung_name, sizes) in enumerate(rungs):
        rung_dir, previous = expdir / rung_name if rung_name else expdir, None
        for index, stage in enumerate(pipeline.stages):
            settings = list(sizes)
            if index == 0 and continued is not None:
                settings.append((pipeline.ladder.continue_key.split("."), str(continued)))
            resolve = functools.partial(
                resolve_config, args, runner_file=(args.config if index == 0 else None) or folder / stage.runner,
                model_file=(args.upstream_config if index == 0 else None) or folder / stage.model,
                previous=previous, later_stage=index > 0 or rung > 0, settings=settings)
            where = f"rung {rung + 1}/{len(rungs)} ({rung_name}), " if rung_name else ""
            copy_to = ()
            if index == len(pipeline.stages) - 1:
                copy_to = (rung_dir, expdir) if rung_dir != expdir and rung == len(rungs) - 1 else (rung_dir,)
            runs.append(_StageRun(rung_dir / stage.name, resolve,
                                  f"{where}stage {index + 1}/{len(pipeline.stages)} '{stage.name}'", copy_to))
            previous = (rung_dir / stage.name).resolve()
            if index == 0:
                continued = previous
    return runs


def changed_runs(argv: Sequence[str]) -> Dict[Path, List[str]]:
    """The folders in which ``run_pretrain.py ARGV`` would refuse to resume, each with the config keys
    its run began with other values of (a changed preset, -o, or a replaced input file:
    ``config.input_files.<key>``). Folders that are new, or hold a run of the same config, are absent."""
    args = build_parser().parse_args(list(argv))
    folder = method_folder(args.upstream)
    changed = {}
    for run in _stage_runs(args, folder, read_pipeline(folder), _experiment_dir(args)):
        recorded = run.folder / "config.yaml"
        if recorded.is_file():
            differ = resume_conflicts(yaml.safe_load(recorded.read_text(encoding="utf-8")) or {}, run.resolve())
            if differ:
                changed[run.folder] = differ
    return changed


def _copy_artefacts(export: Path, folder: Path) -> None:
    """The export and the figures beside it, copied atomically into ``folder``."""
    for source in [export] + sorted(export.parent.glob("*.png")):
        write_atomically(folder / source.name, lambda tmp: shutil.copyfile(source, tmp))


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    args = build_parser().parse_args(argv)
    try:
        expdir = _experiment_dir(args)
        folder = method_folder(args.upstream)
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        pipeline = read_pipeline(folder)
        for run in _stage_runs(args, folder, pipeline, expdir):
            if run.label:
                logging.getLogger("run_pretrain").info(f"{run.label} in {run.folder}")
            export = _run(args, run.resolve(), folder, run.folder)
            for destination in run.copy_to:
                _copy_artefacts(export, destination)
    except ConfigError as err:
        print(f"run_pretrain.py: error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f"run_pretrain.py: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
