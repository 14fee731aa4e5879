"""Single-neuron moments E[h(x_1) ... h(x_k)] of the neuron families in :mod:`nnqft_ppl.nets`.

Every function takes ``xs`` of shape ``(n_tuples, k, d)`` and returns shape
``(n_tuples,)``.  These feed :class:`~nnqft_ppl.theory.FiniteWidthTheory`.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from typing import Callable

import numpy as np

__all__ = [
    "gaussian_moment",
    "cos_neuron_moment",
    "gauss_neuron_moment",
    "affine_neuron_moment",
    "erf_neuron_moment",
    "TheoryAccuracyWarning",
    "relu_neuron_moment",
]


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


_NODES_PER_DIMENSION = {0: 1, 1: 200, 2: 96, 3: 40, 4: 24}
"""Gauss-Hermite nodes per dimension of a tensor grid (at most ~3e5 nodes).  For the
smooth integrands used here (erf; ReLU after its exact inner integral) this gives
relative errors ~1e-7 or better for |x| <= 2 in d <= 3."""


def _gauss_hermite_grid(dims: int, nodes: int | None = None):
    """Nodes (n, dims) and weights (n,) of E[f(xi)], xi ~ N(0, 1_dims)."""
    if dims == 0:
        return np.zeros((1, 0)), np.ones(1)
    nodes_1d, weights_1d = np.polynomial.hermite_e.hermegauss(nodes or _NODES_PER_DIMENSION[dims])
    weights_1d = weights_1d / np.sum(weights_1d)
    nodes = np.stack(np.meshgrid(*[nodes_1d] * dims, indexing="ij"), -1).reshape(-1, dims)
    weights = np.prod(np.stack(np.meshgrid(*[weights_1d] * dims, indexing="ij"), -1).reshape(-1, dims), axis=1)
    return nodes, weights


def affine_neuron_moment(
    xs: np.ndarray, activation: Callable[[np.ndarray], np.ndarray], sigma_w: float, sigma_b: float
) -> np.ndarray:
    """E[prod_j activation(W.x_j + b)], W ~ N(0, sigma_w^2/d 1_d), b ~ N(0, sigma_b^2).

    Gauss-Hermite quadrature on a tensor grid over the d (+1 when sigma_b > 0)
    Gaussian parameters (PHYSICS.md A.1, §1.2).  Convergence is checked against a
    grid with 2/3 of the nodes per dimension: where the two differ by more than
    ``QUADRATURE_TOLERANCE`` (large |W.x|, where a bounded activation approaches a
    step) the result is NaN and a :class:`TheoryAccuracyWarning` says so.
    """
    inputs = _whitened_inputs(xs, sigma_w, sigma_b)  # z_k = xi . inputs_k, xi ~ N(0, 1)
    n_tuples, k, dims = inputs.shape
    if dims not in _NODES_PER_DIMENSION:
        raise ValueError(f"quadrature over {dims} parameters is not supported (d <= {max(_NODES_PER_DIMENSION) - 1})")
    fine, coarse = _fine_and_coarse_quadrature(inputs.shape, inputs.astype(np.float64).tobytes(), activation)
    unconverged = ~(np.abs(fine - coarse) <= QUADRATURE_TOLERANCE * np.maximum(1.0, np.abs(fine)))
    if np.any(unconverged):
        warnings.warn(
            f"neuron moments by quadrature did not converge for {int(unconverged.sum())} of {n_tuples} point tuples "
            f"(largest |sigma_w x| = {np.abs(inputs).max():.3g}); the theory reports NaN there",
            TheoryAccuracyWarning,
            stacklevel=2,
        )
    return np.where(unconverged, np.nan, fine)


QUADRATURE_TOLERANCE = 1e-5
"""Largest accepted change of a quadrature value between the fine and the coarse grid.

The difference measures the coarse grid's error; Gauss-Hermite converges
geometrically for these smooth integrands, so where the two agree to 1e-5 the fine
grid is accurate to ~1e-7 or better (measured against the closed-form kernels)."""


class TheoryAccuracyWarning(UserWarning):
    """A theory value could not be computed accurately and is reported as NaN."""


@functools.lru_cache(maxsize=32)
def _fine_and_coarse_quadrature(shape: tuple, inputs: bytes, activation) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature on the fine and the coarse grid for whitened ``inputs`` (float64 bytes of ``shape``).

    Memoised: the neuron moments do not depend on the width, and a width scan asks
    for the same ones at every width (Erf-net's six-point moments take seconds).
    """
    inputs = np.frombuffer(inputs, dtype=np.float64).reshape(shape)
    dims = shape[-1]
    coarse_nodes = max(2, 2 * _NODES_PER_DIMENSION[dims] // 3)
    values = (
        _tensor_quadrature(inputs, activation, *_gauss_hermite_grid(dims)),
        _tensor_quadrature(inputs, activation, *_gauss_hermite_grid(dims, coarse_nodes)),
    )
    for value in values:
        value.flags.writeable = False
    return values


def _tensor_quadrature(inputs, activation, grid, weights):
    n_tuples, k, _ = inputs.shape
    out = np.empty(n_tuples)
    step = max(1, int(1e6 // (k * len(grid) + 1)))  # ~8 MB per array: 2x faster than 2e7, 1/3 the memory
    for start in range(0, n_tuples, step):
        z = np.einsum("tkp,np->tkn", inputs[start : start + step], grid)
        out[start : start + step] = np.prod(activation(z), axis=1) @ weights
    return out


def erf_neuron_moment(xs: np.ndarray, sigma_w: float, sigma_b: float) -> np.ndarray:
    """E[prod_j erf(W.x_j + b)]: the arcsine closed form for k = 2 (PHYSICS.md B.1),
    E[erf(z1) erf(z2)] = (2/pi) arcsin(2 m12 / sqrt((1 + 2 m11)(1 + 2 m22))); quadrature otherwise."""
    from scipy.special import erf

    xs = np.asarray(xs, dtype=np.float64)
    n_tuples, k, d = xs.shape
    if k % 2:
        return np.zeros(n_tuples)  # erf is odd and the parameters are symmetric
    if k != 2:
        return affine_neuron_moment(xs, erf, sigma_w, sigma_b)
    m = sigma_b**2 + sigma_w**2 * np.einsum("tid,tjd->tij", xs, xs) / d
    return 2 / np.pi * np.arcsin(2 * m[:, 0, 1] / np.sqrt((1 + 2 * m[:, 0, 0]) * (1 + 2 * m[:, 1, 1])))


def _half_line_grid(nodes: int = 100, reach: float = 12.0):
    """E[f(xi)], xi ~ N(0, 1), as Gauss-Legendre on [-reach, 0] and [0, reach]: exact for
    f smooth on each half-line (phi(12) ~ 1e-32 bounds the truncation)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    half = (x + 1) * reach / 2
    nodes_all = np.concatenate([-half, half])
    weights = np.concatenate([w, w]) * reach / 2 * np.exp(-(nodes_all**2) / 2) / math.sqrt(2 * math.pi)
    return nodes_all[:, None], weights


def _whitened_inputs(xs, sigma_w, sigma_b):
    """Vectors v_k with W.x_k + b = xi . v_k for xi ~ N(0, 1): (sigma_w/sqrt(d) x_k, sigma_b).

    The W part is rotated so that its first axis is a fixed generic direction
    (W is isotropic, so this changes nothing but the integration variables): then
    the first coordinate of v_k vanishes only where x_k = 0.
    """
    xs = np.asarray(xs, dtype=np.float64)
    n_tuples, k, d = xs.shape
    generic = np.sqrt(np.arange(2, d + 2)) / np.linalg.norm(np.sqrt(np.arange(2, d + 2)))
    rotation, _ = np.linalg.qr(np.column_stack([generic, np.eye(d)[:, : d - 1]]))
    parts = [sigma_w / math.sqrt(d) * xs @ rotation]
    if sigma_b > 0:
        parts.insert(0, np.full((n_tuples, k, 1), sigma_b))
    return np.concatenate(parts, axis=-1)


def relu_neuron_moment(xs: np.ndarray, sigma_w: float, sigma_b: float) -> np.ndarray:
    """E[prod_j max(0, W.x_j + b)] for the ReLU-net neuron (PHYSICS.md A.1).

    For k = 2 the arc-cosine closed form (PHYSICS.md B.1),
    E[relu(z_1) relu(z_2)] = sqrt(m11 m22) (sin t + (pi - t) cos t) / (2 pi),
    cos t = m12 / sqrt(m11 m22); otherwise :func:`_relu_moment_by_quadrature`.
    """
    inputs = _whitened_inputs(xs, sigma_w, sigma_b)
    if inputs.shape[1] != 2:
        return _relu_moment_by_quadrature(inputs)
    m = np.einsum("tip,tjp->tij", inputs, inputs)
    norms = np.sqrt(m[:, 0, 0] * m[:, 1, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        cos_t = np.where(norms > 0, np.clip(m[:, 0, 1] / norms, -1.0, 1.0), 1.0)
    t = np.arccos(cos_t)
    return norms * (np.sin(t) + (np.pi - t) * cos_t) / (2 * np.pi)


def _relu_moment_by_quadrature(inputs: np.ndarray) -> np.ndarray:
    """E[prod_j max(0, xi.v_j)], xi ~ N(0, 1), for whitened inputs v of shape (n_tuples, k, dims).

    With z_j = alpha_j + beta_j t, t ~ N(0, 1) the first whitened parameter (the
    bias if sigma_b > 0), the product is a degree-k polynomial in t on the interval
    where every z_j > 0 and zero elsewhere; its t-integral is exact through the
    truncated-normal moments M_n = int_L^U t^n phi(t) dt,
    M_n = [-t^{n-1} phi(t)]_L^U + (n-1) M_{n-2}.  What remains is smooth in the other
    parameters except on hyperplanes through the origin.  With one parameter left
    (d = 1; d = 2 without bias) the only kink is at 0 and Gauss-Legendre on each
    half-line makes the result exact to rounding; otherwise Gauss-Hermite leaves
    relative errors ~1e-5 (d = 2 with bias) to ~2e-4 (d = 3 without bias) against
    the closed-form kernel.
    """
    n_tuples, k, dims = inputs.shape
    if dims - 1 not in _NODES_PER_DIMENSION:
        raise ValueError(f"quadrature over {dims} parameters is not supported (d <= 4)")
    grid, weights = _half_line_grid() if dims == 2 else _gauss_hermite_grid(dims - 1)
    out = np.empty(n_tuples)
    step = max(1, int(5e6 // (k * len(grid) + 1)))
    for start in range(0, n_tuples, step):
        v = inputs[start : start + step]
        alpha = np.einsum("tkp,np->tnk", v[..., 1:], grid)  # (T, nodes, k)
        beta = np.broadcast_to(v[:, None, :, 0], alpha.shape)
        out[start : start + step] = _relu_product_integral(alpha, beta) @ weights
    return out


def _relu_product_integral(alpha, beta):
    """int prod_j max(0, alpha_j + beta_j t) phi(t) dt over the last axis j (exact)."""
    from scipy.special import ndtr

    with np.errstate(divide="ignore", invalid="ignore"):
        root = -alpha / beta
    lower = np.max(np.where(beta > 0, root, -np.inf), axis=-1)
    upper = np.min(np.where(beta < 0, root, np.inf), axis=-1)
    alive = np.all((beta != 0) | (alpha > 0), axis=-1) & (lower < upper)
    lower, upper = np.where(alive, lower, 0.0), np.where(alive, upper, 0.0)
    coefficients = np.ones(alpha.shape[:-1] + (1,))  # polynomial in t, lowest power first
    for j in range(alpha.shape[-1]):
        shifted = np.concatenate([np.zeros_like(coefficients[..., :1]), coefficients], axis=-1)
        padded = np.concatenate([coefficients, np.zeros_like(coefficients[..., :1])], axis=-1)
        coefficients = alpha[..., j, None] * padded + beta[..., j, None] * shifted

    def density_times_power(t, n):  # t^n phi(t), zero at infinite t
        with np.errstate(invalid="ignore", over="ignore"):
            value = np.where(
                np.isfinite(t), np.abs(t) ** n * np.sign(t) ** n * np.exp(-np.minimum(t * t, 1e300) / 2), 0.0
            )
        return value / math.sqrt(2 * math.pi)

    moments = [ndtr(upper) - ndtr(lower), density_times_power(lower, 0) - density_times_power(upper, 0)]
    for n in range(2, coefficients.shape[-1]):
        moments.append(density_times_power(lower, n - 1) - density_times_power(upper, n - 1) + (n - 1) * moments[n - 2])
    total = sum(coefficients[..., n] * moments[n] for n in range(coefficients.shape[-1]))
    return np.where(alive, total, 0.0)
