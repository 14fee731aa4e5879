"""The exact finite-width engine: correlators at width N from single-neuron cumulants.

For a network phi(x) = sum_{i=1}^N a_i h_i(x) + beta(x) whose neurons (a_i, h_i) are
i.i.d. and independent of the network-level term beta, cumulants add
(PHYSICS.md §1.1):

    G^{(r)}_c(x_1..x_r) = N kappa_r[u](x_1..x_r) + kappa_r[beta](x_1..x_r),   u = a h,

and for a Gaussian network-level term (an output bias) kappa_r[beta] = 0 for r >= 3:
beta adds to the mean and G2 only.

Every traced network supplies N independent samples of u, so the 1/N connected
terms come with the precision of N times more networks: at width 1000 the
brute-force ensemble needs ~1e10 networks for G4c to 5%, this engine ~1e2.

Applies to models that record ``"h"`` (n_points, width) and sample their output
weights ``"a"`` in ``numpyro.plate("neurons", width)``, whose plate sites do not
depend on network-level sites, whose field is ``h @ a`` plus a neuron-independent
term that is linear in Gaussian network-level sites, and that have no
``numpyro.factor`` (a deformed density couples neurons).
Each condition is checked numerically on a few traces; others are refused.

A run compiles three programs: the traced networks, for each model and width (with
:data:`~nnqft_ppl.streaming.FAST_COMPILE_OPTIONS`: in a width scan, compiling them
is most of the time); the power sums of their neurons, which depend only on the
orders and the tiling of a group's neurons and so serve every model and many widths;
and those of the network-level terms (orders 1 and 2), which serve all of them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .checkpoint import run_fingerprint
from .combinatorics import unique_tuples
from .ensemble import validate_run
from .moments import MonomialBasis, cumulants_from_moments, power_sums, tree_sum
from .registry import ModelSpec
from .results import correlator_result
from .streaming import memoised_chunk_function, run_arguments, stream_chunks
from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP, as_input, check_field, network_keys, network_weights, trace_network

__all__ = ["sample_neurons", "check_iid_neurons", "neurons_result"]

SAMPLES_PER_STEP = 2**14
"""Neurons traced at once (the networks of a chunk are mapped in steps of this many neurons)."""

SAMPLES_PER_TILE = 256
"""Neuron samples whose monomials are built and summed at once.  For six points and
orders up to 6 that is 923 monomials x 256 samples x 4 bytes, about 1 MB, which stays
in a CPU's cache: measured on 2 cores, 1.3-4.5x less CPU per sample (widths 2-1000)
than summing each network's neurons, padded to a power of two, 2^14 samples at once."""

TILES_PER_STEP = 4
"""Tiles whose power sums are evaluated at once (vmapped; the steps are looped)."""


def _in_neuron_plate(site) -> bool:
    return any(frame.name == "neurons" for frame in site.get("cond_indep_stack", ()))


def _latent_sites(trace):
    return {name: site for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}


def _neuron_split(trace):
    h, a, phi = (jnp.asarray(trace[name]["value"]) for name in ("h", "a", "phi"))
    return (h * a[None, :]).T, phi - h @ a


def _network_term(trace) -> np.ndarray:
    """beta = phi - h @ a of an eagerly traced network, in NumPy.

    The checks below do their own arithmetic in NumPy: each eager JAX operation on
    arrays of a new shape (a new width) is compiled first, ~30 ms apiece.
    """
    h, a, phi = (np.asarray(trace[name]["value"]) for name in ("h", "a", "phi"))
    return phi - h @ a


def check_iid_neurons(spec: ModelSpec, points, params: dict) -> None:
    """Raise ``ValueError`` (naming the reason) unless ``spec`` has i.i.d. neurons in the contract's form."""
    name = spec.name
    refuse = f"the exact finite-width engine does not apply to {name}: "
    trace = check_field(spec.model, points, params, name)
    points = as_input(points)
    observed = [k for k, site in trace.items() if site["type"] == "sample" and site["is_observed"]]
    if observed:
        raise ValueError(
            refuse + f"it has factor/observed sites {observed}, which couple the neurons; use the ensemble"
        )
    if "h" not in trace or "a" not in trace:
        raise ValueError(refuse + "it must record neurons numpyro.deterministic('h', ...) and output weights 'a'")
    width = params.get("width")
    if not _in_neuron_plate(trace["a"]) or np.shape(trace["a"]["value"]) != (width,):
        raise ValueError(refuse + "the output weights 'a' must be sampled in numpyro.plate('neurons', width)")
    if np.shape(trace["h"]["value"]) != (len(points), width):
        raise ValueError(refuse + f"'h' must have shape (n_points, width) = ({len(points)}, {width})")
    latent = _latent_sites(trace)
    network_sites = [k for k, site in latent.items() if not _in_neuron_plate(site)]
    draws = [_latent_sites(trace_network(spec.model, jax.random.PRNGKey(s), points, params)) for s in (1, 2)]
    fixed = [{k: draws[i][k]["value"] for k in network_sites} for i in range(2)]
    key = jax.random.PRNGKey(3)
    same_neurons = [trace_network(spec.model, key, points, params, fixed[i]) for i in range(2)]
    neuron_sites = [k for k in latent if k not in network_sites] + ["h"]
    dependent = [
        k
        for k in neuron_sites
        if not np.allclose(same_neurons[0][k]["value"], same_neurons[1][k]["value"], rtol=1e-5, atol=1e-6)
    ]
    if dependent:
        raise ValueError(
            refuse + f"its neuron sites {dependent} depend on network-level sites {network_sites} "
            "(the neurons are not independent)"
        )
    other_neurons = trace_network(spec.model, jax.random.PRNGKey(4), points, params, fixed[0])
    beta = [_network_term(t) for t in (same_neurons[0], other_neurons)]
    if not np.allclose(beta[0], beta[1], rtol=1e-4, atol=1e-4 * (1 + np.abs(beta[0]).max())):
        raise ValueError(refuse + "its field is not h @ a plus a neuron-independent term")
    _check_exchangeable(spec.model, points, params, latent, draws[1], network_sites, fixed[0], refuse)
    non_gaussian = [k for k in network_sites if not isinstance(_base_distribution(latent[k]["fn"]), dist.Normal)]
    if non_gaussian:
        raise ValueError(
            refuse + f"its network-level sites {non_gaussian} are not Normal (only a Gaussian "
            "neuron-independent term is supported: it adds to G2 only)"
        )
    scaled = [{k: factor * np.asarray(v) for k, v in fixed[0].items()} for factor in (0.0, 1.0, 2.0)]
    b0, b1, b2 = (_network_term(trace_network(spec.model, key, points, params, s)) for s in scaled)
    if not np.allclose(b2 - b0, 2 * (b1 - b0), rtol=1e-4, atol=1e-4 * (1 + np.abs(b1).max())):
        raise ValueError(refuse + f"its neuron-independent term is not linear in the sites {network_sites}")


def _check_exchangeable(model, points, params, latent, other, network_sites, fixed, refuse) -> None:
    """Identical, uncoupled neurons: permuting the neurons' parameter values leaves their
    joint log-density unchanged and permutes the columns of ``h`` the same way, and
    redrawing neuron 0 alone (values from ``other``, another draw) changes only column 0."""
    neuron_sites = [k for k in latent if k not in network_sites]
    permutation = np.roll(np.arange(params["width"]), 1)
    axes = {k: _plate_axis(latent[k], latent[k]["value"]) for k in neuron_sites}
    original = {k: np.asarray(latent[k]["value"]) for k in neuron_sites}
    permuted = {k: np.take(v, permutation, axis=axes[k]) for k, v in original.items()}
    redrawn = {k: _replace_first(v, other[k]["value"], axes[k]) for k, v in original.items()}
    traces = [
        trace_network(model, jax.random.PRNGKey(5), points, params, {**fixed, **values})
        for values in (original, permuted, redrawn)
    ]
    log_density = [
        sum(float(np.sum(np.asarray(t[k]["fn"].log_prob(t[k]["value"])), dtype=np.float64)) for k in neuron_sites)
        for t in traces
    ]
    if not np.isclose(log_density[0], log_density[1], rtol=1e-5, atol=1e-4):
        raise ValueError(refuse + "its neurons are not identically distributed (permuting them changes the density)")
    h = [np.asarray(t["h"]["value"]) for t in traces]
    if not (
        np.allclose(h[1], h[0][:, permutation], rtol=1e-5, atol=1e-6)
        and np.allclose(h[2][:, 1:], h[0][:, 1:], rtol=1e-5, atol=1e-6)
    ):
        raise ValueError(refuse + "its neurons are coupled: h_i depends on other neurons' parameters")


def _replace_first(values, replacement, axis):
    """``values`` with its first entry along ``axis`` taken from ``replacement``."""
    index = [slice(None)] * np.ndim(values)
    index[axis] = 0
    out = np.array(values, copy=True)
    out[tuple(index)] = np.asarray(replacement)[tuple(index)]
    return out


def _plate_axis(site, value) -> int:
    """Axis of ``value`` along the neuron plate (plates count from the right of the batch shape)."""
    frame = next(f for f in site["cond_indep_stack"] if f.name == "neurons")
    return np.ndim(value) - len(site["fn"].event_shape) + frame.dim


def _base_distribution(fn):
    while isinstance(fn, (dist.ExpandedDistribution, dist.Independent)):
        fn = fn.base_dist
    return fn


def _network_inputs(chunk, x, seed, full_chunks, remainder):
    """``-> (keys, weights, x)``: the PRNG keys of a chunk's networks, 1 for the run's
    networks and 0 for the padding of its last chunk, and the points.  Its own program,
    shared by every model and width (the key derivations are ~10% of a chunk function's
    compile time)."""
    return network_keys(seed, chunk), network_weights(chunk, full_chunks, remainder, x.dtype), x


def _chunk_function(model, params_items: tuple, basis=None):
    """``(keys, weights, x) -> ((samples, sample_weights), (beta, weights))`` from :func:`_network_inputs`.

    The traced networks of a chunk: ``samples`` (groups, group size, n_points) holds the
    neuron terms a_i h_i of each group's ``NETS_PER_GROUP * width`` neurons, zero-padded
    to whole tiles (:func:`_tiling`); ``sample_weights`` (groups, group size) is 1 for
    the run's neurons, 0 for padding; ``beta`` (networks, n_points) holds the
    network-level terms and ``weights`` (networks,) is 1 for the run's networks, 0 for
    the padding of its last chunk.  The program depends on the model and its
    hyperparameters (so on the width), not on the orders (``basis`` is unused): the
    power sums are :func:`_neuron_power_sums` and :func:`_network_power_sums`,
    programs shared by every model and width with the same tiling.
    """
    params = dict(params_items)
    width = params["width"]
    tile, n_tiles = _tiling(width)
    groups = NETS_PER_CHUNK // NETS_PER_GROUP
    padding = tile * n_tiles - NETS_PER_GROUP * width
    # a power of two divides the chunk: lax.map traces no remainder (a second copy of the model)
    networks_per_step = 1 << (max(1, SAMPLES_PER_STEP // width).bit_length() - 1)

    def chunk_function(keys, weights, x):
        u, beta = jax.lax.map(
            lambda key: _neuron_split(trace_network(model, key, x, params)), keys, batch_size=networks_per_step
        )
        weights = weights.astype(beta.dtype)
        samples = jnp.pad(u.reshape(groups, NETS_PER_GROUP * width, u.shape[-1]), ((0, 0), (0, padding), (0, 0)))
        sample_weights = jnp.broadcast_to(weights[:, None], (NETS_PER_CHUNK, width)).reshape(groups, -1)
        return (samples, jnp.pad(sample_weights, ((0, 0), (0, padding)))), (beta, weights)

    return chunk_function


def _tiling(width: int) -> tuple[int, int]:
    """(tile, number of tiles) for the ``NETS_PER_GROUP * width`` neuron samples of a group:
    one tile of the next power of two if they fit in ``SAMPLES_PER_TILE``, else whole
    tiles of ``SAMPLES_PER_TILE``."""
    samples = NETS_PER_GROUP * width
    if samples <= SAMPLES_PER_TILE:
        return 1 << (samples - 1).bit_length(), 1
    return SAMPLES_PER_TILE, -(-samples // SAMPLES_PER_TILE)


@functools.lru_cache(maxsize=16)
def _neuron_power_sums(basis: MonomialBasis):
    """``(samples, sample_weights) -> (counts, power sums, abs_max)`` of the neurons, per group.

    Depends on the orders and the array shapes only, so one compiled program serves
    every model and every width with the same tiling.  Each tile of a group is summed
    by a pairwise tree over its samples, the tiles by a pairwise tree over the tiles
    (zero-padded to a power of two): the rounding is fixed by the shapes alone, and
    so does not depend on the batch size or the number of devices.
    """

    def neuron_power_sums(samples, sample_weights):
        n_groups, group_size, n_points = samples.shape
        tile = min(SAMPLES_PER_TILE, group_size)
        n_tiles = group_size // tile
        sums, abs_max = jax.lax.map(
            lambda unit: power_sums(unit[0], unit[1], basis),
            (samples.reshape(-1, tile, n_points), sample_weights.reshape(-1, tile)),
            batch_size=TILES_PER_STEP,
        )
        sums = sums.reshape(n_groups, n_tiles, -1)
        tiles = 1 << (n_tiles - 1).bit_length()
        neuron_sums = tree_sum(jnp.pad(sums, ((0, 0), (0, tiles - n_tiles), (0, 0))), axis=1)
        return sample_weights.sum(axis=1), neuron_sums, jnp.max(abs_max.reshape(n_groups, n_tiles, -1), axis=1)

    return neuron_power_sums


@functools.lru_cache(maxsize=16)
def _network_power_sums(basis: MonomialBasis):
    """``(beta, weights) -> (counts, power sums, abs_max)`` of the network-level terms, per group:
    one program for every model and width."""
    groups = NETS_PER_CHUNK // NETS_PER_GROUP

    def network_power_sums(beta, weights):
        weights = weights.reshape(groups, -1)
        sums, abs_max = jax.vmap(power_sums, in_axes=(0, 0, None))(
            beta.reshape(groups, -1, beta.shape[-1]), weights, basis
        )
        return weights.sum(axis=1), sums, abs_max

    return network_power_sums


def _gaussian_cumulants(moments: np.ndarray, basis: MonomialBasis) -> np.ndarray:
    """Cumulants of a Gaussian network-level term from its moments on ``basis``: the mean
    and the covariance E[beta_i beta_j] - E[beta_i] E[beta_j]; zero beyond the second
    order (so only its moments up to the second are needed)."""
    out = np.zeros(np.shape(moments))
    mean = moments[..., basis.order_slice(1)]
    out[..., basis.order_slice(1)] = mean
    if basis.max_order >= 2:
        pairs = unique_tuples(basis.n_points, 2)
        second = moments[..., basis.order_slice(2)] - mean[..., pairs[:, 0]] * mean[..., pairs[:, 1]]
        out[..., basis.order_slice(2)] = second
    return out


def sample_neurons(
    model,
    points,
    *,
    n_nets: int = 10_000,
    orders=(2, 4),
    seed: int = 0,
    params: dict | None = None,
    n_blocks: int = 20,
    batch_size: int | None = None,
    checkpoint=None,
    checkpoint_every: float = 60.0,
    progress: bool | None = None,
    keep_replicas: bool = False,
    shard: tuple[int, int] | None = None,
):
    """Exact finite-width correlators from the neurons of ``n_nets`` traced networks.

    Same arguments and result as :func:`nnqft_ppl.sample_ensemble`; the estimate is
    G^{(r)}_c = N kappa_r[a h] + kappa_r[beta] from ``n_nets * width`` neuron samples
    and ``n_nets`` samples of the network-level term, with jackknife errors over
    blocks of networks.  ``batch_size`` (networks per compiled batch) defaults to one
    chunk per device: each network already holds ``width`` samples.  Raises
    ``ValueError`` for models it does not apply to.  ``shard=(K, M)`` computes shard K
    of M only and returns it (a :class:`~nnqft_ppl.shards.Shard`), as for the ensemble.
    """
    spec, points, params, orders = validate_run(model, points, params, n_nets, orders, seed)
    if shard is not None:
        from .shards import check_shard

        shard = check_shard(shard)
    if "width" not in params:
        raise ValueError(f"the exact finite-width engine needs a 'width' hyperparameter; {spec.name} has none")
    check_iid_neurons(spec, points, params)
    basis = MonomialBasis(len(points), max(orders))
    beta_basis = MonomialBasis(len(points), min(2, basis.max_order))  # a Gaussian term: mean and covariance
    engine = f"neurons, tiles of {SAMPLES_PER_TILE}"  # the summation order: checkpoints of another are refused
    fingerprint = run_fingerprint(engine, spec.name, params, points, seed, n_nets, basis.max_order, n_blocks)
    accumulators = stream_chunks(
        memoised_chunk_function(_chunk_function, spec.model, params, None),
        run_arguments(points, seed, n_nets),
        n_nets=n_nets,
        bases=(basis, beta_basis),
        n_blocks=n_blocks,
        chunks_per_batch=max(1, (batch_size or NETS_PER_CHUNK) // NETS_PER_CHUNK),
        progress=progress,
        checkpoint=checkpoint,
        fingerprint=fingerprint if shard is None else {**fingerprint, "shard": list(shard)},
        checkpoint_every=checkpoint_every,
        prologue=_network_inputs,
        reductions=(_neuron_power_sums(basis), _network_power_sums(beta_basis)),
        fast_compile=True,
        shard=shard,
        values_per_net=params["width"] * len(points),  # the neuron terms a_i h_i handed to the power sums
    )
    if shard is not None:
        from .shards import make_shard

        return make_shard("neurons", model, fingerprint, orders, shard, accumulators)
    return neurons_result(spec, params, points, orders, n_nets, seed, accumulators, keep_replicas)


def neurons_result(spec, params, points, orders, n_nets, seed, accumulators, keep_replicas=False):
    """The dataset of an exact-engine run from its accumulators (also of merged shards)."""
    neuron_sums, beta_sums = accumulators
    width = params["width"]
    basis = MonomialBasis(len(points), max(orders))
    beta_basis = MonomialBasis(len(points), min(2, basis.max_order))

    def field_cumulants(neuron_moments, beta_moments):
        cumulants = width * cumulants_from_moments(neuron_moments, basis)
        cumulants[..., : beta_basis.size] += _gaussian_cumulants(beta_moments, beta_basis)  # orders 1, 2 lead
        return cumulants

    attrs = {
        "nets": int(n_nets),
        "seed": int(seed),
        "method": "neurons",
        "neuron_samples": int(n_nets) * width,
        "n_blocks": int(np.sum(neuron_sums.counts > 0)),
    }
    return correlator_result(
        field_cumulants,
        (neuron_sums, beta_sums),
        basis,
        orders,
        spec,
        params,
        points,
        attrs,
        keep_replicas=keep_replicas,
    )
