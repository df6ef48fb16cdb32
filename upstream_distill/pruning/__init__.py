"""Structured pruning by learned HardConcrete gates (DPHuBERT; CoFi), one mechanism per module.

    hard_concrete.py  HardConcreteGate: n stochastic gates, their expected L0 norm, the eval mask
    sparsity.py       the sparsity target ramp and the Lagrangian constraint, its multipliers ascending
    params.py         the expected (differentiable) and exact parameter count of a gated model
    gates.py          ModelGates: a model's gates on CNN channels, heads, FFN units, whole sub-layers
    prune.py          prune(): the dense smaller model, soft mask values folded into its weights

The network they act on is :class:`~upstream_distill.models.PrunedModel` (a
teacher with per-layer widths); its forward takes the masks the gates give.

Each module documents its equations; the names below are re-exported from them.
"""
from upstream_distill.pruning.gates import UNITS, GateConfig, ModelGates
from upstream_distill.pruning.hard_concrete import HardConcreteGate
from upstream_distill.pruning.params import expected_parameters, parameter_count
from upstream_distill.pruning.prune import prune
from upstream_distill.pruning.sparsity import LagrangianSparsity, expected_sparsity, target_sparsity_at

__all__ = [
    "GateConfig",
    "HardConcreteGate",
    "LagrangianSparsity",
    "ModelGates",
    "UNITS",
    "expected_parameters",
    "expected_sparsity",
    "parameter_count",
    "prune",
    "target_sparsity_at",
]
