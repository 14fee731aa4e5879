r"""Cos-doublet: two independent Cos-nets, O(2) only at infinite width (PHYSICS.md A.5 item 3, net (ii))."""

import math

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from models.complex_net import check_angle
from models.cos_net import theory as cos_theory
from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales
from nnqft_ppl.theory import IndependentSum


def theory(width=100, d=1, sigma_a=1.0, sigma_b=1.0, angle=0.0):
    r"""Exact at every width: :math:`\phi_\theta = \cos\theta\,\phi_1 + \sin\theta\,\phi_2` with independent
    Cos-nets, so :math:`\kappa_r[\phi_\theta] = (\cos^r\theta + \sin^r\theta)\,\kappa_r[\phi_{\cos}]`
    (:class:`~nnqft_ppl.theory.IndependentSum`):

    .. math::  G^{(2)} = \frac{\sigma_a^2}2 e^{-\sigma_b^2|x-y|^2/2d}\ \text{(every angle)},\qquad
               G^{(4)}_c = (\cos^4\theta + \sin^4\theta)\,\frac{\sigma_a^4}{8N}(3A - 2B).

    :math:`\cos^4\theta + \sin^4\theta = 1 - \tfrac12\sin^2 2\theta` is 1 at the quarter turns and 1/2 at
    :math:`\theta = \pi/4`: O(2) is broken to the symmetries of the square at finite N."""
    check_angle(angle)
    cos = cos_theory(width=width, d=d, sigma_a=sigma_a, sigma_b=sigma_b)
    return IndependentSum(((math.cos(angle), cos), (math.sin(angle), cos)))


def _cos_net_terms(x, width: int, sigma_a: float, sigma_b: float, label: str):
    """One Cos-net's neuron terms a_i cos(b_i.x + c_i), shape (n_points, width): sites a<label>, b<label>,
    c<label> in the neuron plate, with the priors of :mod:`models.cos_net`."""
    dims = x.shape[1]
    with numpyro.plate("neurons", width):
        a = numpyro.sample(f"a{label}", dist.Normal(0.0, sigma_a / math.sqrt(width)))
        b = numpyro.sample(f"b{label}", dist.Normal(0.0, sigma_b / math.sqrt(dims)).expand([dims]).to_event(1))
        c = numpyro.sample(f"c{label}", dist.Uniform(-math.pi, math.pi))
    return a[None, :] * jnp.cos(x @ b.T + c[None, :])


@register_model(theory=theory)
def cos_doublet_net(x, width=100, d=1, sigma_a=1.0, sigma_b=1.0, angle=0.0):
    r"""Cos-doublet: phi = cos(angle) phi_1 + sin(angle) phi_2 for independent Cos-nets; O(2) broken at finite width.

    .. math::  \phi_j(x) = \sum_{i=1}^N a^{(j)}_i\cos(b^{(j)}_i\cdot x + c^{(j)}_i),\quad
               a^{(j)}_i \sim \mathcal N\big(0, \tfrac{\sigma_a^2}N\big),\
               b^{(j)}_i \sim \mathcal N\big(0, \tfrac{\sigma_b^2}d 1_d\big),\ c^{(j)}_i \sim U[-\pi, \pi]

    for j = 1, 2, all independent (PHYSICS.md A.5 item 3, net (ii): two :mod:`models.cos_net` of width N
    each).  The doublet is seen through its component along ``angle`` = :math:`\theta`, as in
    :mod:`models.complex_net`.  It has the same G2 as the complex net at every angle and width (at
    infinite width both are two free fields, O(2) invariant), but its G4c depends on the angle
    (:func:`theory`): at finite N only the quarter turns, the reflections :math:`\phi_j\to-\phi_j` and
    the swap :math:`\phi_1\leftrightarrow\phi_2` survive.

    In the model contract neuron i is the pair of the two nets' i-th neurons, so that the neurons stay
    i.i.d. (the exact finite-width engine applies):
    :math:`h_i(x) = \cos\theta\,a^{(1)}_i\cos(b^{(1)}_i\cdot x + c^{(1)}_i) + \sin\theta\,a^{(2)}_i
    \cos(b^{(2)}_i\cdot x + c^{(2)}_i)`, with the output weights inside ``"h"`` and ``"a"`` a
    deterministic site of ones in the neuron plate (a pair has no single output weight).
    Sites ``"a1"``, ``"c1"``, ``"a2"``, ``"c2"`` (width,), ``"b1"``, ``"b2"`` (width, d), all in
    ``numpyro.plate("neurons", width)``.
    """
    _check_scales(positive=("sigma_a", "sigma_b"), sigma_a=sigma_a, sigma_b=sigma_b)
    check_angle(angle)
    first = _cos_net_terms(x, width, sigma_a, sigma_b, "1")
    second = _cos_net_terms(x, width, sigma_a, sigma_b, "2")
    with numpyro.plate("neurons", width):
        a = numpyro.deterministic("a", jnp.ones(width))
    h = numpyro.deterministic("h", math.cos(angle) * first + math.sin(angle) * second)
    return numpyro.deterministic("phi", h @ a)
