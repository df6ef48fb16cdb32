"""Which network a file holds, for export: any student file the project reads, or a foreign format.

:func:`load_for_export` reads, in this order of checks: a file of the
project's own (``save_student``, a run's ``states-N.ckpt``, an int8 student,
through :func:`~upstream_distill.models.load_student`), s3prl's
``distiller`` checkpoint (``Config`` + ``Distiller``; DistilHuBERT's release)
and DPHuBERT's ``{config, state_dict}`` file.  Foreign files become the
project's own networks (a student, a pruned teacher), so every export format
starts from the same kinds of model.
"""
from __future__ import annotations

import pickle
import types
from pathlib import Path
from typing import Tuple, Union

import torch

from upstream_distill.models import StudentCheckpointError, load_student

from .distiller import DISTILLER_KEYS, student_from_distiller
from .dphubert import is_dphubert_payload, pruned_from_dphubert
from .network import AnyNetwork

__all__ = ["load_for_export", "read_foreign"]


def _torch_load_trusted(path: Path):
    """``torch.load`` of a file the user named: weights only first, then a full unpickle in which
    modules that are not installed (s3prl's old ``optimizers``, fairseq) become inert stand-ins.

    A full unpickle can run code the file carries: it happens only for the path
    given on the command line (trust it as you would run it), as for teachers.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        pass

    class Tolerant(pickle.Unpickler):
        def find_class(self, module, name):
            try:
                return super().find_class(module, name)
            except (ImportError, AttributeError):
                return type(name, (), {"__module__": module, "__setstate__": lambda self, state: None,
                                       "__init__": lambda self, *args, **kwargs: None})

    tolerant = types.ModuleType("tolerant_pickle")
    tolerant.Unpickler = Tolerant
    tolerant.load = lambda file, **kwargs: Tolerant(file, **kwargs).load()
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=tolerant)


def read_foreign(path: Path) -> Tuple[AnyNetwork, str]:
    """``(network, format name)`` of an s3prl distiller or DPHuBERT file; ValueError otherwise."""
    payload = _torch_load_trusted(path)
    if isinstance(payload, dict) and all(key in payload for key in DISTILLER_KEYS):
        return student_from_distiller(payload, str(path)), "s3prl distiller"
    if isinstance(payload, dict) and is_dphubert_payload(payload):
        return pruned_from_dphubert(payload, str(path)), "DPHuBERT"
    keys = sorted(map(str, payload))[:8] if isinstance(payload, dict) else type(payload).__name__
    raise ValueError(f"-k {str(path)!r} holds neither a student of this project, nor s3prl's distiller "
                     f"checkpoint ({' + '.join(DISTILLER_KEYS)}), nor DPHuBERT's {{config, state_dict}} "
                     f"(found {keys})")


def load_for_export(path: Union[str, Path]) -> Tuple[AnyNetwork, str]:
    """``(network in eval mode, format it was read from)``; ValueError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"-k {str(path)!r}: no such file (a student checkpoint: save_student file, "
                         f"states-N.ckpt, s3prl distiller .ckpt or DPHuBERT .pth)")
    try:
        return load_student(path), "upstream_distill student"
    except StudentCheckpointError as own_error:
        try:
            network, kind = read_foreign(path)
        except ValueError as err:
            raise ValueError(f"{err}. As a student of this project: {own_error}") from None
        return network.eval(), kind
