r"""Deformed NN-FTs: :math:`P(\theta) \to P(\theta)\,e^{-\Delta S[\phi_\theta]}` with a local potential
(PHYSICS.md A.6.1, D.2, E).

.. math::  \Delta S[\phi_\theta] = \int_V d^dx\,V(\phi_\theta(x)) \approx \sum_q w_q\,V(\phi_\theta(x_q))

over a finite :class:`~nnqft_ppl.box.Box` (PHYSICS.md E.2: a finite-width field is a finite sum of
plane waves, so the integral over all space diverges), by tensor Gauss-Legendre quadrature.
:func:`deform` returns a new NumPyro model: it runs the free model at the points *and* the
quadrature nodes, records the contract's sites at the points, the action ``"delta_S"``, and adds
``numpyro.factor("deformation", -delta_S)``.  The parameter density is then deformed and the
neurons are no longer independent: i.i.d. sampling no longer applies.  Sample it with NUTS,
find its maxima with MAP, or reweight i.i.d. draws of the free model (:mod:`nnqft_ppl.inference`).

Resolution.  A polynomial of degree k in a field whose momenta are below Λ has momenta below kΛ.
Unless ``nodes_per_side`` is given, the rule starts from :math:`n = \max(8, \lceil k\Lambda L/4\rceil)`
nodes per side (Λ the model's ``cutoff``, or the largest ``|b|`` among prior draws) and doubles n
until ΔS of :data:`RESOLUTION_DRAWS` prior networks agrees with the rule of twice as many nodes
to ``rtol``; that relative difference is the reported discretisation error of the finer rule it
then uses (conservative: Gauss-Legendre converges exponentially once the nodes resolve the field).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro import handlers

from .box import Box
from .potentials import Potential
from .registry import get_model
from .tracing import as_input, check_field, trace_network

__all__ = ["deform", "FirstOrderTheory", "Quadrature", "RESOLUTION_DRAWS", "MAX_QUADRATURE_NODES"]

RESOLUTION_DRAWS = 8
"""Prior networks on which the quadrature's convergence is checked."""

MAX_QUADRATURE_NODES = 2**18
"""Largest tensor grid (total nodes) the automatic resolution may choose."""


@dataclasses.dataclass(frozen=True)
class Quadrature:
    """The rule a deformed model uses: ``nodes`` (M, d), ``weights`` (M,), ``nodes_per_side``, and the
    estimated relative discretisation ``error`` of ΔS (None when the resolution was given)."""

    nodes: np.ndarray
    weights: np.ndarray
    nodes_per_side: int
    error: float | None


def deform(model, potential: Potential, box: Box, *, nodes_per_side: int | None = None, rtol: float = 1e-6):
    """The NumPyro model of ``model`` deformed by ``potential`` integrated over ``box``.

    ``model``: a name, ModelSpec or model function (contract of :mod:`nnqft_ppl.registry`).
    Returns a model function with the same hyperparameters, named ``"<model>+<potential>"``, with
    attributes ``base`` (ModelSpec), ``potential``, ``box`` and ``quadrature(params)`` (the
    :class:`Quadrature` used at those hyperparameters).  The points handed to it must have the
    box's dimension.
    """
    spec = get_model(model)
    if not isinstance(potential, Potential):
        raise TypeError(f"potential must be a Potential (phi4(...), polynomial(...), custom(...)), got {potential!r}")
    if not isinstance(box, Box):
        raise TypeError(f"box must be a Box, got {box!r}")
    if nodes_per_side is not None:
        box.quadrature(nodes_per_side)  # validates
    if not (isinstance(rtol, float) and 0 < rtol < 1):
        raise ValueError(f"rtol must be a float in (0, 1), got {rtol!r}")

    @functools.lru_cache(maxsize=16)
    def cached_quadrature(params_json: str) -> Quadrature:
        params = json.loads(params_json)
        if nodes_per_side is not None:
            return Quadrature(*box.quadrature(nodes_per_side), nodes_per_side, None)
        return _resolve_quadrature(spec, potential, box, params, rtol)

    def quadrature(params: dict) -> Quadrature:
        # its prior draws are not part of any enclosing trace, and are computed eagerly even when the
        # model is first called inside a JAX transformation (Predictive, jit, scan)
        with handlers.block(), jax.ensure_compile_time_eval():
            return cached_quadrature(json.dumps(spec.resolve(params), sort_keys=True))

    @functools.wraps(spec.model)
    def deformed(x, **params):
        x = jnp.asarray(x)  # JAX's default float: NumPy float64 points become float32 without x64
        if x.shape[1] != box.d:
            raise ValueError(f"the points have d = {x.shape[1]}, the deformation's box has d = {box.d}")
        rule = quadrature(params)
        n = x.shape[0]
        everywhere = jnp.concatenate([x, jnp.asarray(rule.nodes, dtype=x.dtype)])
        hidden = []  # the free model's own deterministic sites, re-recorded at the points only

        def hide(site):
            if site["type"] == "deterministic":
                hidden.append(site["name"])
                return True
            return False

        with handlers.block(hide_fn=hide):
            trace = handlers.trace(spec.model).get_trace(everywhere, **params)
        for name in hidden:
            value = trace[name]["value"]
            numpyro.deterministic(name, value[:n] if name in ("phi", "h") else value)
        field = trace["phi"]["value"]
        delta_s = numpyro.deterministic("delta_S", jnp.asarray(rule.weights, dtype=x.dtype) @ potential(field[n:]))
        numpyro.factor("deformation", -delta_s)
        return field[:n]

    deformed.__name__ = f"{spec.name}+{potential.label()}"
    deformed.__qualname__ = deformed.__name__
    deformed.__doc__ = (
        f"{spec.name} deformed by exp(-int V), V = {potential.label()}, over the box "
        f"[{box.center - box.length / 2:g}, {box.center + box.length / 2:g}]^{box.d}.\n\n" + (spec.description or "")
    )
    deformed.base, deformed.potential, deformed.box, deformed.quadrature = spec, potential, box, quadrature
    if spec.theory is not None and potential.coefficients is not None:
        deformed.theory = lambda **params: FirstOrderTheory(spec, spec.resolve(params), potential, box)
    return deformed


class FirstOrderTheory:
    r"""The deformed theory to first order in the potential: the free model's exact cumulants at its
    width plus the first-order shifts at :math:`N = \infty`,
    :math:`\delta G^{(n)}_c = -\int_V c_n\prod_i G(x_i, z)` (:mod:`nnqft_ppl.theory.perturbative`; φ⁴:
    PHYSICS.md E.3).  Omitted: :math:`O(V^2)` and the cross terms :math:`O(V/N)`, so it is the
    prediction for small couplings at large width (or, with the free finite-width part, for the
    combination of both to leading order)."""

    def __init__(self, spec, params: dict, potential: Potential, box: Box):
        self.free = spec.theory(**params)
        self.spec, self.params, self.potential, self.box = spec, params, potential, box

    def cumulants(self, points, max_order):
        from .combinatorics import unique_tuples
        from .moments import MonomialBasis
        from .theory.perturbative import first_order_correlators, model_propagator

        points = np.asarray(points, dtype=np.float64)
        cumulants = np.array(self.free.cumulants(points, max_order), dtype=np.float64)
        propagator = model_propagator(self.spec, self.params)
        orders = tuple(range(1, max_order + 1))
        shifts = first_order_correlators(propagator, points, self.box, self.potential, orders=orders)
        basis = MonomialBasis(len(points), max_order)
        for order in orders:
            tensor = shifts[f"G{order}" if order <= 2 else f"G{order}c"]
            cumulants[basis.order_slice(order)] += tensor[tuple(unique_tuples(len(points), order).T)]
        return cumulants


def _momentum_bound(spec, box: Box, params: dict) -> float:
    """The model's cutoff, else the largest |b| among the prior draws (1 if it has no "b")."""
    if params.get("cutoff") is not None:
        return float(params["cutoff"])
    x = as_input(np.zeros((1, box.d)))
    norms = [
        np.max(np.linalg.norm(np.reshape(trace["b"]["value"], (-1, box.d)), axis=-1))
        for trace in (trace_network(spec.model, jax.random.PRNGKey(k), x, params) for k in range(RESOLUTION_DRAWS))
        if "b" in trace
    ]
    return float(max(norms)) if norms else 1.0


def _resolve_quadrature(spec, potential: Potential, box: Box, params: dict, rtol: float) -> Quadrature:
    check_field(spec.model, np.zeros((1, box.d)), params, spec.name)
    bound = _momentum_bound(spec, box, params)
    n = max(8, math.ceil(potential.degree * bound * box.length / 4))
    keys = [jax.random.PRNGKey(1000 + k) for k in range(RESOLUTION_DRAWS)]

    def actions(n_side):
        nodes, weights = box.quadrature(n_side)
        fields = [trace_network(spec.model, key, as_input(nodes), params)["phi"]["value"] for key in keys]
        return np.array([weights @ np.asarray(potential(np.asarray(f, dtype=np.float64))) for f in fields])

    coarse = actions(n)
    while True:
        if (2 * n) ** box.d > MAX_QUADRATURE_NODES:
            raise ValueError(
                f"the box integral of {potential.label()} over {spec.name} {params} needs more than "
                f"{MAX_QUADRATURE_NODES} quadrature nodes (momenta up to {bound:.3g}, box length {box.length:g}, "
                f"d = {box.d}): use a smaller box or cutoff, or give nodes_per_side"
            )
        fine = actions(2 * n)
        error = float(np.max(np.abs(fine - coarse) / np.maximum(np.abs(fine), 1e-300)))
        if error <= rtol:
            return Quadrature(*box.quadrature(2 * n), 2 * n, error)
        n, coarse = 2 * n, fine
