"""Building blocks for writing NN-FT models: neuron families and their priors.

Each block samples its per-neuron parameters inside ``numpyro.plate("neurons",
width)`` and returns the neurons ``h`` at the points, shape ``(n_points, width)``.
A model then adds the output layer with :func:`linear_readout`, which records the
contract's ``"a"``, ``"h"`` and ``"phi"`` sites.  PHYSICS.md A.1-A.3.
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

__all__ = [
    "cos_neurons",
    "affine_neurons",
    "plane_wave_neurons",
    "spectral_neurons",
    "linear_readout",
    "ACTIVATIONS",
]


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
    return plane_wave_neurons(x, width, dist.Normal(0.0, sigma_b / math.sqrt(d)).expand([d]).to_event(1))


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


def plane_wave_neurons(
    x: Float[Array, "n_points d"],
    width: int,
    momentum_distribution: dist.Distribution,
    amplitude: Callable | None = None,
) -> Float[Array, "n_points width"]:
    """Cos-type neurons h_i(x) = F(|b_i|) cos(b_i . x + c_i), b_i ~ momentum_distribution, c_i ~ U[-pi, pi].

    ``momentum_distribution`` has event shape ``(d,)`` (any rotation-invariant law keeps the net
    Euclidean invariant at every width, PHYSICS.md A.2-A.3); ``amplitude`` maps |b| to F (JAX),
    ``None`` for F = 1.  E[h(x) h(y)] = 1/2 E_b[F^2 cos(b . (x - y))].  Sites ``"b"`` (width, d)
    and ``"c"`` (width,).
    """
    d = x.shape[1]
    if tuple(momentum_distribution.event_shape) != (d,):
        raise ValueError(
            f"the momentum distribution has event shape {tuple(momentum_distribution.event_shape)}, "
            f"the points are in d = {d}"
        )
    with numpyro.plate("neurons", width):
        b = numpyro.sample("b", momentum_distribution)
        c = numpyro.sample("c", dist.Uniform(-math.pi, math.pi))
    waves = jnp.cos(x @ b.T + c[None, :])
    if amplitude is None:
        return waves
    return amplitude(jnp.linalg.norm(b, axis=-1))[None, :] * waves


def spectral_neurons(x: Float[Array, "n_points d"], width: int, design) -> Float[Array, "n_points width"]:
    """Neurons realising a power spectrum: :func:`plane_wave_neurons` with the law and amplitude of ``design``.

    ``design`` is a :class:`nnqft_ppl.spectral.SpectralDesign` (from
    :func:`nnqft_ppl.spectral.spectral_design`): b ~ P(b) = G~(|b|)^{1-alpha} 1_{|b|<L} / Z_alpha,
    F = sqrt(2 Z_alpha / (2 pi)^d) G~(|b|)^{alpha/2}, so that
    E[h(x) h(y)] = int_{|p|<L} d^dp/(2 pi)^d e^{i p.(x-y)} G~(p) (PHYSICS.md A.3); with
    :func:`linear_readout` the field has G2 = sigma_a^2 times that.
    """
    if x.shape[1] != design.d:
        raise ValueError(f"the spectral design is for d = {design.d}, the points are in d = {x.shape[1]}")
    return plane_wave_neurons(x, width, design.momentum_distribution, design.amplitude)
