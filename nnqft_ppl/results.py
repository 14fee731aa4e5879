"""Turning accumulated power sums into the correlator dataset (shared by both engines)."""

from __future__ import annotations

import json
import warnings

import numpy as np

from .correlators import named_tensors, to_dataset
from .moments import MonomialBasis, jackknife, moments_from_cumulants
from .registry import ModelSpec
from .tails import HeavyTailWarning, heavy_tail_report
from .theory import predict

__all__ = ["correlator_result"]


def correlator_result(
    cumulant_statistic,
    accumulators,
    basis: MonomialBasis,
    orders,
    spec: ModelSpec,
    params: dict,
    points: np.ndarray,
    attrs: dict,
    check_tails: bool = True,
    keep_replicas: bool = False,
):
    """Jackknife the cumulants, add full moments, theory and run metadata.

    ``cumulant_statistic(*moments)`` maps the accumulators' moments to field
    cumulants (vectors over ``basis``); full correlators follow from them.
    ``check_tails`` looks for heavy tails in the first accumulator (the field's, or the
    single-neuron terms' for the exact engine).  ``keep_replicas`` adds the
    delete-one-block jackknife replicas as ``G<n>_replicas`` (dims ``replica, p1..pn``).
    """

    def statistic(*moments):
        cumulants = cumulant_statistic(*moments)
        return np.concatenate([moments_from_cumulants(cumulants, basis), cumulants], axis=-1)

    estimate, stderr, replicas = jackknife(statistic, *accumulators, replicas=True)
    if not np.all(np.isfinite(estimate)):
        raise ValueError(f"{spec.name} produced non-finite field values at these points and hyperparameters")
    split = lambda vector: named_tensors(vector[..., : basis.size], vector[..., basis.size :], basis, orders)  # noqa: E731
    attrs = {"model": spec.name, "params": json.dumps(params), "orders": list(orders), **attrs}
    theory = None
    if spec.theory is not None:
        try:
            theory = predict(spec.theory(**params), points, orders)
        except ValueError as error:  # e.g. quadrature in too many dimensions: keep the measurement
            warnings.warn(f"no theory for {spec.name} here: {error}", UserWarning, stacklevel=3)
            attrs["theory_note"] = str(error)
    unit = "neuron samples" if attrs.get("method") == "neurons" else "networks"
    tail = heavy_tail_report(accumulators[0], basis, unit) if check_tails else None
    if tail is not None:
        warnings.warn(tail, HeavyTailWarning, stacklevel=3)
        attrs["heavy_tails"] = tail
    replicas = split(replicas) if keep_replicas else None
    return to_dataset(split(estimate), split(stderr), points, attrs, theory, replicas)
