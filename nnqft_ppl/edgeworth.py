r"""The field-space Edgeworth expansion, inverted: connected correlators -> couplings of :math:`-\log P`
(PHYSICS.md F.1-F.3), on a finite set of n points.

With :math:`G` the exact two-point function (the field's mean is taken to be zero), the cumulants
:math:`\kappa_r = G^{(r)}_c` (:math:`r \ge 3`) and :math:`u = G^{-1}\phi`, the density's Fourier
integral shifted to the Gaussian saddle :math:`k = -iu` reads

.. math::  P(\phi) = \mathcal N(\phi; 0, G)\;\mathbb E_q\, e^{V(u + iq)},\qquad
           q \sim \mathcal N(0, G^{-1}),\qquad V(w) = \sum_{r\ge3}\frac1{r!}\,\kappa_r\cdot w^{r},

the same as F.1's :math:`e^{\sum_r \frac{(-1)^r}{r!}\kappa_r\cdot\partial^r}\,e^{-S_G}`
(:math:`\mathbb E_q (u+iq)^{\otimes r}` is the Hermite polynomial :math:`H_r(u)` of F.1).  The
linked-cluster theorem turns :math:`\log\mathbb E_q e^{V}` into a sum over *connected* Wick diagrams,

.. math::  S[\phi] = -\log P = S_G[\phi] - \sum_{k\ge1}\frac1{k!}\langle V^k\rangle_c + {\rm const},

with vertices :math:`\kappa_r`, internal lines :math:`\mathbb E[(iq)(iq)^T] = -G^{-1}` (between two
vertices, or a self-line on one vertex) and external legs :math:`u`.  A diagram with labelled
vertices of orders :math:`r_1..r_k`, :math:`e_{ab}` lines between vertices :math:`a<b`, :math:`s_a`
self-lines and :math:`m_a` external legs on vertex :math:`a` counts
:math:`\prod_a r_a!/(\prod_{b\ne a} e_{ab}!\,s_a!\,2^{s_a}\,m_a!)\cdot\prod_{a<b}e_{ab}!` Wick
contractions, so it adds to :math:`S`

.. math::  -\frac{(-1)^{L}}{k!\,\prod_{a<b}e_{ab}!\,\prod_a s_a!\,2^{s_a}\,m_a!}\;T\cdot u^{m},
           \qquad L = \sum_{a<b} e_{ab} + \sum_a s_a,\quad m = \sum_a m_a,

where :math:`T` contracts the vertices with :math:`+G^{-1}` on every line.  Examples: one
:math:`\kappa_4` with a self-line gives F.2's :math:`+\frac14\kappa_4 G^{-1}uu`; two :math:`\kappa_4`
joined by one line give F.3's :math:`+\frac1{72}\,\kappa_4G^{-1}\kappa_4\,u^6`.

Power counting: :math:`G^{(r)}_c = O(t^{r/2-1})` with :math:`t = 1/N` (PHYSICS.md §1.1).  Order
``order`` keeps every diagram with :math:`\sum_a (r_a/2 - 1) \le` ``order``; its polynomial has degree at
most ``2 order + 2``.  Order 1: :math:`\kappa_4`, :math:`\kappa_3`, :math:`\kappa_3^2`; order 2 adds
:math:`\kappa_5,\kappa_6,\kappa_4^2,\kappa_3\kappa_4,\kappa_3\kappa_5,\kappa_3^3,\kappa_3^2\kappa_4,\kappa_3^4`.
Collecting :math:`S - S_G = \sum_m \frac1{m!}\,c_m\cdot u^m` (constants dropped), the couplings of
:math:`S = \sum_m \frac1{m!}\,g_m\cdot\phi^m` are the amputated :math:`g_m = c_m\,(G^{-1})^{\otimes m}`,
plus :math:`G^{-1}` in :math:`g_2`.

Every array may carry leading batch axes (jackknife replicas, perturbations), shared by all inputs.
"""

from __future__ import annotations

import functools
import itertools
import math
import string
from typing import Mapping, NamedTuple

import numpy as np

__all__ = ["Diagram", "diagrams", "contract", "symmetrise", "amputate", "u_couplings", "couplings"]


class Diagram(NamedTuple):
    """A connected diagram: vertex orders ``vertices`` (r_a), ``lines`` ((a, b, e_ab) for a < b, e_ab > 0),
    self-lines ``self_lines`` (s_a), external legs ``legs`` (m_a), and ``coefficient``: the term it adds
    to S is ``coefficient * T . u^m``, summed over the labelled copies of the diagram."""

    vertices: tuple[int, ...]
    lines: tuple[tuple[int, int, int], ...]
    self_lines: tuple[int, ...]
    legs: tuple[int, ...]
    coefficient: float

    @property
    def degree(self) -> int:
        """Number of external legs: the power of u (and of phi) of the term."""
        return sum(self.legs)

    @property
    def order(self) -> float:
        """Power of t = 1/N: sum_a (r_a/2 - 1)."""
        return sum(r / 2 - 1 for r in self.vertices)


def _vertex_sequences(orders: tuple[int, ...], budget: int):
    """Ordered tuples of vertex orders (r >= 3, from ``orders``) with sum_a (r_a - 2) <= budget."""
    yield ()
    for r in orders:
        if r - 2 <= budget:
            for rest in _vertex_sequences(orders, budget - (r - 2)):
                yield (r,) + rest


def _line_assignments(vertices: tuple[int, ...]):
    """Every choice of e_ab >= 0 (a < b) leaving each vertex at most r_a legs; yields (e, remaining legs)."""
    pairs = list(itertools.combinations(range(len(vertices)), 2))

    def assign(index, free, chosen):
        if index == len(pairs):
            yield dict(chosen), tuple(free)
            return
        a, b = pairs[index]
        for e in range(min(free[a], free[b]) + 1):
            free[a] -= e
            free[b] -= e
            chosen[(a, b)] = e
            yield from assign(index + 1, free, chosen)
            free[a] += e
            free[b] += e

    yield from assign(0, list(vertices), {})


def _connected(k: int, lines: dict) -> bool:
    reached, frontier = {0}, [0]
    while frontier:
        a = frontier.pop()
        for (x, y), e in lines.items():
            if e and a in (x, y):
                other = y if a == x else x
                if other not in reached:
                    reached.add(other)
                    frontier.append(other)
    return len(reached) == k


def _labelled_coefficient(k: int, lines: dict, self_lines, legs) -> float:
    """-(-1)^L / (k! prod e_ab! prod_a s_a! 2^s_a m_a!): the module docstring's weight of one labelled diagram."""
    n_lines = sum(lines.values()) + sum(self_lines)
    denominator = math.factorial(k) * math.prod(math.factorial(e) for e in lines.values())
    denominator *= math.prod(
        math.factorial(s) * 2**s * math.factorial(m) for s, m in zip(self_lines, legs, strict=True)
    )
    return -((-1) ** n_lines) / denominator


def _canonical(vertices, lines: dict, self_lines, legs) -> tuple:
    """The smallest relabelling of a labelled diagram: isomorphic diagrams share it."""
    k = len(vertices)
    forms = []
    for perm in itertools.permutations(range(k)):  # perm[new] = old
        where = {old: new for new, old in enumerate(perm)}
        relabelled = tuple(
            sorted((min(where[a], where[b]), max(where[a], where[b]), e) for (a, b), e in lines.items() if e)
        )
        forms.append(
            (
                tuple(vertices[old] for old in perm),
                relabelled,
                tuple(self_lines[old] for old in perm),
                tuple(legs[old] for old in perm),
            )
        )
    return min(forms)


@functools.lru_cache(maxsize=None)
def diagrams(cumulant_orders: tuple[int, ...], order: int) -> tuple[Diagram, ...]:
    """The connected diagrams with external legs (constants dropped) at ``order`` in t = 1/N, built from
    the vertices ``cumulant_orders`` (each >= 3); isomorphic labelled diagrams are merged, their
    coefficients summed."""
    if any(r < 3 for r in cumulant_orders):
        raise ValueError(f"vertices are connected correlators of order >= 3, got {cumulant_orders}")
    merged: dict[tuple, float] = {}
    for vertices in _vertex_sequences(tuple(sorted(set(cumulant_orders))), 2 * order):
        if not vertices:
            continue
        k = len(vertices)
        for lines, free in _line_assignments(vertices):
            if not _connected(k, lines):
                continue
            for self_lines in itertools.product(*(range(f // 2 + 1) for f in free)):
                legs = tuple(f - 2 * s for f, s in zip(free, self_lines, strict=True))
                if sum(legs) == 0:
                    continue  # a constant: absorbed in the normalisation
                key = _canonical(vertices, lines, self_lines, legs)
                merged[key] = merged.get(key, 0.0) + _labelled_coefficient(k, lines, self_lines, legs)
    return tuple(Diagram(*key, coefficient) for key, coefficient in sorted(merged.items()) if coefficient != 0.0)


def contract(diagram: Diagram, ginv: np.ndarray, cumulants: Mapping[int, np.ndarray]) -> np.ndarray:
    """T of ``diagram``: its vertices ``cumulants[r]`` joined by ``ginv`` on every line (with + sign).

    The free axes are the external legs, grouped by vertex (last ``diagram.degree`` axes; each group
    is symmetric, the whole tensor need not be).  Leading batch axes broadcast.
    """
    letters = iter(string.ascii_letters)
    legs = [[next(letters) for _ in range(r)] for r in diagram.vertices]
    used = [0] * len(legs)

    def take(a: int) -> str:
        used[a] += 1
        return legs[a][used[a] - 1]

    subscripts, operands = [], []
    for a, b, e in diagram.lines:
        for _ in range(e):
            subscripts.append(take(a) + take(b))
            operands.append(ginv)
    for a, s in enumerate(diagram.self_lines):
        for _ in range(s):
            subscripts.append(take(a) + take(a))
            operands.append(ginv)
    free = "".join("".join(vertex_legs[n_used:]) for vertex_legs, n_used in zip(legs, used, strict=True))
    for vertex_legs, r in zip(legs, diagram.vertices, strict=True):
        subscripts.append("".join(vertex_legs))
        operands.append(cumulants[r])
    batch = np.broadcast_shapes(
        *(np.shape(x)[: np.ndim(x) - len(s)] for x, s in zip(operands, subscripts, strict=True))
    )
    operands = [
        np.broadcast_to(x, batch + np.shape(x)[np.ndim(x) - len(s) :])
        for x, s in zip(operands, subscripts, strict=True)
    ]
    expression = ",".join("..." + s for s in subscripts) + "->..." + free
    return np.einsum(expression, *operands, optimize="greedy")


def symmetrise(tensor: np.ndarray, n_axes: int) -> np.ndarray:
    """Average of ``tensor`` over all permutations of its last ``n_axes`` axes.

    By cosets, :math:`\\mathrm{Sym}_k = \\frac1k\\big(1 + \\sum_{j<k}(j\\,k)\\big)\\,\\mathrm{Sym}_{k-1}`:
    n(n+1)/2 transpositions instead of n! permutations.
    """
    lead = tensor.ndim - n_axes
    result = np.asarray(tensor)
    for k in range(2, n_axes + 1):
        total = result
        for j in range(k - 1):
            total = total + np.swapaxes(result, lead + j, lead + k - 1)
        result = total / k
    return result


def amputate(tensor: np.ndarray, ginv: np.ndarray, n_axes: int) -> np.ndarray:
    """Contract each of the last ``n_axes`` axes with ``ginv`` (symmetric): c . u^m = g . phi^m for u = G^{-1} phi.

    ``ginv`` carries no batch axes (batched inverses go through :func:`numpy.einsum`, slower).
    """
    if ginv.ndim > 2:
        letters = string.ascii_letters[:n_axes]
        upper = string.ascii_letters[n_axes : 2 * n_axes]
        factors = ",".join(f"...{a}{b}" for a, b in zip(letters, upper, strict=True))
        return np.einsum(f"...{letters},{factors}->...{upper}", tensor, *[ginv] * n_axes, optimize="greedy")
    result = tensor
    for _ in range(n_axes):  # contract the first point axis; the new axis goes last: n_axes turns restore the order
        result = np.tensordot(result, ginv, axes=([result.ndim - n_axes], [0]))
    return result


def u_couplings(
    ginv: np.ndarray, cumulants: Mapping[int, np.ndarray], order: int, containing: int | None = None
) -> dict[int, np.ndarray]:
    """Symmetric tensors c_m with S - S_G = sum_m (1/m!) c_m . u^m + const, u = G^{-1} phi, at ``order``.

    ``cumulants`` maps r to G^{(r)}_c (absent orders are zero).  ``containing=r`` keeps only the diagrams
    with a G^{(r)}_c vertex: all of S that changes with G^{(r)}_c at fixed G.
    """
    totals: dict[int, np.ndarray] = {}
    one_vertex: dict[int, bool] = {}
    for diagram in diagrams(tuple(sorted(cumulants)), order):
        if containing is not None and containing not in diagram.vertices:
            continue
        m = diagram.degree
        term = (math.factorial(m) * diagram.coefficient) * contract(diagram, ginv, cumulants)
        totals[m] = totals[m] + term if m in totals else term
        one_vertex[m] = one_vertex.get(m, True) and len(diagram.vertices) == 1
    # a single vertex's external legs are already symmetric
    return {m: total if one_vertex[m] else symmetrise(total, m) for m, total in sorted(totals.items())}


def couplings(ginv: np.ndarray, cumulants: Mapping[int, np.ndarray], order: int) -> dict[int, np.ndarray]:
    """Couplings g_m of S = sum_m (1/m!) g_m . phi^m + const at ``order``: amputated c_m, G^{-1} added to g_2."""
    result = {m: amputate(c, ginv, m) for m, c in u_couplings(ginv, cumulants, order).items()}
    result[2] = result[2] + ginv if 2 in result else np.array(ginv)
    return dict(sorted(result.items()))
