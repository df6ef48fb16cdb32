"""One benchmark run = one upstream on one task (one fold for ER), one probe seed, through the real s3prl harness.

Each run trains with `run_downstream.py -m train`, then scores the best-on-dev checkpoint
with `run_downstream.py -m evaluate`, both as subprocesses whose output goes to log files
in the run's folder. A finished run leaves `score.json`; a run without it is started again
with s3prl's auto-resume (`-a`), so an interrupted benchmark redoes nothing that finished. Both
subprocesses run with the probe's thread count pinned, on a named device, and the score records them
(probe_env.py); seeds beyond the first have folders of their own (seeds.py).

A run is also tied to its protocol (protocol.py: the task's config and the upstream's weights). A score
measured under another protocol is not reused: the old folder is kept aside as `<run>.superseded` and
the run starts afresh (s3prl's auto-resume would otherwise continue an old checkpoint with the config
stored inside it). Two benchmark commands never train the same run: each claims a run before it
starts it (`claim`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional

from ..core.locks import try_lock
from ..core.paths import work_root
from ..s3prl_bridge.tasks import ER_FOLDS, Task
from .probe_env import ProbeRuntimeMismatch, device_flag, observed_facts, probe_device, thread_environment
from .protocol import FEATURIZER_FLAGS, PROTOCOL_FILE, PROTOCOL_THREADS, RunProtocol
from .report import atomic_write
from .seeds import s3prl_seed, seed_suffix
from .upstream_spec import UpstreamSpec

#: ``run_downstream.py`` as a module, so that it runs from a checkout and from an installed package alike
RUN_DOWNSTREAM = ("-m", "upstream_distill.s3prl_bridge.run_downstream")
#: s3prl's asr expert prints the character error rate as "uer" (unit error rate) beside "wer"
CER_METRIC = "uer"


def run_folder(runs_root: Path, label: str, task: str, fold: Optional[str] = None, seed: int = 1) -> Path:
    """Where a run keeps its s3prl experiment: runs_root/<row>/<task>[-<fold>][.seed<k>] (seeds.py)."""
    return runs_root / label / ((task if fold is None else f"{task}-{fold}") + seed_suffix(seed))


def task_run_folders(runs_root: Path, label: str, task: str, seed: int = 1) -> List[Path]:
    """Every run folder of a row's task under one probe seed: one, or ER's five folds."""
    return [run_folder(runs_root, label, task, fold, seed) for fold in (ER_FOLDS if task == "er" else (None,))]


class RunFailed(RuntimeError):
    """A task run's subprocess failed or printed no score; the message names its log."""


def set_aside(folder: Path) -> Path:
    """Move a folder whose results no longer count to `<folder>.superseded` (replacing an older one)."""
    aside = folder.with_name(folder.name + ".superseded")
    if aside.exists():
        shutil.rmtree(aside)
    os.replace(folder, aside)
    return aside


@dataclass(frozen=True)
class TaskRun:
    upstream: UpstreamSpec
    task: Task
    fold: Optional[str]
    expdir: Path
    protocol: RunProtocol
    override: Optional[str] = None  # s3prl's -o for the run (--task-override), part of its protocol
    threads: int = PROTOCOL_THREADS  # the probe's torch threads (--probe-threads), part of its protocol
    seed: int = 1  # the probe seed (--probe-seeds), in its protocol and folder

    @property
    def name(self) -> str:
        return (f"{self.upstream.label}/{self.task.name}" + (f"/{self.fold}" if self.fold else "")
                + (f"/seed{self.seed}" if self.seed != 1 else ""))

    @property
    def score_file(self) -> Path:
        return self.expdir / "score.json"

    def done(self) -> bool:
        """Scored, under the current protocol."""
        return self.score_file.is_file() and self.load_score().get("protocol") == str(self.protocol)

    def started_under_another_protocol(self) -> bool:
        """The folder holds a run (score, checkpoints or logs) of another protocol, or of one
        that predates protocol.txt."""
        if not self.expdir.is_dir() or not any(self.expdir.iterdir()):
            return False
        marker = self.expdir / PROTOCOL_FILE
        return not marker.is_file() or marker.read_text().strip() != str(self.protocol)

    def set_aside(self) -> Path:
        """Move an old protocol's folder to `<run>.superseded`."""
        return set_aside(self.expdir)

    def load_score(self) -> dict:
        with open(self.score_file) as fh:
            return json.load(fh)


def parse_metric(log_text: str, split: str, metric: str) -> float:
    """The last `<split> <metric>: <value>` line an s3prl expert printed."""
    pattern = re.compile(rf"^{re.escape(split)} {re.escape(metric)}: ([-+0-9.eEinfa]+)\s*$", re.M)
    found = pattern.findall(log_text)
    if not found:
        raise ValueError(f"no '{split} {metric}: ...' line")
    return float(found[-1])


def run_logged(cmd: list, log_file: Path, env: Optional[dict] = None) -> None:
    """Run ``cmd`` with its output appended to ``log_file``; ``env``: variables set over this process's."""
    with open(log_file, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work_root(),
                              env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})))
    if proc.returncode != 0:
        tail = "".join(log_file.read_text(errors="replace").splitlines(True)[-15:])
        raise RunFailed(f"exit code {proc.returncode}; see {log_file}. Last lines:\n{tail}")


def scoring_checkpoint(run: TaskRun) -> Path:
    """The best-on-dev checkpoint (SUPERB protocol). s3prl's experts save it only when dev
    beats the initial best (accuracy 0, WER/PER 100%), so a run that never did is scored
    from its last checkpoint, which is then as good as any."""
    best = run.expdir / run.task.best_checkpoint
    if best.is_file():
        return best
    states = sorted(run.expdir.glob("states-*.ckpt"), key=lambda p: int(p.stem.split("-")[-1]))
    if not states:
        raise RunFailed(f"training wrote no checkpoint in {run.expdir}; see {run.expdir / 'train.log'}")
    return states[-1]


@contextmanager
def claim(run: TaskRun) -> Iterator[bool]:
    """Yields True while this command holds the run's lock (a file beside its folder, which a protocol
    change may move aside), or False at once when another benchmark command holds it: two commands on
    the same run would train two probes into one folder, each overwriting the other's checkpoints."""
    with try_lock(run.expdir.parent / f".{run.expdir.name}.lock") as mine:
        yield mine


def corpus_flags(corpus) -> List[str]:
    """How ``run_downstream.py`` is told the corpus: ``--corpus DIR`` (the embedded one), or the flags of the
    real corpora (``--preset superb``: s3prl_bridge/real_corpora.py)."""
    return ["--corpus", str(corpus)] if isinstance(corpus, Path) else corpus.flags()


def execute(run: TaskRun, preset: str, corpus) -> dict:
    """Train, evaluate and record one task run (``corpus``: a folder, or the real corpora); returns the
    score record."""
    if run.started_under_another_protocol():
        run.set_aside()
    run.expdir.mkdir(parents=True, exist_ok=True)
    (run.expdir / PROTOCOL_FILE).write_text(f"{run.protocol}\n")
    python = sys.executable
    env, device = thread_environment(run.threads), probe_device()
    # s3prl's --seed (its default for seed 1): a resumed run takes it back from its checkpoint
    train_cmd = [python, *RUN_DOWNSTREAM, "-m", "train", *run.upstream.upstream_flags(),
                 "-d", run.task.name, "--preset", preset, *corpus_flags(corpus),
                 "-p", str(run.expdir), "-a", *FEATURIZER_FLAGS, "--seed", str(s3prl_seed(run.seed)),
                 "--device", device_flag(device), "--threads", str(run.threads)]
    if run.fold:
        train_cmd += ["-v", run.fold]
    if run.override:  # evaluation takes the config, overrides included, from the checkpoint
        train_cmd += ["-o", run.override]
    train_log = run.expdir / "train.log"
    train_start = train_log.stat().st_size if train_log.is_file() else 0  # the log of an earlier try stays above
    started = time.time()
    run_logged(train_cmd, train_log, env)
    train_seconds = time.time() - started

    best = scoring_checkpoint(run)
    eval_log = run.expdir / "test.log"
    eval_log.unlink(missing_ok=True)
    started = time.time()
    run_logged([python, *RUN_DOWNSTREAM, "-m", "evaluate", "-e", str(best),
                "-t", run.task.test_split, "--device", device_flag(device), "--threads", str(run.threads)], eval_log, env)
    eval_seconds = time.time() - started
    text = eval_log.read_text(errors="replace")
    try:
        with open(train_log, "rb") as log:
            log.seek(train_start)
            facts = observed_facts([log.read().decode(errors="replace"), text], run.threads, device)
    except ProbeRuntimeMismatch as err:
        raise RunFailed(f"{err}; see {train_log} and {eval_log}") from None
    try:
        value = parse_metric(text, run.task.test_split, run.task.metric)
        # WER saturates near 100 on small data; the character error rate still ranks upstreams there
        extra = {"cer": parse_metric(text, run.task.test_split, CER_METRIC)} if run.task.metric == "wer" else {}
    except ValueError as err:
        raise RunFailed(f"{err} in {eval_log}") from None
    record = {
        "upstream": run.upstream.label,
        "task": run.task.name,
        "fold": run.fold,
        "metric": run.task.metric,
        "split": run.task.test_split,
        "value": value,
        "percent": value * 100 if run.task.metric_is_fraction else value,
        **extra,
        "train_seconds": round(train_seconds, 1),
        "eval_seconds": round(eval_seconds, 1),
        "checkpoint": str(best),
        "featurizer_flags": list(FEATURIZER_FLAGS),
        "protocol": str(run.protocol),
        "seed": run.seed,
        "s3prl_seed": s3prl_seed(run.seed),
        **facts.record(),
    }
    atomic_write(run.score_file, lambda tmp: Path(tmp).write_text(json.dumps(record, indent=2) + "\n"))
    return record
