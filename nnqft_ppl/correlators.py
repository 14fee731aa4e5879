"""Named correlators: G<n> (full, E[phi...phi]) and G<n>c (connected, cumulants).

Both the estimators and the theories produce moment and cumulant vectors over a
:class:`~nnqft_ppl.moments.MonomialBasis`; this module turns them into the
symmetric tensors the user sees, indexed by point indices: ``G4[i, j, k, l]``.
Connected correlators are reported for n >= 3 (for n = 2 the full G2 is the
convention of the papers).
"""

from __future__ import annotations

import numpy as np

from .combinatorics import MAX_ORDER, expand_symmetric
from .moments import MonomialBasis

__all__ = ["validate_orders", "correlator_names", "named_tensors"]

MAX_TENSOR_ENTRIES = 20_000_000


def validate_orders(orders, n_points: int) -> tuple[int, ...]:
    """Sorted unique orders in 1..MAX_ORDER (an int is one order); ``ValueError`` otherwise."""
    if isinstance(orders, (int, np.integer)):
        orders = (orders,)
    if isinstance(orders, (str, bytes)):
        raise ValueError(f"orders must be a sequence of integers, got the string {orders!r}")
    try:
        orders = tuple(sorted({int(order) for order in orders}))
    except (TypeError, ValueError):
        raise ValueError(f"orders must be integers, got {orders!r}") from None
    if not orders:
        raise ValueError("orders must not be empty")
    bad = [order for order in orders if not 1 <= order <= MAX_ORDER]
    if bad:
        raise ValueError(f"order {bad[0]} is not supported: correlator orders must be between 1 and {MAX_ORDER}")
    if n_points ** max(orders) > MAX_TENSOR_ENTRIES:
        raise ValueError(
            f"G{max(orders)} at {n_points} points has {n_points ** max(orders):.2e} entries; "
            f"use fewer points or a lower order (limit {MAX_TENSOR_ENTRIES:.0e})"
        )
    return orders


def correlator_names(orders) -> list[tuple[str, int, bool]]:
    """``(name, order, connected)`` for each reported correlator, e.g. ``("G4c", 4, True)``."""
    names = []
    for order in orders:
        names.append((f"G{order}", order, False))
        if order >= 3:
            names.append((f"G{order}c", order, True))
    return names


def named_tensors(moments: np.ndarray, cumulants: np.ndarray, basis: MonomialBasis, orders) -> dict[str, np.ndarray]:
    """Full symmetric tensors ``{name: array}`` from moment and cumulant vectors.

    Leading axes of the vectors (e.g. jackknife replicas) are kept in front.
    """
    tensors = {}
    for name, order, connected in correlator_names(orders):
        vector = (cumulants if connected else moments)[..., basis.order_slice(order)]
        tensors[name] = expand_symmetric(vector, basis.n_points, order)
    return tensors


def to_dataset(
    estimates: dict, stderrs: dict, points: np.ndarray, attrs: dict, theory: dict | None = None, replicas=None
):
    """An ``xarray.Dataset`` with ``G<n>``, ``G<n>_stderr``, (if known) ``G<n>_theory``
    and (if given) the jackknife replicas ``G<n>_replicas`` with a leading ``replica`` dim.

    The order-r tensors have dims ``p1..pr``, each indexed by point number; the
    points themselves are the variable ``points(point, coordinate)``.
    """
    import xarray as xr

    n_points = len(points)
    data = {"points": (("point", "coordinate"), np.asarray(points))}
    for name, tensor in estimates.items():
        dims = tuple(f"p{k + 1}" for k in range(tensor.ndim))
        data[name] = (dims, tensor)
        data[f"{name}_stderr"] = (dims, stderrs[name])
        if theory is not None and name in theory:
            data[f"{name}_theory"] = (dims, theory[name])
        if replicas is not None:
            data[f"{name}_replicas"] = (("replica",) + dims, replicas[name])
    max_order = max(tensor.ndim for tensor in estimates.values())
    coords = {f"p{k + 1}": np.arange(n_points) for k in range(max_order)}
    coords["point"] = np.arange(n_points)
    return xr.Dataset(data, coords=coords, attrs=attrs)
