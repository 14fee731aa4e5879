"""ReLU-net in the HMS20 conventions (PHYSICS.md A.1, B.1)."""

from nnqft_ppl import register_model
from nnqft_ppl.nets import ACTIVATIONS, affine_neurons, linear_readout
from nnqft_ppl.theory import FiniteWidthTheory, relu_neuron_moment


def theory(width=100, d=1, sigma_w=1.0, sigma_b=0.0):
    """Exact finite-width correlators; neuron moments by an exact inner integral and quadrature."""
    return FiniteWidthTheory.gaussian_readout(
        width, lambda xs: relu_neuron_moment(xs, sigma_w, sigma_b), sigma_w, sigma_b
    )


@register_model(theory=theory)
def relu_net(x, width=100, d=1, sigma_w=1.0, sigma_b=0.0):
    """ReLU-net (HMS20): phi = sum_i W1_i max(0, W0_i.x + b0_i) + b1.

    Priors as erf_net.  Convention: sigma_b defaults to 0 (no biases), which is what
    the HMS20 README intends for ReLU ("ReLU sets to 0.0"); their free_theory.py
    compares instead of assigning, so its ReLU runs actually used sigma_b = 1.
    Pass ``sigma_b=1`` to reproduce those.
    """
    return linear_readout(affine_neurons(x, width, ACTIVATIONS["relu"], sigma_w, sigma_b), sigma_w, sigma_b)
