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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from .checkpoint import run_fingerprint
from .ensemble import validate_run
from .moments import MonomialBasis, cumulants_from_moments, power_sums, tree_sum
from .registry import ModelSpec
from .results import correlator_result
from .streaming import memoised_chunk_function, run_arguments, stream_chunks
from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP, as_input, check_field, network_keys, network_weights, trace_network

__all__ = ["sample_neurons", "check_iid_neurons"]

SAMPLES_PER_GROUP = 2**14
"""Neuron samples whose monomials are held in memory at once (traces are mapped in groups)."""


def _in_neuron_plate(site) -> bool:
    return any(frame.name == "neurons" for frame in site.get("cond_indep_stack", ()))


def _latent_sites(trace):
    return {name: site for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}


def _neuron_split(trace):
    h, a, phi = (jnp.asarray(trace[name]["value"]) for name in ("h", "a", "phi"))
    return (h * a[None, :]).T, phi - h @ a


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
    beta = [np.asarray(_neuron_split(t)[1]) for t in (same_neurons[0], other_neurons)]
    if not np.allclose(beta[0], beta[1], rtol=1e-4, atol=1e-4 * (1 + np.abs(beta[0]).max())):
        raise ValueError(refuse + "its field is not h @ a plus a neuron-independent term")
    _check_exchangeable(spec.model, points, params, latent, draws[1], network_sites, fixed[0], refuse)
    non_gaussian = [k for k in network_sites if not isinstance(_base_distribution(latent[k]["fn"]), dist.Normal)]
    if non_gaussian:
        raise ValueError(
            refuse + f"its network-level sites {non_gaussian} are not Normal (only a Gaussian "
            "neuron-independent term is supported: it adds to G2 only)"
        )
    scaled = [{k: factor * v for k, v in fixed[0].items()} for factor in (0.0, 1.0, 2.0)]
    b0, b1, b2 = (np.asarray(_neuron_split(trace_network(spec.model, key, points, params, s))[1]) for s in scaled)
    if not np.allclose(b2 - b0, 2 * (b1 - b0), rtol=1e-4, atol=1e-4 * (1 + np.abs(b1).max())):
        raise ValueError(refuse + f"its neuron-independent term is not linear in the sites {network_sites}")


def _check_exchangeable(model, points, params, latent, other, network_sites, fixed, refuse) -> None:
    """Identical, uncoupled neurons: permuting the neurons' parameter values leaves their
    joint log-density unchanged and permutes the columns of ``h`` the same way, and
    redrawing neuron 0 alone (values from ``other``, another draw) changes only column 0."""
    neuron_sites = [k for k in latent if k not in network_sites]
    permutation = np.roll(np.arange(params["width"]), 1)
    axes = {k: _plate_axis(latent[k], latent[k]["value"]) for k in neuron_sites}
    original = {k: latent[k]["value"] for k in neuron_sites}
    permuted = {k: jnp.take(v, permutation, axis=axes[k]) for k, v in original.items()}
    redrawn = {k: _replace_first(v, other[k]["value"], axes[k]) for k, v in original.items()}
    traces = [
        trace_network(model, jax.random.PRNGKey(5), points, params, {**fixed, **values})
        for values in (original, permuted, redrawn)
    ]
    log_density = [sum(float(jnp.sum(t[k]["fn"].log_prob(t[k]["value"]))) for k in neuron_sites) for t in traces]
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
    index[axis] = slice(0, 1)
    return jnp.concatenate(
        [jnp.asarray(replacement)[tuple(index)], jnp.take(values, jnp.arange(1, values.shape[axis]), axis=axis)],
        axis=axis,
    )


def _plate_axis(site, value) -> int:
    """Axis of ``value`` along the neuron plate (plates count from the right of the batch shape)."""
    frame = next(f for f in site["cond_indep_stack"] if f.name == "neurons")
    return np.ndim(value) - len(site["fn"].event_shape) + frame.dim


def _base_distribution(fn):
    while isinstance(fn, (dist.ExpandedDistribution, dist.Independent)):
        fn = fn.base_dist
    return fn


def _chunk_function(model, params_items: tuple, basis: MonomialBasis):
    """``(chunk, x, seed, full_chunks, remainder) -> (neuron sums, network-level sums)`` per group."""
    params = dict(params_items)
    width = params["width"]
    padded = 1 << (width - 1).bit_length()  # power of two for the pairwise sum
    groups = (NETS_PER_CHUNK // NETS_PER_GROUP, NETS_PER_GROUP)

    def network_sums(key, x):
        u, beta = _neuron_split(trace_network(model, key, x, params))
        u = jnp.pad(u, ((0, padded - width), (0, 0)))
        sums, abs_max = power_sums(u, (jnp.arange(padded) < width).astype(u.dtype), basis)
        return sums, abs_max, beta

    def chunk_function(chunk, x, seed, full_chunks, remainder):
        sums, abs_max, beta = jax.lax.map(
            lambda key: network_sums(key, x), network_keys(seed, chunk), batch_size=max(1, SAMPLES_PER_GROUP // padded)
        )
        weights = network_weights(chunk, full_chunks, remainder, beta.dtype)
        neuron_sums = tree_sum((sums * weights[:, None]).reshape(groups + sums.shape[1:]), axis=1)
        neuron_max = jnp.max((abs_max * weights[:, None]).reshape(groups + abs_max.shape[1:]), axis=1)
        weights = weights.reshape(groups)
        beta_sums, beta_max = jax.vmap(power_sums, in_axes=(0, 0, None))(
            beta.reshape(groups + beta.shape[1:]), weights, basis
        )
        counts = weights.sum(axis=1)
        return (counts * width, neuron_sums, neuron_max), (counts, beta_sums, beta_max)

    return chunk_function


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
):
    """Exact finite-width correlators from the neurons of ``n_nets`` traced networks.

    Same arguments and result as :func:`nnqft_ppl.sample_ensemble`; the estimate is
    G^{(r)}_c = N kappa_r[a h] + kappa_r[beta] from ``n_nets * width`` neuron samples
    and ``n_nets`` samples of the network-level term, with jackknife errors over
    blocks of networks.  ``batch_size`` (networks per compiled batch) defaults to one
    chunk per device: each network already holds ``width`` samples.  Raises
    ``ValueError`` for models it does not apply to.
    """
    spec, points, params, orders = validate_run(model, points, params, n_nets, orders, seed)
    if "width" not in params:
        raise ValueError(f"the exact finite-width engine needs a 'width' hyperparameter; {spec.name} has none")
    check_iid_neurons(spec, points, params)
    width = params["width"]
    basis = MonomialBasis(len(points), max(orders))
    fingerprint = run_fingerprint("neurons", spec.name, params, points, seed, n_nets, basis.max_order, n_blocks)
    neuron_sums, beta_sums = stream_chunks(
        memoised_chunk_function(_chunk_function, spec.model, params, basis),
        run_arguments(points, seed, n_nets),
        n_nets=n_nets,
        bases=(basis, basis),
        n_blocks=n_blocks,
        chunks_per_batch=max(1, (batch_size or NETS_PER_CHUNK) // NETS_PER_CHUNK),
        progress=progress,
        checkpoint=checkpoint,
        fingerprint=fingerprint,
        checkpoint_every=checkpoint_every,
    )

    gaussian_part = np.zeros(basis.size)
    gaussian_part[: basis.offsets[min(3, basis.max_order + 1)]] = 1.0

    def field_cumulants(neuron_moments, beta_moments):
        beta_cumulants = cumulants_from_moments(beta_moments, basis) * gaussian_part
        return width * cumulants_from_moments(neuron_moments, basis) + beta_cumulants

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
