"""Single-neuron moments E[h(x_1) ... h(x_k)] of the neuron families in :mod:`nnqft_ppl.nets`.

Every function takes ``xs`` of shape ``(n_tuples, k, d)`` and returns shape
``(n_tuples,)``.  These feed :class:`~nnqft_ppl.theory.FiniteWidthTheory`.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable

import numpy as np

__all__ = ["gaussian_moment", "cos_neuron_moment", "gauss_neuron_moment", "affine_neuron_moment"]


def gaussian_moment(k: int) -> float:
    """E[z^k] for z ~ N(0, 1): (k-1)!! for even k, 0 for odd k."""
    return float(math.prod(range(k - 1, 0, -2))) if k % 2 == 0 else 0.0


def cos_neuron_moment(xs: np.ndarray, sigma_b: float) -> np.ndarray:
    """Cos-net neuron h = cos(b.x + c), b ~ N(0, sigma_b^2/d 1), c ~ U[-pi, pi] (PHYSICS.md B.3).

    prod_j cos(theta_j) = 2^{-k} sum_{s in {+-1}^k} cos(sum_j s_j theta_j); the uniform
    phase kills every sign pattern with sum_j s_j != 0, and E_b cos(b.v) = exp(-sigma_b^2 |v|^2 / 2d):

        E[h(x_1)..h(x_k)] = 2^{-k} sum_{s: sum s = 0} exp(-sigma_b^2 |sum_j s_j x_j|^2 / (2d)).
    """
    xs = np.asarray(xs, dtype=np.float64)
    n_tuples, k, d = xs.shape
    if k % 2:
        return np.zeros(n_tuples)
    total = np.zeros(n_tuples)
    for signs in itertools.product((1.0, -1.0), repeat=k):
        if sum(signs) == 0:
            v = np.einsum("j,tjd->td", np.array(signs), xs)
            total += np.exp(-(sigma_b**2) * np.sum(v**2, axis=-1) / (2 * d))
    return total / 2**k


def gauss_neuron_moment(xs: np.ndarray, sigma_w: float, sigma_b: float) -> np.ndarray:
    """HMS20 Gauss-net neuron h = exp(W.x + b) / sqrt(E[exp(2(W.x + b))]) (PHYSICS.md B.2).

    E[h(x_1)..h(x_k)] = exp[ sigma_w^2 |sum_i x_i|^2 / 2d + k^2 sigma_b^2 / 2 - k sigma_b^2
                             - sigma_w^2 sum_i |x_i|^2 / d ].
    """
    xs = np.asarray(xs, dtype=np.float64)
    _, k, d = xs.shape
    exponent = (
        sigma_w**2 * np.sum(xs.sum(axis=1) ** 2, axis=-1) / (2 * d)
        + k**2 * sigma_b**2 / 2
        - k * sigma_b**2
        - sigma_w**2 * np.sum(xs**2, axis=(1, 2)) / d
    )
    return np.exp(exponent)


_NODES_PER_DIMENSION = {1: 200, 2: 120, 3: 48, 4: 24, 5: 14}
"""Gauss-Hermite nodes per dimension of the (W, b) integral: the tensor grid stays
below ~3e5 nodes, which keeps ReLU's kinked integrand accurate to ~1e-5 relative
in the dimensions the HMS20 experiments use (d <= 3)."""


def affine_neuron_moment(
    xs: np.ndarray, activation: Callable[[np.ndarray], np.ndarray], sigma_w: float, sigma_b: float
) -> np.ndarray:
    """E[prod_j activation(W.x_j + b)], W ~ N(0, sigma_w^2/d 1_d), b ~ N(0, sigma_b^2).

    Gauss-Hermite quadrature on a tensor grid over the d (+1 when sigma_b > 0)
    Gaussian parameters; used for Erf-net and ReLU-net (PHYSICS.md A.1, §1.2).
    """
    xs = np.asarray(xs, dtype=np.float64)
    n_tuples, k, d = xs.shape
    scales = [sigma_w / math.sqrt(d)] * d + ([sigma_b] if sigma_b > 0 else [])
    dims = len(scales)
    if dims not in _NODES_PER_DIMENSION:
        raise ValueError(f"quadrature over {dims} parameters is not supported (d <= 4)")
    nodes_1d, weights_1d = np.polynomial.hermite_e.hermegauss(_NODES_PER_DIMENSION[dims])
    weights_1d = weights_1d / math.sqrt(2 * math.pi)
    grid = np.stack(np.meshgrid(*[nodes_1d] * dims, indexing="ij"), -1).reshape(-1, dims) * np.array(scales)
    weights = np.prod(np.stack(np.meshgrid(*[weights_1d] * dims, indexing="ij"), -1).reshape(-1, dims), axis=1)
    inputs = np.concatenate([xs, np.ones((n_tuples, k, 1))], axis=-1)[..., :dims]  # (T, k, dims)
    out = np.empty(n_tuples)
    step = max(1, int(2e7 // (k * len(grid) + 1)))
    for start in range(0, n_tuples, step):
        z = np.einsum("tkp,np->tkn", inputs[start : start + step], grid)
        out[start : start + step] = np.prod(activation(z), axis=1) @ weights
    return out
