"""Gauss-net in the HMS20 conventions (PHYSICS.md A.1, B.1, B.2)."""

from nnqft_ppl import register_model
from nnqft_ppl.nets import ACTIVATIONS, affine_neurons, linear_readout
from nnqft_ppl.theory import FiniteWidthTheory, gauss_neuron_moment


def theory(width=100, d=1, sigma_w=1.0, sigma_b=1.0):
    """Closed-form neuron moments (PHYSICS.md B.2); G2 = sigma_b^2 + sigma_w^2 exp(-sigma_w^2 |x-y|^2 / 2d)."""
    return FiniteWidthTheory.gaussian_readout(
        width, lambda xs: gauss_neuron_moment(xs, sigma_w, sigma_b), sigma_w, sigma_b
    )


@register_model(theory=theory)
def gauss_net(x, width=100, d=1, sigma_w=1.0, sigma_b=1.0):
    """Gauss-net (HMS20): phi = sum_i W1_i exp(W0_i.x + b0_i) / sqrt(E[exp(2(W0_i.x + b0_i))]) + b1.

    Priors as erf_net.  The normaliser uses the general sigma_w, sigma_b (the HMS20
    code hard-codes 1).  Only rotation invariant at finite width; with sigma_b = 1
    its 4-point estimator is heavy-tailed (log-normal neurons, PHYSICS.md B.2).
    """
    return linear_readout(affine_neurons(x, width, ACTIVATIONS["gauss"], sigma_w, sigma_b), sigma_w, sigma_b)
