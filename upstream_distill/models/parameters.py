"""The one rule for counting parameters, so every log, table and report agrees.

Model sizes are quoted in several places (the experts' start-up logs, the
runner's "trainable parameters", the benchmark's params column and its speed
comparison); each used to sum ``numel()`` its own way, and a change of rule
in one (e.g. whether the training-only heads count) silently made the
numbers disagree.  They all call :func:`count_parameters` now and differ
only in the prefixes they leave out, which are named here.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple, Union

from torch import Tensor, nn

__all__ = ["TRAINING_ONLY_PREFIXES", "UNIT_HEAD_PREFIXES", "count_parameters"]

#: a HuBERT teacher's unit head (final_proj + label embeddings): pretraining only, never an upstream output
UNIT_HEAD_PREFIXES = ("unit_head.",)
#: what s3prl never sees: the teacher's unit head and a student's prediction heads
TRAINING_ONLY_PREFIXES = UNIT_HEAD_PREFIXES + ("heads.",)


def _packed_int8_weights(module: nn.Module, exclude_prefixes: Tuple[str, ...]) -> int:
    """Weights of dynamically quantised Linears (an int8 student): packed, they are no ``nn.Parameter``,
    but they are the same number of weights, which a size column must still count."""
    total = 0
    for name, child in module.named_modules():
        packed = getattr(child, "_packed_params", None)
        if packed is None or not hasattr(child, "weight") or name.startswith(exclude_prefixes):
            continue
        weight, bias = child.weight(), child.bias()
        total += weight.numel() + (bias.numel() if bias is not None else 0)
    return total


def count_parameters(source: Union[nn.Module, Iterable[Tensor]], exclude_prefixes: Sequence[str] = ()) -> int:
    """Number of parameter elements of a module, or of an iterable of parameters.

    A module's parameters are counted once each, however often they are
    shared (as ``module.parameters()`` yields them); those whose qualified
    name starts with one of ``exclude_prefixes`` (e.g.
    :data:`TRAINING_ONLY_PREFIXES`) are left out.  An iterable (e.g. the
    parameters of an optimizer's groups) has no names, so it takes no
    prefixes; a tensor listed twice counts once, as in a module.
    """
    if isinstance(source, nn.Module):
        prefixes = tuple(exclude_prefixes)
        return (sum(p.numel() for name, p in source.named_parameters() if not name.startswith(prefixes))
                + _packed_int8_weights(source, prefixes))
    if exclude_prefixes:
        raise TypeError("count_parameters: exclude_prefixes needs a module (its parameters have names)")
    unique = {id(p): p for p in source}
    return sum(p.numel() for p in unique.values())
