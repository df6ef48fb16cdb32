"""The HardConcrete gate (Louizos, Welling & Kingma, ICLR 2018), as CoFi and DPHuBERT use it.

A gate of ``n`` units learns one ``log_alpha`` per unit.  In training, each
forward draws a mask ``z`` in ``[0, 1]^n`` from a stretched, clamped binary
Concrete distribution (temperature ``beta``, stretch interval ``(l, r)``)::

    u ~ U(eps, 1 - eps)
    s = sigmoid((log(u / (1 - u)) + log_alpha) / beta)
    z = min(1, max(0, s (r - l) + l))

The stretch past ``[0, 1]`` followed by the clamp puts real probability mass
on exactly 0 and exactly 1, so a unit can be switched off for good, while
``z`` stays differentiable in ``log_alpha`` everywhere inside ``(0, 1)``.
The probability that a unit is kept, and the expected number kept (the
expected L0 norm, the differentiable size the sparsity constraint needs), are::

    P(z_i != 0) = sigmoid(log_alpha_i - beta log(-l / r))
    E[L0]       = sum_i P(z_i != 0)

At evaluation the mask is deterministic: drop the ``k = round(n - E[L0])``
units of smallest ``log_alpha`` and keep the others at the soft value
``sigmoid(0.8 log_alpha / beta)`` (see :meth:`HardConcreteGate.deterministic_mask`).

Constants follow DPHuBERT's code (notes §1.1, §5): ``beta = 2/3``,
``l = -0.1``, ``r = 1.1``, ``eps = 1e-6``; the initial ``log_alpha`` is
``N(log(1 - p) - log(p), 0.01)`` with ``p`` = ``init_drop``, DPHuBERT's
``init_mean`` (0.01 for conv channels, heads and whole layers, which start at
``P(keep) = 0.998``; 0.5 for FFN units, which start at ``P(keep) = 0.832``).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from upstream_distill.core.errors import ConfigError

__all__ = ["EVAL_SHARPNESS", "EPS", "OPEN_LOG_ALPHA", "STRETCH_LEFT", "STRETCH_RIGHT", "TEMPERATURE",
           "HardConcreteGate"]

TEMPERATURE = 2.0 / 3.0  # beta, CoFi's value
STRETCH_LEFT = -0.1  # l
STRETCH_RIGHT = 1.1  # r
EPS = 1e-6  # keeps u away from 0 and 1, where log(u / (1 - u)) is infinite
#: empirical factor of the eval mask's soft values, from DPHuBERT/CoFi (FLOP's "magic number")
EVAL_SHARPNESS = 0.8
#: what :meth:`HardConcreteGate.open_all` writes into ``log_alpha``: large enough that every sample
#: and the eval mask are exactly 1.0 (sigmoid saturates to 1.0 in fp16, fp32 and fp64 well before 100)
OPEN_LOG_ALPHA = 100.0

_DEFAULT_INIT_STD = 0.01


class HardConcreteGate(nn.Module):
    """``n`` HardConcrete gates with learnable ``log_alpha`` of shape ``(n,)``.

    ``forward()`` returns a fresh sample (:meth:`sample`) in training mode and
    the deterministic mask (:meth:`deterministic_mask`) in eval mode; multiply
    the gated units by it.  :meth:`expected_l0` is the differentiable expected
    number of kept units that the parameter count and the sparsity constraint
    are built from.
    """

    log_alpha: nn.Parameter

    def __init__(self, n: int, init_drop: float = 0.5, init_std: float = _DEFAULT_INIT_STD) -> None:
        super().__init__()
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"a HardConcrete gate needs n >= 1 units, got {n!r}")
        if not 0.0 < init_drop < 1.0:
            raise ConfigError(f"init_drop is the initial drop rate and must lie strictly between 0 and 1, "
                              f"got {init_drop!r}")
        if init_std < 0.0:
            raise ConfigError(f"init_std must be >= 0, got {init_std!r}")
        self.n = n
        self.init_drop = float(init_drop)
        self.init_std = float(init_std)
        self.log_alpha = nn.Parameter(torch.empty(n))
        # (key of the log_alpha it was computed from, mask); see deterministic_mask
        self._mask_cache: Optional[Tuple[tuple, Tensor]] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``log_alpha ~ N(log(1 - init_drop) - log(init_drop), init_std)``.

        The mean is the logit of the keep rate ``1 - init_drop`` (it would be
        the keep probability without the stretch; the stretch adds
        ``-beta log(-l/r) = 1.599``, hence 0.998 and 0.832 rather than 0.99 and 0.5).
        """
        mean = math.log(1.0 - self.init_drop) - math.log(self.init_drop)
        with torch.no_grad():
            self.log_alpha.normal_(mean, self.init_std)

    def extra_repr(self) -> str:
        return (f"n={self.n}, init_drop={self.init_drop}, temperature={TEMPERATURE:.4g}, "
                f"stretch=({STRETCH_LEFT}, {STRETCH_RIGHT})")

    # ----------------------------------------------------------------------------------------- training
    def sample(self) -> Tensor:
        """One draw ``z`` in ``[0, 1]^n``, differentiable in ``log_alpha`` (the reparameterisation above).

        Computed in at least fp32 (in fp16, ``1 - eps`` rounds to 1 and the
        logit of ``u`` becomes infinite), returned in ``log_alpha``'s dtype.
        """
        log_alpha = self.log_alpha
        dtype = torch.promote_types(log_alpha.dtype, torch.float32)
        u = torch.rand(self.n, device=log_alpha.device, dtype=dtype) * (1.0 - 2.0 * EPS) + EPS
        s = torch.sigmoid((torch.log(u / (1.0 - u)) + log_alpha.to(dtype)) / TEMPERATURE)
        z = (s * (STRETCH_RIGHT - STRETCH_LEFT) + STRETCH_LEFT).clamp(0.0, 1.0)
        return z.to(log_alpha.dtype)

    def keep_probabilities(self) -> Tensor:
        """``P(z_i != 0) = sigmoid(log_alpha_i - beta log(-l / r))`` per gate, differentiable.

        ``z_i > 0`` exactly when ``s_i > -l / (r - l)``, i.e. when
        ``log(u / (1 - u)) + log_alpha_i > beta log(-l / r)``; the logit of a
        uniform ``u`` is logistic, which gives the sigmoid.
        """
        return torch.sigmoid(self.log_alpha - TEMPERATURE * math.log(-STRETCH_LEFT / STRETCH_RIGHT))

    def expected_l0(self) -> Tensor:
        """``E[L0] = sum_i P(z_i != 0)``: the expected number of kept units (a 0-dim tensor, differentiable)."""
        return self.keep_probabilities().sum()

    # --------------------------------------------------------------------------------------- evaluation
    def deterministic_mask(self) -> Tensor:
        """The eval mask: ``k = round(n - E[L0])`` smallest gates at 0, the others soft.

        ``soft = sigmoid(log_alpha / beta * 0.8)``; the ``k`` smallest entries
        of ``soft`` (equivalently of ``log_alpha``) are set to 0 and the rest
        keep their soft value, *not* 1.  Why soft, as DPHuBERT (from FLOP/CoFi)
        does: during training the kept units mostly saw samples ``z < 1``, so the
        layers after a gate learned to expect scaled-down inputs, and
        the soft value is a deterministic stand-in for that scale; a gate that
        training pushed far open has ``soft`` ~ 1 anyway.  The factor 0.8
        (:data:`EVAL_SHARPNESS`) is empirical, from DPHuBERT/CoFi, with no
        derivation behind it.  The number dropped matches the expected L0, so
        the evaluated model has the size the sparsity constraint trained for.

        The result carries no gradient (it is for evaluation) and is cached:
        recomputed when ``log_alpha`` changes (in-place updates such as an
        optimizer step or ``load_state_dict`` bump its version; a move to
        another device or dtype changes its storage) and dropped whenever the
        module is put into training mode.  Treat it as read-only.
        """
        log_alpha = self.log_alpha
        key = (log_alpha._version, log_alpha.data_ptr(), log_alpha.device, log_alpha.dtype)
        if self._mask_cache is None or self._mask_cache[0] != key:
            self._mask_cache = (key, self._compute_deterministic_mask())
        return self._mask_cache[1]

    @torch.no_grad()
    def _compute_deterministic_mask(self) -> Tensor:
        expected_zeros = self.n - float(self.expected_l0())
        k = min(self.n, max(0, round(expected_zeros)))
        soft = torch.sigmoid(self.log_alpha / TEMPERATURE * EVAL_SHARPNESS)
        if k > 0:
            dropped = torch.topk(soft, k, largest=False).indices
            soft[dropped] = 0.0
        return soft

    def train(self, mode: bool = True) -> HardConcreteGate:
        # the cache is an eval-time convenience: never let a mask from before a training phase survive it
        self._mask_cache = None
        return super().train(mode)

    def forward(self) -> Tensor:
        """A sample in training mode, the deterministic mask in eval mode; shape ``(n,)``."""
        return self.sample() if self.training else self.deterministic_mask()

    # --------------------------------------------------------------------------------------- open gates
    @torch.no_grad()
    def open_all(self) -> None:
        """Open every gate for good: ``log_alpha`` := :data:`OPEN_LOG_ALPHA` (100).

        Afterwards every training sample and the eval mask are exactly 1.0
        (``s`` saturates to 1 for any ``u`` in ``(eps, 1 - eps)``, and
        ``sigmoid(0.8 * 100 / beta)`` is 1.0 in fp16/fp32/fp64), and
        ``expected_l0() == n``: a model whose gates are all opened computes
        exactly what the same model without gates does.  This is what the test
        "with all gates open the gated model equals the ungated one" relies on,
        and a way to evaluate an architecture before pruning.  It overwrites the
        learned ``log_alpha`` (call :meth:`reset_parameters` to start over).
        """
        self.log_alpha.fill_(OPEN_LOG_ALPHA)
