"""The contract between the runner and a method's ``pretrain/<method>/pretrain_expert.py``.

A method is an ``UpstreamPretrainExpert(PretrainExpert)``: it builds its
model(s) and loss from the ``model`` section of the config (the method's
``config_model.yaml``) and answers five questions; the runner does
everything else (data, optimiser, schedule, AMP, clipping, accumulation,
checkpoints, resume, DDP, logging).

* ``trainable_parameters()`` -- what the optimiser updates (parameters, or
  AdamW parameter groups when a method wants its own lr for some of them);
* ``forward(batch, step) -> (loss, terms)`` -- a scalar loss to minimise
  and named scalars to log (loss terms, accuracies; all detached by the
  runner).  ``step`` is the number of updates done so far, for methods with
  schedules of their own (e.g. a sparsity target);
* ``checkpoint_state()`` / ``load_checkpoint_state(state)`` -- what a
  checkpoint must hold to resume (default: the module's ``state_dict``; a
  distillation expert leaves its frozen teacher out);
* ``export(path)`` -- the upstream-ready artefact (e.g. a ``save_teacher``
  file that ``teacher_local -k`` loads), rewritten at every save.

The constructor receives :class:`ExpertContext`: the training utterances
(for methods that precompute targets), the data config (e.g. to check the
crop alignment), the experiment folder, the device, the seed and the
distributed environment (``context.dist.main_first()`` for caches), and
``cache_teacher`` (``--cache-teacher``; experts without a teacher refuse it).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Tuple, Union

import torch
from torch import Tensor, nn

from .config import DataConfig
from .data import Batch, Utterance
from .distributed import DistEnv

__all__ = ["ExpertContext", "PretrainExpert"]


@dataclass
class ExpertContext:
    expdir: Path
    device: torch.device
    data: DataConfig
    utterances: List[Utterance]  # the training corpus, after min_timestep filtering
    seed: int
    dist: DistEnv
    log: Callable[[str], None] = print
    cache_teacher: bool = False  # run_pretrain.py --cache-teacher: targets from a disk cache


class PretrainExpert(nn.Module):
    """Base class of every ``UpstreamPretrainExpert``; see the module docstring."""

    def __init__(self, model_config: dict, context: ExpertContext):
        super().__init__()
        self.model_config = model_config
        self.context = context

    def trainable_parameters(self) -> Union[Iterable[nn.Parameter], List[dict]]:
        return [p for p in self.parameters() if p.requires_grad]

    def forward(self, batch: Batch, step: int) -> Tuple[Tensor, Dict[str, Tensor]]:
        raise NotImplementedError

    def checkpoint_state(self) -> dict:
        return self.state_dict()

    def load_checkpoint_state(self, state: dict) -> None:
        self.load_state_dict(state)

    def export(self, path: Path) -> None:
        raise NotImplementedError
