r"""Fourier-feature net: Cos-net's dual with Rayleigh amplitudes (PHYSICS.md A.5 item 2, B.3, B.4)."""

import math

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales
from nnqft_ppl.theory import FiniteWidthTheory, cos_neuron_moment


def rayleigh_moment(k: int, sigma_a: float) -> float:
    r""":math:`\mu_k = \mathbb E[(\sqrt N r)^k] = \sigma_a^k\,\Gamma(1 + k/2)` for the amplitude
    :math:`r = \sqrt{\alpha^2+\beta^2}`, :math:`\alpha, \beta \sim \mathcal N(0, \sigma_a^2/2N)`
    (:math:`N r^2/\sigma_a^2` is a unit exponential): :math:`\mu_2 = \sigma_a^2`, :math:`\mu_4 = 2\sigma_a^4`
    (Gaussian weights have 3), :math:`\mu_6 = 6\sigma_a^6`."""
    return float(sigma_a**k * math.gamma(1 + k / 2))


def theory(width=100, d=1, sigma_a=1.0, sigma_b=1.0):
    r"""Exact at every width.  The neuron term is :math:`r_i\cos(b_i\cdot x - \psi_i)` with the
    amplitude :math:`r_i` independent of the uniform phase :math:`\psi_i`, so
    :class:`~nnqft_ppl.theory.FiniteWidthTheory` applies with Cos-net's neuron moments and the
    Rayleigh amplitude moments :func:`rayleigh_moment`:

    .. math::  G^{(2)} = \frac{\sigma_a^2}2 e^{-\sigma_b^2|x-y|^2/2d}\ \text{(as Cos-net)},\qquad
               G^{(4)}_c = \frac{\sigma_a^4}{8N}(2A - 2B)\ \text{(Cos-net: } 3A - 2B),

    with PHYSICS.md B.3's A, B (B.4 with :math:`\mu_4 = 2\sigma_a^4`)."""
    _check_scales(positive=("sigma_a", "sigma_b"), sigma_a=sigma_a, sigma_b=sigma_b)
    return FiniteWidthTheory(width, lambda xs: cos_neuron_moment(xs, sigma_b), lambda k: rayleigh_moment(k, sigma_a))


@register_model(theory=theory)
def fourier_net(x, width=100, d=1, sigma_a=1.0, sigma_b=1.0):
    r"""Fourier-feature net: phi = sum_i (alpha_i cos(b_i.x) + beta_i sin(b_i.x)), Euclidean invariant at every width.

    .. math::  \phi(x) = \sum_{i=1}^N \big(\alpha_i\cos(b_i\cdot x) + \beta_i\sin(b_i\cdot x)\big),\quad
               \alpha_i, \beta_i \sim \mathcal N\big(0, \tfrac{\sigma_a^2}{2N}\big),\quad
               b_i \sim \mathcal N\big(0, \tfrac{\sigma_b^2}d 1_d\big)

    (PHYSICS.md A.5 item 2).  In the model contract each neuron's pair is written in polar form,
    :math:`\alpha\cos\theta + \beta\sin\theta = r\cos(\theta - \psi)` with :math:`r = \sqrt{\alpha^2+\beta^2}`
    and :math:`\psi = \operatorname{atan2}(\beta, \alpha)`: the output weight ``"a"`` is the Rayleigh amplitude r
    (a deterministic site in the neuron plate) and the neuron ``"h"`` is :math:`\cos(b\cdot x - \psi)`.  For a
    circular Gaussian pair r and psi are independent and psi is uniform, so this is a Cos-net whose
    half-normal amplitudes |a| are replaced by Rayleigh ones: the same G2, a smaller G4c
    (:func:`theory`), and the same Euclidean invariance at every width (x -> R x + v shifts psi by b.v).
    Sites ``"alpha"``, ``"beta"`` (width,), ``"b"`` (width, d), all in ``numpyro.plate("neurons", width)``.
    """
    _check_scales(positive=("sigma_a", "sigma_b"), sigma_a=sigma_a, sigma_b=sigma_b)
    dims = x.shape[1]
    scale = sigma_a / math.sqrt(2 * width)
    with numpyro.plate("neurons", width):
        alpha = numpyro.sample("alpha", dist.Normal(0.0, scale))
        beta = numpyro.sample("beta", dist.Normal(0.0, scale))
        b = numpyro.sample("b", dist.Normal(0.0, sigma_b / math.sqrt(dims)).expand([dims]).to_event(1))
        a = numpyro.deterministic("a", jnp.hypot(alpha, beta))
    h = numpyro.deterministic("h", jnp.cos(x @ b.T - jnp.arctan2(beta, alpha)[None, :]))
    return numpyro.deterministic("phi", h @ a)
