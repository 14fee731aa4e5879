r"""Shared-scale Cos-net: one random scale per network, minimal independence breaking (PHYSICS.md A.6.2, D.1)."""

import math

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from models.cos_net import theory as cos_theory
from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales, cos_neurons, linear_readout
from nnqft_ppl.theory import ScaleMixtureTheory


def theory(width=100, d=1, sigma_a=1.0, sigma_b=1.0, scale_variance=0.5):
    r"""Exact at every width: given s the net is Cos-net with :math:`\sigma_a s`, so
    :math:`G^{(n)} = \mathbb E[s^n]\,G^{(n)}_{\cos}` with :math:`\mathbb E[(s^2)^k] = \prod_{j<k}(1+jv)`
    (:class:`~nnqft_ppl.theory.ScaleMixtureTheory`):

    .. math::  G^{(2)} = \frac{\sigma_a^2}2e^{-\sigma_b^2|x-y|^2/2d},\qquad
               G^{(4)}_c = (1+v)\,\frac{\sigma_a^4}{8N}(3A - 2B) + v\,[GG]_{1234}

    (PHYSICS.md A.6.2 gives :math:`v[GG] + O(1/N)`).  Its ``product_of_marginals()`` is the theory
    under :math:`P_\perp`: i.i.d. neurons with weight moments :math:`\mathbb E[s^k](k-1)!!\,\sigma_a^k`."""
    _check_scales(scale_variance=scale_variance)
    return ScaleMixtureTheory.gamma(cos_theory(width=width, d=d, sigma_a=sigma_a, sigma_b=sigma_b), scale_variance)


@register_model(theory=theory)
def shared_scale_net(x, width=100, d=1, sigma_a=1.0, sigma_b=1.0, scale_variance=0.5):
    r"""Shared-scale Cos-net: Cos-net whose output weights share one random scale, interacting at N = infinity.

    .. math::  \phi(x) = \sum_{i=1}^N a_i\cos(b_i\cdot x + c_i),\qquad
               s^2\sim\mathrm{Gamma}\big(\text{shape}\ \tfrac1v,\ \text{rate}\ \tfrac1v\big),\quad
               a_i\,|\,s\sim\mathcal N\big(0, \tfrac{s^2\sigma_a^2}N\big),

    with b, c as in :func:`cos_net` (PHYSICS.md A.6.2): :math:`\mathbb E s^2 = 1`,
    :math:`\mathrm{Var}\,s^2 = v` = ``scale_variance``.  The network-level site ``"s2"`` couples
    all neurons (independence breaking, PHYSICS.md D.1): :math:`G^{(2)}` is Cos-net's, and
    :math:`G^{(4)}_c = (1+v)\,G^{(4)}_{c,\cos} + v\,[GG]_{1234}` does not vanish as :math:`N\to\infty`.
    The exact finite-width engine refuses it (its neurons are not independent).
    ``scale_variance = 0`` is Cos-net itself (s = 1, no ``"s2"`` site).
    """
    _check_scales(scale_variance=scale_variance)
    h = cos_neurons(x, width, sigma_b)
    if scale_variance == 0:
        return linear_readout(h, sigma_a)
    _check_scales(positive=("sigma_a",), sigma_a=sigma_a)
    shape = 1.0 / scale_variance
    scale_squared = numpyro.sample("s2", dist.Gamma(shape, shape))
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(0.0, sigma_a * jnp.sqrt(scale_squared) / math.sqrt(width)))
    numpyro.deterministic("h", h)
    return numpyro.deterministic("phi", h @ a)
