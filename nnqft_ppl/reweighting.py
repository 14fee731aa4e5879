r"""Correlators of a deformed NN-FT by importance reweighting of the free ensemble (PHYSICS.md D.2, J.3).

A deformed model (:func:`~nnqft_ppl.deform.deform`, or any model with ``numpyro.factor`` sites)
has density :math:`P(\theta)\,e^{\ell(\theta)}` with :math:`\ell = \sum_{\rm factors}\log f`
(:math:`\ell = -\Delta S[\phi_\theta]` for a potential).  Networks drawn i.i.d. from the free
:math:`P(\theta)` with weights :math:`w = e^{\ell}` give the self-normalised estimator

.. math::  \langle\mathcal O\rangle_\ell \approx \frac{\sum_s w_s\,\mathcal O(\theta_s)}{\sum_s w_s},

exact as the number of networks grows, and to first order in the deformation the formula of
D.2, :math:`\langle\mathcal O\rangle_0 - \langle\mathcal O\,\Delta S\rangle_0 + \langle\mathcal O\rangle_0
\langle\Delta S\rangle_0`.  Errors: the delete-one-block jackknife of the ratio.  The weights'
effective sample size (Kish), :math:`n_{\rm eff} = (\sum w)^2/\sum w^2`, says how many
networks the estimate is worth; when it is below :data:`MIN_IMPORTANCE_ESS` or below
:data:`MIN_ESS_FRACTION` of the networks the weights are too uneven for the estimate (and
its error bar) to be trusted, and :func:`sample_reweighted` refuses with
:class:`LowEffectiveSampleSize`, which carries the result for inspection.  Large deformations
need NUTS (:mod:`nnqft_ppl.inference`).

Every weight is divided by the largest among the first chunk's networks (a constant, which
cancels): without it, :math:`e^{-\Delta S}` would underflow in single precision for ΔS > 87.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .checkpoint import run_fingerprint
from .ensemble import batch_layout, validate_run
from .moments import MonomialBasis, cumulants_from_moments, power_sums
from .results import correlator_result
from .streaming import memoised_chunk_function, run_arguments, stream_chunks
from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP, as_input, check_field, network_keys, network_weights, trace_network

__all__ = ["sample_reweighted", "LowEffectiveSampleSize", "MIN_IMPORTANCE_ESS", "MIN_ESS_FRACTION", "log_weight"]

MIN_IMPORTANCE_ESS = 1000
"""Fewest effective networks a reweighted estimate may rest on."""

MIN_ESS_FRACTION = 0.01
"""Smallest effective fraction of the networks: for log-normal weights n_eff/n = exp(-var log w), so this
refuses log-weight variances above ~4.6, where self-normalised estimates and their errors are unreliable."""


class LowEffectiveSampleSize(ValueError):
    """The importance weights are too uneven; ``result`` holds the (untrustworthy) dataset."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


def log_weight(trace: dict) -> jax.Array:
    """Log of the deformation factor of one traced network: the sum of its factor/observed sites' log-densities."""
    return sum(
        jnp.sum(site["fn"].log_prob(site["value"]))
        for site in trace.values()
        if site["type"] == "sample" and site["is_observed"]
    )


def _chunk_function(model: Callable, params_items: tuple, basis: MonomialBasis) -> Callable:
    """``(chunk, x, seed, full_chunks, remainder, shift) -> (field sums weighted by w, sums of w and w^2)``."""
    params = dict(params_items)
    groups = (NETS_PER_CHUNK // NETS_PER_GROUP, NETS_PER_GROUP)
    weight_basis = MonomialBasis(1, 2)

    def network(key, x):
        trace = trace_network(model, key, x, params)
        return trace["phi"]["value"], log_weight(trace)

    def chunk_function(chunk, x, seed, full_chunks, remainder, shift):
        phi, logs = jax.vmap(network, in_axes=(0, None))(network_keys(seed, chunk), x)
        present = network_weights(chunk, full_chunks, remainder, phi.dtype)
        weights = (present * jnp.exp(logs - shift)).reshape(groups)
        field = jax.vmap(power_sums, in_axes=(0, 0, None))(phi.reshape(groups + phi.shape[1:]), weights, basis)
        own = jax.vmap(power_sums, in_axes=(0, 0, None))(weights[..., None], present.reshape(groups), weight_basis)
        return (weights.sum(axis=1), *field), (present.reshape(groups).sum(axis=1), *own)

    return chunk_function


def _first_chunk_log_weights(spec, points, params, seed) -> np.ndarray:
    x = as_input(points)
    keys = network_keys(seed, jnp.int32(0))
    return np.asarray(jax.jit(jax.vmap(lambda key: log_weight(trace_network(spec.model, key, x, params))))(keys))


def sample_reweighted(
    model,
    points,
    *,
    n_nets: int = 100_000,
    orders=(2, 4),
    seed: int = 0,
    params: dict | None = None,
    n_blocks: int = 20,
    progress: bool | None = None,
    keep_replicas: bool = False,
    min_ess: float = MIN_IMPORTANCE_ESS,
):
    """Correlators of a deformed ``model`` at ``points`` from ``n_nets`` networks of its free
    density, reweighted by their deformation factors (module docstring).

    The same networks as :func:`~nnqft_ppl.ensemble.sample_ensemble` with the same seed; the
    result is its dataset with ``attrs["method"] = "reweight"``, ``attrs["importance_ess"]``
    (Kish's effective number of networks) and ``attrs["importance_ess_fraction"]``.  Raises
    :class:`LowEffectiveSampleSize` when that is below ``min_ess`` or :data:`MIN_ESS_FRACTION` of
    the networks, and ``ValueError`` for a model without a deformation.
    """
    spec, points, params, orders = validate_run(model, points, params, n_nets, orders, seed)
    trace = check_field(spec.model, points, params, spec.name)
    if not any(site["type"] == "sample" and site["is_observed"] for site in trace.values()):
        raise ValueError(f"{spec.name} has no deformation (no numpyro.factor site): nothing to reweight")
    first = _first_chunk_log_weights(spec, points, params, seed)
    if not np.all(np.isfinite(first)):
        raise ValueError(f"{spec.name}: the deformation factor is not finite for some networks")
    shift = jnp.asarray(first.max(), dtype=as_input(points).dtype)
    basis = MonomialBasis(len(points), max(orders))
    fingerprint = run_fingerprint("reweight", spec.name, params, points, seed, n_nets, basis.max_order, n_blocks)
    sums, weight_sums = stream_chunks(
        memoised_chunk_function(_chunk_function, spec.model, params, basis),
        run_arguments(points, seed, n_nets) + (shift,),
        n_nets=n_nets,
        bases=(basis, MonomialBasis(1, 2)),
        n_blocks=n_blocks,
        progress=progress,
        fingerprint=fingerprint,
        **batch_layout(params, len(points), basis),
    )
    total, total_squares = weight_sums.sums.sum(axis=0)
    if not (np.isfinite(total_squares) and np.all(np.isfinite(sums.sums))):
        raise ValueError(
            f"{spec.name}: importance weights overflowed (a network's deformation factor exceeds the first "
            "chunk's largest by more than e^80): the deformation is far too large to reweight; use NUTS"
        )
    ess = float(total**2 / total_squares) if total_squares > 0 else 0.0
    attrs = {
        "nets": int(n_nets),
        "seed": int(seed),
        "method": "reweight",
        "n_blocks": int(np.sum(sums.counts > 0)),
        "importance_ess": ess,
        "importance_ess_fraction": ess / n_nets,
    }
    result = correlator_result(
        lambda m: cumulants_from_moments(m, basis),
        (sums,),
        basis,
        orders,
        spec,
        params,
        points,
        attrs,
        check_tails=False,
        keep_replicas=keep_replicas,
    )
    if ess < min_ess or ess < MIN_ESS_FRACTION * n_nets:
        raise LowEffectiveSampleSize(
            f"{spec.name}: the importance weights leave {ess:.4g} effective networks of {n_nets:,} "
            f"({100 * ess / n_nets:.2g}%; needs >= {min_ess:g} and >= {100 * MIN_ESS_FRACTION:g}%): the "
            "deformation is too large to reweight the free ensemble; sample it with NUTS",
            result,
        )
    return result
