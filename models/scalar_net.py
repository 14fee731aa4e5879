r"""Free massive scalar with a hard momentum cutoff, "Scalar-net" (PHYSICS.md A.3, A.4, B.5)."""

import functools

import numpy as np

from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales, linear_readout, spectral_neurons
from nnqft_ppl.spectral import SpectralDesign, free_scalar_spectrum, spectral_design
from nnqft_ppl.theory import FiniteWidthTheory, cutoff_propagator_1d, spectral_neuron_moment


@functools.lru_cache(maxsize=64)
def _cached_design(d: int, mass: float, cutoff: float, alpha: float) -> SpectralDesign:
    return spectral_design(free_scalar_spectrum(mass), d, cutoff=cutoff, alpha=alpha)


def scalar_design(d: int = 1, mass: float = 1.0, cutoff: float = 20.0, alpha: float = 0.0) -> SpectralDesign:
    r"""The spectral design of :func:`scalar_net`: :math:`\tilde G = 1/(p^2+m^2)` on the ball :math:`|p| < \Lambda`.

    Raises ``ValueError`` for mass <= 0, cutoff <= 0, d outside 1..4, alpha outside [0, 1].
    """
    _check_scales(positive=("mass", "cutoff"), mass=mass, cutoff=cutoff)
    return _cached_design(int(d), float(mass), float(cutoff), float(alpha))


def theory(width=100, d=1, mass=1.0, cutoff=20.0, alpha=0.0, sigma_a=1.0):
    r"""Exact at every width: :math:`G^{(2)} = \sigma_a^2 G_\Lambda` with the cutoff propagator

    .. math::  G_\Lambda(x) = \int_{|p|<\Lambda}\frac{d^dp}{(2\pi)^d}\frac{e^{ip\cdot x}}{p^2+m^2}

    (radial Bessel quadrature; in d = 1 the closed form
    :func:`~nnqft_ppl.theory.cutoff_propagator_1d`), and the higher connected correlators from the
    neuron moments of :func:`~nnqft_ppl.theory.spectral_neuron_moment`, e.g. (PHYSICS.md B.5, here
    times :math:`\sigma_a^4`)

    .. math::

        \alpha=0:\ G^{(4)}_c = \frac1N\Big[\frac{3Z_\Lambda}{2(2\pi)^d}\sum_vG_\Lambda(v) - [GG]_{1234}\Big],

        \alpha=1:\ G^{(4)}_c = \frac1N\Big[\frac{3\,\mathrm{vol}(B_\Lambda)}{2(2\pi)^{2d}}\sum_v
        \int_{B_\Lambda}d^dp\,\frac{\cos p\cdot v}{(p^2+m^2)^2} - [GG]_{1234}\Big].

    The :math:`\Lambda \to \infty` propagator is :func:`~nnqft_ppl.theory.free_propagator` (Bessel K).
    """
    design = scalar_design(d, mass, cutoff, alpha)
    propagator = None
    if d == 1:
        propagator = functools.partial(cutoff_propagator_1d, mass=float(mass), cutoff=float(cutoff))
    return FiniteWidthTheory.gaussian_readout(width, lambda xs: spectral_neuron_moment(xs, design, propagator), sigma_a)


def spectrum(width=100, d=1, mass=1.0, cutoff=20.0, alpha=0.0, sigma_a=1.0):
    r"""Power spectrum :math:`\sigma_a^2\,\mathbb 1_{|p|<\Lambda}/(p^2+m^2)`: the step at the cutoff has no
    positive Kaellen-Lehmann density; the violation shrinks as the cutoff grows (PHYSICS.md C.2)."""
    scalar_design(d, mass, cutoff, alpha)  # validates
    propagator = free_scalar_spectrum(mass)
    return (lambda p: sigma_a**2 * (p < cutoff) * propagator(p)), np.geomspace(0.01 * mass, 4 * cutoff, 64)


@register_model(theory=theory, spectrum=spectrum)
def scalar_net(x, width=100, d=1, mass=1.0, cutoff=20.0, alpha=0.0, sigma_a=1.0):
    r"""Scalar-net: free scalar of mass m with a hard momentum cutoff, d = 1..4, alpha in [0, 1] (Euclidean invariant).

    .. math::  \phi(x) = \sum_{i=1}^N a_i\,F(b_i)\cos(b_i\cdot x + c_i),\qquad a_i\sim\mathcal N(0,\sigma_a^2/N),\
               c_i\sim U[-\pi,\pi],

    .. math::  P(b) = \frac{(b^2+m^2)^{\alpha-1}}{Z_\alpha}\mathbb 1_{|b|<\Lambda},\quad
               F(b) = \sqrt{\frac{2Z_\alpha}{(2\pi)^d}}\,(b^2+m^2)^{-\alpha/2},\quad
               Z_\alpha = \int_{B_\Lambda}d^db\,(b^2+m^2)^{\alpha-1}

    (PHYSICS.md A.3-A.4; ``cutoff`` is :math:`\Lambda`, d = 1..4), so that at every width

    .. math::  G^{(2)}(x,y) = \sigma_a^2\int_{|p|<\Lambda}\frac{d^dp}{(2\pi)^d}\frac{e^{ip\cdot(x-y)}}{p^2+m^2}.

    ``alpha = 1`` is the DHMSS23/TASI form (b uniform in the ball, :math:`F \propto 1/\sqrt{b^2+m^2}`),
    ``alpha = 0`` (default) propagator-weighted momenta with constant amplitude, whose 1/N corrections grow
    only like :math:`Z_\Lambda` instead of :math:`\mathrm{vol}(B_\Lambda)` (PHYSICS.md B.5); values in between
    interpolate.  Normalisation (a choice): PHYSICS.md A.4 divides the amplitude by :math:`\sigma_a` so that
    :math:`\sigma_a` cancels; here :math:`\sigma_a` is kept as the field strength, :math:`G^{(2)} = \sigma_a^2
    G_\Lambda`, and ``sigma_a = 1`` (default) is A.4's normalisation exactly: the power spectrum is
    :math:`1/(p^2+m^2)`.  (:func:`cauchy_net` instead has :math:`G^{(2)} = \frac{\sigma_a^2}2e^{-m|t|}`, i.e.
    :math:`m\sigma_a^2` times the :math:`\Lambda\to\infty`, d = 1 propagator :math:`e^{-m|t|}/2m`.)
    """
    design = scalar_design(d, mass, cutoff, alpha)
    return linear_readout(spectral_neurons(x, width, design), sigma_a)
