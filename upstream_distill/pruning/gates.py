"""The gates of a whole model: one :class:`HardConcreteGate` per prunable group, as DPHuBERT places them.

``units`` chooses what is gated (DPHuBERT's ``pruning_units``; its recipe uses
``conv, head, interm``, whole sub-layers are off by default):

======== ================================================ ============
unit     one gate per                                     init drop
======== ================================================ ============
conv     CNN channel, per block                           0.01
head     attention head, per layer                        0.01
interm   FFN intermediate unit, per layer                 0.5
attlayer whole attention sub-layer, per layer             0.01
ffnlayer whole feed-forward sub-layer, per layer          0.01
======== ================================================ ============

(init drop is the hard-concrete ``init_mean`` of DPHuBERT's code: the FFN
units start at P(keep) = 0.83, everything else at 0.998.)  In training mode
:meth:`ModelGates.masks` draws a sample of every gate, in eval mode it gives
the deterministic masks that :func:`~upstream_distill.pruning.prune.prune`
materialises; :meth:`ModelGates.expected_parameters` is the differentiable
size the sparsity constraint holds to its target.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from torch import Tensor, nn

from upstream_distill.core.errors import ConfigError
from upstream_distill.models import PrunedConfig, PruningMasks

from .hard_concrete import HardConcreteGate
from .params import expected_parameters, parameter_count
from .sparsity import expected_sparsity

__all__ = ["GateConfig", "ModelGates", "UNITS"]

#: unit name -> DPHuBERT's initial drop rate of its gates
UNITS: Dict[str, float] = {"conv": 0.01, "head": 0.01, "interm": 0.5, "attlayer": 0.01, "ffnlayer": 0.01}


@dataclass
class GateConfig:
    """``pruning.units`` (a subset of :data:`UNITS`) and optional per-unit initial drop rates."""

    units: List[str] = field(default_factory=lambda: ["conv", "head", "interm"])
    init_drop: Dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.units, str):
            self.units = [u.strip() for u in self.units.split(",") if u.strip()]
        unknown = sorted(set(self.units) - set(UNITS)) + sorted(set(self.init_drop) - set(UNITS))
        if unknown:
            raise ConfigError(f"pruning.units: unknown unit(s) {unknown} (known: {sorted(UNITS)})")
        if not self.units:
            raise ConfigError(f"pruning.units: name at least one of {sorted(UNITS)}")

    def drop(self, unit: str) -> float:
        return float(self.init_drop.get(unit, UNITS[unit]))


def _gates(sizes: List[int], drop: float) -> nn.ModuleList:
    return nn.ModuleList(HardConcreteGate(size, init_drop=drop) if size else nn.Identity() for size in sizes)


class ModelGates(nn.Module):
    """The gates of a :class:`~upstream_distill.models.PrunedModel` of ``config``'s shape."""

    def __init__(self, config: PrunedConfig, gate_config: Optional[GateConfig] = None):
        super().__init__()
        self.config, self.gate_config = config, gate_config or GateConfig()
        units = set(self.gate_config.units)

        def maybe(unit: str, sizes: List[int]) -> Optional[nn.ModuleList]:
            return _gates(sizes, self.gate_config.drop(unit)) if unit in units else None

        self.conv = maybe("conv", [channels for channels, _, _ in config.conv_layers])
        self.heads = maybe("head", [len(heads) for heads in config.layer_heads])
        self.ffn_units = maybe("interm", list(config.ffn_dims))
        self.attention = maybe("attlayer", [1 if heads else 0 for heads in config.layer_heads])
        self.ffn = maybe("ffnlayer", [1 if width else 0 for width in config.ffn_dims])
        #: the full-width model's size, the reference of the sparsity
        self.original_parameters = parameter_count(config)

    def _groups(self) -> List[Tuple[str, Optional[nn.ModuleList]]]:
        return [("conv", self.conv), ("heads", self.heads), ("ffn_units", self.ffn_units),
                ("attention", self.attention), ("ffn", self.ffn)]

    def _collect(self, value) -> PruningMasks:
        return PruningMasks(**{name: None if gates is None else
                               [value(gate) if isinstance(gate, HardConcreteGate) else None for gate in gates]
                               for name, gates in self._groups()})

    def masks(self) -> PruningMasks:
        """A sample of every gate (training mode) or the deterministic masks (eval mode).

        A CNN block keeps at least its most likely channel even when its expected L0 rounds to
        zero: a block with no channels would leave the network without input.
        """
        masks = self._collect(lambda gate: gate())
        if not self.training and masks.conv is not None:
            for index, (mask, gate) in enumerate(zip(masks.conv, self.conv)):
                if mask is not None and not bool((mask != 0).any()):
                    best = int(gate.log_alpha.argmax())
                    mask = mask.clone()
                    mask[best] = gate.keep_probabilities()[best].detach()
                    masks.conv[index] = mask
        return masks

    def keep_probabilities(self) -> PruningMasks:
        return self._collect(lambda gate: gate.keep_probabilities())

    def expected_parameters(self) -> Tensor:
        """E[N] of the gated model, differentiable in every gate's ``log_alpha``."""
        # float64: a Base model's ~10^8 parameters are not exact in float32
        keep = self._collect(lambda gate: gate.keep_probabilities().double())
        return expected_parameters(self.config, keep)

    def expected_sparsity(self) -> Tensor:
        return expected_sparsity(self.expected_parameters(), self.original_parameters)

    def open_all(self) -> None:
        """Every gate deterministically open (mask exactly 1): the gated model is the ungated one."""
        for gate in self.modules():
            if isinstance(gate, HardConcreteGate):
                gate.open_all()
