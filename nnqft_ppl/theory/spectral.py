r"""Theory of plane-wave neurons with a rotation-invariant momentum law (PHYSICS.md A.3-A.4, B.4-B.5).

For :math:`h = F(b)\cos(b\cdot x + c)`, :math:`c \sim U[-\pi,\pi]`: expanding
:math:`\prod_j\cos\theta_j = 2^{-k}\sum_{s\in\{\pm1\}^k}\cos(\sum_j s_j\theta_j)`, the phase average keeps
the sign patterns with :math:`\sum_j s_j = 0`, so

.. math::  \mathbb E[h(x_1)\cdots h(x_k)] = 2^{-k}\sum_{s:\,\sum s = 0}\mathbb E_b\big[F(b)^k\cos(b\cdot v_s)\big],
           \qquad v_s = \sum_j s_j x_j

(the patterns come in pairs :math:`\pm s` with equal terms).  For a spectral design
(:mod:`nnqft_ppl.spectral`: :math:`P \propto \tilde G^{1-\alpha}` on the ball :math:`|b| < L`,
:math:`F = A\tilde G^{\alpha/2}`, :math:`A^2 = 2Z_\alpha/(2\pi)^d`) every term is an isotropic radial integral,

.. math::  \mathbb E_b[F^k\cos(b\cdot v)] = \frac{A^k(2\pi)^d}{Z_\alpha}\,\mathcal F_L[\tilde G^{\gamma_k}](|v|),
           \qquad \gamma_k = 1 - \alpha + k\alpha/2,

.. math::  \mathcal F_L[f](\rho) = \int_{|p|<L}\frac{d^dp}{(2\pi)^d}e^{ip\cdot v}f(|p|)
           = \frac{S_{d-1}}{(2\pi)^d}\int_0^L dp\,p^{d-1}f(p)\,\Omega_d(p\rho),

with the angular average :math:`\Omega_d(z) = \Gamma(d/2)(2/z)^{d/2-1}J_{d/2-1}(z)`:
:math:`\cos z`, :math:`J_0(z)`, :math:`\sin z/z`, :math:`2J_1(z)/z` for d = 1..4.  For k = 2 this is the
propagator, :math:`\mathbb E[hh] = \mathcal F_L[\tilde G]`; for k = 4 it gives PHYSICS.md B.4 and, for the
free scalar, the :math:`\alpha = 0` and :math:`\alpha = 1` formulas of B.5.  With
:class:`~nnqft_ppl.theory.FiniteWidthTheory` these give the exact correlators at every width.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Callable

import numpy as np
from scipy import special

from ..spectral import SpectralDesign, sphere_area
from .neurons import TheoryAccuracyWarning

__all__ = [
    "angular_average",
    "radial_fourier_transform",
    "spectral_neuron_moment",
    "cauchy_neuron_moment",
    "free_propagator",
    "cutoff_propagator_1d",
]

FOURIER_TOLERANCE = 1e-10
r"""Largest accepted difference between the 16- and 10-node Gauss-Legendre values of a radial
Fourier integral, relative to :math:`\frac{S_{d-1}}{(2\pi)^d}\int_0^L dp\,p^{d-1}|f(p)|`.  Panels are at
most half an oscillation wide, where both rules are exact to rounding for a smooth profile; the
difference bounds the 10-node error, so the 16-node value is far more accurate than this."""

MAX_REFINEMENTS = 3
"""Times the panels are halved where the two rules disagree, before the value is reported as NaN."""

MAX_PANELS = 2**17
"""Most panels of one radial integral: beyond (a slowly decaying spectrum without cutoff at large
|v|) the value is reported as NaN with a :class:`TheoryAccuracyWarning`."""

INNER_RADIUS_FRACTION = 1e-12
"""Default innermost panel edge, relative to the cutoff, of the geometric grading towards p = 0."""


def angular_average(d: int, z: np.ndarray) -> np.ndarray:
    r""":math:`\Omega_d(z)`, the average of :math:`e^{iz\,\hat n\cdot\hat e}` over unit vectors :math:`\hat n` in
    :math:`\mathbb R^d`: :math:`\cos z`, :math:`J_0(z)`, :math:`\sin z / z`, :math:`2J_1(z)/z` (d = 1..4)."""
    z = np.asarray(z, dtype=np.float64)
    if d == 1:
        return np.cos(z)
    if d == 2:
        return special.j0(z)
    if d == 3:
        return np.sinc(z / np.pi)
    if d == 4:
        small = np.abs(z) < 1e-4
        safe = np.where(small, 1.0, z)
        return np.where(small, 1 - z**2 / 8, 2 * special.j1(safe) / safe)
    raise ValueError(f"d must be 1, 2, 3 or 4, got {d!r}")


def radial_fourier_transform(
    profile: Callable[[np.ndarray], np.ndarray],
    rho: np.ndarray,
    d: int,
    cutoff: float,
    *,
    inner: float | None = None,
) -> np.ndarray:
    r""":math:`\mathcal F_L[f](\rho) = \int_{|p|<L}\frac{d^dp}{(2\pi)^d}e^{ip\cdot v}f(|p|)` at :math:`|v|` = ``rho``.

    ``profile`` maps float64 radii to :math:`f`; ``cutoff`` is :math:`L` (finite: for no cutoff pass
    the radius beyond which the profile's tail is negligible).  The radial form (module docstring) is
    integrated by composite Gauss-Legendre quadrature (16 nodes per panel) on panels that are
    geometrically graded from ``inner`` (default :math:`10^{-12}L`) to :math:`L` (ratio 2) and at most
    half an oscillation :math:`\pi/\rho` wide.  Every value is checked against the 10-node rule on the
    same panels; where they differ by more than ``FOURIER_TOLERANCE`` the panels are halved (up to
    ``MAX_REFINEMENTS`` times), and values still unconverged are NaN with a
    :class:`TheoryAccuracyWarning`.  Returns an array shaped like ``rho``.
    """
    rho = np.abs(np.asarray(rho, dtype=np.float64))
    if not (math.isfinite(cutoff) and cutoff > 0):
        raise ValueError(f"the radial Fourier integral needs a finite cutoff > 0, got {cutoff!r}")
    inner = INNER_RADIUS_FRACTION * cutoff if inner is None else min(float(inner), cutoff)
    flat = rho.ravel()
    out = np.full(flat.shape, np.nan)
    uniform_panels = 8 * 2 ** np.ceil(np.log2(np.maximum(1.0, cutoff * flat / (8 * np.pi)))).astype(int)
    unconverged = []
    for panels in np.unique(uniform_panels):
        selected = np.flatnonzero(uniform_panels == panels)
        for refinement in range(MAX_REFINEMENTS + 1):
            if panels * 2**refinement > MAX_PANELS or len(selected) == 0:
                break
            edges = _panel_edges(inner, cutoff, panels * 2**refinement, 2.0 ** (2.0**-refinement))
            (fine, scale), (coarse, _) = (_panel_quadrature(profile, flat[selected], d, edges, n) for n in (16, 10))
            good = np.abs(fine - coarse) <= FOURIER_TOLERANCE * scale
            out[selected[good]] = fine[good]
            selected = selected[~good]
        unconverged.extend(selected)
    if unconverged:
        warnings.warn(
            f"radial Fourier integrals did not converge at {len(unconverged)} of {flat.size} separations "
            f"(largest |v| = {flat[unconverged].max():.3g}, cutoff {cutoff:.3g}); the theory reports NaN there",
            TheoryAccuracyWarning,
            stacklevel=2,
        )
    return out.reshape(rho.shape)


def _panel_edges(inner: float, outer: float, uniform_panels: int, ratio: float) -> np.ndarray:
    """0, geometric edges inner * ratio^j below ``outer``, and ``uniform_panels`` equal panels, merged."""
    geometric = outer * ratio ** -np.arange(int(np.ceil(np.log(outer / inner) / np.log(ratio))) + 1)
    edges = np.unique(np.concatenate([[0.0], geometric, np.linspace(0.0, outer, uniform_panels + 1)]))
    return edges[np.concatenate([[True], np.diff(edges) > 1e-12 * edges[1:]])]


def _panel_quadrature(profile, rho, d, edges, nodes_per_panel):
    r"""Composite Gauss-Legendre values of :math:`\frac{S_{d-1}}{(2\pi)^d}\int p^{d-1}f(p)\Omega_d(p\rho)\,dp` at each
    ``rho``, and the scale :math:`\frac{S_{d-1}}{(2\pi)^d}\int p^{d-1}|f(p)|\,dp` by the same rule."""
    x, w = np.polynomial.legendre.leggauss(nodes_per_panel)
    half = np.diff(edges)[:, None] / 2
    nodes = ((edges[1:] + edges[:-1])[:, None] / 2 + half * x).ravel()
    weights = (half * w).ravel() * nodes ** (d - 1) * sphere_area(d) / (2 * math.pi) ** d
    weighted = weights * np.asarray(profile(nodes), dtype=np.float64)
    values = np.empty(rho.shape)
    step = max(1, int(4e6 // len(nodes)))  # bound the (rho, node) matrix to ~32 MB
    for start in range(0, len(rho), step):
        values[start : start + step] = angular_average(d, np.outer(rho[start : start + step], nodes)) @ weighted
    return values, float(np.sum(np.abs(weighted)))


def _sign_patterns(k: int) -> np.ndarray:
    """Sign patterns s in {+1, -1}^k with sum_j s_j = 0 and s_1 = +1 (one of each pair +-s), shape (P, k)."""
    return np.array([s for s in itertools.product((1.0, -1.0), repeat=k) if sum(s) == 0 and s[0] == 1.0]).reshape(-1, k)


def _plane_wave_moment(xs: np.ndarray, expectation: Callable[[int, np.ndarray], np.ndarray]) -> np.ndarray:
    r""":math:`2^{-k}\sum_{s:\sum s=0}\mathbb E_b[F^k\cos(b\cdot v_s)]` with ``expectation(k, |v|)`` the
    isotropic expectation; each distinct :math:`|v|` is evaluated once."""
    xs = np.asarray(xs, dtype=np.float64)
    n_tuples, k, _ = xs.shape
    if k % 2:
        return np.zeros(n_tuples)
    rho = np.linalg.norm(np.einsum("pk,tkd->tpd", _sign_patterns(k), xs), axis=-1)
    distinct, index = np.unique(rho, return_inverse=True)
    values = np.asarray(expectation(k, distinct), dtype=np.float64)[index].reshape(rho.shape)
    return 2.0 / 2**k * values.sum(axis=1)


def spectral_neuron_moment(
    xs: np.ndarray, design: SpectralDesign, propagator: Callable[[np.ndarray], np.ndarray] | None = None
) -> np.ndarray:
    r""":math:`\mathbb E[h(x_1)\cdots h(x_k)]` for the neurons of a :class:`~nnqft_ppl.spectral.SpectralDesign`.

    .. math::  2^{-k}\sum_{s:\sum s=0}\frac{A^k(2\pi)^d}{Z_\alpha}\,\mathcal F_L[\tilde G^{\gamma_k}](|v_s|),
               \qquad \gamma_k = 1-\alpha+k\alpha/2

    (module docstring).  ``propagator(r)``, if given, is a closed form of
    :math:`\mathcal F_L[\tilde G](r)` used wherever :math:`\gamma_k = 1` (every k at :math:`\alpha = 0`,
    k = 2 at any :math:`\alpha`); the other integrals are :func:`radial_fourier_transform`.  For k = 2,
    :math:`\mathbb E[h(x)h(y)] = \mathcal F_L[\tilde G](|x-y|)`.  ``xs`` has shape (n_tuples, k, d).
    Raises ``ValueError`` where :math:`\int d^dp\,\tilde G^{\gamma_k}` diverges (the k-th moment is infinite).
    """
    d, alpha = design.d, design.alpha
    if np.shape(xs)[-1] != d:
        raise ValueError(f"the points have d = {np.shape(xs)[-1]}, the spectral design d = {d}")

    def expectation(k, rho):
        exponent = 1.0 - alpha + k * alpha / 2
        if exponent == 1.0 and propagator is not None:
            transform = propagator(rho)
        else:
            inner, outer = design.moment_range(exponent)
            transform = radial_fourier_transform(lambda p: design.profile(p, exponent), rho, d, outer, inner=inner)
        return design.amplitude_scale**k * (2 * math.pi) ** d / design.normaliser * transform

    return _plane_wave_moment(xs, expectation)


def cauchy_neuron_moment(xs: np.ndarray, mass: float) -> np.ndarray:
    r"""Cos neuron :math:`h = \cos(bx + c)` with :math:`b \sim \mathrm{Cauchy}(0, m)` (PHYSICS.md A.4, d = 1).

    :math:`\mathbb E_b\cos(bv) = e^{-m|v|}`, so
    :math:`\mathbb E[h(x_1)\cdots h(x_k)] = 2^{-k}\sum_{s:\sum s=0}e^{-m|v_s|}`; for k = 2,
    :math:`\tfrac12 e^{-m|x-y|}`.  (In d > 1 the same holds for the multivariate Cauchy law.)
    """
    return _plane_wave_moment(xs, lambda k, rho: np.exp(-mass * rho))


def free_propagator(r: np.ndarray, mass: float, d: int) -> np.ndarray:
    r"""The free scalar propagator without cutoff (:math:`\Lambda\to\infty`), the Bessel-K form

    .. math::  G_\infty(r) = \int\frac{d^dp}{(2\pi)^d}\frac{e^{ip\cdot x}}{p^2+m^2}
               = \frac{1}{(2\pi)^{d/2}}\Big(\frac mr\Big)^{d/2-1}K_{d/2-1}(mr),\qquad r = |x|:

    :math:`e^{-mr}/2m` (d = 1), :math:`K_0(mr)/2\pi` (d = 2), :math:`e^{-mr}/4\pi r` (d = 3),
    :math:`mK_1(mr)/4\pi^2r` (d = 4); infinite at r = 0 for d >= 2.
    """
    if not mass > 0:
        raise ValueError(f"mass must be > 0, got {mass!r}")
    r = np.abs(np.asarray(r, dtype=np.float64))
    order = d / 2 - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (mass / r) ** order * special.kv(order, mass * r) / (2 * math.pi) ** (d / 2)
    if d == 1:
        return np.exp(-mass * r) / (2 * mass)
    return np.where(r > 0, value, np.inf)


def cutoff_propagator_1d(t: np.ndarray, mass: float, cutoff: float) -> np.ndarray:
    r"""The d = 1 free propagator with a hard cutoff, in closed form:

    .. math::  G_L(t) = \int_{-L}^{L}\frac{dp}{2\pi}\frac{\cos pt}{p^2+m^2}
               = \frac{e^{-m|t|}}{2m} - \frac1\pi\int_L^\infty\frac{\cos pt}{p^2+m^2}dp,

    and with :math:`\frac1{p^2+m^2} = \frac1{2im}\big(\frac1{p-im}-\frac1{p+im}\big)` and
    :math:`\int_L^\infty\frac{e^{ipt}}{p-a}dp = e^{iat}E_1(-i(L-a)t)` (t > 0):

    .. math::  \int_L^\infty\frac{\cos pt}{p^2+m^2}dp
               = \mathrm{Re}\,\frac{e^{iLt}}{2im}\big[\mathcal E(-mt-iLt) - \mathcal E(mt-iLt)\big],
               \qquad \mathcal E(z) = e^zE_1(z);

    :math:`G_L(0) = \arctan(L/m)/\pi m`.  Where :math:`m|t| > 600` (:math:`e^{m|t|}` near overflow)
    the radial quadrature is used instead.
    """
    if not (mass > 0 and cutoff > 0):
        raise ValueError(f"mass and cutoff must be > 0, got mass={mass!r}, cutoff={cutoff!r}")
    t = np.abs(np.asarray(t, dtype=np.float64))
    out = np.empty(t.shape)
    zero, closed = t == 0, (t > 0) & (mass * t <= 600)
    out[zero] = math.atan(cutoff / mass) / (math.pi * mass)
    s = t[closed]

    def scaled_exp1(z):
        return np.exp(z) * special.exp1(z)

    tail = np.real(
        np.exp(1j * cutoff * s)
        / (2j * mass)
        * (scaled_exp1(-mass * s - 1j * cutoff * s) - scaled_exp1(mass * s - 1j * cutoff * s))
    )
    out[closed] = np.exp(-mass * s) / (2 * mass) - tail / math.pi
    far = ~(zero | closed)
    if np.any(far):
        out[far] = radial_fourier_transform(lambda p: 1.0 / (p * p + mass * mass), t[far], 1, cutoff)
    return out
