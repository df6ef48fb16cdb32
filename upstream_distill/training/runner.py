"""The one pretraining loop, shared by every method.

``Runner(config, expert_class, expdir, device).run()`` trains
``expert_class`` (a :class:`~upstream_distill.training.expert.PretrainExpert`)
for ``config.runner.total_steps`` optimizer updates and knows nothing about
the method.  One update = ``gradient_accumulate_steps`` micro-batches, AMP
(CUDA only), gradient clipping, an AdamW step and a schedule step.

Resume: if ``expdir`` already holds ``states-<step>.ckpt``, the newest
intact one is loaded (model(s), optimizer, scheduler, AMP scaler, step, data
position, every rank's RNG states) and training continues as if never
interrupted: same learning rate at the same step, the next batch of the same
data plan, the same random masks and dropout.  An unreadable newest
checkpoint (a disk that filled up, a copy cut short) is set aside as
``*.ckpt.corrupt`` with a warning naming it, and the previous one is used.
The checkpoint's config must equal the command's (except the keys in
``config.RESUME_MAY_DIFFER``), so a changed command cannot silently continue
another run.

At each save the export (``upstream.pt``) is written before the checkpoint
of the same step, so a kill between the two leaves a run that resumes and
redoes both, never a finished run with an older export.  One process trains
in a folder at a time: a second command on the same folder waits for the
first (``.run.lock``), then resumes or finds the run complete.

A NaN/inf loss or gradient norm stops the run with
:class:`~upstream_distill.training.errors.NonFiniteLossError`; nothing is
written after the last good checkpoint.
"""
from __future__ import annotations

import contextlib
import math
import random
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Type

import numpy as np
import torch

from upstream_distill.core.errors import ConfigError, NonFiniteLossError, TrainingError
from upstream_distill.core.faults import fault_point
from upstream_distill.core.locks import exclusive_lock
from upstream_distill.models import count_parameters

from .checkpoint import (
    capture_rng,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    remove_stale_temporaries,
    restore_rng,
    save_atomic,
)
from .config import TrainingConfig, resume_conflicts
from .data import BatchPlan, BatchStream, read_utterances
from .distributed import DistEnv
from .expert import ExpertContext, PretrainExpert
from .logger import TrainLogger
from .optim import build_optimizer, build_scheduler

__all__ = ["EXPORT_NAME", "Runner"]

#: the expert's upstream-ready artefact, rewritten at every save
EXPORT_NAME = "upstream.pt"
#: held by the process training in a folder (see core/locks.py)
LOCK_NAME = ".run.lock"
CHECKPOINT_FORMAT = "upstream_distill.pretrain/1"
#: DDP replicas must stay equal; all-reduced gradients make them bit-identical in practice
REPLICA_TOLERANCE = 1e-6


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Runner:
    def __init__(self, config: TrainingConfig, expert_class: Type[PretrainExpert], expdir: Path,
                 device: str = "cpu", dist: Optional[DistEnv] = None, cache_teacher: bool = False):
        self.config, self.expert_class = config, expert_class
        self.cache_teacher = cache_teacher
        self.expdir = Path(expdir)
        self.dist = dist or DistEnv.from_environment()
        self.device = self.dist.device(device)
        self.use_amp = bool(config.runner.fp16) and self.device.type == "cuda"

    # -- set-up ----------------------------------------------------------------

    def _resume_payload(self, log: Callable[[str], None]) -> Optional[dict]:
        """The newest intact checkpoint's payload (with its ``path``), or None for a new run."""
        payload, path, found = None, None, list_checkpoints(self.expdir)
        for candidate in reversed(found):
            try:
                payload, path = load_checkpoint(candidate), candidate
                break
            except Exception as err:  # torch.load raises EOFError, RuntimeError, UnpicklingError, ...
                if not self.dist.is_main:
                    raise TrainingError(f"{candidate} is unreadable ({type(err).__name__}) on rank {self.dist.rank}")
                aside = candidate.with_name(candidate.name + ".corrupt")
                candidate.replace(aside)
                log(f"warning: {candidate} is unreadable ({type(err).__name__}: {str(err)[:120]}); "
                    f"moved it to {aside.name} and resuming from the checkpoint before it, if any")
        if payload is None:
            if found:  # never start over silently on top of a run that existed
                raise TrainingError(f"no checkpoint in {self.expdir} is readable ({', '.join(p.name for p in found)}, "
                                    f"now *.corrupt); run the command again to start the run over")
            return None
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(f"{path} is not a checkpoint of this runner; use another -p/-n")
        differ = resume_conflicts(payload["config"], self.config.raw)
        if differ:
            raise ConfigError(f"{self.expdir} holds a run with another config (differs in {differ}); "
                              f"resume it with the same flags, or start over in another -p/-n folder")
        payload["path"] = path
        return payload

    def _export_is_current(self, payload: dict) -> bool:
        """Whether ``upstream.pt`` holds the weights of ``payload``'s step."""
        export = self.expdir / EXPORT_NAME
        if not export.is_file():
            return False
        if "export_step" in payload:  # written by this runner: the export went to disk first
            return int(payload["export_step"]) == int(payload["step"])
        # a run saved before the export was written first: the export must be the newer file
        return export.stat().st_mtime_ns >= payload["path"].stat().st_mtime_ns

    def _build(self, payload: Optional[dict], log: TrainLogger):
        cfg = self.config
        seed_everything(cfg.seed)
        utterances = read_utterances(cfg.datarc)
        context = ExpertContext(expdir=self.expdir, device=self.device, data=cfg.datarc,
                                utterances=utterances, seed=cfg.seed, dist=self.dist, log=log.info,
                                cache_teacher=self.cache_teacher)
        expert = self.expert_class(cfg.model, context).to(self.device)
        optimizer = build_optimizer(expert.trainable_parameters(), cfg.optimizer)
        scheduler = build_scheduler(optimizer, cfg.optimizer, cfg.runner.total_steps)
        scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        step, epoch, batch = 0, 0, 0
        if payload is not None:
            expert.load_checkpoint_state(payload["expert"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            if payload.get("scaler"):
                scaler.load_state_dict(payload["scaler"])
            step, epoch, batch = int(payload["step"]), int(payload["epoch"]), int(payload["batch"])
            if int(payload.get("world_size", 1)) != self.dist.world_size:
                log.info(f"warning: resuming a {payload.get('world_size')}-process run with "
                         f"{self.dist.world_size} process(es): the data order will differ")
        plan = BatchPlan([u.length for u in utterances], cfg.datarc, cfg.seed,
                         self.dist.rank, self.dist.world_size)
        stream = BatchStream(utterances, plan, cfg.datarc.num_workers, epoch, batch)
        n_params = count_parameters(p for group in optimizer.param_groups for p in group["params"])
        log.info(f"{len(utterances)} utterances ({sum(u.length for u in utterances) / cfg.datarc.sample_rate / 3600:.2f} h) "
                 f"in {cfg.datarc.sets}; {len(plan.epoch(0))} batches per epoch; "
                 f"{n_params / 1e6:.2f}M trainable parameters; device {self.device}"
                 f"{', fp16' if self.use_amp else ''}")
        return expert, optimizer, scheduler, scaler, stream, step

    # -- the loop --------------------------------------------------------------

    def run(self) -> int:
        """Train to ``total_steps``; returns the final step."""
        cfg, dist = self.config, self.dist
        dist.init(self.device)
        try:
            if dist.is_main:
                self.expdir.mkdir(parents=True, exist_ok=True)
            with self._folder_lock():
                if dist.is_main:
                    remove_stale_temporaries(self.expdir)
                dist.barrier()
                warnings: List[str] = []
                with dist.main_first():  # rank 0 sets an unreadable checkpoint aside before the others look
                    payload = self._resume_payload(warnings.append)
                start = int(payload["step"]) if payload else 0
                log = TrainLogger(self.expdir, dist.is_main, cfg.runner.total_steps, start)
                try:
                    for warning in warnings:
                        log.info(warning)
                    if start >= cfg.runner.total_steps and self._export_is_current(payload):
                        # nothing to build: a finished run must not load a teacher or fill a target cache
                        log.info(f"already complete at step {start}; upstream artefact {self.expdir / EXPORT_NAME}")
                        return start
                    return self._train(payload, log)
                except TrainingError as err:  # also in train.log, for whoever reads the folder later
                    log.info(f"error: {err}")
                    raise
                finally:
                    log.close()
        finally:
            dist.close()

    def _folder_lock(self):
        """The main rank holds ``expdir/.run.lock`` while it trains: a second command on the same folder
        (the same command twice, two benchmark commands on one student) waits, then resumes or finds
        the run complete, instead of training into the same files at the same time."""
        if not self.dist.is_main:
            return contextlib.nullcontext()

        def waiting(pid: Optional[int]) -> None:
            print(f"[pretrain] {self.expdir} is in use by another process (pid {pid or '?'}); "
                  f"waiting for it to finish", file=sys.stderr, flush=True)

        return exclusive_lock(self.expdir / LOCK_NAME, on_wait=waiting)

    def _train(self, payload: Optional[dict], log: TrainLogger) -> int:
        cfg, dist = self.config, self.dist
        expert, optimizer, scheduler, scaler, stream, step = self._build(payload, log)
        log.info(f"resumed from {payload['path'].name} at step {step}, epoch {stream.epoch}, "
                 f"batch {stream.batch}" if payload else f"new run in {self.expdir}")
        model = dist.wrap(expert, self.device)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        accumulate = cfg.runner.gradient_accumulate_steps
        clip = cfg.runner.gradient_clipping or float("inf")
        if payload is not None:  # last: building the expert drew from the generators
            per_rank = payload.get("rng_per_rank")
            if per_rank is not None and len(per_rank) == dist.world_size:
                restore_rng(per_rank[dist.rank])
            else:  # another world size (or a run saved before ranks kept their own): rank 0's, reseeded
                restore_rng(payload["rng"])
                if dist.rank:
                    torch.manual_seed(cfg.seed + dist.rank + step)
        elif dist.rank:
            torch.manual_seed(cfg.seed + dist.rank)  # per-rank dropout and masks
        last_good = payload["path"].name if payload else None
        window: Dict[str, float] = defaultdict(float)
        window_steps, tick = 0, time.monotonic()
        model.train()

        while step < cfg.runner.total_steps:
            lr = optimizer.param_groups[0]["lr"]
            totals: Dict[str, float] = defaultdict(float)
            for micro in range(accumulate):
                batch = next(stream).to(self.device)
                with dist.no_sync(model, skip=micro < accumulate - 1):
                    with torch.autocast("cuda", dtype=torch.float16, enabled=self.use_amp):
                        loss, terms = model(batch, step)
                    scaler.scale(loss / accumulate).backward()
                totals["loss"] += float(loss.detach()) / accumulate
                for name, value in terms.items():
                    if name == "loss":  # the runner's own key: the value that is minimised
                        continue
                    totals[name] += float(torch.as_tensor(value).detach().float()) / accumulate
            scaler.unscale_(optimizer)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
            loss_value = dist.mean(totals["loss"], self.device)
            if not math.isfinite(loss_value) or (not math.isfinite(grad_norm) and not self.use_amp):
                shown = ", ".join(f"{k}={v:.4g}" for k, v in totals.items())
                raise NonFiniteLossError(
                    f"non-finite {'loss' if not math.isfinite(loss_value) else 'gradient norm'} at step "
                    f"{step + 1} ({shown}, grad_norm={grad_norm:.4g}); stopped without saving. "
                    + (f"The last good checkpoint is {self.expdir / last_good}."
                       if last_good else "No checkpoint was written yet."))
            scaler.step(optimizer)  # skipped by the scaler on an fp16 overflow
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            step += 1

            for name, value in totals.items():
                window[name] += value
            window["grad_norm"] += grad_norm
            window_steps += 1
            log.advance(step, totals["loss"])
            if step % cfg.runner.log_step == 0 or step == cfg.runner.total_steps:
                values = {"lr": lr, **{k: dist.mean(v / window_steps, self.device) for k, v in window.items()}}
                values["epoch"] = float(stream.epoch)
                values["sec_per_step"] = (time.monotonic() - tick) / window_steps
                log.scalars(step, values)
                window.clear()
                window_steps, tick = 0, time.monotonic()
            if step % cfg.runner.save_step == 0 or step == cfg.runner.total_steps:
                if dist.enabled:
                    difference = dist.replica_difference(expert)
                    log.info(f"replicas at step {step}: max |param - rank 0's| over "
                             f"{dist.world_size} ranks = {difference:.3g}")
                    if difference > REPLICA_TOLERANCE:
                        raise TrainingError(f"the {dist.world_size} DDP replicas diverged at step {step} "
                                            f"(max parameter difference {difference:.3g}); not saving")
                rng_per_rank = dist.gather_objects(capture_rng())  # every rank's, for a bit-exact resume
                if dist.is_main:
                    last_good = self._save(step, expert, optimizer, scheduler, scaler, stream, rng_per_rank,
                                           log).name
                dist.barrier()
        if payload is not None and int(payload["step"]) >= cfg.runner.total_steps:
            log.info(f"already complete at step {step}, but {EXPORT_NAME} was missing or older than "
                     f"{payload['path'].name}: exporting it again")
            if dist.is_main:
                expert.export(self.expdir / EXPORT_NAME)
        log.info(f"done: step {step}; upstream artefact {self.expdir / EXPORT_NAME}")
        return step

    def _save(self, step, expert, optimizer, scheduler, scaler, stream, rng_per_rank, log) -> Path:
        epoch, batch = stream.position
        # The export first: a kill between the two writes leaves the previous checkpoint as the newest,
        # so the run resumes and redoes both, and a finished run's export is always its last step's.
        expert.export(self.expdir / EXPORT_NAME)
        fault_point("export-written")
        payload = {
            "format": CHECKPOINT_FORMAT,
            "step": step,
            "export_step": step,
            "epoch": epoch,
            "batch": batch,
            "world_size": self.dist.world_size,
            "expert": expert.checkpoint_state(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if self.use_amp else None,
            "rng": rng_per_rank[0],
            "rng_per_rank": rng_per_rank,
            "config": self.config.raw,
        }
        path = save_atomic(payload, checkpoint_path(self.expdir, step))
        fault_point("checkpoint-written")
        removed = prune_checkpoints(self.expdir, self.config.runner.max_keep)
        log.info(f"saved {path.name}" + (f" (removed {', '.join(p.name for p in removed)})" if removed else ""))
        return path
