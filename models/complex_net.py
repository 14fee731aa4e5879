r"""Complex net: an exact O(2) doublet at every width (PHYSICS.md A.5 item 3, net (i))."""

import math
import numbers

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from models.fourier_net import theory as fourier_theory
from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales


def check_angle(angle) -> None:
    """The direction of the doublet's component is a finite real number (radians)."""
    if isinstance(angle, bool) or not isinstance(angle, numbers.Real):
        raise TypeError(f"angle must be a number, got {angle!r}")
    if not math.isfinite(angle):
        raise ValueError(f"angle must be finite, got {angle!r}")


def theory(width=100, d=1, sigma_a=1.0, sigma_b=1.0, angle=0.0):
    r"""Exact at every width and independent of ``angle``: Fourier-feature net's theory.

    :math:`\phi_\theta = \operatorname{Re}(e^{-i\theta}\Phi) = \sum_i |a_i|\cos(b_i\cdot x + \arg a_i - \theta)`
    with :math:`\sqrt N|a_i|` Rayleigh (:math:`\mu_4 = 2\sigma_a^4`) and :math:`\arg a_i - \theta` uniform and
    independent of it, for every :math:`\theta`:

    .. math::  G^{(2)} = \frac{\sigma_a^2}2 e^{-\sigma_b^2|x-y|^2/2d},\qquad
               G^{(4)}_c = \frac{\sigma_a^4}{8N}(2A - 2B)

    (PHYSICS.md B.3's A, B; :func:`models.fourier_net.theory`)."""
    check_angle(angle)
    return fourier_theory(width=width, d=d, sigma_a=sigma_a, sigma_b=sigma_b)


@register_model(theory=theory)
def complex_net(x, width=100, d=1, sigma_a=1.0, sigma_b=1.0, angle=0.0):
    r"""Complex net: phi = Re(e^{-i angle} sum_i a_i e^{i b_i.x}), circular Gaussian a_i; O(2) invariant at every width.

    .. math::  \Phi(x) = \sum_{i=1}^N a_i e^{i b_i\cdot x},\quad
               \operatorname{Re} a_i, \operatorname{Im} a_i \sim \mathcal N\big(0, \tfrac{\sigma_a^2}{2N}\big)
               \ (\mathbb E|a_i|^2 = \tfrac{\sigma_a^2}N),\quad
               b_i \sim \mathcal N\big(0, \tfrac{\sigma_b^2}d 1_d\big)

    (PHYSICS.md A.5 item 3, net (i)).  The doublet :math:`(\phi_1, \phi_2) = (\operatorname{Re}\Phi,
    \operatorname{Im}\Phi)` is a single real field here through its component along the direction
    ``angle`` = :math:`\theta`, :math:`\phi_\theta = \cos\theta\,\phi_1 + \sin\theta\,\phi_2 =
    \operatorname{Re}(e^{-i\theta}\Phi)`.  A law on :math:`\mathbb R^2` is O(2) invariant iff the law of
    its projections does not depend on :math:`\theta`; here :math:`e^{-i\theta}a_i` has the law of
    :math:`a_i`, so no correlator of :math:`\phi_\theta` depends on ``angle``, at every width (and
    :math:`\Phi\to\bar\Phi` is absorbed by :math:`(a, b)\to(\bar a, -b)`).

    In the model contract each neuron is written in polar form, :math:`\operatorname{Re}(e^{-i\theta} a
    e^{ib\cdot x}) = |a|\cos(b\cdot x + \arg a - \theta)`: the output weight ``"a"`` is the Rayleigh
    amplitude :math:`|a_i|` (a deterministic site in the neuron plate) and the neuron ``"h"`` is
    :math:`\cos(b\cdot x + \arg a - \theta)`; at every angle this is :mod:`models.fourier_net`.
    Sites ``"a_re"``, ``"a_im"`` (width,), ``"b"`` (width, d), all in ``numpyro.plate("neurons", width)``.
    """
    _check_scales(positive=("sigma_a", "sigma_b"), sigma_a=sigma_a, sigma_b=sigma_b)
    check_angle(angle)
    dims = x.shape[1]
    scale = sigma_a / math.sqrt(2 * width)
    with numpyro.plate("neurons", width):
        a_re = numpyro.sample("a_re", dist.Normal(0.0, scale))
        a_im = numpyro.sample("a_im", dist.Normal(0.0, scale))
        b = numpyro.sample("b", dist.Normal(0.0, sigma_b / math.sqrt(dims)).expand([dims]).to_event(1))
        a = numpyro.deterministic("a", jnp.hypot(a_re, a_im))
    h = numpyro.deterministic("h", jnp.cos(x @ b.T + (jnp.arctan2(a_im, a_re) - angle)[None, :]))
    return numpyro.deterministic("phi", h @ a)
