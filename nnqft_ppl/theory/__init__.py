"""What is known analytically: Gaussian (Wick) and exact finite-width correlators.

A *theory* is any object with a method ``cumulants(points, max_order)`` returning
the connected correlators of orders ``1..max_order`` at the points as a vector
over :class:`~nnqft_ppl.moments.MonomialBasis` (NaN where unknown).  Full
correlators follow from cumulants by summing over set partitions.
"""

from .finite_width import FieldTheory, FiniteWidthTheory, GaussianTheory, IndependentSum, predict
from .kernels import erf_kernel, gauss_kernel, relu_kernel
from .mixture import ScaleMixtureTheory, gamma_scale_moment
from .neurons import (
    TheoryAccuracyWarning,
    affine_neuron_moment,
    cos_neuron_moment,
    erf_neuron_moment,
    gauss_neuron_moment,
    gaussian_moment,
    relu_neuron_moment,
)
from .perturbative import (
    Propagator,
    RadialTable,
    first_order_correlators,
    gaussian_vertex_factor,
    mass_shift,
    model_propagator,
)
from .spectral import (
    angular_average,
    cauchy_neuron_moment,
    cutoff_propagator_1d,
    free_propagator,
    radial_fourier_transform,
    spectral_neuron_moment,
)

__all__ = [
    "Propagator",
    "RadialTable",
    "first_order_correlators",
    "gaussian_vertex_factor",
    "mass_shift",
    "model_propagator",
    "TheoryAccuracyWarning",
    "angular_average",
    "cauchy_neuron_moment",
    "cutoff_propagator_1d",
    "free_propagator",
    "radial_fourier_transform",
    "spectral_neuron_moment",
    "erf_neuron_moment",
    "FieldTheory",
    "FiniteWidthTheory",
    "GaussianTheory",
    "ScaleMixtureTheory",
    "IndependentSum",
    "affine_neuron_moment",
    "cos_neuron_moment",
    "erf_kernel",
    "gauss_kernel",
    "gauss_neuron_moment",
    "gamma_scale_moment",
    "gaussian_moment",
    "predict",
    "relu_kernel",
    "relu_neuron_moment",
]
