r"""Cos-net with Cauchy momenta in d = 1: exactly the Euclidean oscillator, reflection positive (PHYSICS.md A.4)."""

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales, linear_readout, plane_wave_neurons
from nnqft_ppl.theory import FiniteWidthTheory, cauchy_neuron_moment


def _check(mass, excited_mass, excited_weight):
    _check_scales(positive=("mass", "excited_mass"), mass=mass, excited_mass=excited_mass)
    if not 0 <= excited_weight <= 1:
        raise ValueError(f"excited_weight must be in [0, 1], got {excited_weight!r}")


def _levels(mass, excited_mass, excited_weight):
    """(weight, mass) of each pole; the excited one only if it has weight."""
    if excited_weight == 0:
        return ((1.0, float(mass)),)
    return (1.0 - excited_weight, float(mass)), (float(excited_weight), float(excited_mass))


def theory(width=100, mass=1.0, sigma_a=1.0, excited_mass=2.0, excited_weight=0.0):
    r"""Exact at every width: :math:`G^{(2)} = \frac{\sigma_a^2}2\big[(1-w)e^{-m|t-t'|} + we^{-m_2|t-t'|}\big]` and,
    from :math:`\mathbb E[h_1\cdots h_k] = 2^{-k}\sum_{s:\sum s=0}\mathbb E_b\,e^{-\mu|\sum_j s_jt_j|}` (the momentum
    law is a mixture, so the neuron moments are the mixture of :func:`~nnqft_ppl.theory.cauchy_neuron_moment`),
    :math:`G^{(4)}_c = \frac{\sigma_a^4}{8N}(3A - 2B)` at w = 0 with PHYSICS.md B.3's A, B and
    :math:`e^{-\sigma_b^2v^2/2d} \to e^{-m|v|}`."""
    _check(mass, excited_mass, excited_weight)
    levels = _levels(mass, excited_mass, excited_weight)

    def neuron_moment(xs):
        return sum(weight * cauchy_neuron_moment(xs, mu) for weight, mu in levels)

    return FiniteWidthTheory.gaussian_readout(width, neuron_moment, sigma_a)


def spectrum(width=100, mass=1.0, sigma_a=1.0, excited_mass=2.0, excited_weight=0.0):
    r"""Power spectrum :math:`\sigma_a^2\sum_j w_j\mu_j/(p^2+\mu_j^2)`: a positive Kaellen-Lehmann density
    (weights :math:`w_j\mu_j\sigma_a^2` at :math:`\mu_j = m, m_2`)."""
    _check(mass, excited_mass, excited_weight)
    levels = _levels(mass, excited_mass, excited_weight)
    return (lambda p: sigma_a**2 * sum(w * mu / (p**2 + mu**2) for w, mu in levels)), np.geomspace(
        0.01 * mass, 100 * max(mu for _, mu in levels), 48
    )


@register_model(theory=theory, spectrum=spectrum)
def cauchy_net(x, width=100, mass=1.0, sigma_a=1.0, excited_mass=2.0, excited_weight=0.0):
    r"""Cauchy-net (d = 1, no cutoff): G2 = sigma_a^2/2 exp(-m |t - t'|) exactly, at every width.

    .. math::  \phi(t) = \sum_{i=1}^N a_i\cos(b_it + c_i),\quad a_i\sim\mathcal N(0,\sigma_a^2/N),\
               b_i\sim\mathrm{Cauchy}(0, m),\ c_i\sim U[-\pi,\pi].

    :math:`\mathbb E_b\cos(bt) = e^{-m|t|}` gives
    :math:`G^{(2)}(t,t') = \frac{\sigma_a^2}2e^{-m|t-t'|}`, the Euclidean harmonic-oscillator
    (Ornstein-Uhlenbeck) correlator, reflection positive (PHYSICS.md A.4, C.2).  Normalisation: as in
    PHYSICS.md A.4, this is the density knob with power spectrum :math:`\tilde G = \sigma_a^2 m/(p^2+m^2)`,
    i.e. :math:`m\sigma_a^2` times the free propagator :math:`e^{-m|t|}/2m` of :func:`scalar_net`'s convention
    (whose :math:`G^{(2)}` at :math:`\Lambda\to\infty` is :math:`\sigma_a^2e^{-m|t|}/2m`).  The points must be
    one-dimensional (Euclidean time).

    A second level: with ``excited_weight`` w > 0 the momenta are drawn from the mixture
    :math:`(1-w)\,\mathrm{Cauchy}(0, m) + w\,\mathrm{Cauchy}(0, m_2)` (``excited_mass`` :math:`m_2`), so
    :math:`G^{(2)} = \frac{\sigma_a^2}2[(1-w)e^{-m|t|} + we^{-m_2|t|}]`: a positive Kaellen-Lehmann density with
    two poles, i.e. a transfer matrix whose field creates states of energies m and :math:`m_2` above the vacuum
    with weights :math:`Z = \frac{\sigma_a^2}2(1-w)` and :math:`\frac{\sigma_a^2}2w`
    (:func:`~nnqft_ppl.lorentzian.transfer_spectrum` reads them back).
    """
    if x.shape[1] != 1:
        raise ValueError(f"cauchy_net is defined in d = 1 (Euclidean time); the points have d = {x.shape[1]}")
    _check(mass, excited_mass, excited_weight)
    momentum = dist.Cauchy(0.0, float(mass)).expand([1])
    if excited_weight > 0:  # each neuron's momentum scale: m_2 if its uniform "level" u < w, else m
        with numpyro.plate("neurons", width):
            level = numpyro.sample("level", dist.Uniform(0.0, 1.0))
        momentum = dist.Cauchy(0.0, jnp.where(level < excited_weight, float(excited_mass), float(mass))[:, None])
    return linear_readout(plane_wave_neurons(x, width, momentum.to_event(1)), sigma_a)
