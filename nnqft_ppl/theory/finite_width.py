"""Gaussian (infinite-width) and exact finite-width correlators of i.i.d.-neuron nets.

For phi(x) = sum_{i=1}^N a_i h_i(x) + beta with i.i.d. neurons, a_i independent of
h_i and of the network-level term beta (PHYSICS.md §1.1-1.3):

    G^{(r)}_c = N kappa_r[u] + kappa_r[beta],      u = a h  (one neuron's term),

and the moments of u factorise, E[u_{x_1}..u_{x_k}] = E[a^k] E[h(x_1)..h(x_k)].
With E[(sqrt(N) a)^k] = mu_k this gives G^{(2)} = mu_2 E[hh] + var(beta) exactly,
G^{(4)}_c = O(1/N), G^{(6)}_c = O(1/N^2).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Protocol

import numpy as np

from ..combinatorics import unique_tuples
from ..correlators import named_tensors
from ..moments import MonomialBasis, cumulants_from_moments, moments_from_cumulants
from .neurons import gaussian_moment

__all__ = ["FieldTheory", "GaussianTheory", "FiniteWidthTheory", "predict"]


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


def predict(theory: FieldTheory, points, orders) -> dict[str, np.ndarray]:
    """Named correlator tensors (``G2``, ``G4``, ``G4c``, ...) predicted by ``theory``."""
    points = np.asarray(points, dtype=np.float64)
    basis = MonomialBasis(len(points), max(orders))
    cumulants = theory.cumulants(points, basis.max_order)
    return named_tensors(moments_from_cumulants(cumulants, basis), cumulants, basis, orders)
