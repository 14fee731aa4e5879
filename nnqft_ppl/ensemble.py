"""Streamed i.i.d. ensembles of networks: correlators with jackknife errors.

Draw networks theta_i ~ P(theta) from a NumPyro NN-FT model, evaluate the field at
the points and accumulate power sums of phi up to the highest requested order.
The result holds G^{(n)} (full) and G^{(n)}_c (connected, PHYSICS.md §1.3) with
delete-one-block jackknife standard errors, and the model's theory beside them.
"""

from __future__ import annotations

import jax
import numpy as np

from .correlators import validate_orders
from .moments import MonomialBasis, chunk_power_sums, cumulants_from_moments
from .registry import get_model
from .results import correlator_result
from .spacetime import as_points
from .streaming import stream_chunks
from .tracing import NETS_PER_CHUNK, check_field, field_function, network_keys

__all__ = ["sample_ensemble", "validate_run"]

ACTIVATIONS_PER_BATCH = 2**23
"""Target number of float32 values (activations + monomials) a batch holds at once."""


def validate_run(model, points, params, n_nets, orders, seed):
    """Resolve and validate everything a run needs; returns ``(spec, points, params, orders)``."""
    spec = get_model(model)
    points = as_points(points)
    params = spec.resolve(params, points)
    if "d" in params:
        as_points(points, params["d"])
    if isinstance(n_nets, bool) or not isinstance(n_nets, (int, np.integer)) or n_nets < 1:
        raise ValueError(f"the number of networks must be a positive integer, got {n_nets!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2^32), got {seed!r}")
    orders = validate_orders(orders, len(points))
    return spec, points, params, orders


def sample_ensemble(
    model,
    points,
    *,
    n_nets: int = 100_000,
    orders=(2, 4),
    seed: int = 0,
    params: dict | None = None,
    n_blocks: int = 20,
    batch_size: int | None = None,
    checkpoint=None,
    checkpoint_every: float = 60.0,
    progress: bool | None = None,
):
    """Correlators of ``model`` at ``points`` from ``n_nets`` i.i.d. networks.

    Parameters
    ----------
    model : name, ``ModelSpec`` or NumPyro model function (see :mod:`nnqft_ppl.registry`).
    points : array of shape (n_points, d).
    orders : correlator orders to report (1..6); G<n> and, for n >= 3, G<n>c.
    params : hyperparameters overriding the model's defaults.
    n_blocks : jackknife blocks (of consecutive networks).
    batch_size : networks per compiled batch (default: sized to memory).
    checkpoint : path of a checkpoint file; an interrupted run resumes from it.

    Returns
    -------
    xarray.Dataset with ``G<n>``, ``G<n>_stderr``, ``G<n>_theory`` (dims ``p1..pn``),
    ``points`` and the run's metadata as attributes.
    """
    spec, points, params, orders = validate_run(model, points, params, n_nets, orders, seed)
    check_field(spec.model, points, params, spec.name)
    basis = MonomialBasis(len(points), max(orders))
    field = field_function(spec.model, points, params)
    full_chunks, remainder = divmod(n_nets, NETS_PER_CHUNK)

    def chunk_function(chunk):
        phi = jax.vmap(field)(network_keys(seed, chunk))
        j = np.arange(NETS_PER_CHUNK)
        weights = ((chunk < full_chunks) | ((chunk == full_chunks) & (j < remainder))).astype(phi.dtype)
        sums, abs_max = chunk_power_sums(phi, weights, basis)
        return ((weights.sum(), sums, abs_max),)

    per_net = params.get("width", 1) * len(points) + basis.size
    batch_size = batch_size or max(NETS_PER_CHUNK, ACTIVATIONS_PER_BATCH // per_net)
    fingerprint = {
        "engine": "ensemble",
        "model": spec.name,
        "params": params,
        "points": points.tolist(),
        "seed": int(seed),
        "n_nets": int(n_nets),
        "max_order": basis.max_order,
        "n_blocks": n_blocks,
    }
    (sums,) = stream_chunks(
        chunk_function,
        n_chunks=-(-n_nets // NETS_PER_CHUNK),
        bases=(basis,),
        n_blocks=n_blocks,
        chunks_per_batch=max(1, batch_size // NETS_PER_CHUNK),
        n_units=n_nets,
        progress=progress,
        checkpoint=checkpoint,
        fingerprint=fingerprint,
        checkpoint_every=checkpoint_every,
    )
    attrs = {"nets": int(n_nets), "seed": int(seed), "method": "ensemble", "n_blocks": int(np.sum(sums.counts > 0))}
    return correlator_result(
        lambda m: cumulants_from_moments(m, basis), (sums,), basis, orders, spec, params, points, attrs
    )
