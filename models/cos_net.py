"""Cos-net (Halverson 2021; PHYSICS.md A.2, B.3)."""

import math

import numpy as np

from nnqft_ppl import register_model
from nnqft_ppl.nets import cos_neurons, linear_readout
from nnqft_ppl.theory import FiniteWidthTheory, cos_neuron_moment


def theory(width=100, d=1, sigma_a=1.0, sigma_b=1.0):
    """G2 = sigma_a^2/2 exp(-sigma_b^2 |x-y|^2 / 2d) at every width; G4c = sigma_a^4/(8N) (3A - 2B)."""
    return FiniteWidthTheory.gaussian_readout(width, lambda xs: cos_neuron_moment(xs, sigma_b), sigma_a)


def spectrum(width=100, d=1, sigma_a=1.0, sigma_b=1.0):
    r"""Power spectrum :math:`\tilde G(p) = \frac{\sigma_a^2}2(2\pi d/\sigma_b^2)^{d/2}e^{-dp^2/2\sigma_b^2}`
    (Gaussian momenta): decays faster than any :math:`1/p^2`, so no positive Kaellen-Lehmann density (C.2)."""
    prefactor = sigma_a**2 / 2 * (2 * math.pi * d / sigma_b**2) ** (d / 2)
    return (lambda p: prefactor * np.exp(-d * p**2 / (2 * sigma_b**2))), sigma_b * np.geomspace(0.01, 10.0, 48)


@register_model(theory=theory, spectrum=spectrum)
def cos_net(x, width=100, d=1, sigma_a=1.0, sigma_b=1.0):
    """Cos-net: phi = sum_i a_i cos(b_i.x + c_i), Euclidean invariant at every width.

    a_i ~ N(0, sigma_a^2/N), b_i ~ N(0, sigma_b^2/d 1_d), c_i ~ U[-pi, pi] (PHYSICS.md A.2).
    """
    return linear_readout(cos_neurons(x, width, sigma_b), sigma_a)
