"""Running a NumPyro NN-FT model: one network per PRNG key.

Network ``i`` of a run with seed ``s`` uses the key
``fold_in(fold_in(PRNGKey(s), i // NETS_PER_CHUNK), i % NETS_PER_CHUNK)``: its
parameters depend on ``(s, i)`` only, never on batch size or device count.
Networks are evaluated in chunks of ``NETS_PER_CHUNK`` and summed in groups of
``NETS_PER_GROUP`` consecutive networks (the jackknife's smallest block).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers

__all__ = [
    "NETS_PER_CHUNK",
    "NETS_PER_GROUP",
    "as_input",
    "check_field",
    "network_keys",
    "network_weights",
    "trace_network",
]

NETS_PER_CHUNK = 256
"""Networks per chunk, the unit of work and of key derivation: fixed, because it
enters the key of every network."""

NETS_PER_GROUP = 16
"""Networks per group, the unit of exact (pairwise, power-of-two) summation."""


def as_input(points) -> jax.Array:
    """Points as the model's input ``x``: JAX's default float (float32, or float64 with x64 on)."""
    return jnp.asarray(points, dtype=jnp.result_type(float))


def network_keys(seed: int, chunk: jax.Array) -> jax.Array:
    """PRNG keys of the ``NETS_PER_CHUNK`` networks of chunk number ``chunk``."""
    chunk_key = jax.random.fold_in(jax.random.PRNGKey(seed), chunk)
    return jax.vmap(lambda j: jax.random.fold_in(chunk_key, j))(jnp.arange(NETS_PER_CHUNK))


def network_weights(chunk: jax.Array, full_chunks: jax.Array, remainder: jax.Array, dtype) -> jax.Array:
    """1 for the networks of ``chunk`` that belong to the run, 0 for the padding of its last chunk.

    A run of ``n_nets = full_chunks * NETS_PER_CHUNK + remainder`` networks.
    """
    j = jnp.arange(NETS_PER_CHUNK, dtype=jnp.int32)
    return ((chunk < full_chunks) | ((chunk == full_chunks) & (j < remainder))).astype(dtype)


def trace_network(model: Callable, key, points, params: Mapping[str, Any], substitutions=None) -> dict:
    """Site messages of one network drawn with ``key`` (values of non-substituted sites)."""
    conditioned = handlers.substitute(model, data=substitutions) if substitutions else model
    return handlers.trace(handlers.seed(conditioned, key)).get_trace(points, **params)


def check_field(model: Callable, points, params: Mapping[str, Any], name: str = "model") -> dict:
    """Trace one network eagerly and check the model contract for the field.

    Returns the trace.  Raises ``ValueError`` naming the problem: no ``phi`` site,
    wrong shape, or non-finite values.
    """
    x = as_input(points)
    try:
        trace = trace_network(model, jax.random.PRNGKey(0), x, params)
    except (ValueError, TypeError):
        raise
    except Exception as error:  # a user's model failing inside NumPyro: say where
        raise ValueError(f"{name} failed when traced with {dict(params)}: {type(error).__name__}: {error}") from None
    if "phi" not in trace:
        raise ValueError(f"{name} records no field: add numpyro.deterministic('phi', ...) to the model")
    phi = np.asarray(trace["phi"]["value"])
    if phi.shape != (len(points),):
        raise ValueError(f"{name}: 'phi' has shape {phi.shape}, expected (n_points,) = ({len(points)},)")
    if not np.all(np.isfinite(phi)):
        raise ValueError(f"{name} gives a non-finite field at these points and hyperparameters")
    return trace
