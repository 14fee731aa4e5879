r"""First-order perturbation theory for a local potential on a box (PHYSICS.md D.2, E.1-E.3).

The deformed density :math:`P(\theta)\,e^{-U[\phi_\theta]}`, :math:`U[\phi] = \int_V d^dz\,V(\phi(z))` over a
:class:`~nnqft_ppl.box.Box` V, is at :math:`N = \infty` the local theory :math:`S = S_0 + U` whose free part
is the Gaussian measure :math:`\mu_0` of the network's two-point function :math:`G(x, z)`.

**First-order connected correlators.**  With :math:`Z_0[J] = \mathbb E_0 e^{\int J\phi}`, the generating
function of the connected correlators is, to first order in V (PHYSICS.md D.2),

.. math::  W_V[J] = \log\frac{\mathbb E_0\big[e^{-U+\int J\phi}\big]}{\mathbb E_0 e^{-U}}
           = W_0[J] - \big(\mathbb E_J[U] - \mathbb E_0[U]\big) + O(V^2),

where :math:`\mathbb E_J` is the tilted measure :math:`e^{\int J\phi}\mu_0/Z_0[J]`.  For a Gaussian
:math:`\mu_0` the tilt only shifts the mean, :math:`\phi \to \phi + (GJ)`,
:math:`(GJ)(z) = \int dy\,G(z,y)J(y)`, with the covariance unchanged, so Taylor expanding in the shift

.. math::  \mathbb E_J[V(\phi(z))] = \mathbb E_0[V(\phi(z) + (GJ)(z))]
           = \sum_{n\ge0}\frac{(GJ)(z)^n}{n!}\,\mathbb E_0\big[V^{(n)}(\phi(z))\big],

and the n-th functional derivative at J = 0 gives every first-order connected correlator:

.. math::  \delta G^{(n)}_c(x_1..x_n) = -\int_V d^dz\ c_n(z)\prod_{i=1}^n G(x_i, z),\qquad
           c_n(z) = \mathbb E_0\big[V^{(n)}(\phi(z))\big],\quad \phi(z) \sim \mathcal N\big(0, G(z,z)\big).

(For n = 2 this is also Gaussian integration by parts, :math:`\mathbb E_0[\phi_x\phi_yF(\phi_z)] = G_{xy}
\mathbb E_0F + G_{xz}G_{yz}\mathbb E_0F''`, in D.2's :math:`-\mathrm{Cov}_0(\phi_x\phi_y, U)`.)  To first order
the full and connected two-point functions agree (:math:`G^{(1)}G^{(1)} = O(V^2)`), so
:math:`G^{(2)} = G + \delta G^{(2)}_c`; an even potential has :math:`c_{\rm odd} = 0`.

**Polynomial potentials.**  Convention (stated once, used everywhere):
:math:`V(\phi) = \sum_k g_k\,\phi^k/k!`, given as ``{k: g_k}``.  Then
:math:`V^{(n)} = \sum_{k\ge n} g_k\phi^{k-n}/(k-n)!` and, with :math:`\mathbb E\phi^{2j} = (2j-1)!!\,v^j` and
:math:`(2j-1)!!/(2j)! = 1/(2^jj!)`,

.. math::  c_n = \sum_{j\ge0} g_{n+2j}\,\frac{(2j-1)!!\,v^j}{(2j)!} = \sum_{j\ge0} g_{n+2j}\,\frac{(v/2)^j}{j!},
           \qquad v = G(z,z)

(for a single :math:`\phi^k`: :math:`c_2 = g_k(k-3)!!\,v^{(k-2)/2}/(k-2)!`).  Examples, with :math:`G(0)` the
coincident propagator (finite because of the cutoff):

- :math:`\phi^4`, :math:`V = \frac\lambda{4!}\phi^4`: :math:`c_2 = \frac\lambda2G(0)`, :math:`c_4 = \lambda`, so
  :math:`G^{(4)}_c = -\lambda\int_V\prod_iG(x_i-z)` and
  :math:`\delta G^{(2)} = -\frac\lambda2G(0)\int_VG(x-z)G(z-y)`: exactly PHYSICS.md E.3.
- :math:`\phi^2`, :math:`V = \frac{\delta m^2}2\phi^2`: :math:`c_2 = \delta m^2`, :math:`G^{(4)}_c = 0`.
- :math:`\phi^6`, :math:`V = \frac{g_6}{6!}\phi^6`: :math:`c_2 = \frac{g_6}8G(0)^2`, :math:`c_4 = \frac{g_6}2G(0)`,
  :math:`c_6 = g_6`.

**Mass shift.**  For a translation-invariant :math:`\tilde G(p) = Z/(p^2+m^2)` (times the cutoff's
indicator) and the box :math:`V \to \mathbb R^d`, :math:`\delta\tilde G = -c_2\tilde G^2 =
c_2Z\,\partial_{m^2}\tilde G`: the first-order expansion of :math:`Z/(p^2+m^2+\delta m^2)` with
:math:`\delta m^2 = Zc_2`, the one-loop tadpole :math:`\frac\lambda2G(0)` for :math:`\phi^4` at Z = 1
(:func:`mass_shift`).  On a box, :math:`\delta G^{(2)}(x,y) \to \delta m^2\,\partial_{m^2}G(x-y)` as x, y get
many :math:`1/m` inside; with a hard cutoff only like 1/L, because :math:`G_\Lambda - G` has an oscillating
power-law tail :math:`\sim\cos(\Lambda r)/(\Lambda r)^{(d+1)/2}` (relative deviation ~5e-4 at
:math:`L = 24`, :math:`\Lambda = 6`, m = 1.5 in d = 2).

**Quadrature.**  :math:`\int_V` is a tensor composite Gauss-Legendre rule.  On every axis the panels end
at the box's ends and at the points' coordinates inside it (so the cusp of :math:`e^{-m|t|}` at
:math:`z = x_i` is a panel edge in d = 1), and start :data:`PANEL_WIDTH` times the propagator's ``scale``
wide at most (the shortest length on which :math:`G` changes: the width :math:`\sim\pi/\Lambda` of its
peak at coincident points, and :math:`1/m`).  Each integral is done with 16 and with 10 nodes per panel;
the difference, which bounds the 10-node error (the 16-node one is far smaller), is the reported error,
and where it exceeds ``rtol`` times the largest entry the panels are halved, up to a node budget.  Per
chunk of nodes the integrand is the matrix :math:`G(x_i, z_a)`, the products over the unique half-tuples
of points, and one product of those matrices per order, so the cost is (nodes) x (points) propagators
plus (nodes) x (unique half-tuples)^2 multiplications.  d = 1 takes milliseconds.  d = 2 at
:math:`L\Lambda = 200` takes ~0.1-0.3 s for 3 points and ~1.5 s for 8 (2 cores).  d = 3 fits the node
budget (:data:`MAX_QUADRATURE_NODES`) only for small boxes, :math:`L\Lambda \lesssim 40` (~1-3 s).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable, Mapping

import numpy as np

from ..box import Box
from ..combinatorics import expand_symmetric, tuple_position, unique_tuples
from ..correlators import validate_orders
from ..spacetime import as_points
from .spectral import cutoff_propagator_1d, radial_fourier_transform

__all__ = [
    "MAX_QUADRATURE_NODES",
    "Propagator",
    "RadialTable",
    "first_order_correlators",
    "gaussian_vertex_factor",
    "mass_shift",
    "model_propagator",
]

DEFAULT_RTOL = 1e-7
"""Default accuracy of :func:`first_order_correlators`: the largest accepted difference between the
16- and 10-node rules, relative to the largest entry of each correlator."""

NODES_PER_PANEL = (16, 10)
"""Gauss-Legendre nodes per panel of the reported rule and of the rule it is checked against."""

PANEL_WIDTH = 4.0
r"""Widest quadrature panel at the start, in units of the propagator's ``scale``: 16 nodes per panel then
resolve the peak of :math:`\prod_iG(x_i - z)` (at d = 2, :math:`\Lambda = 20`, L = 10 the 16-node values
are already exact to ~1e-11, the 10-node ones to ~1e-6; the panels are halved until the latter agree)."""

MAX_QUADRATURE_NODES = 4_000_000
"""Default node budget of the 16-node rule (all of the box): beyond it the integral is refused."""

CHUNK_ENTRIES = 1 << 20
"""Entries of one (node, point) or (node, tuple) block: bounds the memory to ~10 MB per array."""

CHEBYSHEV_DEGREE = 20
r"""Degree of :class:`RadialTable`'s interpolant on each panel :math:`2\pi/\Lambda` wide.  A function of
exponential type :math:`\Lambda` (a propagator with momentum cutoff :math:`\Lambda`) is then interpolated
to :math:`\sim 2(\pi/2)^{21}/21! \approx 10^{-15}` of its size (rounding in the sum: ~1e-14)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Propagator:
    r"""The two-point function :math:`G(x, z) = \mathbb E_0[\phi(x)\phi(z)]` of the undeformed (Gaussian) field.

    - ``block(x, z)``: the matrix :math:`G(x_i, z_a)`, shape (len(x), len(z)), for point sets of shape (n, d);
    - ``variance(z)``: :math:`G(z_a, z_a)`, shape (len(z),);
    - ``d``: the dimension;
    - ``scale``: the shortest length on which :math:`G` changes (:math:`\pi/\Lambda` for a momentum cutoff
      :math:`\Lambda`, :math:`1/m`), which sets the widest quadrature panel (:data:`PANEL_WIDTH`); ``None``:
      unknown (the panels start at a quarter of the box and the convergence check refines them);
    - ``separation``: for a translation-invariant :math:`G`, the vectorised :math:`G(v)` of separation
      vectors :math:`v = x - z` of shape (..., d) (``None`` otherwise).

    Build one with :meth:`from_separation` or :func:`model_propagator`.
    """

    block: Callable[[np.ndarray, np.ndarray], np.ndarray]
    variance: Callable[[np.ndarray], np.ndarray]
    d: int
    scale: float | None = None
    separation: Callable[[np.ndarray], np.ndarray] | None = None

    def __post_init__(self):
        if isinstance(self.d, bool) or not isinstance(self.d, numbers.Integral) or not 1 <= self.d <= 4:
            raise ValueError(f"the propagator's dimension d must be an integer in 1..4, got {self.d!r}")
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"the propagator's scale must be a positive length, got {self.scale!r}")

    @classmethod
    def from_separation(cls, function: Callable[[np.ndarray], np.ndarray], d: int, scale: float | None = None):
        r"""A translation-invariant propagator :math:`G(x, z) = f(x - z)` from the vectorised ``function`` f of
        separation vectors of shape (..., d)."""

        def block(x, z):
            x, z = np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64)
            return np.asarray(function(x[:, None, :] - z[None, :, :]), dtype=np.float64)

        def variance(z):
            return np.full(len(z), float(np.asarray(function(np.zeros((1, d))))[0]))

        return cls(block, variance, d, scale, function)

    @property
    def coincident(self) -> float:
        r""":math:`G(0)`, the variance of the field at any point (translation-invariant propagators only)."""
        if self.separation is None:
            raise ValueError("this propagator is not translation invariant: use variance(z) for G(z, z)")
        return float(np.asarray(self.separation(np.zeros((1, self.d))))[0])

    def matrix(self, points) -> np.ndarray:
        """:math:`G(x_i, x_j)` at the points, shape (n, n)."""
        points = as_points(points, self.d)
        return self.block(points, points)


class RadialTable:
    r"""A radial function :math:`f(r)`, :math:`r \ge 0`, interpolated from a slow exact ``function``.

    The half-line is cut into panels ``panel_width`` wide, and on each :math:`f` is the Chebyshev
    interpolant of degree ``degree`` through the first-kind Chebyshev points (coefficients by discrete
    orthogonality, evaluation by Clenshaw's recurrence).  Panels are tabulated on demand: a call beyond
    the table at least doubles it, so ``function`` sees each radius once.  For :math:`f` of exponential type
    :math:`K` (a propagator with momentum cutoff K) and panels :math:`2\pi/K` wide, degree 20 interpolates
    to about :math:`10^{-14}` of :math:`\max|f|` (:data:`CHEBYSHEV_DEGREE`), so the table is as accurate as
    ``function`` itself.
    """

    def __init__(
        self, function: Callable[[np.ndarray], np.ndarray], panel_width: float, degree: int = CHEBYSHEV_DEGREE
    ):
        if not (math.isfinite(panel_width) and panel_width > 0):
            raise ValueError(f"the panel width must be > 0, got {panel_width!r}")
        self.function, self.panel_width, self.degree = function, float(panel_width), int(degree)
        angles = np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1)
        self._nodes = np.cos(angles)  # first-kind Chebyshev points in (-1, 1)
        self._analysis = 2.0 / (degree + 1) * np.cos(np.outer(np.arange(degree + 1), angles))
        self._analysis[0] /= 2
        self.coefficients = np.empty((0, degree + 1))

    def _extend(self, n_panels: int) -> None:
        start = len(self.coefficients)
        left = np.arange(start, n_panels)[:, None] * self.panel_width
        radii = left + (self._nodes + 1) * self.panel_width / 2
        values = np.asarray(self.function(radii.ravel()), dtype=np.float64).reshape(radii.shape)
        self.coefficients = np.concatenate([self.coefficients, values @ self._analysis.T])
        self._columns = np.ascontiguousarray(self.coefficients.T)  # row k: every panel's T_k coefficient

    def __call__(self, r) -> np.ndarray:
        r = np.abs(np.asarray(r, dtype=np.float64))
        panel = np.floor(r / self.panel_width).astype(np.int64)
        needed = int(panel.max(initial=0)) + 1
        if needed > len(self.coefficients):
            self._extend(max(needed, 2 * len(self.coefficients)))
        u = 2 * (r / self.panel_width - panel) - 1
        upper, lower = np.zeros(r.shape), np.zeros(r.shape)
        for k in range(self.degree, 0, -1):
            upper, lower = 2 * u * upper - lower + self._columns[k][panel], upper
        return u * upper - lower + self._columns[0][panel]


def model_propagator(model, params: Mapping | None = None) -> Propagator:
    r"""The :math:`N = \infty` two-point function of a registered model, with its hyperparameters ``params``.

    - ``scalar_net``: :math:`\sigma_a^2 G_\Lambda` (its theory's convention), translation invariant; in d = 1
      the closed form :func:`~nnqft_ppl.theory.cutoff_propagator_1d`, in d >= 2 a :class:`RadialTable` of the
      radial Bessel integral :func:`~nnqft_ppl.theory.radial_fourier_transform` (accuracy ~1e-10 of
      :math:`G(0)`, tabulated once per propagator as far as the separations asked for).
    - ``cauchy_net``: :math:`\frac{\sigma_a^2}2\big[(1-w)e^{-m|t|} + we^{-m_2|t|}\big]` (d = 1).
    - any other model whose theory has single-neuron moments (a
      :class:`~nnqft_ppl.theory.FiniteWidthTheory`): :math:`G(x,z) = \mu_2\mathbb E[h(x)h(z)] + \sigma_{\rm bias}^2`
      on every (point, node) pair; or whose theory has ``infinite_width()``: that Gaussian theory's kernel
      on the points and a chunk of nodes at a time (slower).  These need not be translation invariant,
      and their ``scale`` is unknown (the quadrature refines until converged).
    """
    from ..registry import get_model

    spec = get_model(model)
    resolved = spec.resolve(params)
    if spec.theory is None:
        raise ValueError(f"{spec.name} has no theory: its two-point function is unknown")
    theory = spec.theory(**resolved)  # also validates the hyperparameters
    d = int(resolved.get("d", 1))
    if spec.name == "scalar_net":
        return _scalar_propagator(d, resolved["mass"], resolved["cutoff"], resolved["sigma_a"])
    if spec.name == "cauchy_net":
        weight = float(resolved.get("excited_weight", 0.0))
        levels = [(1.0 - weight, float(resolved["mass"])), (weight, float(resolved.get("excited_mass", 1.0)))]
        return _exponential_propagator([(w, m) for w, m in levels if w > 0], resolved["sigma_a"])
    if hasattr(theory, "neuron_moment") and hasattr(theory, "weight_moment"):
        return _neuron_propagator(theory, d)
    if hasattr(theory, "infinite_width"):
        return _kernel_propagator(theory.infinite_width().kernel, d)
    raise ValueError(f"{spec.name}'s theory has neither neuron moments nor an infinite_width() kernel")


def _scalar_propagator(d: int, mass: float, cutoff: float, sigma_a: float) -> Propagator:
    mass, cutoff, strength = float(mass), float(cutoff), float(sigma_a) ** 2
    scale = min(math.pi / cutoff, 1.0 / mass)
    if d == 1:
        return Propagator.from_separation(lambda v: strength * cutoff_propagator_1d(v[..., 0], mass, cutoff), 1, scale)
    table = RadialTable(
        lambda rho: radial_fourier_transform(lambda p: 1.0 / (p * p + mass * mass), rho, d, cutoff),
        2 * math.pi / cutoff,
    )
    return Propagator.from_separation(lambda v: strength * table(np.linalg.norm(v, axis=-1)), d, scale)


def _exponential_propagator(levels, sigma_a: float) -> Propagator:
    r""":math:`\frac{\sigma_a^2}2\sum_j w_je^{-m_j|t|}` in d = 1."""
    strength = float(sigma_a) ** 2 / 2

    def function(v):
        t = np.abs(v[..., 0])
        return strength * sum(w * np.exp(-m * t) for w, m in levels)

    return Propagator.from_separation(function, 1, 1.0 / max(m for _, m in levels))


def _neuron_propagator(theory, d: int) -> Propagator:
    r""":math:`\mu_2\mathbb E[h(x)h(z)] + \sigma_{\rm bias}^2` from a FiniteWidthTheory's neuron moments, by pairs."""

    def pairs(x, z):
        xs = np.stack(np.broadcast_arrays(x, z), axis=-2)  # (..., 2, d)
        moments = np.asarray(theory.neuron_moment(xs.reshape(-1, 2, d)), dtype=np.float64).reshape(xs.shape[:-2])
        return theory.weight_moment(2) * moments + getattr(theory, "bias_variance", 0.0)

    def block(x, z):
        return pairs(np.asarray(x, dtype=np.float64)[:, None, :], np.asarray(z, dtype=np.float64)[None, :, :])

    return Propagator(block, lambda z: pairs(z, z), d)


def _kernel_propagator(kernel: Callable[[np.ndarray], np.ndarray], d: int, chunk: int = 256) -> Propagator:
    """G from a Gaussian theory's ``kernel(points) -> (n, n)``, on the points and ``chunk`` nodes at a time."""

    def block(x, z):
        x, z = np.asarray(x, dtype=np.float64), np.asarray(z, dtype=np.float64)
        parts = [
            np.asarray(kernel(np.concatenate([x, z[s : s + chunk]])))[: len(x), len(x) :]
            for s in range(0, len(z), chunk)
        ]
        return np.concatenate(parts, axis=1) if parts else np.zeros((len(x), 0))

    def variance(z):
        z = np.asarray(z, dtype=np.float64)
        parts = [np.diagonal(np.asarray(kernel(z[s : s + chunk]))) for s in range(0, len(z), chunk)]
        return np.concatenate(parts) if parts else np.zeros(0)

    return Propagator(block, variance, d)


def _polynomial(potential) -> dict[int, float]:
    """A validated ``{power: coefficient}`` polynomial."""
    if not isinstance(potential, Mapping) or not potential:
        raise ValueError(f"the potential must be a non-empty {{power: coefficient}} mapping, got {potential!r}")
    for power, coefficient in potential.items():
        if isinstance(power, bool) or not isinstance(power, numbers.Integral) or power < 0:
            raise ValueError(f"the potential's powers must be integers >= 0, got {power!r}")
        if isinstance(coefficient, bool) or not isinstance(coefficient, numbers.Real) or not math.isfinite(coefficient):
            raise ValueError(
                f"the potential's coefficients must be finite numbers, got {coefficient!r} for phi^{power}"
            )
    return {int(k): float(g) for k, g in potential.items()}


def _vertex_factor(potential) -> Callable[[int, np.ndarray], np.ndarray]:
    """c_n(v) of a polynomial ``{power: coefficient}`` (or of an object with such ``coefficients``, e.g. a
    :class:`nnqft_ppl.potentials.Potential`), or the callable ``(n, v) -> c_n`` itself."""
    if hasattr(potential, "coefficients"):
        if potential.coefficients is None:
            raise ValueError(f"perturbation theory needs a polynomial potential's coefficients; {potential!r} has none")
        potential = potential.coefficients
    elif callable(potential):
        return potential
    polynomial = _polynomial(potential)
    return lambda order, variance: gaussian_vertex_factor(polynomial, order, variance)


def gaussian_vertex_factor(potential: Mapping[int, float], order: int, variance):
    r""":math:`c_n = \mathbb E[V^{(n)}(\phi)]` for :math:`\phi \sim \mathcal N(0, v)`, ``variance`` v (vectorised),
    and the polynomial :math:`V = \sum_k g_k\phi^k/k!` given as ``{k: g_k}``:

    .. math::  c_n = \sum_{j\ge0} g_{n+2j}\,\frac{(v/2)^j}{j!}

    (module docstring).  E.g. :math:`V = \frac\lambda{4!}\phi^4`: :math:`c_2 = \lambda v/2`, :math:`c_4 = \lambda`,
    :math:`c_1 = c_3 = 0`.  Returns a float for a scalar variance, else an array shaped like it.
    """
    polynomial = _polynomial(potential)
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 0:
        raise ValueError(f"the derivative order must be an integer >= 0, got {order!r}")
    variance = np.asarray(variance, dtype=np.float64)
    total = np.zeros(variance.shape)
    for power, coefficient in polynomial.items():
        if power >= order and (power - order) % 2 == 0:
            j = (power - order) // 2
            total = total + coefficient * (variance / 2) ** j / math.factorial(j)
    return total if total.ndim else float(total)


def mass_shift(potential, coincident: float, field_strength: float = 1.0) -> float:
    r"""The first-order (one-loop) mass shift :math:`\delta m^2 = Z\,c_2 = Z\,\mathbb E_0[V''(\phi)]`,
    :math:`\phi \sim \mathcal N(0, G(0))` with ``coincident`` :math:`G(0)`, for a propagator
    :math:`\tilde G = Z/(p^2+m^2)` (``field_strength`` Z: :math:`\sigma_a^2` for ``scalar_net``,
    :math:`m\sigma_a^2` for ``cauchy_net``).  :math:`\phi^4` (``{4: lam}``) at Z = 1 gives the tadpole
    :math:`\frac\lambda2G(0)`; the deformed two-point function is the propagator of mass
    :math:`\sqrt{m^2+\delta m^2}` to first order, :math:`\delta G^{(2)} = \delta m^2\,\partial_{m^2}G`, on an
    infinite box (module docstring).  ``potential`` is ``{power: coefficient}`` or a callable ``(n, v) -> c_n``.
    """
    if not (math.isfinite(coincident) and coincident >= 0):
        raise ValueError(f"the coincident propagator G(0) must be finite and >= 0, got {coincident!r}")
    return float(field_strength) * float(_vertex_factor(potential)(2, float(coincident)))


def _axis_edges(low: float, high: float, cuts: np.ndarray, width: float) -> np.ndarray:
    """Panel edges on [low, high]: at the ends and at the ``cuts`` inside, each piece cut into equal
    panels at most ``width`` wide."""
    breaks = np.unique(np.concatenate([[low, high], cuts[(cuts > low) & (cuts < high)]]))
    counts = np.maximum(1, np.ceil(np.diff(breaks) / width - 1e-9).astype(int))
    pieces = [np.linspace(a, b, n, endpoint=False) for a, b, n in zip(breaks[:-1], breaks[1:], counts, strict=True)]
    return np.concatenate(pieces + [[high]])


def _tensor_rule(axes: list[np.ndarray], nodes_per_panel: int) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre nodes (M, d) and weights (M,) on the product of panels with the given edges."""
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    rules = []
    for edges in axes:
        centre, half = (edges[1:] + edges[:-1])[:, None] / 2, np.diff(edges)[:, None] / 2
        rules.append(((centre + half * x).ravel(), (half * w).ravel()))
    nodes = np.stack(np.meshgrid(*[r[0] for r in rules], indexing="ij"), axis=-1).reshape(-1, len(axes))
    weights = np.prod(np.stack(np.meshgrid(*[r[1] for r in rules], indexing="ij"), axis=-1), axis=-1).ravel()
    return nodes, weights


def _split_positions(n: int, order: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The split h = order // 2 of each unique order-r tuple t = (t[:h], t[h:]) and the positions of both
    halves among the unique tuples of orders h and r - h."""
    tuples, half = unique_tuples(n, order), order // 2
    return half, tuple_position(n, tuples[:, :half]), tuple_position(n, tuples[:, half:])


def _vertex_integrals(propagator, points, nodes, weights, factors, orders, coincident):
    r""":math:`-\int_V c_n(z)\prod_iG(x_{t_i}, z)` on the unique index tuples t of each order, by the rule.

    Each order r is a matrix product over the nodes: with h = r // 2 and the products
    :math:`P_s[a, u] = \prod_{i\in u}G(x_i, z_a)` over the unique s-tuples u, the entry of
    :math:`t = (u, u')` is :math:`\sum_a w_ac_r(z_a)P_h[a, u]P_{r-h}[a, u']`."""
    n = len(points)
    splits = {order: _split_positions(n, order) for order in orders}
    products = sorted({s for order in orders for s in (order // 2, order - order // 2)})
    step = max(1, CHUNK_ENTRIES // sum(len(unique_tuples(n, s)) for s in products))
    out = {order: np.zeros(len(unique_tuples(n, order))) for order in orders}
    for start in range(0, len(nodes), step):
        z, w = nodes[start : start + step], weights[start : start + step]
        kernel = propagator.block(points, z).T  # (nodes, points)
        variance = propagator.variance(z) if coincident is None else np.full(len(z), float(coincident))
        table = {s: np.prod(kernel[:, unique_tuples(n, s)], axis=-1) for s in products}  # s = 0: ones
        for order in orders:
            factor = np.broadcast_to(np.asarray(factors(order, variance), dtype=np.float64), len(z))
            if np.any(factor != 0):
                half, left, right = splits[order]
                weighted = (w * factor)[:, None] * table[half]
                # einsum's own loop rather than BLAS, whose threads stall on a loaded machine
                out[order] -= np.einsum("au,av->uv", weighted, table[order - half])[left, right]
    return out


def _converged_vertex_integrals(propagator, points, box, factors, orders, coincident, rtol, max_nodes):
    """:func:`_vertex_integrals` by the 16-node rule and its difference from the 10-node rule, with the panels
    halved until that difference is within ``rtol`` of each order's largest entry (module docstring)."""
    low, high = box.center - box.length / 2, box.center + box.length / 2
    scale = propagator.scale if propagator.scale is not None else box.length / 16
    width = min(box.length, PANEL_WIDTH * scale)
    worst, used = None, 0
    while True:
        axes = [_axis_edges(low, high, points[:, k], width) for k in range(box.d)]
        size = math.prod((len(edges) - 1) * NODES_PER_PANEL[0] for edges in axes)
        if size > max_nodes:
            reached = "" if worst is None else f" (relative error {worst:.1e} with {used:.2e} nodes)"
            raise ValueError(
                f"the vertex integrals over the box did not converge to rtol={rtol:.1e} within {max_nodes:.2e} "
                f"quadrature nodes{reached}: the next rule needs {size:.2e}; use a smaller box, a lower cutoff "
                f"or a larger max_nodes"
            )
        fine, coarse = (
            _vertex_integrals(propagator, points, *_tensor_rule(axes, n), factors, orders, coincident)
            for n in NODES_PER_PANEL
        )
        if not all(np.all(np.isfinite(fine[order])) for order in orders):
            raise ValueError("the vertex integrals are not finite: the propagator returned NaN or inf in the box")
        errors = {order: np.abs(fine[order] - coarse[order]) for order in orders}
        scales = {order: np.abs(fine[order]).max(initial=0.0) for order in orders}
        worst = max(float(np.max(errors[o] / scales[o])) if scales[o] > 0 else 0.0 for o in orders)
        if worst <= rtol:
            return fine, errors
        width, used = width / 2, size


def first_order_correlators(
    propagator: Propagator,
    points,
    box: Box,
    potential,
    *,
    orders=(2, 4),
    coincident: float | None = None,
    rtol: float = DEFAULT_RTOL,
    max_nodes: int = MAX_QUADRATURE_NODES,
) -> dict[str, np.ndarray]:
    r"""First-order connected correlators of the deformation :math:`e^{-\int_V V(\phi)}` at the points:

    .. math::  \delta G^{(n)}_c(x_1..x_n) = -\int_V d^dz\ c_n(z)\prod_{i=1}^nG(x_i, z),\qquad
               c_n = \mathbb E_0[V^{(n)}(\phi(z))]

    (module docstring; :math:`\phi^4`: :math:`G^{(4)}_c = -\lambda\int_V\prod_iG(x_i-z)`,
    :math:`\delta G^{(2)} = -\frac\lambda2G(0)\int_VG(x-z)G(z-y)`).

    - ``propagator``: the free :class:`Propagator` (e.g. :func:`model_propagator`);
    - ``points``: shape (n, d) (1-D: d = 1), inside or outside the box; ``box``: the
      :class:`~nnqft_ppl.box.Box` V of the deformation;
    - ``potential``: ``{power: coefficient}`` for :math:`V = \sum_kg_k\phi^k/k!` (``{4: lam}`` is
      :math:`\frac\lambda{4!}\phi^4`; an object with these ``coefficients``, such as a polynomial
      :class:`nnqft_ppl.potentials.Potential`, works too), or a callable ``(n, v) -> c_n`` giving
      :math:`\mathbb E[V^{(n)}(\phi)]` for :math:`\phi \sim \mathcal N(0, v)` (vectorised in v; e.g.
      ``lambda n, v: {2: g2, 4: g4}.get(n, 0.0)``);
    - ``orders``: the correlator orders, 1..6;
    - ``coincident``: the variance v used in the vertex factors, default the propagator's :math:`G(z, z)`;
    - ``rtol``: accuracy, relative to the largest entry of each correlator; ``max_nodes``: node budget.

    Returns the full symmetric tensors under the library's names (``G1``, ``G2``, ``G3c``, ``G4c``, ...; for
    n <= 2 the first-order full and connected correlators agree) of the **first-order terms only** (the
    deformed two-point function is ``propagator.matrix(points) + result["G2"]``), and ``<name>_error``, the
    quadrature error estimate (the change from the 10-node rule, an upper bound).  Raises ``ValueError`` for
    dimensions that disagree, a malformed potential, or an integral that has not converged to ``rtol`` within
    ``max_nodes`` nodes.
    """
    if not isinstance(propagator, Propagator):
        raise ValueError(f"propagator must be a Propagator (see model_propagator), got {type(propagator).__name__}")
    if not isinstance(box, Box):
        raise ValueError(f"box must be a nnqft_ppl.box.Box, got {type(box).__name__}")
    points = as_points(points)
    if not points.shape[1] == box.d == propagator.d:
        raise ValueError(
            f"dimension mismatch: the points have d={points.shape[1]}, the box d={box.d}, "
            f"the propagator d={propagator.d}"
        )
    orders = validate_orders(orders, len(points))
    factors = _vertex_factor(potential)
    if coincident is not None and not (math.isfinite(coincident) and coincident >= 0):
        raise ValueError(f"the coincident propagator must be finite and >= 0, got {coincident!r}")
    if not (math.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be > 0, got {rtol!r}")
    values, errors = _converged_vertex_integrals(propagator, points, box, factors, orders, coincident, rtol, max_nodes)
    result = {}
    for order in orders:
        name = f"G{order}" if order <= 2 else f"G{order}c"
        result[name] = expand_symmetric(values[order], len(points), order)
        result[f"{name}_error"] = expand_symmetric(errors[order], len(points), order)
    return result
