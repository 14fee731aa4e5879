"""Gaussian (infinite-width) and exact finite-width correlators of i.i.d.-neuron nets.

For phi(x) = sum_{i=1}^N a_i h_i(x) + beta with i.i.d. neurons, a_i independent of
h_i and of the network-level term beta (PHYSICS.md §1.1-1.3):

    G^{(r)}_c = N kappa_r[u] + kappa_r[beta],      u = a h  (one neuron's term),

and the moments of u factorise, E[u_{x_1}..u_{x_k}] = E[a^k] E[h(x_1)..h(x_k)].
With E[(sqrt(N) a)^k] = mu_k this gives G^{(2)} = mu_2 E[hh] + var(beta) exactly,
G^{(4)}_c = O(1/N), G^{(6)}_c = O(1/N^2).

A linear combination of independent fields, phi = sum_j c_j phi_j, has the cumulants
kappa_r[phi] = sum_j c_j^r kappa_r[phi_j] (:class:`IndependentSum`).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable, Protocol

import numpy as np

from ..combinatorics import unique_tuples
from ..correlators import named_tensors
from ..moments import MonomialBasis, cumulants_from_moments, moments_from_cumulants
from .neurons import gaussian_moment

__all__ = ["FieldTheory", "GaussianTheory", "FiniteWidthTheory", "IndependentSum", "predict"]


class FieldTheory(Protocol):
    def cumulants(self, points: np.ndarray, max_order: int) -> np.ndarray:
        """Connected correlators of orders 1..max_order on the unique tuples of the points."""


@dataclasses.dataclass(frozen=True)
class GaussianTheory:
    """A mean-zero Gaussian (free) theory with two-point function ``kernel(points) -> (n, n)``.

    Its full correlators are Wick sums, G^{(2k)} = sum_{pairings} prod G; all
    connected correlators beyond the second vanish.
    """

    kernel: Callable[[np.ndarray], np.ndarray]

    def cumulants(self, points, max_order):
        points = np.asarray(points, dtype=np.float64)
        basis = MonomialBasis(len(points), max_order)
        out = np.zeros(basis.size)
        if max_order >= 2:
            pairs = unique_tuples(len(points), 2)
            out[basis.order_slice(2)] = np.asarray(self.kernel(points))[pairs[:, 0], pairs[:, 1]]
        return out


@dataclasses.dataclass(frozen=True)
class FiniteWidthTheory:
    """Exact correlators at width N from one neuron's moments.

    - ``neuron_moment(xs)``: E[h(x_1) ... h(x_k)] for ``xs`` of shape (n_tuples, k, d);
    - ``weight_moment(k)``: mu_k = E[(sqrt(N) a)^k] (Gaussian a: (k-1)!! sigma_a^k);
    - ``bias_variance``: variance of an independent Gaussian output bias, added to G2.
    """

    width: int
    neuron_moment: Callable[[np.ndarray], np.ndarray]
    weight_moment: Callable[[int], float]
    bias_variance: float = 0.0

    def cumulants(self, points, max_order):
        points = np.asarray(points, dtype=np.float64)
        basis = MonomialBasis(len(points), max_order)
        moments = np.zeros(basis.size)
        for order in range(1, max_order + 1):
            weight = self.weight_moment(order) / self.width ** (order / 2)
            if weight != 0:
                xs = points[unique_tuples(len(points), order)]
                moments[basis.order_slice(order)] = weight * np.asarray(self.neuron_moment(xs))
        out = self.width * cumulants_from_moments(moments, basis)
        if max_order >= 2:
            out[basis.order_slice(2)] += self.bias_variance
        return out

    @classmethod
    def gaussian_readout(cls, width: int, neuron_moment, sigma_a: float, sigma_bias: float = 0.0):
        """The theory of :func:`nnqft_ppl.nets.linear_readout`: a_i ~ N(0, sigma_a^2/N), bias ~ N(0, sigma_bias^2)."""
        return cls(width, neuron_moment, lambda k: gaussian_moment(k) * sigma_a**k, sigma_bias**2)

    def infinite_width(self) -> GaussianTheory:
        """The N -> infinity (NNGP) limit: Gaussian with G = mu_2 E[h h] + var(bias)."""

        def kernel(points):
            n = len(points)
            pairs = np.stack(np.meshgrid(np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 2)
            values = self.weight_moment(2) * np.asarray(self.neuron_moment(points[pairs]))
            return values.reshape(n, n) + self.bias_variance

        return GaussianTheory(kernel)


@dataclasses.dataclass(frozen=True)
class IndependentSum:
    """The theory of phi = sum_j c_j phi_j for independent fields phi_j: ``terms`` = ((c_j, theory_j), ...).

    Cumulants add over independent summands and are homogeneous of their order,

        kappa_r[sum_j c_j phi_j](x_1..x_r) = sum_j c_j^r kappa_r[phi_j](x_1..x_r),

    so each order-r slice of theory_j's cumulants is scaled by c_j^r.  A term with
    c_j = 0 contributes nothing (not even its NaN where unknown).  Example: a doublet
    of independent Cos-nets seen along the angle theta, cos(theta) phi_1 + sin(theta) phi_2,
    has G2 independent of theta and G4c = (cos^4 theta + sin^4 theta) G4c_cos.
    """

    terms: tuple[tuple[float, FieldTheory], ...]

    def __post_init__(self):
        if len(self.terms) == 0:
            raise ValueError("an independent sum needs at least one (coefficient, theory) term")
        for coefficient, theory in self.terms:
            if isinstance(coefficient, bool) or not isinstance(coefficient, numbers.Real):
                raise TypeError(f"coefficients must be real numbers, got {coefficient!r}")
            if not math.isfinite(coefficient):
                raise ValueError(f"coefficients must be finite, got {coefficient!r}")
            if not callable(getattr(theory, "cumulants", None)):
                raise TypeError(f"{theory!r} is not a theory (it has no cumulants(points, max_order) method)")

    def cumulants(self, points, max_order):
        points = np.asarray(points, dtype=np.float64)
        basis = MonomialBasis(len(points), max_order)
        out = np.zeros(basis.size)
        for coefficient, theory in self.terms:
            if coefficient == 0:
                continue
            cumulants = np.asarray(theory.cumulants(points, max_order), dtype=np.float64)
            for order in range(1, max_order + 1):
                out[basis.order_slice(order)] += float(coefficient) ** order * cumulants[basis.order_slice(order)]
        return out

    def infinite_width(self) -> GaussianTheory:
        """The N -> infinity limit: Gaussian, G = sum_j c_j^2 G_j (each term Gaussian or with ``infinite_width()``)."""
        limits = [
            (float(c), theory if isinstance(theory, GaussianTheory) else theory.infinite_width())
            for c, theory in self.terms
            if c != 0
        ]

        def kernel(points):
            return sum((c**2 * np.asarray(limit.kernel(points)) for c, limit in limits), np.zeros((len(points),) * 2))

        return GaussianTheory(kernel)


def predict(theory: FieldTheory, points, orders) -> dict[str, np.ndarray]:
    """Named correlator tensors (``G2``, ``G4``, ``G4c``, ...) predicted by ``theory``."""
    points = np.asarray(points, dtype=np.float64)
    basis = MonomialBasis(len(points), max(orders))
    cumulants = theory.cumulants(points, basis.max_order)
    return named_tensors(moments_from_cumulants(cumulants, basis), cumulants, basis, orders)
