r"""Mixed field-neuron correlators: expectations of the field together with one neuron (PHYSICS.md G.2).

For :math:`\phi = \sum_{i=1}^N a_i h_i + \beta` (the model contract: ``"phi"``, ``"h"``, ``"a"``), an
observable :math:`F(\phi(x_1..x_n), \text{neuron } j)` mixes the field with the constituents
:math:`a_j, h_j(z), b_j, \dots` of a neuron :math:`j`.  Built-in (:data:`OBSERVABLES`):

- ``field_neuron``: :math:`\mathbb E[\phi(x)\,a_jh_j(z)] = \frac{\mu_2}N\mathbb E[h(x)h(z)]
  + \frac{(N-1)\mu_1^2}N\mathbb E[h(x)]\,\mathbb E[h(z)]` (:math:`= G^{(2)}(x,z)/N` for mean-zero weights and
  no output bias: each constituent carries 1/N of the propagator);
- ``field_bare_neuron``: :math:`\mathbb E[\phi(x)\,h_j(z)] = \frac{\mu_1}{\sqrt N}\big(\mathbb E[h(x)h(z)]
  + (N-1)\,\mathbb E[h(x)]\,\mathbb E[h(z)]\big)` (0 for mean-zero weights);
- ``field_field_neuron_squared``: :math:`\mathbb E[\phi(x)\phi(y)\,h_j(z)^2] = \frac{\mu_2}N M_4(x,y,z,z)
  + \frac{(N-1)\mu_2}N M_2(x,y)M_2(z,z) + \sigma_\beta^2 M_2(z,z) + \frac{(N-1)\mu_1^2}N\big(M_3(x,z,z)M_1(y)
  + M_1(x)M_3(y,z,z) + (N-2)M_1(x)M_1(y)M_2(z,z)\big)`,

with :math:`M_k` the single-neuron moments :math:`\mathbb E[h(x_1)\cdots h(x_k)]`,
:math:`\mu_k = \mathbb E[(\sqrt N a)^k]` and :math:`\sigma_\beta^2` the output bias's variance (a independent
of h and of the bias; derivation: expand :math:`\phi\phi = \sum_{i,k}a_ia_kh_ih_k + \dots` and sort the terms
by which of i, k equal j).  For Cos-net (:math:`M_4(x,y,z,z) = \frac18[e^{-\sigma_b^2|x+y-2z|^2/2d}
+ 2e^{-\sigma_b^2|x-y|^2/2d}]`, :math:`M_2(z,z) = \frac12`) the last collapses to

.. math::  \mathbb E[\phi(x)\phi(y)\,h_j(z)^2] = \tfrac12G^{(2)}(x,y)
           + \frac{\sigma_a^2}{8N}\,e^{-\sigma_b^2|x+y-2z|^2/(2d)},

whose 1/N "neuron-resolved" term peaks at the midpoint :math:`z = (x+y)/2`.  The theory
(:func:`mixed_theory`) applies to any model whose theory is a
:class:`~nnqft_ppl.theory.FiniteWidthTheory` (``width``, ``neuron_moment``, ``weight_moment``).

Estimators.  :func:`mixed_correlators` draws i.i.d. networks (network i from ``(seed, i)`` only, the
same networks as :func:`~nnqft_ppl.ensemble.sample_ensemble`), evaluates the model once at the union
of the field points and the neuron probe points, and streams jit-compiled chunks of networks
(:func:`~nnqft_ppl.streaming.stream_chunks`) with delete-one-block jackknife errors over blocks of
networks.  Neurons are exchangeable, so by default each network contributes the average over its
``N`` neurons :math:`\frac1N\sum_j F(\phi, j)` (the same expectation, a smaller error; the jackknife over
whole networks accounts for the correlation of neurons of one network); ``neuron=j`` uses neuron j
alone.  :func:`mixed_from_draws` computes the same per-draw values from NUTS draws
(:func:`~nnqft_ppl.inference.nuts`) and summarises them with ArviZ (ESS-based errors).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .ensemble import activations_per_batch, validate_run
from .moments import MonomialBasis, jackknife, power_sums
from .registry import get_model
from .spacetime import as_points
from .streaming import GROUPS_PER_CHUNK, _fast_compile_options, run_arguments, stream_chunks
from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP, as_input, check_field, network_keys, network_weights, trace_network

__all__ = [
    "MixedObservable",
    "OBSERVABLES",
    "mixed_correlators",
    "mixed_draws",
    "mixed_from_draws",
    "mixed_theory",
    "mixed_record",
    "mixed_table",
    "with_mixed",
]


FAST_COMPILE_NEURONS = 2**25
"""Runs of at most this many neurons (networks x width) compile with
:data:`~nnqft_ppl.streaming.FAST_COMPILE_OPTIONS`: there compiling (seconds) costs more than the slower
program (1.5x, at ~10^7 neurons/s on 2 cores) does."""


@dataclasses.dataclass(frozen=True)
class MixedObservable:
    r"""A mixed field-neuron observable F.

    ``function(values)`` is traceable (JAX) and receives one network's site values: ``values["phi"]``
    (n_field,) at the field points, ``values["h"]`` (n_probe, width) at the neuron probe points, ``"a"``
    (width,) and every other site of the model (neuron-plate sites such as ``"b"`` (width, d), ``"c"``
    (width,) have the neuron axis first).  With ``per_neuron=True`` it returns one value per neuron,
    shape (width, *shape); otherwise one per network, shape ``shape``.  ``dims`` names the axes of
    ``shape`` (default ``<name>_0, <name>_1, ...``); a dim named ``x`` or ``y`` is indexed by the field
    points, ``z`` by the neuron probe points.  ``requires``: the sites the model must record.
    ``theory(theory, field_points, neuron_points)``, optional, predicts E[F] from a
    :class:`~nnqft_ppl.theory.FiniteWidthTheory`-like theory.
    """

    name: str
    function: Callable[[dict], jax.Array]
    dims: tuple[str, ...] | None = None
    per_neuron: bool = True
    requires: tuple[str, ...] = ("a", "h")
    theory: Callable | None = None


def _neuron_moment(theory, *points) -> np.ndarray:
    """E[h(p_1) ... h(p_k)] for point arrays p_i of broadcastable shapes (..., d); shape (...)."""
    stacked = np.stack(np.broadcast_arrays(*points), axis=-2)
    moments = theory.neuron_moment(stacked.reshape((-1,) + stacked.shape[-2:]))
    return np.asarray(moments, dtype=np.float64).reshape(stacked.shape[:-2])


def _weights(theory) -> tuple[int, float, float]:
    """N, E[a] = mu_1/sqrt(N) and E[a^2] = mu_2/N."""
    n = theory.width
    return n, float(theory.weight_moment(1)) / math.sqrt(n), float(theory.weight_moment(2)) / n


def _field_neuron_theory(theory, x, z) -> np.ndarray:
    """E[phi(x) a_j h_j(z)] = E[a^2] M2(x,z) + (N-1) E[a]^2 M1(x) M1(z)."""
    n, mean, square = _weights(theory)
    x, z = x[:, None], z[None, :]
    out = square * _neuron_moment(theory, x, z)
    if mean != 0:
        out = out + (n - 1) * mean**2 * _neuron_moment(theory, x) * _neuron_moment(theory, z)
    return out


def _field_bare_neuron_theory(theory, x, z) -> np.ndarray:
    """E[phi(x) h_j(z)] = E[a] (M2(x,z) + (N-1) M1(x) M1(z)): zero for mean-zero weights."""
    n, mean, _ = _weights(theory)
    if mean == 0:
        return np.zeros((len(x), len(z)))
    x, z = x[:, None], z[None, :]
    return mean * (_neuron_moment(theory, x, z) + (n - 1) * _neuron_moment(theory, x) * _neuron_moment(theory, z))


def _field_field_neuron_squared_theory(theory, x, z) -> np.ndarray:
    """E[phi(x) phi(y) h_j(z)^2] (module docstring), dims (x, y, z)."""
    n, mean, square = _weights(theory)
    shape = (len(x), len(x), len(z))
    x, y, z = x[:, None, None], x[None, :, None], z[None, None, :]
    z_squared = _neuron_moment(theory, z, z)
    out = square * (_neuron_moment(theory, x, y, z, z) + (n - 1) * _neuron_moment(theory, x, y) * z_squared)
    out = out + getattr(theory, "bias_variance", 0.0) * z_squared
    if mean != 0:
        m1x, m1y = _neuron_moment(theory, x), _neuron_moment(theory, y)
        shared = _neuron_moment(theory, x, z, z) * m1y + m1x * _neuron_moment(theory, y, z, z)
        out = out + (n - 1) * mean**2 * (shared + (n - 2) * m1x * m1y * z_squared)
    return np.broadcast_to(out, shape).copy()


def _field_neuron(values):
    """phi(x) a_j h_j(z), shape (width, n_field, n_probe)."""
    return values["phi"][None, :, None] * (values["a"][:, None] * values["h"].T)[:, None, :]


def _field_bare_neuron(values):
    """phi(x) h_j(z), shape (width, n_field, n_probe)."""
    return values["phi"][None, :, None] * values["h"].T[:, None, :]


def _field_field_neuron_squared(values):
    """phi(x) phi(y) h_j(z)^2, shape (width, n_field, n_field, n_probe)."""
    phi = values["phi"]
    return (phi[:, None] * phi[None, :])[None, :, :, None] * (values["h"].T ** 2)[:, None, None, :]


OBSERVABLES: dict[str, MixedObservable] = {
    "field_neuron": MixedObservable("field_neuron", _field_neuron, ("x", "z"), theory=_field_neuron_theory),
    "field_bare_neuron": MixedObservable(
        "field_bare_neuron", _field_bare_neuron, ("x", "z"), requires=("h",), theory=_field_bare_neuron_theory
    ),
    "field_field_neuron_squared": MixedObservable(
        "field_field_neuron_squared",
        _field_field_neuron_squared,
        ("x", "y", "z"),
        requires=("h",),
        theory=_field_field_neuron_squared_theory,
    ),
}
"""The PHYSICS.md G.2 family: E[phi(x) a_j h_j(z)], E[phi(x) h_j(z)], E[phi(x) phi(y) h_j(z)^2]."""


def as_observables(observables) -> tuple[MixedObservable, ...]:
    """Observables from names of :data:`OBSERVABLES`, :class:`MixedObservable` or per-neuron functions
    (one, or a sequence; a comma-separated string of names is accepted)."""
    if isinstance(observables, str):
        observables = [part.strip() for part in observables.split(",") if part.strip()]
    elif isinstance(observables, MixedObservable) or callable(observables):
        observables = [observables]
    out = []
    for item in observables:
        if isinstance(item, str):
            if item not in OBSERVABLES:
                raise ValueError(f"unknown mixed observable {item!r}; available: {', '.join(OBSERVABLES)}")
            item = OBSERVABLES[item]
        elif not isinstance(item, MixedObservable):
            if not callable(item):
                raise TypeError(f"a mixed observable is a name, a MixedObservable or a function, got {item!r}")
            item = MixedObservable(getattr(item, "__name__", "observable"), item)
        out.append(item)
    if not out:
        raise ValueError(f"no mixed observable given; available: {', '.join(OBSERVABLES)}")
    names = [item.name for item in out]
    if len(set(names)) != len(names):
        raise ValueError(f"mixed observables must have distinct names, got {names}")
    return tuple(out)


def _union(points: np.ndarray, neuron_points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of field and probe points, and where each field and probe point sits in it."""
    union, inverse = np.unique(np.concatenate([points, neuron_points]), axis=0, return_inverse=True)
    inverse = np.ravel(inverse).astype(np.int32)
    return union, inverse[: len(points)], inverse[len(points) :]


def _probe_points(points: np.ndarray, neuron_points) -> np.ndarray:
    """Neuron probe points (default: the field points), in the field points' dimension."""
    if neuron_points is None:
        return points
    probes = as_points(neuron_points)
    if probes.shape[1] != points.shape[1]:
        raise ValueError(
            f"the neuron probe points have d={probes.shape[1]} coordinates, the field points d={points.shape[1]}"
        )
    return probes


def _values(trace: dict, field_index, probe_index) -> dict:
    """One network's site values, ``phi`` at the field points and ``h`` at the probe points."""
    values = {
        name: site["value"]
        for name, site in trace.items()
        if site["type"] in ("sample", "deterministic") and not site.get("is_observed")
    }
    values["phi"] = values["phi"][field_index]
    values["h"] = values["h"][probe_index]
    return values


def _evaluate(observables, neuron, trace, field_index, probe_index) -> jax.Array:
    """All observables of one network, averaged over neurons (or at neuron ``neuron``), concatenated flat."""
    values = _values(trace, field_index, probe_index)
    parts = []
    for observable in observables:
        out = jnp.asarray(observable.function(values))
        if observable.per_neuron:
            out = jnp.mean(out, axis=0) if neuron is None else out[neuron]
        parts.append(jnp.ravel(out).astype(jnp.result_type(float)))
    return jnp.concatenate(parts)


def _check_contract(trace: dict, observables, name: str, n_union: int) -> int:
    """The sites the observables need, with the contract's shapes; returns the width."""
    needed = sorted({"h"}.union(*(observable.requires for observable in observables)))
    for site in needed:
        if site not in trace:
            what = {"h": "the neurons 'h' (n_points, width)", "a": "the output weights 'a' (width,)"}.get(site, site)
            raise ValueError(f"{name} records no site {site!r}: mixed correlators need {what} (model contract)")
    h_shape = np.shape(trace["h"]["value"])
    if len(h_shape) != 2 or h_shape[0] != n_union:
        raise ValueError(f"{name}: 'h' has shape {h_shape}, expected (n_points, width) with n_points = {n_union}")
    width = h_shape[1]
    if "a" in needed and np.shape(trace["a"]["value"]) != (width,):
        raise ValueError(f"{name}: 'a' has shape {np.shape(trace['a']['value'])}, expected (width,) = ({width},)")
    return width


def _shapes(trace, observables, width: int, field_index, probe_index) -> list[tuple[int, ...]]:
    """Each observable's output shape per network, from one eagerly traced network (clear errors)."""
    values = _values(trace, field_index, probe_index)
    shapes = []
    for observable in observables:
        try:
            shape = tuple(np.shape(observable.function(values)))
        except Exception as error:  # a user's function: say which
            raise ValueError(f"mixed observable {observable.name!r} failed: {type(error).__name__}: {error}") from None
        if observable.per_neuron:
            if not shape or shape[0] != width:
                raise ValueError(
                    f"mixed observable {observable.name!r} returns shape {shape}; a per-neuron observable "
                    f"returns (width, ...) = ({width}, ...)"
                )
            shape = shape[1:]
        dims = observable.dims
        if dims is not None and len(dims) != len(shape):
            raise ValueError(f"mixed observable {observable.name!r} has dims {dims} for values of shape {shape}")
        shapes.append(shape)
    return shapes


def _check_neuron(neuron, width: int):
    if neuron is None:
        return None
    if isinstance(neuron, bool) or not isinstance(neuron, numbers.Integral) or not 0 <= neuron < width:
        raise ValueError(f"neuron must be None (average over neurons) or an integer in [0, {width}), got {neuron!r}")
    return int(neuron)


def _theory_source(spec, params: dict):
    """The model's theory where it is FiniteWidthTheory-like (i.i.d. neurons, independent weights), else None."""
    if spec.theory is None:
        return None
    theory = spec.theory(**params)
    if all(hasattr(theory, attribute) for attribute in ("width", "neuron_moment", "weight_moment")):
        return theory
    return None


def mixed_theory(model, observables, points, neuron_points=None, params: dict | None = None) -> dict:
    """Analytic E[F] of each observable (module docstring) where the model's theory gives it.

    Returns ``{name: array or None}``: None where the model has no
    :class:`~nnqft_ppl.theory.FiniteWidthTheory`-like theory or the observable no theory function.
    """
    spec = get_model(model)
    points = as_points(points)
    probes = _probe_points(points, neuron_points)
    theory = _theory_source(spec, spec.resolve(params, points))
    out = {}
    for observable in as_observables(observables):
        out[observable.name] = None
        if theory is None or observable.theory is None:
            continue
        try:
            out[observable.name] = np.asarray(observable.theory(theory, points, probes), dtype=np.float64)
        except ValueError as error:  # e.g. neuron moments by quadrature in too many dimensions: keep the measurement
            warnings.warn(f"no theory for {observable.name} of {spec.name} here: {error}", UserWarning, stacklevel=2)
    return out


@functools.lru_cache(maxsize=32)
def _chunk_function(model: Callable, params_items: tuple, observables: tuple, neuron, basis: MonomialBasis):
    """``(chunk, x, seed, full_chunks, remainder, field_index, probe_index) -> ((counts, sums, abs_max),)``."""
    params = dict(params_items)
    groups = (GROUPS_PER_CHUNK, NETS_PER_GROUP)

    def network(key, x, field_index, probe_index):
        return _evaluate(observables, neuron, trace_network(model, key, x, params), field_index, probe_index)

    def chunk_function(chunk, x, seed, full_chunks, remainder, field_index, probe_index):
        keys = network_keys(seed, chunk)
        values = jax.vmap(network, in_axes=(0, None, None, None))(keys, x, field_index, probe_index)
        weights = network_weights(chunk, full_chunks, remainder, values.dtype).reshape(groups)
        grouped = values.reshape(groups + values.shape[1:])
        sums, abs_max = jax.vmap(power_sums, in_axes=(0, 0, None))(grouped, weights, basis)
        return ((weights.sum(axis=1), sums, abs_max),)

    return chunk_function


def _dims(observable: MixedObservable, shape) -> tuple[str, ...]:
    """The observable's dims, or ``<name>_0, <name>_1, ...``."""
    if observable.dims is not None:
        return observable.dims
    return tuple(f"{observable.name}_{k}" for k in range(len(shape)))


def _dataset(observables, shapes, columns: dict, points, probes, attrs: dict, theory: dict):
    """``<name>`` and ``<name>_<column>`` for each observable (columns: flat vectors, or (K, m) for replicas),
    ``<name>_theory`` where known, the field and probe points; dims ``x``/``y`` index the field points, ``z``
    the probe points."""
    import xarray as xr

    data = {
        "field_points": (("field_point", "coordinate"), points),
        "neuron_points": (("neuron_point", "coordinate"), probes),
    }
    start = 0
    for observable, shape in zip(observables, shapes, strict=True):
        size, dims = int(np.prod(shape, dtype=int)), _dims(observable, shape)
        for column, vector in columns.items():
            part = np.asarray(vector)[..., start : start + size]
            lead = ("replica",) if part.ndim == 2 else ()
            name = observable.name if column == "" else f"{observable.name}_{column}"
            data[name] = (lead + dims, part.reshape(part.shape[:-1] + shape))
        if theory.get(observable.name) is not None:
            data[f"{observable.name}_theory"] = (dims, theory[observable.name])
        start += size
    dataset = xr.Dataset(data, attrs=attrs)
    sizes = {"x": len(points), "y": len(points), "z": len(probes)}
    return dataset.assign_coords({dim: np.arange(dataset.sizes[dim]) for dim in dataset.dims if dim in sizes})


def _prepare(spec, points, neuron_points, params, observables, neuron):
    """Validate, evaluate one network at the union of points; returns what both estimators need."""
    observables = as_observables(observables)
    probes = _probe_points(points, neuron_points)
    union, field_index, probe_index = _union(points, probes)
    trace = check_field(spec.model, union, params, spec.name)
    width = _check_contract(trace, observables, spec.name, len(union))
    neuron = _check_neuron(neuron, width)
    shapes = _shapes(trace, observables, width, field_index, probe_index)
    return observables, probes, union, field_index, probe_index, trace, width, neuron, shapes


def _attrs(spec, params, observables, neuron) -> dict:
    return {
        "model": spec.name,
        "params": json.dumps(params),
        "observables": ",".join(observable.name for observable in observables),
        "neuron": "mean" if neuron is None else int(neuron),
    }


def mixed_correlators(
    model,
    points,
    neuron_points=None,
    observables=("field_neuron",),
    *,
    n_nets: int = 100_000,
    seed: int = 0,
    params: dict | None = None,
    neuron: int | None = None,
    n_blocks: int = 20,
    batch_size: int | None = None,
    progress: bool | None = None,
    keep_replicas: bool = False,
):
    """Mixed field-neuron correlators E[F(phi, neuron j)] of ``model`` from ``n_nets`` i.i.d. networks.

    Parameters
    ----------
    model : name, ``ModelSpec`` or NumPyro model function with the contract's ``"phi"``, ``"h"``, ``"a"``.
    points : field points, shape (n_field, d).
    neuron_points : neuron probe points, shape (n_probe, d) (default: the field points); the model is
        evaluated once at the union of both sets.
    observables : names of :data:`OBSERVABLES`, :class:`MixedObservable` objects or per-neuron functions.
    neuron : None (default) averages each network's values over its exchangeable neurons; an integer j
        uses neuron j alone.
    n_blocks : jackknife blocks of consecutive networks; ``keep_replicas`` adds ``<name>_replicas``.

    Returns
    -------
    xarray.Dataset with ``<name>``, ``<name>_stderr`` and, where the model's theory gives it,
    ``<name>_theory`` (dims ``x``, ``y`` for the field points, ``z`` for the probe points), the variables
    ``field_points`` and ``neuron_points`` and the run's metadata as attributes.
    """
    spec, points, params, _ = validate_run(model, points, params, n_nets, (2,), seed)
    observables, probes, union, field_index, probe_index, trace, width, neuron, shapes = _prepare(
        spec, points, neuron_points, params, observables, neuron
    )
    factors = [name for name, site in trace.items() if site["type"] == "sample" and site["is_observed"]]
    if factors:
        raise ValueError(
            f"{spec.name} has a deformed density (factor/observed sites {factors}): i.i.d. draws ignore it; "
            "use nnqft_ppl.inference.nuts and mixed_from_draws"
        )
    size = sum(int(np.prod(shape, dtype=int)) for shape in shapes)
    basis = MonomialBasis(size, 1)
    per_net = width * (len(union) + size) + size
    batch_size = batch_size or max(NETS_PER_CHUNK, activations_per_batch() // per_net)
    key = (spec.model, tuple(sorted(params.items())), observables, neuron, basis)
    try:
        chunk_function = _chunk_function(*key)
    except TypeError:  # unhashable hyperparameters or observables
        chunk_function = _chunk_function.__wrapped__(*key)
    (sums,) = stream_chunks(
        chunk_function,
        run_arguments(union, seed, n_nets) + (jnp.asarray(field_index), jnp.asarray(probe_index)),
        n_nets=n_nets,
        bases=(basis,),
        n_blocks=n_blocks,
        chunks_per_batch=max(1, batch_size // NETS_PER_CHUNK),
        progress=progress,
        fast_compile=n_nets * width <= FAST_COMPILE_NEURONS,
    )
    estimate, stderr, replicas = jackknife(lambda moments: moments, sums, replicas=True)
    if not np.all(np.isfinite(estimate)):
        raise ValueError(f"{spec.name} gives non-finite mixed correlators at these points and hyperparameters")
    attrs = {
        **_attrs(spec, params, observables, neuron),
        "nets": int(n_nets),
        "seed": int(seed),
        "method": "ensemble",
        "n_blocks": int(np.sum(sums.counts > 0)),
    }
    columns = {"": estimate, "stderr": stderr, **({"replicas": replicas} if keep_replicas else {})}
    theory = mixed_theory(spec, observables, points, probes, params)
    return _dataset(observables, shapes, columns, points, probes, attrs, theory)


def _run_model(idata, model):
    """The sampled model (``model``, or the registered name in the run's attributes) and its hyperparameters."""
    attrs = idata.posterior.attrs
    if model is None:
        try:
            model = get_model(attrs["model"])
        except (KeyError, ValueError):
            raise ValueError(
                f"the run's model {attrs.get('model')!r} is not a registered model: pass model= (the sampled model)"
            ) from None
    spec = get_model(model)
    return spec, spec.resolve(json.loads(attrs.get("params", "{}")))


def mixed_draws(idata, observables=("field_neuron",), neuron_points=None, *, points=None, model=None, neuron=None):
    """The observables' values at every posterior draw of an ``arviz.InferenceData`` from
    :func:`~nnqft_ppl.inference.nuts`: an ``xarray.Dataset`` with dims ``(chain, draw, ...)``.

    Each draw's latent sites are substituted into the model (``model``, default: the registered model
    named in the run), which is evaluated at the union of the field points (default: the run's points)
    and the neuron probe points, all draws at once (one jit-compiled vmap).  Add it to the run with
    ``idata.add_groups(mixed=...)``, or summarise it with ``az.summary``.
    """
    import xarray as xr

    spec, params = _run_model(idata, model)
    points = as_points(idata.constant_data["points"].values if points is None else points)
    observables, probes, union, field_index, probe_index, trace, width, neuron, shapes = _prepare(
        spec, points, neuron_points, params, observables, neuron
    )
    latent = [name for name, site in trace.items() if site["type"] == "sample" and not site["is_observed"]]
    missing = [name for name in latent if name not in idata.posterior]
    if missing:
        raise ValueError(f"the posterior lacks the latent sites {missing} of {spec.name}: is this its run?")
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]

    def as_array(value):
        value = np.asarray(value)
        value = value.reshape((chains * draws,) + value.shape[2:])
        return jnp.asarray(value, dtype=jnp.result_type(float)) if np.issubdtype(value.dtype, np.floating) else value

    substitutions = {name: as_array(idata.posterior[name].values) for name in latent}
    x, key = as_input(union), jax.random.PRNGKey(0)

    def draw(values):
        network = trace_network(spec.model, key, x, params, values)
        return _evaluate(observables, neuron, network, field_index, probe_index)

    program = jax.jit(jax.vmap(draw), compiler_options=_fast_compile_options())  # compiled once, run once
    flat = np.asarray(program(substitutions), dtype=np.float64)
    data, start = {}, 0
    for observable, shape in zip(observables, shapes, strict=True):
        size = int(np.prod(shape, dtype=int))
        values = flat[:, start : start + size].reshape((chains, draws) + shape)
        data[observable.name] = (("chain", "draw") + _dims(observable, shape), values)
        start += size
    attrs = _attrs(spec, params, observables, neuron)
    coords = {dim: idata.posterior[dim].values for dim in ("chain", "draw")}
    return xr.Dataset(data, coords=coords, attrs=attrs)


def mixed_from_draws(idata, observables=("field_neuron",), neuron_points=None, *, points=None, model=None, neuron=None):
    """Mixed correlators from NUTS draws with ESS-based errors (ArviZ), the theory beside them.

    The per-draw values of :func:`mixed_draws` are averaged over chains and draws; ``<name>_stderr`` is
    ArviZ's Monte Carlo standard error of the mean (``az.mcse``, sd/sqrt(ESS)), with ``<name>_ess``
    (bulk ESS) and ``<name>_r_hat`` (the columns of ``az.summary``).  Returns the dataset of
    :func:`mixed_correlators` (dims ``x``, ``y``, ``z``) with ``attrs["min_ess"]``.  The theory is
    given for undeformed models with a :class:`~nnqft_ppl.theory.FiniteWidthTheory`-like theory.
    """
    import arviz as az

    spec, params = _run_model(idata, model)
    draws = mixed_draws(idata, observables, neuron_points, points=points, model=spec, neuron=neuron)
    points = as_points(idata.constant_data["points"].values if points is None else points)
    probes = _probe_points(points, neuron_points)
    mean = draws.mean(("chain", "draw"))
    mcse, ess, r_hat = az.mcse(draws, method="mean"), az.ess(draws, method="bulk"), az.rhat(draws)
    observables = as_observables(observables)
    shapes = [draws[observable.name].shape[2:] for observable in observables]
    columns = {
        column: np.concatenate([np.ravel(statistic[o.name].values) for o in observables])
        for column, statistic in (("", mean), ("stderr", mcse), ("ess", ess), ("r_hat", r_hat))
    }
    attrs = {
        **draws.attrs,
        "method": "nuts",
        "nets": int(draws.sizes["chain"] * draws.sizes["draw"]),
        "min_ess": float(np.nanmin(columns["ess"])),
    }
    attrs.update({k: v for k, v in idata.posterior.attrs.items() if k in ("seed", "chains", "samples", "warmup")})
    theory = mixed_theory(spec, observables, points, probes, params)
    return _dataset(observables, shapes, columns, points, probes, attrs, theory)


def _nested(array):
    array = np.asarray(array, dtype=np.float64)
    return np.where(np.isfinite(array), array, None).tolist()


def mixed_record(dataset) -> dict:
    """The JSON record of mixed correlators (``nnqft sample --mixed``): points, settings and, per observable,
    ``dims``, ``mean``, ``stderr`` and ``theory`` (null where unknown), nested lists indexed by point."""
    return {
        "field_points": dataset["field_points"].values.tolist(),
        "neuron_points": dataset["neuron_points"].values.tolist(),
        "nets": int(dataset.attrs["nets"]),
        "neuron": dataset.attrs["neuron"],
        "observables": {
            name: {
                "dims": list(dataset[name].dims),
                "mean": _nested(dataset[name].values),
                "stderr": _nested(dataset[f"{name}_stderr"].values),
                "theory": _nested(dataset[f"{name}_theory"].values) if f"{name}_theory" in dataset else None,
            }
            for name in dataset.attrs["observables"].split(",")
        },
    }


def with_mixed(dataset, mixed):
    """``dataset`` (a correlator run) with the mixed correlators' variables added (one netCDF file), and
    their settings as attributes ``mixed_observables``, ``mixed_nets``, ``mixed_neuron``."""
    attrs = {f"mixed_{key}": mixed.attrs[key] for key in ("observables", "nets", "neuron") if key in mixed.attrs}
    return dataset.merge(mixed, combine_attrs="override").assign_attrs(attrs)


def mixed_table(dataset, max_rows: int = 4) -> str:
    """A short text table: the entries of each mixed correlator farthest from its theory, in standard errors."""
    lines = [f"{'':28} {'index':>12} {'measured':>12} {'stderr':>10} {'theory':>12} {'dev/σ':>7}"]
    for name in dataset.attrs["observables"].split(","):
        values, errors = dataset[name].values.ravel(), dataset[f"{name}_stderr"].values.ravel()
        has_theory = f"{name}_theory" in dataset
        theory = dataset[f"{name}_theory"].values.ravel() if has_theory else np.full(values.shape, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(values == theory, 0.0, (values - theory) / errors)
        shown = np.argsort(-np.abs(np.nan_to_num(z)))[:max_rows] if has_theory else np.arange(min(max_rows, z.size))
        for k in sorted(shown):
            index = np.unravel_index(k, dataset[name].shape)
            label = ",".join(f"{dim}={i}" for dim, i in zip(dataset[name].dims, index, strict=True))
            lines.append(f"{name:28} {label:>12} {values[k]:12.5g} {errors[k]:10.2g} {theory[k]:12.5g} {z[k]:7.2f}")
        finite = np.abs(z[np.isfinite(z)])
        summary = (
            f"max |dev| {finite.max():.2f}σ over {finite.size} entries" if has_theory and finite.size else "no theory"
        )
        lines.append(f"{name:28} {'':>12} {summary}")
    return "\n".join(lines)
