"""Index bookkeeping for symmetric correlator tensors.

A correlator G^{(r)}(x_{i_1},...,x_{i_r}) at n points is a symmetric tensor, so it
is stored by its *unique* index tuples i_1 <= ... <= i_r (there are C(n+r-1, r) of
them instead of n^r).  This module enumerates those tuples, the set partitions used
to convert moments into cumulants (PHYSICS.md §1.3), and expands unique storage
back into full tensors.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

__all__ = [
    "MAX_ORDER",
    "expand_symmetric",
    "moebius_coefficient",
    "pairings",
    "set_partitions",
    "tuple_position",
    "unique_tuples",
]

MAX_ORDER = 6
"""Highest correlator order the library computes (moments up to phi^6)."""


@functools.lru_cache(maxsize=None)
def unique_tuples(n_points: int, order: int) -> np.ndarray:
    """Sorted index tuples ``i_1 <= ... <= i_r`` of a symmetric order-r tensor.

    Returns an int array of shape ``(C(n_points + order - 1, order), order)`` in
    lexicographic order.  ``order = 0`` gives a single empty tuple.
    """
    tuples = list(itertools.combinations_with_replacement(range(n_points), order))
    return np.array(tuples, dtype=np.int64).reshape(len(tuples), order)


def tuple_position(n_points: int, tuples: np.ndarray) -> np.ndarray:
    """Position of each (not necessarily sorted) index tuple in :func:`unique_tuples`.

    ``tuples`` has shape ``(..., order)``; the result has shape ``(...)``.
    """
    tuples = np.sort(np.asarray(tuples, dtype=np.int64), axis=-1)
    order = tuples.shape[-1]
    return _position_table(n_points, order)[tuple(np.moveaxis(tuples, -1, 0))]


@functools.lru_cache(maxsize=None)
def _position_table(n_points: int, order: int) -> np.ndarray:
    """Dense lookup table: sorted tuple -> its row in ``unique_tuples``."""
    table = np.full((n_points,) * order, -1, dtype=np.int64)
    for position, t in enumerate(unique_tuples(n_points, order)):
        table[tuple(t)] = position
    return table


@functools.lru_cache(maxsize=None)
def set_partitions(order: int) -> tuple[tuple[tuple[int, ...], ...], ...]:
    """All set partitions of ``{0, ..., order-1}`` (Bell number many: 203 for order 6)."""

    def partitions(elements):
        if not elements:
            yield ()
            return
        first, rest = elements[0], elements[1:]
        for smaller in partitions(rest):
            for k, block in enumerate(smaller):
                yield smaller[:k] + ((first,) + block,) + smaller[k + 1 :]
            yield ((first,),) + smaller

    return tuple(partitions(tuple(range(order))))


def pairings(order: int) -> tuple[tuple[tuple[int, int], ...], ...]:
    """The (order-1)!! perfect matchings of ``{0, ..., order-1}`` (Wick pairings)."""
    return tuple(p for p in set_partitions(order) if all(len(b) == 2 for b in p))  # type: ignore[misc]


def moebius_coefficient(n_blocks: int) -> int:
    """Coefficient (-1)^{k-1} (k-1)! of a k-block partition in the moment -> cumulant formula."""
    return (-1) ** (n_blocks - 1) * math.factorial(n_blocks - 1)


def expand_symmetric(unique_values: np.ndarray, n_points: int, order: int) -> np.ndarray:
    """Full symmetric tensor from values on :func:`unique_tuples`.

    ``unique_values`` has shape ``(..., n_unique)``; the result has shape
    ``(..., n_points, ..., n_points)`` with ``order`` point axes.
    """
    index = _position_table_full(n_points, order)
    return np.asarray(unique_values)[..., index]


@functools.lru_cache(maxsize=None)
def _position_table_full(n_points: int, order: int) -> np.ndarray:
    grid = np.indices((n_points,) * order).reshape(order, -1).T
    return tuple_position(n_points, grid).reshape((n_points,) * order)
