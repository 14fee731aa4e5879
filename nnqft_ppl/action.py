r"""From correlators back to the action: couplings of :math:`S = -\log P` on a finite point set
(PHYSICS.md F.1-F.3).

The field at n points :math:`x_1..x_n` has a density :math:`P(\phi)`, :math:`\phi\in\mathbb R^n` (the
marginal of the field theory at those points).  Given its two-point function :math:`G = G^{(2)}`
(an n x n matrix; the field's mean is taken to be zero) and its connected correlators
:math:`G^{(r)}_c`, the Edgeworth expansion (:mod:`nnqft_ppl.edgeworth`) gives

.. math::  S[\phi] = \tfrac12\,\phi\cdot g_2\cdot\phi + \sum_{m\ne2}\frac1{m!}\,g_m\cdot\phi^{m} + {\rm const},
           \qquad g_2 = G^{-1} + O(G^{(4)}_c),

order by order in :math:`t = 1/N`, counting :math:`G^{(r)}_c = O(t^{r/2-1})` (PHYSICS.md §1.1):

- ``order=0``: the Gaussian action, :math:`g_2 = G^{-1}`.
- ``order=1`` (F.2): :math:`g_4 = \lambda = -G^{-1}G^{-1}G^{-1}G^{-1}G^{(4)}_c` (amputated, sign
  flipped) and :math:`g_2 = G^{-1} + \frac12\,G^{-1}(G^{(4)}_c\!:\!G^{-1})\,G^{-1}` (F.2's
  :math:`+\frac14 G^{(4)}_cG^{-1}uu`).  With a three-point function (not :math:`\mathbb Z_2` symmetric):
  :math:`g_3 = -G^{-1}G^{-1}G^{-1}G^{(3)}_c`, :math:`g_1 = \frac12 G^{-1}(G^{(3)}_c\!:\!G^{-1})`, and the
  :math:`(G^{(3)}_c)^2` terms, of the same order, in :math:`g_4` and :math:`g_2`.
- ``order=2`` (F.3) adds the :math:`O(t^2)` terms: :math:`g_6` from :math:`G^{(6)}_c` and from two
  :math:`G^{(4)}_c` joined by one :math:`G^{-1}` line (:math:`+\frac1{72}G^{(4)}_cG^{-1}G^{(4)}_c\,u^6`),
  the :math:`(G^{(4)}_c)^2` and :math:`G^{(6)}_c` corrections to :math:`g_4` and :math:`g_2`, and, if
  odd correlators are given, everything with :math:`G^{(5)}_c` and :math:`G^{(3)}_c`.

The truncated action need not be bounded below (at first order a negative quartic coupling, e.g.
the Cos-net's, makes :math:`e^{-S}` non-normalisable); it describes :math:`-\log P` in the bulk,
:math:`|u| = O(1)`.  Whether the series converges is a property of the data: compare ``order=1`` with
``order=2`` (for the exact Cos-net correlators at width 3 and points 0, 1, 2 the second-order
:math:`g_4` is ~20 times the first-order one: no convergence there).  :math:`g_2` inverts the n x n
matrix :math:`G`: it is the action of the marginal at these points, not the continuum kernel
:math:`G^{-1}(x,y)` restricted to them.

Regularisation.  A :math:`G` that is not positive definite, or singular to working precision (points
too close for the kernel's smoothness), is refused unless ``regularisation=eps``: then
:math:`G + \epsilon\,1` replaces :math:`G` (Tikhonov).  That is exactly the two-point function of
:math:`\phi + \sqrt\epsilon\,\eta` with :math:`\eta` white noise independent of :math:`\phi`, whose
connected :math:`r\ge3` correlators are those of :math:`\phi`: the regularised couplings are the exact
reconstruction for that noisy field, and :math:`e^{-S}` stays a proper density (a spectral cutoff
would leave flat directions).

Errors.  With jackknife replicas of every input (``sample(..., keep_replicas=True)``) the whole
nonlinear map is applied to each delete-one-block replica and the couplings' errors are their
jackknife spread: correlations between entries and between G2, G4c, G6c are accounted for, and the
replicas ``g<m>_replicas`` are returned for quantities derived from several couplings.  Otherwise
the errors are propagated linearly from the ``_stderr`` of the inputs, treating every unique entry of
every input as an independent variable: exact derivatives where a coupling is linear in the entry,
central differences (step :data:`LINEAR_STEP` standard errors) otherwise.  This ignores the strong
correlations between neighbouring entries, which partly cancel in the amputation by :math:`G^{-1}`:
for the Cos-net (width 3, points 0, 1, 2) it gives 5-20 times the jackknife errors.  It costs one or
two evaluations per unique input entry: at second order ~10 s at 6 points, minutes at 8 (prefer replicas).
"""

from __future__ import annotations

import math
import re
from typing import Callable, Mapping

import numpy as np

from . import edgeworth
from .combinatorics import expand_symmetric, unique_tuples
from .moments import jackknife_stderr

__all__ = ["reconstruct_action", "action_function", "MAX_ACTION_ORDER", "LINEAR_STEP"]

MAX_ACTION_ORDER = 2
"""Highest order in t = 1/N: order k needs the connected correlators up to G<2k+2>c, and the library
measures up to G6c."""

LINEAR_STEP = 1e-3
"""Central-difference step, in standard errors of the entry, of the linearised error propagation."""

ERROR_METHODS = ("auto", "jackknife", "linear", "none")

_CONNECTED = re.compile(r"^G([3-6])c$")


def reconstruct_action(
    correlators,
    *,
    order: int = 1,
    regularisation: float | None = None,
    missing_as_zero=("G3c", "G5c"),
    errors: str = "auto",
):
    r"""Couplings of :math:`S = -\log P` at the points of ``correlators``, to ``order`` in 1/N.

    Parameters
    ----------
    correlators : ``xarray.Dataset`` as :func:`~nnqft_ppl.sample` returns it, or a mapping of names to
        arrays: ``G2`` (n, n) and the connected ``G<r>c`` (n,)*r the order needs (r <= 2 order + 2).
        Optional per input: ``<name>_stderr`` (same shape) and ``<name>_replicas`` (leading replica axis).
    order : 0, 1 or 2 (see the module docstring for what each contains).
    regularisation : Tikhonov eps > 0: use G2 + eps 1 (the field plus white noise of variance eps).
    missing_as_zero : connected correlators that are taken as zero when ``correlators`` lacks them.  By
        default the odd ones (a Z2-symmetric field: symmetric output weights); add ``"G6c"`` to run
        ``order=2`` without the six-point function.  Correlators present are always used.
    errors : ``"jackknife"`` (needs every input's replicas), ``"linear"`` (from the ``_stderr``, entries
        treated as independent), ``"none"`` (NaN errors) or ``"auto"``: the first of these available.

    Returns
    -------
    xarray.Dataset with ``g<m>`` (dims ``x1..xm``, coords the point indices) for every m that has a
    term, ``g2`` always (the full quadratic kernel, G^{-1} included), ``G2_inv`` (the regularised
    G^{-1}), each with ``_stderr`` and, for jackknife errors, ``_replicas``; ``points`` when given; attrs
    ``order``, ``method``, ``errors``, ``regularisation`` (0: none), ``cumulants`` (used),
    ``assumed_zero``, ``convention``, and the source run's ``source_*``.
    Pass it to :func:`action_function` to evaluate S.
    """
    if not isinstance(correlators, Mapping) and not hasattr(correlators, "data_vars"):
        raise TypeError(f"correlators must be an xarray.Dataset or a mapping of names to arrays, got {correlators!r}")
    order = _check_order(order)
    regularisation = _check_regularisation(regularisation)
    missing_as_zero = _check_missing(missing_as_zero)
    if errors not in ERROR_METHODS:
        raise ValueError(f"unknown error method {errors!r}; choose one of {', '.join(ERROR_METHODS)}")
    ranks = _inputs(correlators, order, missing_as_zero)
    values = {name: _read(correlators, name) for name in ranks}
    n_points = _check_values(values, ranks)
    errors = _error_method(correlators, ranks, errors)

    def evaluate(inputs):
        return _couplings_of(inputs, order, regularisation)

    estimate = evaluate(values)
    replicas = None
    if errors == "jackknife":
        replicas = evaluate(_read_replicas(correlators, ranks, n_points))
        stderr = {name: jackknife_stderr(tensor) for name, tensor in replicas.items()}
    elif errors == "linear":
        stderrs = {name: _read_stderr(correlators, name, values[name].shape) for name in ranks}
        chunk = max(1, 2**22 // n_points ** (2 * order + 2))
        stderr = _linear_stderr(values, stderrs, estimate, order, regularisation, chunk)
    else:
        stderr = {name: np.full_like(tensor, math.nan) for name, tensor in estimate.items()}
    attrs = {
        "order": order,
        "method": "edgeworth",
        "errors": errors,
        "regularisation": float(regularisation or 0.0),
        "cumulants": ", ".join(name for name in ranks if name != "G2"),
        "assumed_zero": ", ".join(f"G{r}c" for r in range(3, 2 * order + 3) if f"G{r}c" not in ranks),
        "convention": "S = 1/2 phi.g2.phi + sum_m 1/m! g<m>.phi^m + const",
        **_source_attrs(correlators),
    }
    points = np.asarray(correlators["points"]) if "points" in correlators else None
    return _dataset(estimate, stderr, replicas, points, attrs)


def action_function(couplings) -> Callable:
    r"""The action :math:`S[\phi] = \sum_m \frac1{m!}\,g_m\cdot\phi^m` of :func:`reconstruct_action`'s couplings.

    ``couplings``: its dataset (central values ``g<m>`` are used) or a mapping ``{"g2": ..., "g4": ...}``.
    Returns ``action(phi)``: ``phi`` of shape ``(..., n_points)`` (e.g. ``(n_configs, n_points)``) gives
    S of shape ``(...)``, without the constant.  NumPy input is evaluated in float64 (in chunks of
    configurations); a JAX array in its own dtype with ``jax.numpy``, so the function is traceable and
    differentiable (e.g. a NumPyro ``potential_fn``; sample it only where S is bounded below).
    Cost: n^m per configuration and term m.
    """
    if not isinstance(couplings, Mapping) and not hasattr(couplings, "data_vars"):
        raise TypeError(f"couplings must be a reconstruct_action dataset or a mapping, got {couplings!r}")
    tensors = {}
    for m in range(1, 2 * MAX_ACTION_ORDER + 3):
        if f"g{m}" in couplings:
            tensors[m] = _read(couplings, f"g{m}")
    if 2 not in tensors:
        raise ValueError("couplings lack g2 (the quadratic kernel): pass the result of reconstruct_action")
    n_points = tensors[2].shape[0]
    for m, tensor in tensors.items():
        if tensor.shape != (n_points,) * m:
            raise ValueError(f"g{m} has shape {tensor.shape}, expected {(n_points,) * m} (g2 is at {n_points} points)")
        if not np.all(np.isfinite(tensor)):
            raise ValueError(f"g{m} has non-finite entries")

    def action(phi):
        import jax
        import jax.numpy as jnp

        traced = isinstance(phi, jax.Array)
        xp = jnp if traced else np
        if traced:
            phi = phi if jnp.issubdtype(phi.dtype, jnp.floating) else phi.astype(jnp.result_type(float))
        else:
            phi = np.asarray(phi, dtype=np.float64)
        if phi.ndim < 1 or phi.shape[-1] != n_points:
            raise ValueError(f"phi must have shape (..., {n_points}), got {phi.shape}")
        batch = phi.shape[:-1]
        flat = phi.reshape(-1, n_points)
        if traced:
            terms = [
                _power_sum(xp.asarray(g, dtype=phi.dtype), flat, xp) / math.factorial(m) for m, g in tensors.items()
            ]
            return sum(terms).reshape(batch)
        rows = max(1, 2**22 // n_points ** (max(tensors) - 1))
        total = np.concatenate(
            [
                sum(_power_sum(g, flat[start : start + rows], np) / math.factorial(m) for m, g in tensors.items())
                for start in range(0, max(len(flat), 1), rows)
            ]
        )
        return total.reshape(batch)

    return action


def _power_sum(tensor, flat, xp):
    """g . phi^m for each row of ``flat`` (B, n): contract one axis at a time (B n^(m-1) values at most)."""
    n = flat.shape[-1]
    m = tensor.ndim
    value = flat @ tensor.reshape(n, -1)
    for k in range(m - 1, 0, -1):
        value = xp.sum(value.reshape(-1, n ** (k - 1), n) * flat[:, None, :], axis=-1)
    return value.reshape(-1)


def _couplings_of(inputs: dict, order: int, regularisation: float | None) -> dict[str, np.ndarray]:
    """The nonlinear map {G2, G<r>c} -> {g<m>, G2_inv}; every input may carry the same leading batch axes."""
    ginv = _inverse(inputs["G2"], regularisation)
    cumulants = {int(name[1:-1]): value for name, value in inputs.items() if name != "G2"}
    result = {f"g{m}": tensor for m, tensor in edgeworth.couplings(ginv, cumulants, order).items()}
    result["G2_inv"] = ginv
    return result


def _inverse(g2: np.ndarray, regularisation: float | None) -> np.ndarray:
    """(G2 + eps 1)^{-1} by eigendecomposition; ``ValueError`` unless positive definite (and not numerically
    singular: smallest eigenvalue above n * machine epsilon * largest)."""
    n = g2.shape[-1]
    if regularisation:
        g2 = g2 + regularisation * np.eye(n)
    eigenvalues, vectors = np.linalg.eigh(g2)
    smallest, largest = eigenvalues[..., 0], eigenvalues[..., -1]
    bad = smallest <= n * np.finfo(np.float64).eps * np.maximum(np.abs(largest), np.finfo(np.float64).tiny)
    if np.any(bad):
        where = np.argwhere(np.atleast_1d(bad))[0]
        which = "G2" if g2.ndim == 2 else f"G2 (jackknife replica or perturbation {tuple(int(i) for i in where)})"
        low, high = np.atleast_1d(smallest)[tuple(where)], np.atleast_1d(largest)[tuple(where)]
        raise ValueError(
            f"{which} is not positive definite or is numerically singular (eigenvalues from {low:.3g} to "
            f"{high:.3g}{', after regularisation' if regularisation else ''}); pass regularisation=eps "
            "(nnqft action: --regularisation EPS) to use G2 + eps*1, or use fewer or more separated points"
        )
    inverse = np.matmul(vectors / eigenvalues[..., None, :], np.swapaxes(vectors, -1, -2))
    return (inverse + np.swapaxes(inverse, -1, -2)) / 2


def _linear_stderr(values: dict, stderrs: dict, estimate: dict, order, regularisation, chunk) -> dict[str, np.ndarray]:
    """sqrt(sum_entries (sigma_t d f / d x_t)^2) over the unique entries t of every input, along the symmetric
    direction of entry t (all its index permutations move together).  Along a connected correlator G<r>c only
    the diagrams that contain it change (G^{-1} stays the estimate's); where each holds it once, that change
    is linear and the derivative exact, otherwise (G2, and G3c, G4c at second order) a central difference."""
    ginv = estimate["G2_inv"]
    cumulants = {int(name[1:-1]): value for name, value in values.items() if name != "G2"}

    def derivative(name: str, value: np.ndarray, direction: np.ndarray) -> dict[str, np.ndarray]:
        if name == "G2":
            plus = _couplings_of({**values, "G2": value + LINEAR_STEP * direction}, order, regularisation)
            minus = _couplings_of({**values, "G2": value - LINEAR_STEP * direction}, order, regularisation)
            return {key: (plus[key] - minus[key]) / (2 * LINEAR_STEP) for key in plus}
        r = int(name[1:-1])

        def part(shifted):
            parts = edgeworth.u_couplings(ginv, {**cumulants, r: shifted}, order, containing=r)
            return {f"g{m}": edgeworth.amputate(c, ginv, m) for m, c in parts.items()}

        graphs = [d for d in edgeworth.diagrams(tuple(sorted(cumulants)), order) if r in d.vertices]
        if all(d.vertices.count(r) == 1 for d in graphs):
            return part(direction)
        plus, minus = part(value + LINEAR_STEP * direction), part(value - LINEAR_STEP * direction)
        return {key: (plus[key] - minus[key]) / (2 * LINEAR_STEP) for key in plus}

    variance: dict[str, np.ndarray] = {}
    for name, value in values.items():
        n_points, rank = value.shape[0], value.ndim
        tuples = unique_tuples(n_points, rank)
        sigma = stderrs[name][tuple(tuples.T)]
        active = np.flatnonzero(sigma > 0)
        for start in range(0, len(active), chunk):
            entries = active[start : start + chunk]
            unit = np.zeros((len(entries), len(tuples)))
            unit[np.arange(len(entries)), entries] = sigma[entries]
            for key, change in derivative(name, value, expand_symmetric(unit, n_points, rank)).items():
                square = np.sum(change**2, axis=0)
                variance[key] = variance[key] + square if key in variance else square
    return {
        key: np.sqrt(variance[key]) if key in variance else np.zeros_like(tensor) for key, tensor in estimate.items()
    }


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise TypeError(f"order must be an integer, got {order!r}")
    if not 0 <= order <= MAX_ACTION_ORDER:
        raise ValueError(
            f"order must be 0, 1 or {MAX_ACTION_ORDER}, got {order}: order k needs G<2k+2>c and the library "
            "measures connected correlators up to G6c"
        )
    return int(order)


def _check_regularisation(regularisation) -> float | None:
    if regularisation is None:
        return None
    if isinstance(regularisation, bool) or not isinstance(regularisation, (int, float, np.integer, np.floating)):
        raise TypeError(
            f"regularisation must be a number eps > 0 (Tikhonov, G2 + eps*1) or None, got {regularisation!r}"
        )
    if not (math.isfinite(regularisation) and regularisation > 0):
        raise ValueError(f"regularisation must be a finite eps > 0 (Tikhonov, G2 + eps*1), got {regularisation!r}")
    return float(regularisation)


def _check_missing(names) -> frozenset[str]:
    names = (names,) if isinstance(names, str) else tuple(names)
    bad = [name for name in names if not (isinstance(name, str) and _CONNECTED.match(name))]
    if bad:
        raise ValueError(f"missing_as_zero takes connected correlator names G3c..G6c, got {bad[0]!r}")
    return frozenset(names)


def _inputs(correlators, order: int, missing_as_zero: frozenset[str]) -> dict[str, int]:
    """Names of the inputs the order uses, with their ranks: G2 and each present G<r>c, r <= 2 order + 2."""
    if "G2" not in correlators:
        raise ValueError("correlators lack G2, the two-point function (sample with orders including 2)")
    ranks = {"G2": 2}
    for r in range(3, 2 * order + 3):
        name = f"G{r}c"
        if name in correlators:
            ranks[name] = r
        elif name not in missing_as_zero:
            raise ValueError(
                f"order {order} needs {name}, the connected {r}-point function, which correlators lack: sample "
                f"with orders including {r}, or pass missing_as_zero=(..., {name!r}) to take it as zero"
            )
    return ranks


def _read(correlators, name: str) -> np.ndarray:
    try:
        return np.asarray(np.asarray(correlators[name]), dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array of real numbers, got {correlators[name]!r}") from None


def _check_values(values: dict, ranks: dict) -> int:
    """Shapes (n,)*r, finite, symmetric; returns n."""
    g2 = values["G2"]
    if g2.ndim != 2 or g2.shape[0] != g2.shape[1] or g2.shape[0] < 1:
        raise ValueError(f"G2 must be a square matrix (n_points, n_points), got shape {g2.shape}")
    n_points = g2.shape[0]
    for name, value in values.items():
        expected = (n_points,) * ranks[name]
        if value.shape != expected:
            raise ValueError(f"{name} has shape {value.shape}, expected {expected} (G2 is at {n_points} points)")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} has non-finite entries (NaN or inf)")
        scale = np.max(np.abs(value), initial=0.0)
        for axis in range(value.ndim - 1):
            if not np.allclose(value, np.swapaxes(value, axis, axis + 1), rtol=0.0, atol=1e-10 * scale):
                raise ValueError(f"{name} is not a symmetric tensor (axes {axis} and {axis + 1} differ)")
    return n_points


def _error_method(correlators, ranks: dict, errors: str) -> str:
    has = {kind: [f"{name}_{kind}" in correlators for name in ranks] for kind in ("replicas", "stderr")}
    if errors == "auto":
        return "jackknife" if all(has["replicas"]) else "linear" if all(has["stderr"]) else "none"
    kind = {"jackknife": "replicas", "linear": "stderr"}.get(errors)
    if kind is not None and not all(has[kind]):
        missing = next(name for name, present in zip(ranks, has[kind], strict=True) if not present)
        raise ValueError(f"errors={errors!r} needs {missing}_{kind}, which correlators lack")
    return errors


def _read_replicas(correlators, ranks: dict, n_points: int) -> dict[str, np.ndarray]:
    replicas = {name: _read(correlators, f"{name}_replicas") for name in ranks}
    n_replicas = replicas["G2"].shape[0] if replicas["G2"].ndim else 0
    for name, value in replicas.items():
        expected = (n_replicas,) + (n_points,) * ranks[name]
        if value.shape != expected or n_replicas < 2:
            raise ValueError(f"{name}_replicas has shape {value.shape}, expected {expected} with at least 2 replicas")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name}_replicas has non-finite entries (NaN or inf)")
    return replicas


def _read_stderr(correlators, name: str, shape: tuple) -> np.ndarray:
    stderr = _read(correlators, f"{name}_stderr")
    if stderr.shape != shape:
        raise ValueError(f"{name}_stderr has shape {stderr.shape}, expected {shape}")
    if not np.all(np.isfinite(stderr)) or np.any(stderr < 0):
        raise ValueError(f"{name}_stderr must be finite and >= 0 (pass errors='none' to skip the errors)")
    return stderr


def _source_attrs(correlators) -> dict:
    attrs = getattr(correlators, "attrs", {}) or {}
    return {f"source_{key}": attrs[key] for key in ("model", "params", "method", "nets", "seed") if key in attrs}


def _dataset(estimate: dict, stderr: dict, replicas: dict | None, points, attrs: dict):
    import xarray as xr

    n_points = estimate["G2_inv"].shape[-1]
    data = {}
    for name, tensor in estimate.items():
        dims = tuple(f"x{k + 1}" for k in range(tensor.ndim))
        data[name] = (dims, tensor)
        data[f"{name}_stderr"] = (dims, stderr[name])
        if replicas is not None:
            data[f"{name}_replicas"] = (("replica",) + dims, replicas[name])
    if points is not None:
        data["points"] = (("point", "coordinate"), points)
    max_rank = max(tensor.ndim for tensor in estimate.values())
    coords = {f"x{k + 1}": np.arange(n_points) for k in range(max_rank)}
    return xr.Dataset(data, coords=coords, attrs=attrs)
