r"""Local potentials :math:`V(\phi)` that deform an NN-FT (PHYSICS.md A.6.1, E).

A deformation multiplies the parameter density by :math:`e^{-\int_V V(\phi_\theta(x))\,d^dx}`
(:mod:`nnqft_ppl.deform`).  Convention: a polynomial potential is
:math:`V(\phi) = \sum_k \frac{g_k}{k!}\phi^k`, so :func:`phi4` with coupling λ is
:math:`\frac{\lambda}{4!}\phi^4` (PHYSICS.md E.1), :func:`phi2` with :math:`\delta m^2` is
:math:`\frac{\delta m^2}{2}\phi^2` (a mass shift) and :func:`phi6` with g is :math:`\frac{g}{6!}\phi^6`.

The deformed density must be normalisable: a polynomial whose leading term is odd or has a
negative coefficient (e.g. φ⁴ with λ < 0) is unbounded below and is refused; negative
values elsewhere (a double well, :math:`\delta m^2 < 0` with λ > 0) are fine.  A user
callable is probed on a grid of field values and refused when it falls without bound.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable

import jax.numpy as jnp
import numpy as np

__all__ = ["Potential", "phi2", "phi4", "phi6", "polynomial", "custom", "parse_potential"]


@dataclasses.dataclass(frozen=True)
class Potential:
    r"""A local potential: ``function`` maps φ (any shape, JAX) to :math:`V(\phi)` elementwise.

    ``coefficients`` (``{k: g_k}``, :math:`V = \sum_k g_k\phi^k/k!`) is set for polynomials, which
    perturbation theory (:mod:`nnqft_ppl.theory.perturbative`) needs; ``minimum`` is a lower bound
    of V (the importance weights :math:`e^{-\Delta S}` are computed relative to it); ``degree``
    is the highest power (for a callable: 4, the assumption behind the quadrature resolution).
    """

    name: str
    function: Callable
    coefficients: dict | None
    minimum: float
    degree: int

    def __call__(self, phi):
        return self.function(phi)

    def label(self) -> str:
        """``"phi4:lam=0.1"``-style description (the command-line form)."""
        return self.name


def polynomial(coefficients: dict, name: str | None = None) -> Potential:
    r""":math:`V(\phi) = \sum_k \frac{g_k}{k!}\phi^k` from ``{k: g_k}`` (k >= 1 integers, g_k finite).

    Raises ``ValueError`` if V is unbounded below (odd leading power, or a negative leading coefficient).
    """
    if not isinstance(coefficients, dict) or not coefficients:
        raise ValueError("a polynomial potential needs coefficients {power: g_k}")
    terms = {}
    for power, value in coefficients.items():
        if isinstance(power, bool) or not isinstance(power, numbers.Integral) or power < 1:
            raise ValueError(f"powers of a polynomial potential must be integers >= 1, got {power!r}")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"the coefficient of phi^{power} must be a finite number, got {value!r}")
        if value != 0:
            terms[int(power)] = float(value)
    if not terms:
        raise ValueError("a polynomial potential needs a nonzero coefficient")
    degree = max(terms)
    label = name or "polynomial:" + ",".join(f"g{k}={g:g}" for k, g in sorted(terms.items()))
    if degree % 2 or terms[degree] < 0:
        raise ValueError(
            f"the potential {label} is unbounded below (leading term {terms[degree]:g}/{degree}! phi^{degree}): "
            "exp(-int V) would not be normalisable"
        )
    scaled = {k: g / math.factorial(k) for k, g in terms.items()}

    def function(phi):
        return sum(c * phi**k for k, c in scaled.items())

    return Potential(label, function, terms, _lower_bound(scaled), degree)


def _lower_bound(scaled: dict) -> float:
    """min over real φ of sum_k c_k φ^k (even leading power, positive leading coefficient): at a real
    critical point or 0."""
    degree = max(scaled)
    derivative = [k * scaled.get(k, 0.0) for k in range(degree, 0, -1)]  # highest power first
    roots = np.roots(derivative)
    critical = np.concatenate([[0.0], roots[np.abs(roots.imag) < 1e-9].real])
    values = sum(c * critical**k for k, c in scaled.items())
    return float(np.min(values))


def phi4(lam: float) -> Potential:
    r""":math:`V = \frac{\lambda}{4!}\phi^4` (λ >= 0)."""
    _check_coupling("lam", lam)
    return polynomial({4: lam}, name=f"phi4:lam={lam:g}")


def phi2(mass2: float) -> Potential:
    r""":math:`V = \frac{\delta m^2}{2}\phi^2` (δm² >= 0; a negative one alone is unbounded below)."""
    _check_coupling("mass2", mass2)
    return polynomial({2: mass2}, name=f"phi2:mass2={mass2:g}")


def phi6(g: float) -> Potential:
    r""":math:`V = \frac{g}{6!}\phi^6` (g >= 0)."""
    _check_coupling("g", g)
    return polynomial({6: g}, name=f"phi6:g={g:g}")


def _check_coupling(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"the coupling {name} must be a finite number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} = {value:g} < 0 makes the potential unbounded below: exp(-int V) is not normalisable")


PROBE_FIELDS = np.concatenate([-np.geomspace(1e-3, 1e4, 57)[::-1], [0.0], np.geomspace(1e-3, 1e4, 57)])
"""Field values at which a user's potential is probed (both signs, 1e-3 to 1e4)."""


def custom(function: Callable, name: str = "custom") -> Potential:
    r"""A user's potential: ``function`` maps a JAX array of field values to V elementwise.

    Probed at :data:`PROBE_FIELDS`: refused (``ValueError``) if it is not finite there or keeps
    falling at large |φ| to values below -1e6 (unbounded below, as far as one can tell); its
    minimum there is the lower bound used by the importance weights.
    """
    if not callable(function):
        raise TypeError(f"a custom potential must be callable, got {type(function).__name__}")
    try:
        values = np.asarray(function(jnp.asarray(PROBE_FIELDS)), dtype=np.float64)
    except Exception as error:
        raise ValueError(f"the potential {name} failed on an array of field values: {error}") from None
    if values.shape != PROBE_FIELDS.shape or not np.all(np.isfinite(values)):
        raise ValueError(f"the potential {name} must return one finite value per field value")
    tails = values[[0, 1, -2, -1]]
    if tails.min() < -1e6 and (values[0] < values[1] or values[-1] < values[-2]):
        raise ValueError(
            f"the potential {name} is unbounded below (V({PROBE_FIELDS[-1]:g}) = {values[-1]:.3g}, "
            f"V({PROBE_FIELDS[0]:g}) = {values[0]:.3g}): exp(-int V) would not be normalisable"
        )
    return Potential(name, function, None, float(values.min()), 4)


POTENTIALS = {"phi4": (phi4, "lam"), "phi2": (phi2, "mass2"), "phi6": (phi6, "g")}


def parse_potential(text: str) -> Potential:
    """The command line's ``"phi4:lam=0.1"``, ``"phi2:mass2=0.5"``, ``"phi6:g=1"`` or
    ``"polynomial:g2=-1,g4=0.5"`` (any powers ``g<k>``)."""
    kind, _, arguments = text.partition(":")
    kind = kind.strip()
    fields = {}
    for item in filter(None, (part.strip() for part in arguments.split(","))):
        key, sep, value = item.partition("=")
        try:
            fields[key.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--deform: {key.strip()} must be a number, got {value.strip()!r}") from None
        if not sep:
            raise ValueError(f"--deform expects KIND:KEY=VALUE, got {text!r}")
    if kind == "polynomial":
        try:
            return polynomial({int(key.removeprefix("g")): value for key, value in fields.items()})
        except ValueError as error:
            if "invalid literal" in str(error):
                raise ValueError(f"--deform polynomial expects g<power>=<value> terms, got {text!r}") from None
            raise
    if kind not in POTENTIALS:
        raise ValueError(f"unknown potential {kind!r}; choose one of {', '.join(POTENTIALS)}, polynomial")
    factory, key = POTENTIALS[kind]
    if set(fields) != {key}:
        raise ValueError(f"--deform {kind} expects {kind}:{key}=<value>, got {text!r}")
    return factory(fields[key])
