"""Distributed set-up: rank and world size from the environment (``torchrun``), DDP wrapping.

``torchrun --nproc_per_node N run_pretrain.py ...`` sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; without
them the run is a single process and nothing here does anything.  The
process group uses NCCL on CUDA and gloo on CPU.  Data sharding is done by
:class:`upstream_distill.training.data.BatchPlan` (every rank takes every
``world_size``-th batch of the same epoch plan), so ranks see disjoint data
and the same number of batches.  Only rank 0 logs and writes checkpoints; each rank's random
state goes into them (:meth:`DistEnv.gather_objects`).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistEnv"]


@dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "DistEnv":
        return cls(rank=int(os.environ.get("RANK", 0)), world_size=int(os.environ.get("WORLD_SIZE", 1)),
                   local_rank=int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> torch.device:
        """The process's device: ``cuda:<local_rank>`` for a CUDA request under DDP."""
        device = torch.device(requested)
        if self.enabled and device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device

    def init(self, device: torch.device) -> None:
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                    rank=self.rank, world_size=self.world_size)

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()

    def barrier(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.barrier()

    @contextlib.contextmanager
    def main_first(self):
        """Rank 0 runs the block first (e.g. filling a cache), then the others."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel

        ids = [device.index] if device.type == "cuda" else None
        # an expert whose steps leave some parameters unused (e.g. a training stage) says so
        unused = bool(getattr(module, "find_unused_parameters", False))
        return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=unused)

    def no_sync(self, wrapped: nn.Module, skip: bool):
        """Skip the gradient all-reduce of an accumulation micro-batch that is not the last."""
        if skip and self.enabled:
            return wrapped.no_sync()
        return contextlib.nullcontext()

    def replica_difference(self, module: nn.Module) -> float:
        """Largest ``|param - rank 0's param|`` over all ranks and trainable parameters (0 when alone).

        DDP keeps replicas equal only if every rank takes the same steps; a
        non-zero value means they diverged (e.g. a parameter outside DDP's
        view, or rank-dependent code in an expert).
        """
        if not self.enabled:
            return 0.0
        worst = torch.zeros((), dtype=torch.float64)
        for param in (p for p in module.parameters() if p.requires_grad):
            reference = param.detach().clone()
            dist.broadcast(reference, src=0)
            worst = torch.maximum(worst, (param.detach() - reference).abs().max().double().cpu())
        worst = worst.to(next(module.parameters()).device)
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        return float(worst)

    def gather_objects(self, value: Any) -> List[Any]:
        """``[value of rank 0, value of rank 1, ...]`` on every rank (``[value]`` when alone)."""
        if not self.enabled:
            return [value]
        gathered: List[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def mean(self, value: float, device: torch.device) -> float:
        """The mean of a scalar over ranks (for logging)."""
        if not self.enabled:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=device)
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world_size
