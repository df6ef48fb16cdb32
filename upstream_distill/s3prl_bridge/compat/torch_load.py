"""``torch.load(weights_only=True)`` that accepts the ``argparse.Namespace`` in s3prl's checkpoints."""
from __future__ import annotations

import argparse

import torch

__all__ = ["allow_namespace_in_torch_load"]


def allow_namespace_in_torch_load() -> bool:
    """Let ``weights_only`` unpickling accept ``argparse.Namespace``.

    Safer than disabling ``weights_only`` globally: only this one harmless
    class (s3prl's checkpoints store the run's arguments as a Namespace) is
    added to the allow-list.  No-op on torch < 2.4, where the allow-list
    does not exist (and weights_only is not the default anyway).
    """
    add_safe_globals = getattr(torch.serialization, "add_safe_globals", None)
    if add_safe_globals is None:
        return False
    get_safe_globals = getattr(torch.serialization, "get_safe_globals", None)
    if get_safe_globals is not None and argparse.Namespace in get_safe_globals():
        return False
    add_safe_globals([argparse.Namespace])
    return True


