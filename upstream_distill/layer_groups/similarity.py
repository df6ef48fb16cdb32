"""How alike two layers' representations of the same frames are: S ∈ [0, 1] (cosine: [-1, 1]).

``X ∈ R^{N×D1}`` and ``Y ∈ R^{N×D2}`` hold the same N frames (rows) in two layers. ``Xc``, ``Yc``
are their column-centred copies (each dimension's mean over the frames removed).

linear_cka (Kornblith et al., ICML 2019, eq. 5)::

    CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F · ||Yc^T Yc||_F)

  1 for identical inputs, symmetric, invariant to an orthogonal transform and to an isotropic
  scaling of either input (not to an arbitrary invertible one). Computed in float64; in feature
  space (cost N·D1·D2), which equals the Gram-space form ``<K̃, L̃>_F / (||K̃||_F ||L̃||_F)`` with
  ``K̃ = Xc Xc^T``. An input without variance (constant frames) has CKA 0 with everything.

rbf_cka: the same normalised HSIC with Gaussian kernels::

    K_ij = exp(-||x_i - x_j||² / (2σ_X²)),  σ_X = median_{i≠j} ||x_i - x_j||   (Kornblith et al.'s
    median-distance bandwidth, fraction 1),  Kc = H K H,  H = I - 11^T/N,
    CKA_RBF(X, Y) = <Kc, Lc>_F / (||Kc||_F · ||Lc||_F)

  N×N kernels: only :data:`RBF_MAX_FRAMES` frames, evenly strided over the rows, take part (the
  rows are already a random subsample of the calibration frames).

cosine: the mean over frames of the cosine between a frame's two layer vectors (time-aligned,
not pooled)::

    cos(X, Y) = 1/N Σ_t <x_t, y_t> / (||x_t|| · ||y_t||)

  Needs D1 = D2. Not invariant to a rotation of one layer: it asks whether two layers are *the
  same vectors* in the residual stream, which is what DPHuBERT's cosine loss term rewards; it is
  also pulled up by a large mean shared by all frames, which CKA centres away.

:func:`similarity_matrix` fills ``S`` for a list of layers, with ``S_ll = 1``.
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["MEASURES", "RBF_MAX_FRAMES", "frame_cosine", "linear_cka", "rbf_cka", "similarity_matrix"]

#: frames the RBF kernels use at most (N×N float64 matrices: 2000 frames are 32 MB each)
RBF_MAX_FRAMES = 2000


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.dim() != 2 or y.dim() != 2:
        raise ValueError(f"expected (N, D) matrices, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"the two layers hold different frame counts: {x.shape[0]} and {y.shape[0]}")
    if x.shape[0] < 2:
        raise ValueError(f"need at least 2 frames, got {x.shape[0]}")


def _centred(x: Tensor) -> Tensor:
    """Column-centred in float64, scaled to unit Frobenius norm (CKA does not see the scale; this
    keeps the fourth powers below in range)."""
    x = x.double()
    x = x - x.mean(dim=0, keepdim=True)
    norm = torch.linalg.norm(x)
    return x / norm if norm > 0 else x


def _linear_prepared(x: Tensor) -> Tensor:
    """``Xc / ||Xc^T Xc||_F^{1/2}``: then ``CKA(X, Y) = ||Yp^T Xp||_F^2``."""
    x = _centred(x)
    self_norm = torch.linalg.norm(x.T @ x)
    return x / self_norm.sqrt() if self_norm > 0 else x


def linear_cka(x: Tensor, y: Tensor) -> Tensor:
    """Linear CKA of ``(N, D1)`` and ``(N, D2)``: a float64 scalar tensor in [0, 1]."""
    _check_pair(x, y)
    xp, yp = _linear_prepared(x), _linear_prepared(y)
    return torch.linalg.norm(yp.T @ xp) ** 2


def _strided(x: Tensor, limit: int) -> Tensor:
    if x.shape[0] <= limit:
        return x
    index = torch.linspace(0, x.shape[0] - 1, limit, device=x.device).round().long()
    return x[index]


def _rbf_prepared(x: Tensor, limit: int = RBF_MAX_FRAMES) -> Tensor:
    """The centred Gaussian kernel of ``x``'s (strided) frames, at unit Frobenius norm."""
    x = _strided(x, limit).double()
    squared = torch.cdist(x, x).pow(2)
    off_diagonal = squared[~torch.eye(len(x), dtype=torch.bool, device=x.device)]
    median = off_diagonal.sqrt().median()
    if median <= 0:  # all frames alike: no structure to compare
        return torch.zeros_like(squared)
    kernel = torch.exp(-squared / (2 * median ** 2))
    kernel = kernel - kernel.mean(dim=0, keepdim=True)
    kernel = kernel - kernel.mean(dim=1, keepdim=True)
    norm = torch.linalg.norm(kernel)
    return kernel / norm if norm > 0 else kernel


def rbf_cka(x: Tensor, y: Tensor, max_frames: int = RBF_MAX_FRAMES) -> Tensor:
    """RBF CKA (median-distance bandwidth) of ``(N, D1)`` and ``(N, D2)`` on at most ``max_frames``
    evenly strided frames: a float64 scalar tensor in [0, 1]."""
    _check_pair(x, y)
    return (_rbf_prepared(x, max_frames) * _rbf_prepared(y, max_frames)).sum()


def frame_cosine(x: Tensor, y: Tensor) -> Tensor:
    """Mean over frames of the cosine between ``x_t`` and ``y_t`` (same width): float64 scalar."""
    _check_pair(x, y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"cosine similarity needs layers of one width, got {x.shape[1]} and {y.shape[1]}")
    return torch.nn.functional.cosine_similarity(x.double(), y.double(), dim=1, eps=1e-12).mean()


def _cosine_prepared(x: Tensor) -> Tensor:
    return torch.nn.functional.normalize(x.double(), dim=1, eps=1e-12)


def _linear_state(x: Tensor) -> tuple:
    """What :func:`_linear_prepared` needs of one layer, kept small: its column means and the scale
    ``1 / (||Xc||_F · ||Xn^T Xn||_F^{1/2})`` with ``Xn = Xc / ||Xc||_F``, so that
    ``(X - mean) · scale`` is the prepared layer."""
    x = x.double()
    mean = x.mean(dim=0, keepdim=True)
    centred = x - mean
    norm = torch.linalg.norm(centred)
    if norm == 0:
        return mean, 1.0
    centred = centred / norm
    return mean, float(1.0 / (norm * torch.linalg.norm(centred.T @ centred).sqrt()))


#: measure -> (state of one layer, computed once; (layer, state) -> prepared layer; similarity of two prepared)
_PAIRWISE: Dict[str, tuple] = {
    "linear_cka": (_linear_state, lambda x, s: (x.double() - s[0]) * s[1],
                   lambda a, b: torch.linalg.norm(b.T @ a) ** 2),
    "rbf_cka": (lambda x: _rbf_prepared(x).float(), lambda x, s: s.double(), lambda a, b: (a * b).sum()),
    "cosine": (lambda x: None, lambda x, s: _cosine_prepared(x), lambda a, b: (a * b).sum(dim=1).mean()),
}
#: the measures by config name (``config.model.layer_groups.similarity``)
MEASURES: Dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "linear_cka": linear_cka, "rbf_cka": rbf_cka, "cosine": frame_cosine}


def similarity_matrix(features: Sequence[Tensor], measure: str) -> np.ndarray:
    """``(L, L)`` float64 ``S_ij = measure(features[i], features[j])``, symmetric, ``S_ii = 1``.

    ``features``: one ``(N, D)`` tensor per layer over the same N frames. What each layer needs
    (linear: its means and scale; RBF: its centred kernel) is computed once, and a pair costs one
    product: linear CKA of L layers costs ``L(L+1)/2`` products of ``N·D²``."""
    if measure not in _PAIRWISE:
        raise ValueError(f"unknown similarity {measure!r} (known: {', '.join(_PAIRWISE)})")
    for x in features[1:]:
        _check_pair(features[0], x)
    if measure == "cosine" and len({x.shape[1] for x in features}) > 1:
        raise ValueError(f"cosine similarity needs layers of one width, got {[x.shape[1] for x in features]}")
    state_of, prepare, pair = _PAIRWISE[measure]
    count = len(features)
    matrix = np.eye(count)
    with torch.no_grad():
        states = [state_of(x) for x in features]
        for i in range(count):
            a = prepare(features[i], states[i])
            for j in range(i + 1, count):
                matrix[i, j] = matrix[j, i] = float(pair(a, prepare(features[j], states[j])))
    return matrix
