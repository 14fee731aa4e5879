"""Building blocks for writing NN-FT models: neuron families and their priors.

Each block samples its per-neuron parameters inside ``numpyro.plate("neurons",
width)`` and returns the neurons ``h`` at the points, shape ``(n_points, width)``.
A model then adds the output layer with :func:`linear_readout`, which records the
contract's ``"a"``, ``"h"`` and ``"phi"`` sites.  PHYSICS.md A.1-A.2.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import erf
from jaxtyping import Array, Float

__all__ = ["cos_neurons", "affine_neurons", "linear_readout", "ACTIVATIONS"]


def _check_scales(positive=(), nonnegative=(), **scales: float) -> None:
    """Scales of Gaussian priors: those in ``positive`` must be > 0, the others >= 0."""
    for name, value in scales.items():
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if name in positive and not value > 0:
            raise ValueError(f"{name} must be > 0, got {value}")
        if not value >= 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def cos_neurons(x: Float[Array, "n_points d"], width: int, sigma_b: float) -> Float[Array, "n_points width"]:
    """Plane-wave neurons h_i(x) = cos(b_i . x + c_i), b_i ~ N(0, sigma_b^2/d 1_d), c_i ~ U[-pi, pi].

    Sites ``"b"`` (width, d) and ``"c"`` (width,).  PHYSICS.md A.2.
    """
    _check_scales(positive=("sigma_b",), sigma_b=sigma_b)
    d = x.shape[1]
    with numpyro.plate("neurons", width):
        b = numpyro.sample("b", dist.Normal(0.0, sigma_b / math.sqrt(d)).expand([d]).to_event(1))
        c = numpyro.sample("c", dist.Uniform(-math.pi, math.pi))
    return jnp.cos(x @ b.T + c[None, :])


def affine_neurons(
    x: Float[Array, "n_points d"],
    width: int,
    activation: Callable,
    sigma_w: float,
    sigma_b: float,
) -> Float[Array, "n_points width"]:
    """h_i(x) = activation(W_i . x + b_i, ...), W_ij ~ N(0, sigma_w^2/d), b_i ~ N(0, sigma_b^2).

    ``activation(z, x, sigma_w, sigma_b)`` receives the preactivations ``z`` (n_points,
    width) and the points (for input-dependent normalisations such as Gauss-net's).
    Sites ``"W0"`` (width, d) and ``"b0"`` (width,).  PHYSICS.md A.1.
    """
    _check_scales(positive=("sigma_w",), sigma_w=sigma_w, sigma_b=sigma_b)
    d = x.shape[1]
    with numpyro.plate("neurons", width):
        weights = numpyro.sample("W0", dist.Normal(0.0, sigma_w / math.sqrt(d)).expand([d]).to_event(1))
        biases = numpyro.sample("b0", dist.Normal(0.0, sigma_b)) if sigma_b > 0 else jnp.zeros(width)
    return activation(x @ weights.T + biases[None, :], x, sigma_w, sigma_b)


def _gauss_normalised_exp(z, x, sigma_w, sigma_b):
    """exp(z) / sqrt(E[exp(2 z)]) = exp(z - sigma_b^2 - sigma_w^2 |x|^2 / d) (HMS20 Gauss-net)."""
    d = x.shape[1]
    return jnp.exp(z - sigma_b**2 - sigma_w**2 * jnp.sum(x**2, axis=1, keepdims=True) / d)


ACTIVATIONS: dict[str, Callable] = {
    "erf": lambda z, x, sigma_w, sigma_b: erf(z),
    "relu": lambda z, x, sigma_w, sigma_b: jnp.maximum(z, 0.0),
    "gauss": _gauss_normalised_exp,
}
"""Activations of the HMS20 single-layer nets, in the signature of :func:`affine_neurons`."""


def linear_readout(
    h: Float[Array, "n_points width"], sigma_a: float, sigma_bias: float = 0.0
) -> Float[Array, " n_points"]:
    """phi(x) = sum_i a_i h_i(x) + bias, a_i ~ N(0, sigma_a^2 / width), bias ~ N(0, sigma_bias^2).

    Records the contract sites ``"a"`` (in the neuron plate), ``"h"``, ``"phi"``
    and, when ``sigma_bias > 0``, the network-level site ``"bias"``.
    """
    _check_scales(positive=("sigma_a",), sigma_a=sigma_a, sigma_bias=sigma_bias)
    width = h.shape[1]
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(0.0, sigma_a / math.sqrt(width)))
    numpyro.deterministic("h", h)
    phi = h @ a
    if sigma_bias > 0:
        phi = phi + numpyro.sample("bias", dist.Normal(0.0, sigma_bias))
    return numpyro.deterministic("phi", phi)
