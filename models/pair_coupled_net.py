r"""Cos-net with pairwise-coupled output weights: independence breaking by a density (PHYSICS.md A.6.3, D)."""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from models.cos_net import theory as cos_theory
from nnqft_ppl import register_model
from nnqft_ppl.combinatorics import expand_symmetric, pairings, unique_tuples
from nnqft_ppl.moments import MonomialBasis
from nnqft_ppl.nets import _check_scales, cos_neurons


class PairCouplingTheory:
    r"""Cos-net's exact theory at width N plus the first-order independence-breaking term
    :math:`I^{(4)}_{\rm IB} = -8\epsilon\frac{N-1}N[GG]_{1234}` (:func:`pair_coupled_net`); G2 is unchanged
    at first order.  Orders above 4 are not derived and are refused."""

    def __init__(self, free, coupling: float, width: int):
        self.free, self.shift = free, -8.0 * coupling * (width - 1) / width

    def cumulants(self, points, max_order):
        if max_order > 4:
            raise ValueError("the pair-coupled net's first-order theory is derived up to order 4")
        cumulants = np.array(self.free.cumulants(points, max_order), dtype=np.float64)
        if max_order == 4:
            n = len(points)
            basis = MonomialBasis(n, 4)
            g = expand_symmetric(cumulants[basis.order_slice(2)], n, 2)
            tuples = unique_tuples(n, 4)
            gg = sum(g[tuples[:, i], tuples[:, j]] * g[tuples[:, k], tuples[:, m]] for (i, j), (k, m) in pairings(4))
            cumulants[basis.order_slice(4)] += self.shift * gg
        return cumulants


def theory(width=100, d=1, sigma_a=1.0, sigma_b=1.0, coupling=0.001):
    r"""First order in the coupling ε (PHYSICS.md D.2 with D.1): :math:`G^{(2)}` is Cos-net's and
    :math:`G^{(4)}_c = G^{(4)}_{c,\cos} - 8\epsilon\frac{N-1}N[GG]_{1234}`; valid while :math:`\epsilon N \ll 1`."""
    _check_scales(coupling=coupling)
    return PairCouplingTheory(cos_theory(width=width, d=d, sigma_a=sigma_a, sigma_b=sigma_b), coupling, width)


@register_model(theory=theory)
def pair_coupled_net(x, width=100, d=1, sigma_a=1.0, sigma_b=1.0, coupling=0.001):
    r"""Cos-net whose output weights are coupled in pairs: a density that breaks independence.

    .. math::  P(\theta) \propto \prod_i P_{\cos}(\theta_i)\ \exp\Big[-\epsilon\sum_{i\ne j}(x_i-1)(x_j-1)\Big],
               \qquad x_i = N a_i^2/\sigma_a^2

    (PHYSICS.md A.6.3 with :math:`U(\theta_i,\theta_j) = (x_i-1)(x_j-1)`; ε = ``coupling`` >= 0, a
    ``numpyro.factor``).  Under the free density :math:`x_i \sim \chi^2_1`, so to first order (D.2)
    :math:`\mathbb E_\epsilon x_i = 1` and every marginal is unchanged, while
    :math:`\mathrm{Cov}_\epsilon(x_i, x_j) = -\epsilon\,\mathrm{Cov}_0(x_ix_j, U) = -2\epsilon\,(\mathbb E[x(x-1)])^2
    = -8\epsilon` for i ≠ j: in D.1's notation :math:`\delta/\mu_2^2 = -8\epsilon`, so

    .. math::  I^{(4)}_{\rm IB} = -8\epsilon\,\frac{N-1}N\,[GG]_{1234},

    independent of N at first order, as A.6.3 says.  But the exponent is a sum of :math:`N(N-1)` terms:
    it equals :math:`-\epsilon[(\sum_i(x_i-1))^2 - \sum_i(x_i-1)^2]`, a squeeze of the collective
    variable :math:`\sum_i(x_i-1)` of variance 2N, so first order holds only while :math:`\epsilon N \ll 1`;
    at fixed ε the squeeze saturates (Gaussian approximation: :math:`\mathrm{Cov}(x_i,x_j) \approx
    -8\epsilon/(1+4\epsilon N)`) and :math:`I^{(4)}_{\rm IB} = O(1/N)` as N grows.  Sample it with
    reweighting or NUTS (the i.i.d. engines refuse a factor).
    """
    _check_scales(coupling=coupling)
    _check_scales(positive=("sigma_a",), sigma_a=sigma_a)
    h = cos_neurons(x, width, sigma_b)
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(0.0, sigma_a / math.sqrt(width)))
    numpyro.deterministic("h", h)
    excess = width * a**2 / sigma_a**2 - 1.0
    numpyro.factor("pair_coupling", -coupling * (jnp.sum(excess) ** 2 - jnp.sum(excess**2)))
    return numpyro.deterministic("phi", h @ a)
