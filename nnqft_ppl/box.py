r"""The finite box over which a deformation integrates, and its quadrature rule.

A potential deforms the parameter density by :math:`e^{-\int_V V(\phi_\theta(x))\,d^dx}`
(PHYSICS.md A.6.1, E.2).  A finite-width field is a finite sum of plane waves, so
:math:`\int_{\mathbb R^d}\phi_\theta^4 = \infty`: the integral needs a finite box
:math:`V = [c - L/2,\ c + L/2]^d`, and is evaluated by tensor Gauss-Legendre quadrature.
"""

from __future__ import annotations

import dataclasses
import math
import numbers

import numpy as np

__all__ = ["Box"]


@dataclasses.dataclass(frozen=True)
class Box:
    """The box :math:`[c - L/2, c + L/2]^d`: side ``length`` L, dimension ``d``, ``center`` c (every axis)."""

    length: float
    d: int = 1
    center: float = 0.0

    def __post_init__(self):
        if isinstance(self.d, bool) or not isinstance(self.d, numbers.Integral) or not 1 <= self.d <= 4:
            raise ValueError(f"the box dimension d must be an integer in 1..4, got {self.d!r}")
        for name in ("length", "center"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"the box {name} must be a finite number, got {value!r}")
        if not self.length > 0:
            raise ValueError(f"the box length must be > 0, got {self.length!r}")

    @property
    def volume(self) -> float:
        return float(self.length) ** self.d

    def quadrature(self, nodes_per_side: int) -> tuple[np.ndarray, np.ndarray]:
        r"""Tensor Gauss-Legendre rule with ``nodes_per_side`` nodes per axis: points of shape
        (nodes_per_side**d, d) and weights summing to the volume.  Exact for polynomials of
        degree :math:`2n - 1` per axis; a plane wave :math:`e^{ikx}` is integrated to machine
        precision once :math:`n \gtrsim |k| L / 4 + 10` or so (the nodes resolve it)."""
        if isinstance(nodes_per_side, bool) or not isinstance(nodes_per_side, numbers.Integral) or nodes_per_side < 1:
            raise ValueError(f"nodes_per_side must be a positive integer, got {nodes_per_side!r}")
        nodes, weights = np.polynomial.legendre.leggauss(int(nodes_per_side))
        half = self.length / 2
        axes = [self.center + half * nodes] * self.d
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.d)
        weight = half**self.d * np.prod(np.stack(np.meshgrid(*[weights] * self.d, indexing="ij"), -1), -1).ravel()
        return grid, weight

    @classmethod
    def parse(cls, text: str, d: int | None = None) -> "Box":
        """A box from the command line's ``"L=10"`` or ``"L=10,d=2,center=0.5"`` (``d`` as default)."""
        fields = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep or key.strip() not in ("L", "d", "center"):
                raise ValueError(f"--box expects L=<length>[,d=<dim>][,center=<c>], got {text!r}")
            try:
                fields[key.strip()] = int(value) if key.strip() == "d" else float(value)
            except ValueError:
                raise ValueError(f"--box: {key.strip()} must be a number, got {value.strip()!r}") from None
        if "L" not in fields:
            raise ValueError(f"--box needs the side length L, got {text!r}")
        return cls(fields["L"], fields.get("d", d if d is not None else 1), fields.get("center", 0.0))
