r"""Cos-net with double-well amplitudes: a landscape with a continuum of constant vacua (PHYSICS.md G.1)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from nnqft_ppl import register_model
from nnqft_ppl.nets import _check_scales, cos_neurons

TABLE_SIZE = 8193
"""Nodes of the tabulated CDF the amplitudes are drawn from (inverse CDF, linear in each cell)."""


class DoubleWell(dist.Distribution):
    r""":math:`p(\alpha) \propto e^{-\kappa(\alpha^2 - v^2)^2}` on the real line: maxima at :math:`\pm v`.

    ``log_prob`` is exact (normalised by quadrature); sampling inverts a CDF tabulated on
    :math:`|\alpha| \le R`, :math:`\kappa(R^2 - v^2)^2 = 60` (the mass beyond is below :math:`e^{-60}`),
    with :data:`TABLE_SIZE` nodes, linear in each cell.
    """

    arg_constraints = {}
    support = constraints.real
    pytree_aux_fields = ("kappa", "v", "log_normaliser")
    pytree_data_fields = ("edges", "cdf")

    def __init__(self, kappa: float, v: float, *, validate_args=None):
        self.kappa, self.v = float(kappa), float(v)
        radius = math.sqrt(self.v**2 + math.sqrt(60.0 / self.kappa))
        grid = np.linspace(-radius, radius, TABLE_SIZE)
        density = np.exp(-self.kappa * (grid**2 - self.v**2) ** 2)
        cumulative = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))])
        self.log_normaliser = float(np.log(cumulative[-1]))
        float_type = jnp.result_type(float)
        self.edges = jnp.asarray(grid, dtype=float_type)
        self.cdf = jnp.asarray(cumulative / cumulative[-1], dtype=float_type)
        super().__init__(batch_shape=(), event_shape=(), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        u = jax.random.uniform(key, tuple(sample_shape) + self.batch_shape, dtype=self.cdf.dtype)
        return jnp.interp(u, self.cdf, self.edges)

    def log_prob(self, value):
        return -self.kappa * (value**2 - self.v**2) ** 2 - self.log_normaliser


def landscape_prediction(width=10, d=1, sigma_b=1.0, kappa=4.0, v=1.0) -> dict:
    r"""What G.1 predicts for the maxima of :math:`\log P(\theta)`: :math:`\alpha_i = \pm v`, :math:`b_i = 0`, any
    :math:`c_i`, so :math:`\phi_{\rm cl} = \frac v{\sqrt N}\sum_i\pm\cos c_i`, constant in x.  The Hessian of
    :math:`-\log P` there has N eigenvalues :math:`8\kappa v^2` (the amplitudes α), Nd eigenvalues
    :math:`d/\sigma_b^2` (the momenta) and N zeros (the phases: a moduli space); the log-density is
    :math:`N[-\log Z_\alpha - \frac d2\log(2\pi\sigma_b^2/d)]` (the phases' constant omitted, as in
    :func:`~nnqft_ppl.inference.map_search`)."""
    return {
        "amplitude_curvature": 8 * kappa * v**2,
        "momentum_curvature": d / sigma_b**2,
        "flat_directions": width,
        "max_log_density": width
        * (-DoubleWell(kappa, v).log_normaliser - d / 2 * math.log(2 * math.pi * sigma_b**2 / d)),
    }


@register_model
def double_well_net(x, width=10, d=1, sigma_b=1.0, kappa=4.0, v=1.0):
    r"""Cos-net whose amplitudes sit in a double well: its landscape is a continuum of constant vacua.

    .. math::  \phi(x) = \sum_{i=1}^N a_i\cos(b_i\cdot x + c_i),\qquad a_i = \alpha_i/\sqrt N,\quad
               p(\alpha) \propto e^{-\kappa(\alpha^2 - v^2)^2},

    b, c as in :func:`cos_net` (PHYSICS.md G.1).  The maxima of :math:`P(\theta)` have :math:`\alpha_i = \pm v`,
    :math:`b_i = 0` and any phases: :math:`\phi_{\rm cl} = \frac v{\sqrt N}\sum_i\pm\cos c_i`, a constant,
    anywhere in :math:`[-v\sqrt N, v\sqrt N]` (:func:`landscape_prediction`).  Caveat (G.1): the maxima of
    :math:`P(\theta)` are not maxima of the density of φ, which integrates over the fibres of
    :math:`\theta \mapsto \phi_\theta`: by the CLT the law of φ(x) tends to a Gaussian centred at 0 with
    variance :math:`\mathbb E\alpha^2/2`, whatever the vacua.
    """
    _check_scales(positive=("kappa", "v"), kappa=kappa, v=v)
    h = cos_neurons(x, width, sigma_b)
    with numpyro.plate("neurons", width):
        alpha = numpyro.sample("alpha", DoubleWell(kappa, v))
        a = numpyro.deterministic("a", alpha / math.sqrt(width))
    numpyro.deterministic("h", h)
    return numpyro.deterministic("phi", h @ a)
