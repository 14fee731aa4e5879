"""Erf-net in the HMS20 conventions (PHYSICS.md A.1, B.1)."""

from nnqft_ppl import register_model
from nnqft_ppl.nets import ACTIVATIONS, affine_neurons, linear_readout
from nnqft_ppl.theory import FiniteWidthTheory, erf_neuron_moment


def theory(width=100, d=1, sigma_w=1.0, sigma_b=1.0):
    """Exact finite-width correlators: G2 in closed form, higher neuron moments by quadrature over (W0, b0)."""
    return FiniteWidthTheory.gaussian_readout(
        width, lambda xs: erf_neuron_moment(xs, sigma_w, sigma_b), sigma_w, sigma_b
    )


@register_model(theory=theory)
def erf_net(x, width=100, d=1, sigma_w=1.0, sigma_b=1.0):
    """Erf-net (HMS20): phi = sum_i W1_i erf(W0_i.x + b0_i) + b1.

    W0 ~ N(0, sigma_w^2/d), b0 ~ N(0, sigma_b^2), W1 ~ N(0, sigma_w^2/N), b1 ~ N(0, sigma_b^2):
    the same sigma_w, sigma_b in both layers, as in the HMS20 code.
    """
    return linear_readout(affine_neurons(x, width, ACTIVATIONS["erf"], sigma_w, sigma_b), sigma_w, sigma_b)
