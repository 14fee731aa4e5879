r"""Engineering a rotation-invariant power spectrum from plane-wave neurons (PHYSICS.md A.3, A.4).

A cos-type neuron :math:`h(x) = F(b)\cos(b\cdot x + c)`, :math:`c \sim U[-\pi, \pi]`, with a
rotation-invariant law of :math:`b`, has (the phase average kills :math:`\cos(b\cdot(x+y) + 2c)`)

.. math::  \mathbb E[h(x)h(y)] = \tfrac12\,\mathbb E_b\big[F(b)^2\cos(b\cdot(x-y))\big],

so a readout :math:`a_i \sim \mathcal N(0, \sigma_a^2/N)` gives :math:`G^{(2)} = \sigma_a^2\,\mathbb E[hh]`
at every width.  For a power spectrum :math:`\tilde G(p) \ge 0` (a function of :math:`|p|`), a cutoff
:math:`L` (or none, :math:`L = \infty`) and the knob :math:`\alpha \in [0, 1]`, the design

.. math::

    P(b) = \frac{\tilde G(|b|)^{1-\alpha}\,\mathbb 1_{|b|<L}}{Z_\alpha},\quad
    Z_\alpha = \int_{|b|<L} d^db\,\tilde G(|b|)^{1-\alpha},\qquad
    F(b) = A\,\tilde G(|b|)^{\alpha/2},\quad A = \sqrt{2 Z_\alpha/(2\pi)^d}

has :math:`\tfrac12 P(p)F(p)^2 = \tilde G(p)/(2\pi)^d` on the ball, hence

.. math::  \mathbb E[h(x)h(y)] = \int_{|p|<L}\frac{d^dp}{(2\pi)^d}\,e^{ip\cdot(x-y)}\,\tilde G(|p|):

with the Fourier convention of PHYSICS.md 0.1, :math:`\tilde G` is exactly the Fourier transform
of the neurons' covariance, i.e. of :math:`G^{(2)}` at :math:`\sigma_a = 1`
(:math:`G^{(2)} = \sigma_a^2\times` that in general).  :math:`\alpha = 0` is the density knob
(:math:`F` constant), :math:`\alpha = 1` the amplitude knob (:math:`b` uniform in the ball, which needs
a finite cutoff).  The infinite-width theory does not depend on :math:`\alpha`, the :math:`1/N`
corrections do (PHYSICS.md B.5; :func:`nnqft_ppl.theory.spectral_neuron_moment`).

Sampling :math:`b`: its norm has the radial density
:math:`q(r) = S_{d-1} r^{d-1}\tilde G(r)^{1-\alpha}/Z_\alpha` on :math:`[0, L]`, known only
numerically.  :class:`IsotropicMomentum` draws it by inverse CDF from a table (the CDF at the
edges of ~1e4 cells, each cell integrated by Gauss-Legendre quadrature), and the direction
uniformly on the sphere.  Use it with :func:`nnqft_ppl.nets.spectral_neurons`.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jaxtyping import Array, Float
from numpyro.distributions import constraints
from numpyro.distributions.transforms import biject_to

__all__ = [
    "IsotropicMomentum",
    "SpectralDesign",
    "spectral_design",
    "free_scalar_spectrum",
    "sphere_area",
    "ball_volume",
    "DIMENSIONS",
]

DIMENSIONS = (1, 2, 3, 4)
"""Spacetime dimensions supported by the spectral designs and their theory."""

NODES_PER_CELL = 8
"""Gauss-Legendre nodes per table cell.  The cells are at most ~0.6 % wide in r (geometric part)
or 1/8192 of the outer radius (uniform part), so for a spectrum that is smooth on either scale
the cell masses are exact to rounding."""

CELLS_PER_DECADE = 400
"""Geometric cells per decade of radius: neighbouring edges differ by a factor 10^(1/400) = 1.0058,
which resolves any feature of the spectrum at any scale above the table's innermost edge."""

UNIFORM_CELLS = 8192
"""Equal-width cells on [0, outer radius], interleaved with the geometric ones: they bound the
mass of a cell at large r (where geometric cells are wide) by ~1/8192 of the table."""

SCAN_PER_DECADE = 20
"""Radii per decade of the logarithmic scan that decides integrability and the table's range."""

SCAN_DECADES_WITH_CUTOFF = 12
"""With a cutoff L, the scan covers [1e-12 L, L]."""

SCAN_RANGE_WITHOUT_CUTOFF = (1e-10, 1e10)
"""Without a cutoff, the scan covers these radii (in the units of 1/x): a spectrum must carry its
mass inside this range.  The table then ends where the mass beyond it is below ``TAIL_TOLERANCE``."""

TAIL_TOLERANCE = 1e-10
"""Relative mass left out of the table beyond its outer radius (no cutoff) or below its innermost
edge: far below the resolution of a float32 uniform variate (~6e-8), so no sample could reach it."""

SLOW_TAIL_LIMIT = 1e-7
"""Largest relative mass the scan may leave outside its range (estimated by extrapolating the local
power law): beyond it the spectrum decays too slowly to be sampled and is refused."""

DIVERGENCE_SLOPE = 0.02
"""The mass per unit log r, g(r) = r^d w(r), must fall at least like r^0.02 towards the scan's ends;
a flatter or rising g means the integral diverges there (logarithmically or worse)."""


def sphere_area(d: int) -> float:
    """S_{d-1} = 2 pi^{d/2} / Gamma(d/2), the area of the unit sphere in R^d (S_0 = 2 points)."""
    return 2 * math.pi ** (d / 2) / math.gamma(d / 2)


def ball_volume(d: int, radius: float) -> float:
    """vol(B_L) = pi^{d/2} L^d / Gamma(d/2 + 1)."""
    return math.pi ** (d / 2) * radius**d / math.gamma(d / 2 + 1)


def free_scalar_spectrum(mass: float) -> Callable:
    """The free scalar's power spectrum G~(p) = 1 / (p^2 + m^2) (numpy and JAX arrays alike)."""
    mass_squared = float(mass) ** 2

    def spectrum(p):
        return 1.0 / (p * p + mass_squared)

    return spectrum


class _Ball(constraints.Constraint):
    """The open ball |b| < radius (event dimension 1)."""

    event_dim = 1

    def __init__(self, radius: float):
        self.radius = radius

    def __call__(self, x):
        return jnp.linalg.norm(x, axis=-1) < self.radius

    def feasible_like(self, prototype):
        return jnp.zeros_like(prototype)

    def tree_flatten(self):
        return (self.radius,), (("radius",), {})


class BallTransform(dist.transforms.Transform):
    r"""Unconstrained :math:`u \in \mathbb R^d` to the ball: :math:`b = R	anh(|u|)\,u/|u|`, so that NUTS and
    MAP move momenta with a cutoff without a boundary.  :math:`\log|\det J| = \log R\,\mathrm{sech}^2|u|
    + (d-1)\log(R	anh|u|/|u|)` (radial stretch times the tangential one)."""

    domain = constraints.real_vector

    def __init__(self, radius: float):
        self.radius = radius

    @property
    def codomain(self):
        return _Ball(self.radius)

    @staticmethod
    def _norm_squared(u):
        return jnp.sum(u * u, axis=-1)

    @staticmethod
    def _tanh_ratio(s2):
        """tanh(s)/s as a function of s^2, smooth (with smooth gradients) at 0."""
        small = s2 < 1e-8
        s = jnp.sqrt(jnp.where(small, 1.0, s2))
        return jnp.where(small, 1.0 - s2 / 3, jnp.tanh(s) / s)

    def __call__(self, u):
        return self.radius * self._tanh_ratio(self._norm_squared(u))[..., None] * u

    def _inverse(self, b):
        r2 = self._norm_squared(b) / self.radius**2
        r2 = jnp.clip(r2, 0.0, (1.0 - jnp.finfo(b.dtype).eps) ** 2)
        small = r2 < 1e-8
        r = jnp.sqrt(jnp.where(small, 1.0, r2))
        ratio = jnp.where(small, 1.0 + r2 / 3, jnp.arctanh(r) / r)  # artanh(r)/r
        return ratio[..., None] * b / self.radius

    def log_abs_det_jacobian(self, u, b, intermediates=None):
        d = u.shape[-1]
        s2 = self._norm_squared(u)
        small = s2 < 1e-8
        s = jnp.sqrt(jnp.where(small, 1.0, s2))
        log_sech2 = jnp.where(small, -s2, 2 * (jnp.log(2.0) - s - jax.nn.softplus(-2 * s)))
        return d * jnp.log(self.radius) + log_sech2 + (d - 1) * jnp.log(self._tanh_ratio(s2))

    def tree_flatten(self):
        return (self.radius,), (("radius",), {})


@biject_to.register(_Ball)
def _transform_to_ball(constraint):
    return BallTransform(constraint.radius)


class IsotropicMomentum(dist.Distribution):
    r"""A rotation-invariant law on :math:`\mathbb R^d` with a numerically known radial profile.

    Density :math:`p(b) = w(|b|)\,\mathbb 1_{|b|<R}/Z` (``log_prob`` evaluates exactly this,
    normalised: ``log_weight(r) = log w(r)``, ``log_normaliser = log Z``).  Sampling: the norm by
    inverse CDF, :math:`u \sim U[0,1)`, the cell :math:`i` with :math:`F_i \le u < F_{i+1}` in the
    tabulated CDF (``cdf`` at the ``edges`` :math:`r_0 = 0 < r_1 < \dots`), and inside the cell
    :math:`r^d` linear in :math:`u` (monotone; the density inside a cell is :math:`\propto r^{d-1}`
    times a constant, i.e. :math:`w` is taken constant over a cell, which is exact for the uniform
    ball); the direction uniformly on the sphere (a normalised standard normal vector).

    Event shape ``(d,)``, batch shape ``()``: use it inside ``numpyro.plate("neurons", width)``.
    Build it with :func:`spectral_design` rather than by hand.
    """

    arg_constraints = {}
    pytree_data_fields = ("upper", "ratio", "cdf")
    pytree_aux_fields = ("log_weight", "log_normaliser", "outer_radius")

    def __init__(
        self,
        edges: np.ndarray,
        cdf: np.ndarray,
        log_weight: Callable,
        log_normaliser: float,
        outer_radius: float,
        d: int,
        *,
        validate_args=None,
    ):
        edges = np.asarray(edges, dtype=np.float64)
        cdf = np.asarray(cdf, dtype=np.float64)
        if edges.ndim != 1 or edges.shape != cdf.shape or edges[0] != 0 or np.any(np.diff(edges) <= 0):
            raise ValueError("edges must increase from 0 and match the cdf table")
        if cdf[0] != 0 or cdf[-1] != 1 or np.any(np.diff(cdf) < 0):
            raise ValueError("cdf must be non-decreasing from 0 to 1")
        float_type = jnp.result_type(float)
        self.upper = jnp.asarray(edges[1:], dtype=float_type)
        self.ratio = jnp.asarray((edges[:-1] / edges[1:]) ** d, dtype=float_type)  # (r_i / r_{i+1})^d in [0, 1)
        self.cdf = jnp.asarray(cdf, dtype=float_type)
        self.log_weight = log_weight
        self.log_normaliser = float(log_normaliser)
        self.outer_radius = float(outer_radius)
        super().__init__(batch_shape=(), event_shape=(d,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        d = self.event_shape[0]
        shape = tuple(sample_shape) + self.batch_shape
        key_radius, key_direction = jax.random.split(key)
        u = jax.random.uniform(key_radius, shape, dtype=self.cdf.dtype)
        cell = jnp.clip(jnp.searchsorted(self.cdf, u, side="right") - 1, 0, self.upper.shape[0] - 1)
        low, high = self.cdf[cell], self.cdf[cell + 1]
        fraction = jnp.clip((u - low) / jnp.where(high > low, high - low, 1.0), 0.0, 1.0)
        ratio = self.ratio[cell]
        radius = self.upper[cell] * (ratio + fraction * (1.0 - ratio)) ** (1.0 / d)
        direction = jax.random.normal(key_direction, shape + (d,), dtype=self.cdf.dtype)
        norm = jnp.linalg.norm(direction, axis=-1, keepdims=True)
        direction = direction / jnp.where(norm > 0, norm, 1.0)  # norm = 0 has probability zero
        return radius[..., None] * direction

    @property
    def support(self):
        """The ball of ``outer_radius`` (mapped from R^d by :class:`BallTransform` for NUTS and MAP)."""
        return _Ball(self.outer_radius)

    def log_prob(self, value):
        squared = jnp.sum(value * value, axis=-1)
        radius = jnp.where(squared > 0, jnp.sqrt(jnp.where(squared > 0, squared, 1.0)), 0.0)  # smooth gradient at 0
        inside = radius < self.outer_radius
        safe = jnp.where(inside, radius, 0.0)
        return jnp.where(inside, self.log_weight(safe) - self.log_normaliser, -jnp.inf)


@dataclasses.dataclass(frozen=True, eq=False)
class SpectralDesign:
    r"""Neurons :math:`F(b)\cos(b\cdot x + c)` realising the power spectrum ``spectrum`` (module docstring).

    - ``spectrum``: :math:`\tilde G`, a callable of :math:`|p|` (numpy and JAX arrays);
    - ``d``, ``cutoff`` (``None``: no cutoff), ``alpha``: as in :func:`spectral_design`;
    - ``normaliser``: :math:`Z_\alpha = \int_{|b|<L} d^db\,\tilde G^{1-\alpha}`;
    - ``outer_radius``: :math:`L`, or without cutoff the radius beyond which the momentum law
      has relative mass below ``TAIL_TOLERANCE``;
    - ``inner_radius``: below it the momentum law has relative mass below ``TAIL_TOLERANCE``
      (the theory's quadrature grades its panels down to it);
    - ``momentum_distribution``: :math:`P(b)` as an :class:`IsotropicMomentum`;
    - ``scan``: the logarithmic scan of radii and spectrum values behind the integrability checks.
    """

    spectrum: Callable
    d: int
    cutoff: float | None
    alpha: float
    normaliser: float
    outer_radius: float
    inner_radius: float
    momentum_distribution: IsotropicMomentum
    scan: tuple[np.ndarray, np.ndarray] = dataclasses.field(repr=False, default=None)

    @property
    def amplitude_scale(self) -> float:
        r""":math:`A = \sqrt{2 Z_\alpha / (2\pi)^d}`, the amplitude at :math:`\tilde G = 1`."""
        return math.sqrt(2 * self.normaliser / (2 * math.pi) ** self.d)

    def amplitude(self, radius: Float[Array, "..."]) -> Float[Array, "..."]:
        r""":math:`F = A\,\tilde G(|b|)^{\alpha/2}` at :math:`|b|` = ``radius`` (JAX, jit-compatible)."""
        if self.alpha == 0:
            return jnp.full(jnp.shape(radius), self.amplitude_scale, dtype=jnp.result_type(radius))
        return self.amplitude_scale * jnp.asarray(self.spectrum(radius)) ** (self.alpha / 2)

    def moment_range(self, exponent: float) -> tuple[float, float]:
        r"""Radii :math:`[r_0, R]` outside which :math:`\int d^dp\,\tilde G^{\gamma}` (:math:`\gamma` = ``exponent``)
        has relative mass below ``TAIL_TOLERANCE`` (:math:`R = L` with a cutoff); ``ValueError`` if it diverges."""
        inner, outer = _integrable_range(*self.scan, exponent, self.d, self.cutoff is None)
        return inner, (self.cutoff if self.cutoff is not None else outer)

    def profile(self, radius: np.ndarray, exponent: float) -> np.ndarray:
        r""":math:`\tilde G(r)^{\gamma}` in float64; ``exponent`` :math:`\gamma = 0` gives ones, even where
        :math:`\tilde G = 0`."""
        values = _evaluate_spectrum(self.spectrum, np.asarray(radius, dtype=np.float64))
        return np.ones_like(values) if exponent == 0 else values**exponent


def spectral_design(spectrum: Callable, d: int, *, cutoff: float | None = None, alpha: float = 0.0) -> SpectralDesign:
    r"""The plane-wave neurons that realise the power spectrum :math:`\tilde G` in :math:`d` dimensions.

    ``spectrum(p)`` maps an array of :math:`|p| \ge 0` to :math:`\tilde G(|p|) \ge 0`; it is
    evaluated in float64 (numpy arrays, inside ``jax.enable_x64``) to build the tables and in
    JAX inside the model (``log_prob``, and :math:`F` when :math:`\alpha > 0`), so write it with
    arithmetic operators and ``jnp`` functions.  ``cutoff`` is the radius :math:`L` of the momentum
    ball (``None`` or ``inf``: no cutoff), ``alpha`` the knob of the module docstring.

    Raises ``ValueError`` for d outside 1..4, alpha outside [0, 1], a non-positive cutoff,
    alpha = 1 without a cutoff (no uniform law on R^d), and a spectrum that cannot be evaluated,
    is negative or non-finite somewhere, vanishes identically, or whose integrals
    :math:`\int d^dp\,\tilde G` and :math:`\int d^dp\,\tilde G^{1-\alpha}` over the ball diverge at
    :math:`p \to 0` or, without cutoff, at :math:`p \to \infty` (e.g. :math:`1/(p^2+m^2)` in
    :math:`d \ge 2`): these are checked on a logarithmic scan of radii (local power laws at its ends)
    and on every quadrature node of the table.
    """
    d, cutoff, alpha = _validate_arguments(d, cutoff, alpha)
    if alpha == 1 and cutoff is None:
        raise ValueError("alpha = 1 (momenta uniform in the ball) needs a finite cutoff")
    if cutoff is None:
        low, high = np.log10(SCAN_RANGE_WITHOUT_CUTOFF)
        scan = np.logspace(low, high, round((high - low) * SCAN_PER_DECADE) + 1)
    else:
        scan = cutoff * np.logspace(-SCAN_DECADES_WITH_CUTOFF, 0, SCAN_DECADES_WITH_CUTOFF * SCAN_PER_DECADE + 1)
    values = _checked_values(spectrum, scan)
    inner, outer = scan[-1], scan[0]
    for exponent in sorted({1.0 - alpha, 1.0}):  # the momentum law and G2(0) = int G~ must both be finite
        low, high = _integrable_range(scan, values, exponent, d, cutoff is None)
        inner, outer = min(inner, low), max(outer, high)
    if cutoff is not None:
        outer = cutoff

    edges = _table_edges(inner, outer)
    nodes, weights = _gauss_legendre_cells(edges, NODES_PER_CELL)
    node_values = _checked_values(spectrum, nodes.ravel()).reshape(nodes.shape)
    weight = np.ones_like(node_values) if alpha == 1 else node_values ** (1.0 - alpha)
    cell_mass = np.sum(weights * nodes ** (d - 1) * weight, axis=1)
    total = float(np.sum(cell_mass))
    if not total > 0:
        raise ValueError("the power spectrum vanishes on the whole momentum range")
    for exponent in sorted({1.0 - alpha, 1.0}):
        _check_regular(spectrum, edges, exponent, d)
    cdf = np.minimum(np.concatenate([[0.0], np.cumsum(cell_mass)]) / total, 1.0)
    cdf[-1] = 1.0
    normaliser = sphere_area(d) * total

    def log_weight(radius):
        if alpha == 1:
            return jnp.zeros_like(radius)
        values = jnp.asarray(spectrum(radius))
        return jnp.where(values > 0, (1.0 - alpha) * jnp.log(jnp.where(values > 0, values, 1.0)), -jnp.inf)

    distribution = IsotropicMomentum(edges, cdf, log_weight, math.log(normaliser), outer, d)
    return SpectralDesign(
        spectrum, d, cutoff, alpha, normaliser, float(outer), float(inner), distribution, (scan, values)
    )


def _validate_arguments(d, cutoff, alpha):
    if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d not in DIMENSIONS:
        raise ValueError(f"d must be one of {', '.join(map(str, DIMENSIONS))}, got {d!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    if cutoff is not None:
        if isinstance(cutoff, bool) or not isinstance(cutoff, numbers.Real) or math.isnan(cutoff) or not cutoff > 0:
            raise ValueError(f"cutoff must be > 0 (or None for no cutoff), got {cutoff!r}")
        cutoff = None if math.isinf(cutoff) else float(cutoff)
    return int(d), cutoff, float(alpha)


def _float64_context():
    """JAX's float64 context manager: ``jax.enable_x64`` (recent JAX) or ``jax.experimental.enable_x64`` (older)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


def _evaluate_spectrum(spectrum: Callable, radius: np.ndarray) -> np.ndarray:
    """``spectrum(radius)`` as float64 numpy values of the same shape (JAX code inside runs in float64);
    ValueError if it cannot be evaluated."""
    try:
        with _float64_context():
            values = np.asarray(spectrum(radius), dtype=np.float64)
        return np.broadcast_to(values, radius.shape)
    except Exception as error:  # anything a user's callable raises
        raise ValueError(
            f"the power spectrum could not be evaluated on an array of |p|: {type(error).__name__}: {error}"
        ) from None


def _checked_values(spectrum: Callable, radius: np.ndarray) -> np.ndarray:
    values = _evaluate_spectrum(spectrum, radius)
    bad = ~np.isfinite(values)
    if np.any(bad):
        raise ValueError(f"the power spectrum is not finite at |p| = {radius[bad][0]:.6g} (value {values[bad][0]})")
    negative = values < 0
    if np.any(negative):
        raise ValueError(
            f"the power spectrum is negative at |p| = {radius[negative][0]:.6g} (value {values[negative][0]:.6g}); "
            "a power spectrum must be >= 0"
        )
    return values


def _integrable_range(scan, values, exponent, d, unbounded):
    """Radii [inner, outer] outside which int r^{d-1} G~^exponent dr has relative mass < TAIL_TOLERANCE.

    On the logarithmic scan, g(r) = r^d G~(r)^exponent is the mass per unit log r.  At each end the
    local power law over the last decade, g ~ r^(+s) towards r -> 0 and g ~ r^(-s) towards
    r -> infinity, extrapolates the mass outside the scan, g_end / s; the integral diverges if g does
    not fall towards that end (s <= DIVERGENCE_SLOPE), and is refused as too slowly convergent if
    the extrapolated mass exceeds SLOW_TAIL_LIMIT of the total.
    """
    g = scan**d * (np.ones_like(values) if exponent == 0 else values**exponent)
    log_r = np.log(scan)
    pieces = np.diff(log_r) * (g[1:] + g[:-1]) / 2
    total = float(np.sum(pieces))
    what = "int d^dp G~(p)" + ("" if exponent == 1 else f"^{exponent:g}")
    if not total > 0:
        raise ValueError("the power spectrum vanishes on the whole momentum range")
    decade = SCAN_PER_DECADE
    ends = [("p -> 0", 0, decade)]
    if unbounded:
        ends.append(("p -> infinity (give a cutoff)", len(scan) - 1, len(scan) - 1 - decade))
    outside = {}
    for where, end, inside in ends:
        if g[end] == 0:
            outside[end] = 0.0
            continue
        # g ~ r^(+fall) towards r -> 0, g ~ r^(-fall) towards r -> infinity
        fall = np.log(g[inside] / g[end]) / abs(np.log(scan[inside] / scan[end])) if g[inside] > 0 else -np.inf
        if not fall > DIVERGENCE_SLOPE:
            power = fall if end == 0 else -fall
            raise ValueError(
                f"the power spectrum is not integrable: {what} diverges at {where} "
                f"(its mass per unit log p, p^{d} G~(p)"
                + ("" if exponent == 1 else f"^{exponent:g}")
                + f", behaves like p^{power + 0.0:.2f} there)"
            )
        outside[end] = g[end] / fall
        if outside[end] > SLOW_TAIL_LIMIT * total:
            raise ValueError(
                f"the power spectrum decays too slowly at {where} to be sampled: {what} has a relative "
                f"mass ~{outside[end] / total:.2g} beyond |p| = {scan[end]:.3g}"
            )
    below, above = outside[0], outside.get(len(scan) - 1, 0.0)
    cumulative = np.concatenate([[0.0], np.cumsum(pieces)])
    inner_index = max(0, int(np.searchsorted(below + cumulative, TAIL_TOLERANCE * total, side="right")) - 1)
    outer_mass = above + (cumulative[-1] - cumulative)
    small = outer_mass < TAIL_TOLERANCE * total
    outer_index = int(np.argmax(small)) if np.any(small) else -1
    return float(scan[inner_index]), float(scan[outer_index] if unbounded else scan[-1])


SINGULARITY_TOLERANCE = 1e-3
"""Largest relative difference of the table's total mass between the 8-node and a 5-node
Gauss-Legendre rule on the same cells.  A jump of the spectrum inside a cell costs at most ~1e-4;
a singularity inside the momentum range shows up as a much larger discrepancy."""


def _check_regular(spectrum, edges, exponent, d) -> None:
    """Refuse spectra with a singularity inside the momentum range (the ends are checked by the scan):
    two Gauss-Legendre rules (8 and 5 nodes per cell) of int r^{d-1} G~^exponent agree to rounding
    for a smooth integrand and differ by O(cell mass) in a cell where it is singular."""
    masses = []
    for nodes_per_cell in (NODES_PER_CELL, 5):
        nodes, weights = _gauss_legendre_cells(edges, nodes_per_cell)
        values = _checked_values(spectrum, nodes.ravel()).reshape(nodes.shape)
        weight = np.ones_like(values) if exponent == 0 else values**exponent
        masses.append(np.sum(weights * nodes ** (d - 1) * weight, axis=1))
    difference = np.abs(masses[0] - masses[1])
    if np.sum(difference) > SINGULARITY_TOLERANCE * np.sum(masses[0]):
        worst = int(np.argmax(difference))
        raise ValueError(
            f"the power spectrum is singular near |p| = {(edges[worst] + edges[worst + 1]) / 2:.6g}: not integrable "
            "there, or too singular to tabulate (two quadrature rules differ by "
            f"{np.sum(difference) / np.sum(masses[0]):.2g} of the total)"
        )


def _table_edges(inner: float, outer: float) -> np.ndarray:
    """Cell edges on [0, outer]: 0, geometric edges from ``inner`` (CELLS_PER_DECADE per decade), and
    UNIFORM_CELLS equal cells, merged (edges closer than 1e-9 relative are dropped)."""
    decades = max(np.log10(outer / inner), 1.0 / CELLS_PER_DECADE)
    geometric = outer * np.logspace(-decades, 0, int(np.ceil(decades * CELLS_PER_DECADE)) + 1)
    uniform = np.linspace(0.0, outer, UNIFORM_CELLS + 1)
    edges = np.unique(np.concatenate([geometric, uniform]))
    keep = np.concatenate([[True], np.diff(edges) > 1e-9 * edges[1:]])
    edges = edges[keep]
    edges[-1] = outer
    return edges


def _gauss_legendre_cells(edges: np.ndarray, nodes_per_cell: int):
    """Nodes and weights (n_cells, nodes_per_cell) of Gauss-Legendre quadrature on each cell."""
    x, w = np.polynomial.legendre.leggauss(nodes_per_cell)
    half = np.diff(edges)[:, None] / 2
    middle = (edges[1:] + edges[:-1])[:, None] / 2
    return middle + half * x[None, :], half * w[None, :]
