r"""Cos-net on a ring: plane-wave neurons with momenta on a ring's reciprocal lattice (PHYSICS.md B.3, B.4, F.4).

The field is periodic with period :math:`L = n\,a` (``sites`` n, ``spacing`` a), so on the grid
:math:`x_j = j a` its correlators are exactly translation invariant (circulant) and diagonal in the grid's
Fourier basis: the Monte Carlo counterpart of :func:`nnqft_ppl.locality.cos_lattice_coupling`'s closed form.
"""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales, linear_readout
from nnqft_ppl.theory import FiniteWidthTheory
from nnqft_ppl.theory.spectral import _plane_wave_moment


def _check(sites, spacing, sigma_b):
    if isinstance(sites, bool) or not isinstance(sites, (int, np.integer)) or sites < 1:
        raise ValueError(f"sites must be a positive integer, got {sites!r}")
    _check_scales(positive=("spacing", "sigma_b"), spacing=spacing, sigma_b=sigma_b)


def wavenumbers(sites: int) -> np.ndarray:
    r"""The integers k with :math:`|k| \le n/2`: the momenta :math:`2\pi k/L` of the neurons (both
    :math:`\pm n/2` for even n, so that the law is symmetric under x -> -x off the grid too)."""
    return np.arange(-(sites // 2), sites // 2 + 1)


def wavenumber_probabilities(sites: int, spacing: float, sigma_b: float) -> np.ndarray:
    r"""Discrete Gaussian :math:`P_k \propto e^{-(2\pi k/L)^2/2\sigma_b^2}` on :func:`wavenumbers` (same order),
    :math:`L = n\,a`."""
    _check(sites, spacing, sigma_b)
    momentum = 2 * math.pi * wavenumbers(sites) / (sites * spacing)
    weights = np.exp(-(momentum**2) / (2 * sigma_b**2))
    return weights / weights.sum()


def momentum_probabilities(sites: int, spacing: float = 1.0, sigma_b: float = 1.0) -> np.ndarray:
    r"""The momentum law seen on the grid :math:`x_j = j a`: :math:`P_k` of :func:`wavenumber_probabilities`
    at the grid momenta in FFT order (:func:`numpy.fft.fftfreq`, :func:`nnqft_ppl.locality.momenta`), the
    aliases :math:`\pm n/2` summed.  Symmetric, :math:`P_k = P_{-k}`: the input of
    :func:`nnqft_ppl.locality.cos_lattice_coupling`."""
    out = np.zeros(sites)
    np.add.at(out, wavenumbers(sites) % sites, wavenumber_probabilities(sites, spacing, sigma_b))
    return out


def ring_neuron_moment(xs: np.ndarray, sites: int, spacing: float, sigma_b: float) -> np.ndarray:
    r""":math:`\mathbb E_{k,c}[\prod_j\cos(b_kx_j + c)] = 2^{-m}\sum_{s:\sum s = 0}\sum_kP_k\cos(b_k\,\sum_js_jx_j)`,
    :math:`b_k = 2\pi k/L`: the discrete analogue of :func:`~nnqft_ppl.theory.cos_neuron_moment` (the uniform
    phase keeps the sign patterns with zero net phase).  ``xs`` (n_tuples, m, 1)."""
    if np.shape(xs)[-1] != 1:
        raise ValueError(f"ring_cos_net is defined in d = 1 (a ring); the points have d = {np.shape(xs)[-1]}")
    momentum = 2 * math.pi * wavenumbers(sites) / (sites * spacing)
    probabilities = wavenumber_probabilities(sites, spacing, sigma_b)
    return _plane_wave_moment(xs, lambda m, v: np.cos(np.multiply.outer(v, momentum)) @ probabilities)


def theory(width=100, sites=8, spacing=1.0, sigma_a=1.0, sigma_b=1.0):
    r"""Exact at every width and every x (on the grid or off it):
    :math:`G^{(2)}(x, y) = \frac{\sigma_a^2}2\sum_kP_k\cos(2\pi k(x-y)/L)` and
    :math:`G^{(4)}_c = \frac{\sigma_a^4}{8N}(3A - 2B)` with PHYSICS.md B.3's A, B and
    :math:`e^{-\sigma_b^2v^2/2} \to \sum_kP_k\cos(2\pi kv/L)` (B.4 with F = 1, :math:`\mu_4 = 3\sigma_a^4`)."""
    _check(sites, spacing, sigma_b)
    return FiniteWidthTheory.gaussian_readout(
        width, lambda xs: ring_neuron_moment(xs, sites, spacing, sigma_b), sigma_a
    )


@register_model(theory=theory)
def ring_cos_net(x, width=100, sites=8, spacing=1.0, sigma_a=1.0, sigma_b=1.0):
    r"""Ring Cos-net (d = 1): phi = sum_i a_i cos(2 pi k_i x / L + c_i), integer k_i, period L = sites * spacing.

    .. math::  \phi(x) = \sum_{i=1}^N a_i\cos(b_ix + c_i),\quad a_i\sim\mathcal N(0,\sigma_a^2/N),\
               c_i\sim U[-\pi,\pi],\quad b_i = \frac{2\pi k_i}L,\ P(k_i = k)\propto e^{-(2\pi k/L)^2/2\sigma_b^2},
               \ |k| \le \tfrac n2

    (:func:`wavenumber_probabilities`).  Every neuron has period L, so on the grid :math:`x_j = j\,a`,
    j = 0..n-1, the correlators are circulant: G2 is diagonal in the grid's Fourier basis,
    :math:`\tilde G(p) = \frac{n\sigma_a^2}2P_p` (:func:`momentum_probabilities`), and G4c has F.4's
    lattice structure (:func:`nnqft_ppl.locality.cos_lattice_coupling`).  Sites ``"k"`` (the index of
    :math:`k_i` in :func:`wavenumbers`, Categorical: for the ensemble and exact-neuron engines, not NUTS),
    ``"c"`` and the deterministic ``"b"``, all in ``numpyro.plate("neurons", width)``.
    """
    if x.shape[1] != 1:
        raise ValueError(f"ring_cos_net is defined in d = 1 (a ring); the points have d = {x.shape[1]}")
    probabilities = jnp.asarray(wavenumber_probabilities(sites, spacing, sigma_b), dtype=x.dtype)
    lowest = int(wavenumbers(sites)[0])
    with numpyro.plate("neurons", width):  # probabilities given per neuron: numpyro's sampler broadcasts by rank
        index = numpyro.sample(
            "k", dist.Categorical(probs=jnp.broadcast_to(probabilities, (width, len(probabilities))))
        )
        c = numpyro.sample("c", dist.Uniform(-math.pi, math.pi))
        b = numpyro.deterministic("b", 2 * math.pi / (sites * spacing) * (index + lowest).astype(x.dtype))
    return linear_readout(jnp.cos(x * b[None, :] + c[None, :]), sigma_a)
