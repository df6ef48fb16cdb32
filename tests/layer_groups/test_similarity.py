"""Linear CKA, RBF CKA and frame cosine: the properties the grouping relies on."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from upstream_distill.layer_groups import frame_cosine, linear_cka, rbf_cka, similarity_matrix


def _random(rows: int, cols: int, seed: int) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _orthogonal(size: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(_random(size, size, seed))
    return q


def _gram_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Kornblith et al.'s Gram-space form <K̃, L̃> / (||K̃|| ||L̃||), written independently."""
    n = len(x)
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, l_ = h @ (x @ x.T) @ h, h @ (y @ y.T) @ h
    return float((k * l_).sum() / (torch.linalg.norm(k) * torch.linalg.norm(l_)))


def test_linear_cka_is_one_for_identical_inputs_and_symmetric():
    x, y = _random(200, 16, 0), _random(200, 24, 1)
    assert float(linear_cka(x, x)) == pytest.approx(1.0, abs=1e-12)
    assert float(linear_cka(x, y)) == pytest.approx(float(linear_cka(y, x)), abs=1e-12)
    assert 0.0 <= float(linear_cka(x, y)) < 0.5  # independent noise is far from 1


def test_linear_cka_is_invariant_to_orthogonal_transforms_and_isotropic_scaling():
    x = _random(150, 12, 2)
    y = x[:, :8] @ _random(8, 10, 3) + 0.5 * _random(150, 10, 4)  # related, not identical
    reference = float(linear_cka(x, y))
    assert 0.1 < reference < 0.99
    assert float(linear_cka(x @ _orthogonal(12, 5), y)) == pytest.approx(reference, abs=1e-10)
    assert float(linear_cka(x, y @ _orthogonal(10, 6))) == pytest.approx(reference, abs=1e-10)
    assert float(linear_cka(7.5 * x, y)) == pytest.approx(reference, abs=1e-10)
    assert float(linear_cka(x, 1e-3 * y)) == pytest.approx(reference, abs=1e-10)
    assert float(linear_cka(x + 3.0, y)) == pytest.approx(reference, abs=1e-10)  # column-centred
    # not invariant to an arbitrary invertible map
    assert float(linear_cka(x * torch.linspace(0.1, 10, 12, dtype=torch.float64), y)) != pytest.approx(reference)


def test_linear_cka_equals_the_gram_form():
    x, y = _random(60, 9, 7), _random(60, 5, 8)
    y = y + x[:, :5]
    assert float(linear_cka(x, y)) == pytest.approx(_gram_cka(x, y), abs=1e-10)
    assert float(linear_cka(x.float(), y.float())) == pytest.approx(_gram_cka(x, y), abs=1e-6)


def test_rbf_cka_and_cosine():
    x, y = _random(120, 8, 9), _random(120, 8, 10)
    assert float(rbf_cka(x, x)) == pytest.approx(1.0, abs=1e-10)
    assert float(rbf_cka(x, y)) == pytest.approx(float(rbf_cka(y, x)), abs=1e-12)
    assert 0.0 <= float(rbf_cka(x, y)) < 1.0
    assert float(rbf_cka(x, 3.0 * x @ _orthogonal(8, 11))) == pytest.approx(1.0, abs=1e-8)  # bandwidth scales
    rows = torch.linspace(0, 119, 50, dtype=torch.float64).round().long()  # the frames a limit of 50 keeps
    assert float(rbf_cka(x, y, max_frames=50)) == pytest.approx(float(rbf_cka(x[rows], y[rows])), abs=1e-12)
    assert float(frame_cosine(x, x)) == pytest.approx(1.0, abs=1e-12)
    assert float(frame_cosine(x, -x)) == pytest.approx(-1.0, abs=1e-12)
    assert float(frame_cosine(x, y)) == pytest.approx(float(frame_cosine(y, x)), abs=1e-12)


@pytest.mark.parametrize("measure, function", [("linear_cka", linear_cka), ("rbf_cka", rbf_cka),
                                               ("cosine", frame_cosine)])
def test_similarity_matrix_holds_the_pairwise_measure(measure, function):
    base = _random(90, 6, 12)
    layers = [base + 0.3 * k * _random(90, 6, 13 + k) for k in range(4)]
    matrix = similarity_matrix([x.float() for x in layers], measure)
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 1.0)
    for i in range(4):
        for j in range(i + 1, 4):
            assert matrix[i, j] == pytest.approx(float(function(layers[i], layers[j])), abs=1e-5)
    assert matrix[0, 1] > matrix[0, 3]  # the further the noise, the less alike


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="frame counts"):
        linear_cka(_random(10, 3, 0), _random(11, 3, 1))
    with pytest.raises(ValueError, match="one width"):
        frame_cosine(_random(10, 3, 0), _random(10, 4, 1))
    with pytest.raises(ValueError, match="unknown similarity"):
        similarity_matrix([_random(10, 3, 0)] * 2, "procrustes")
