r"""Independence breaking measured from an ensemble: the :math:`I^{(4)}_{\rm IB}` term (PHYSICS.md §1.4, D.1).

For :math:`\phi = \sum_{i=1}^N u_i + \beta`, :math:`u_i = a_ih_i`, with joint law :math:`P` of the
neurons and :math:`P_\perp = \prod_iP_i` the product of their marginals,

.. math::  G^{(4)}_c\big|_P = G^{(4)}_c\big|_{P_\perp} + I^{(4)}_{\rm IB},\qquad
           I^{(4)}_{\rm IB} = G^{(4)}_c\big|_P - G^{(4)}_c\big|_{P_\perp}
           = \big(G^{(4)}|_P - G^{(4)}|_{P_\perp}\big) - \big([GG]|_P - [GG]|_{P_\perp}\big)

(the last form for mean-zero fields).  :math:`G^{(4)}_c|_{P_\perp}` is the :math:`O(1/N)` part
of independent neurons; :math:`I^{(4)}_{\rm IB}` is what the dependence between neurons adds, and it
can survive :math:`N\to\infty`.  If only the amplitudes are correlated,
:math:`\mathbb E[a_i^2a_j^2] = (\mu_2^2+\delta)/N^2` for :math:`i\ne j`, then
:math:`I^{(4)}_{\rm IB} = \frac{N-1}N\,\delta\sum_{\rm pairings}\mathbb E[hh]\,\mathbb E[hh]`.

Estimator.  Networks are drawn in chunks of C > N (a power of two, at least ``NETS_PER_CHUNK``);
network n of a chunk gives its field :math:`\phi_n` (a draw from :math:`P`), its neuron terms
:math:`u_{n,i}` and its neuron-independent term :math:`\beta_n = \phi_n - \sum_iu_{n,i}`.  The cyclic shift

.. math::  \phi^\perp_n = \sum_{i=0}^{N-1} u_{(n+i)\bmod C,\,i} + \beta_{(n+N)\bmod C}

(neurons numbered from 0) takes every neuron, and the network-level term, from a different
independent network while keeping neuron i in slot i, so :math:`\phi^\perp_n` is an exact draw from
:math:`P_\perp` (times the marginal of :math:`\beta`), exchangeable neurons or not.  The field must be
``h @ a`` plus a term that does not depend on the neurons' parameters (the model contract).  The
:math:`\phi^\perp_n` of one chunk depend on each other (they share networks), so a chunk is never split
between jackknife blocks, and both fields are jackknifed together, which accounts for their
correlation in :math:`I^{(4)}_{\rm IB}`.  Cost: 2-3x an ensemble of as many networks; memory: a chunk
holds C x N x n_points neuron terms (4 MB at N = 1000, 4 points).
Network i's parameters depend on (seed, i) only, as in :func:`~nnqft_ppl.sample_ensemble`: with
the same seed the two give the same :math:`G^{(n)}|_P` (up to rounding) when ``n_nets`` is a multiple of C.
"""

from __future__ import annotations

import functools
import json
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .combinatorics import expand_symmetric
from .correlators import to_dataset
from .ensemble import activations_per_batch, validate_run
from .moments import BlockedSums, MonomialBasis, cumulants_from_moments, jackknife, power_sums
from .registry import ModelSpec
from .streaming import memoised_chunk_function
from .tails import HeavyTailWarning, heavy_tail_report
from .theory import FiniteWidthTheory, predict
from .tracing import NETS_PER_CHUNK, as_input, check_field, network_keys, trace_network

__all__ = ["independence_breaking", "networks_per_chunk"]

ORDERS = (2, 4)
"""Orders accumulated: G2 (full) and G4c under both laws."""


def networks_per_chunk(width: int) -> int:
    """C: the smallest ``NETS_PER_CHUNK * 2^j`` larger than the width, so that the N neurons and the
    network-level term of a product-of-marginals network come from N + 1 different networks.  A chunk
    holds C x width x n_points neuron terms at once."""
    return NETS_PER_CHUNK << max(0, (width // NETS_PER_CHUNK).bit_length())


def _network_parts(model: Callable, key, x, params: dict):
    """One network's field ``phi`` (n_points,), neuron terms ``u`` (width, n_points) and ``beta = phi - h @ a``."""
    trace = trace_network(model, key, x, params)
    h, a, phi = (trace[name]["value"] for name in ("h", "a", "phi"))
    return phi, (h * a[None, :]).T, phi - h @ a


def _chunk_function(model: Callable, params_items: tuple, basis: MonomialBasis) -> Callable:
    """``(chunk, x, seed, full_chunks, remainder) -> (count, sums, abs_max, sums_perp, abs_max_perp)``.

    The C networks of ``chunk`` (networks ``chunk * C .. chunk * C + C - 1`` of the run, keyed as in
    :mod:`nnqft_ppl.tracing`), their fields and the product-of-marginals fields of the cyclic shift,
    reduced to power sums over ``basis``.
    """
    params = dict(params_items)
    width = params["width"]
    size = networks_per_chunk(width)
    key_chunks = size // NETS_PER_CHUNK

    def chunk_function(chunk, x, seed, full_chunks, remainder):
        # index arrays are built inside the trace (iota), not captured: constants of C x N slow compiles down
        networks = jnp.arange(size, dtype=jnp.int32)
        slots = jnp.broadcast_to(jnp.arange(width, dtype=jnp.int32)[None, :], (size, width))
        sources = (networks[:, None] + slots) % size  # phi_perp[n] takes neuron i from network sources[n, i]
        keys = jax.vmap(lambda index: network_keys(seed, index))(
            chunk * key_chunks + jnp.arange(key_chunks, dtype=jnp.int32)
        )
        phi, u, beta = jax.vmap(lambda key: _network_parts(model, key, x, params))(keys.reshape(size, -1))
        phi_perp = u[sources, slots].sum(axis=1) + beta[(networks + width) % size]
        weights = ((chunk < full_chunks) | ((chunk == full_chunks) & (networks < remainder))).astype(phi.dtype)
        sums, abs_max = power_sums(phi, weights, basis)
        sums_perp, abs_max_perp = power_sums(phi_perp, weights, basis)
        return weights.sum(), sums, abs_max, sums_perp, abs_max_perp

    return chunk_function


@functools.lru_cache(maxsize=64)
def _compiled_batch(chunk_function: Callable) -> Callable:
    """jit of ``chunk_function`` vmapped over a batch of chunk numbers."""
    return jax.jit(jax.vmap(chunk_function, in_axes=(0, None, None, None, None)))


def _check_neurons(spec: ModelSpec, points: np.ndarray, params: dict) -> None:
    """``ValueError`` unless the model records ``"h"`` (n_points, width) and ``"a"`` (width,) and has no factor."""
    trace = check_field(spec.model, points, params, spec.name)
    refuse = f"independence_breaking does not apply to {spec.name}: "
    if "width" not in params:
        raise ValueError(refuse + "it has no width hyperparameter")
    observed = [k for k, site in trace.items() if site["type"] == "sample" and site["is_observed"]]
    if observed:
        raise ValueError(refuse + f"it has factor/observed sites {observed}; networks are drawn from the prior")
    if "h" not in trace or "a" not in trace:
        raise ValueError(refuse + "it must record neurons numpyro.deterministic('h', ...) and output weights 'a'")
    width = params["width"]
    if np.shape(trace["a"]["value"]) != (width,):
        raise ValueError(refuse + f"'a' must have shape (width,) = ({width},), got {np.shape(trace['a']['value'])}")
    if np.shape(trace["h"]["value"]) != (len(points), width):
        raise ValueError(refuse + f"'h' must have shape (n_points, width) = ({len(points)}, {width})")


def _theories(spec: ModelSpec, params: dict, points: np.ndarray, attrs: dict) -> dict | None:
    """Predicted ``G2``, ``G4c`` under P and P_perp and ``I_IB``, where the model's theory knows them.

    P_perp's theory: a :class:`~nnqft_ppl.theory.FiniteWidthTheory` (i.i.d. neurons) is its own;
    otherwise the theory's ``product_of_marginals()`` if it has one.
    """
    if spec.theory is None:
        return None
    try:
        theory = spec.theory(**params)
        joint = predict(theory, points, ORDERS)
        if isinstance(theory, FiniteWidthTheory):
            product = joint
        elif hasattr(theory, "product_of_marginals"):
            product = predict(theory.product_of_marginals(), points, ORDERS)
        else:
            return {"G2": joint["G2"], "G4c": joint["G4c"]}
    except ValueError as error:  # e.g. quadrature in too many dimensions: keep the measurement
        warnings.warn(f"no theory for {spec.name} here: {error}", UserWarning, stacklevel=4)
        attrs["theory_note"] = str(error)
        return None
    return {
        "G2": joint["G2"],
        "G2_perp": product["G2"],
        "G4c": joint["G4c"],
        "G4c_perp": product["G4c"],
        "I_IB": joint["G4c"] - product["G4c"],
    }


def independence_breaking(
    model,
    points,
    *,
    params: dict | None = None,
    n_nets: int = 100_000,
    seed: int = 0,
    progress: bool | None = None,
    n_blocks: int = 10,
):
    r"""The independence-breaking term :math:`I^{(4)}_{\rm IB}` of ``model`` at ``points`` (PHYSICS.md D.1).

    .. math::  I^{(4)}_{\rm IB} = G^{(4)}_c\big|_P - G^{(4)}_c\big|_{P_\perp},\qquad P_\perp = \prod_iP_i,

    from ``n_nets`` networks drawn from P and as many product-of-marginals networks built from their
    neurons by a cyclic shift (module docstring).  Zero within errors for i.i.d. neurons; for
    :func:`~models.shared_scale_net.shared_scale_net`,
    :math:`I^{(4)}_{\rm IB} = \frac{N-1}N\,v\,[GG]_{1234}`.

    Parameters
    ----------
    model : name, ``ModelSpec`` or NumPyro model function recording ``"phi"``, ``"h"`` and ``"a"``
        (:mod:`nnqft_ppl.registry`), without ``numpyro.factor``.
    points : array of shape (n_points, d).
    params : hyperparameters overriding the model's defaults (``width`` is required).
    n_nets : networks drawn from P: at least two chunks of :func:`networks_per_chunk` (width) networks.
    n_blocks : jackknife blocks (of whole chunks; at most the number of chunks).

    Returns
    -------
    xarray.Dataset with ``G2``, ``G2_perp`` (dims ``p1, p2``), ``G4c``, ``G4c_perp``, ``I_IB`` (dims
    ``p1..p4``), each with ``_stderr`` and, where the model's theory gives it, ``_theory``;
    ``points`` and the run's metadata (``chunk`` = C) as attributes.
    """
    spec, points, params, _ = validate_run(model, points, params, n_nets, ORDERS, seed)
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, (int, np.integer)) or n_blocks < 2:
        raise ValueError(f"n_blocks must be an integer >= 2 (delete-one-block jackknife), got {n_blocks!r}")
    _check_neurons(spec, points, params)
    size = networks_per_chunk(params["width"])
    n_chunks = -(-n_nets // size)
    if n_chunks < 2:
        raise ValueError(
            f"n_nets = {n_nets} fills only one chunk of {size} networks at width {params['width']}; "
            f"use n_nets >= {2 * size} (jackknife blocks are whole chunks)"
        )
    n_blocks = min(int(n_blocks), n_chunks)
    basis = MonomialBasis(len(points), max(ORDERS))
    compiled = _compiled_batch(memoised_chunk_function(_chunk_function, spec.model, params, basis))
    per_batch = max(1, activations_per_batch() // (size * params["width"] * len(points)))
    per_batch = min(per_batch, n_chunks)
    full_chunks, remainder = divmod(n_nets, size)
    arguments = (as_input(points), jnp.uint32(seed), jnp.int32(full_chunks), jnp.int32(remainder))
    joint, product = BlockedSums.zeros(n_blocks, basis), BlockedSums.zeros(n_blocks, basis)
    bar = tqdm(
        total=n_nets, unit="net", unit_scale=True, disable=None if progress is None else not progress, leave=False
    )

    def consume(chunks, outputs):
        nonlocal joint, product
        counts, sums, abs_max, sums_perp, abs_max_perp = jax.device_get(outputs)
        valid = chunks < n_chunks
        blocks = chunks[valid] * n_blocks // n_chunks
        joint = joint.add(blocks, counts[valid], sums[valid], abs_max[valid])
        product = product.add(blocks, counts[valid], sums_perp[valid], abs_max_perp[valid])
        bar.update(min(n_nets, int(chunks[valid][-1] + 1) * size) - bar.n)

    pending = None
    for start in range(0, n_chunks, per_batch):
        chunks = np.arange(start, start + per_batch, dtype=np.int32)
        outputs = compiled(jnp.asarray(chunks), *arguments)
        if pending is not None:
            consume(*pending)
        pending = (chunks, outputs)
    consume(*pending)
    bar.close()
    return _result(joint, product, basis, spec, params, points, {"nets": int(n_nets), "seed": int(seed)}, size)


def _result(joint, product, basis, spec, params, points, attrs, size):
    """Jackknife G2, G4c under both laws and their difference into the dataset."""
    second, fourth = basis.order_slice(2), basis.order_slice(4)

    def statistic(moments, moments_perp):
        cumulants, cumulants_perp = (cumulants_from_moments(m, basis)[..., fourth] for m in (moments, moments_perp))
        return np.concatenate(
            [moments[..., second], moments_perp[..., second], cumulants, cumulants_perp, cumulants - cumulants_perp],
            axis=-1,
        )

    estimate, stderr = jackknife(statistic, joint, product)
    if not np.all(np.isfinite(estimate)):
        raise ValueError(f"{spec.name} produced non-finite field values at these points and hyperparameters")
    names = (("G2", 2), ("G2_perp", 2), ("G4c", 4), ("G4c_perp", 4), ("I_IB", 4))
    bounds = np.cumsum([0] + [basis.order_slice(order).stop - basis.order_slice(order).start for _, order in names])

    def split(vector):
        return {
            name: expand_symmetric(vector[..., bounds[k] : bounds[k + 1]], basis.n_points, order)
            for k, (name, order) in enumerate(names)
        }

    attrs = {
        "model": spec.name,
        "params": json.dumps(params),
        "method": "independence",
        "chunk": int(size),
        "n_blocks": int(np.sum(joint.counts > 0)),
        **attrs,
    }
    theory = _theories(spec, params, points, attrs)
    for sums, label in ((joint, "networks"), (product, "product-of-marginals networks")):
        tail = heavy_tail_report(sums, basis, label)
        if tail is not None:
            warnings.warn(tail, HeavyTailWarning, stacklevel=3)
            attrs.setdefault("heavy_tails", tail)
    return to_dataset(split(estimate), split(stderr), points, attrs, theory)
