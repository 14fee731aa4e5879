r"""Cos-net with Cauchy momenta in d = 1: exactly the Euclidean oscillator, reflection positive (PHYSICS.md A.4)."""

import numpyro.distributions as dist

from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales, linear_readout, plane_wave_neurons
from nnqft_ppl.theory import FiniteWidthTheory, cauchy_neuron_moment


def theory(width=100, mass=1.0, sigma_a=1.0):
    r"""Exact at every width: :math:`G^{(2)} = \frac{\sigma_a^2}2e^{-m|t-t'|}` and, from
    :math:`\mathbb E[h_1\cdots h_k] = 2^{-k}\sum_{s:\sum s=0}e^{-m|\sum_j s_jt_j|}`
    (:func:`~nnqft_ppl.theory.cauchy_neuron_moment`),
    :math:`G^{(4)}_c = \frac{\sigma_a^4}{8N}(3A - 2B)` with PHYSICS.md B.3's A, B and
    :math:`e^{-\sigma_b^2v^2/2d} \to e^{-m|v|}`."""
    _check_scales(positive=("mass",), mass=mass)
    return FiniteWidthTheory.gaussian_readout(width, lambda xs: cauchy_neuron_moment(xs, mass), sigma_a)


@register_model(theory=theory)
def cauchy_net(x, width=100, mass=1.0, sigma_a=1.0):
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
    """
    if x.shape[1] != 1:
        raise ValueError(f"cauchy_net is defined in d = 1 (Euclidean time); the points have d = {x.shape[1]}")
    _check_scales(positive=("mass",), mass=mass)
    momentum = dist.Cauchy(0.0, float(mass)).expand([1]).to_event(1)
    return linear_readout(plane_wave_neurons(x, width, momentum), sigma_a)
