r"""Inference on NN-FT parameter densities: NUTS and multi-start MAP, with ArviZ diagnostics.

Deformed densities (:mod:`nnqft_ppl.deform`) and any model with ``numpyro.factor`` sites couple the
neurons, so the i.i.d. engines do not apply.  :func:`nuts` samples :math:`P(\theta)` with NumPyro's
NUTS (several chains: in parallel over devices where there are enough, vectorised otherwise) and
returns ``arviz.InferenceData`` with named dims (``chain``, ``draw``, ``point``, ``neuron``, ...) and the
sample statistics ArviZ's diagnostics need.  :func:`mcmc_correlators` estimates G2, G4, G4c (and
higher) from the draws of the field with ESS-based errors, and :func:`diagnostics` summarises R-hat,
ESS, divergences, E-BFMI and tree depth, warning (:class:`InferenceWarning`) where they fail the
usual thresholds.  :func:`map_search` finds maxima of the density from many starts at once.

Geometry.  Phases :math:`c \sim U[-\pi, \pi]` are circular: NUTS would hit the walls at
:math:`\pm\pi`.  They are sampled as a 2-vector :math:`v \sim \mathcal N(0, 1_2)` with
:math:`c = \operatorname{atan2}(v_2, v_1)` (uniform, and independent of |v|), which has no boundary.
Momenta in a ball (a cutoff) are mapped from :math:`\mathbb R^d` by
:class:`~nnqft_ppl.spectral.BallTransform`.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro import handlers
from numpyro.infer import MCMC, NUTS
from numpyro.infer.reparam import Reparam

from .combinatorics import unique_tuples
from .correlators import named_tensors, to_dataset, validate_orders
from .moments import MonomialBasis, cumulants_from_moments
from .registry import get_model
from .spacetime import as_points
from .theory import predict
from .tracing import as_input, check_field

__all__ = [
    "nuts",
    "mcmc_correlators",
    "diagnostics",
    "map_search",
    "InferenceWarning",
    "PhaseReparam",
    "hessian_spectra",
    "EXTRA_FIELDS",
    "THRESHOLDS",
]

EXTRA_FIELDS = ("diverging", "potential_energy", "energy", "num_steps", "accept_prob", "adapt_state.step_size")
"""Per-draw NUTS statistics kept for ArviZ (without them sample_stats holds only divergences)."""

THRESHOLDS = {"r_hat": 1.01, "ess": 400, "bfmi": 0.3}
"""Warn when max R-hat exceeds, min bulk/tail ESS falls below (100 per chain for 4 chains), or min E-BFMI
falls below these; any divergence or draw at the maximum tree depth also warns."""


class InferenceWarning(UserWarning):
    """An MCMC diagnostic fails its threshold: the draws may not represent the density."""


class PhaseReparam(Reparam):
    """A uniform phase on [-pi, pi) sampled as the angle of a standard normal 2-vector ``<name>_vector``."""

    def __call__(self, name, fn, obs):
        assert obs is None, "PhaseReparam does not support observed sites"
        vector = numpyro.sample(f"{name}_vector", dist.Normal(0.0, 1.0).expand(fn.batch_shape + (2,)).to_event(1))
        return None, jnp.arctan2(vector[..., 1], vector[..., 0])


def _is_phase(site) -> bool:
    fn = site["fn"]
    while isinstance(fn, (dist.ExpandedDistribution, dist.Independent)):
        fn = fn.base_dist
    return (
        isinstance(fn, dist.Uniform)
        and np.allclose(np.asarray(fn.low), -math.pi)
        and np.allclose(np.asarray(fn.high), math.pi)
        and not site["is_observed"]
    )


class UnwrappedPhaseReparam(Reparam):
    """A uniform phase as an unbounded real ``<name>_unwrapped`` (flat density) taken modulo 2 pi: for MAP,
    where the 2-vector of :class:`PhaseReparam` would collapse to its density's maximum at the origin.
    The phase is then an exactly flat direction of log P, as it is."""

    def __call__(self, name, fn, obs):
        assert obs is None, "UnwrappedPhaseReparam does not support observed sites"
        unwrapped = numpyro.sample(f"{name}_unwrapped", dist.ImproperUniform(dist.constraints.real, fn.batch_shape, ()))
        return None, jnp.remainder(unwrapped + math.pi, 2 * math.pi) - math.pi


def _reparametrised(model, phase=PhaseReparam):
    return handlers.reparam(model, config=lambda site: phase() if _is_phase(site) else None)


def _numpyro_promotion():
    """NumPyro's samplers mix float and int arrays: run them under JAX's standard dtype promotion even
    where a session has made it strict (as the test suite does)."""
    return jax.numpy_dtype_promotion("standard")


def _dims(trace: dict, n_points: int) -> tuple[dict, dict]:
    """ArviZ dims and coords: "point" for the field's axis, "neuron" for the plate, "dim"/"component" after."""
    dims = {}
    for name, site in trace.items():
        if site["type"] not in ("sample", "deterministic") or site.get("is_observed"):
            continue
        shape = np.shape(site["value"])
        in_plate = any(frame.name == "neurons" for frame in site.get("cond_indep_stack", ()))
        names = []
        if name in ("phi", "h"):
            names.append("point")
        if in_plate or name == "h":
            names.append("neuron")
        names += [("dim", "component")[k] if k < 2 else f"axis_{k}" for k in range(len(shape) - len(names))]
        if shape:
            dims[name] = names[: len(shape)]
    return dims, {"point": np.arange(n_points)}


def nuts(
    model,
    points,
    *,
    params: dict | None = None,
    chains: int = 4,
    samples: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.9,
    max_tree_depth: int = 10,
    progress: bool | None = None,
):
    """NUTS draws of ``model``'s parameters and field at ``points`` as ``arviz.InferenceData``.

    Groups: ``posterior`` (every latent site, the field ``phi`` (chain, draw, point), neurons ``h``,
    the deformation's action ``delta_S`` where the model has one), ``sample_stats`` (lp, energy,
    diverging, tree_depth, n_steps, acceptance_rate, step_size), ``constant_data`` (the points).
    Attributes record the model, hyperparameters and settings.  Chains run in parallel over local
    devices when there are at least ``chains`` of them, vectorised otherwise.  Diagnose with
    :func:`diagnostics`; correlators from :func:`mcmc_correlators`.  ``target_accept`` defaults to 0.9
    (not NumPyro's 0.8): the quartic walls of φ⁴-deformed densities produce occasional divergences at
    0.8; raise it further (0.95) if :func:`diagnostics` still reports some.
    """
    import arviz as az

    spec = get_model(model)
    points = as_points(points)
    params = spec.resolve(params, points)
    for name, value in (("chains", chains), ("samples", samples), ("warmup", warmup)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept!r}")
    trace = check_field(spec.model, points, params, spec.name)
    x = as_input(points)
    chain_method = "parallel" if jax.local_device_count() >= chains else "vectorized"
    kernel = NUTS(_reparametrised(spec.model), target_accept_prob=target_accept, max_tree_depth=max_tree_depth)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=chains,
        chain_method=chain_method,
        progress_bar=bool(progress) if progress is not None else False,
    )
    with _numpyro_promotion():
        mcmc.run(jax.random.PRNGKey(seed), x, extra_fields=EXTRA_FIELDS, **params)
    dims, coords = _dims(trace, len(points))
    dims["points"] = ["point", "coordinate"]
    idata = az.from_numpyro(mcmc, coords=coords, dims=dims, constant_data={"points": points}, log_likelihood=False)
    idata.posterior = idata.posterior.drop_vars([name for name in idata.posterior.variables if "_vector" in name])
    idata.posterior.attrs.update(
        {
            "model": spec.name,
            "params": json.dumps(params),
            "method": "nuts",
            "chains": int(chains),
            "samples": int(samples),
            "warmup": int(warmup),
            "seed": int(seed),
            "target_accept": float(target_accept),
            "max_tree_depth": int(max_tree_depth),
            "chain_method": chain_method,
        }
    )
    return idata


def diagnostics(idata, var_names=("phi",), warn: bool = True) -> dict:
    """Max R-hat, min bulk and tail ESS (over ``var_names``), divergences, min E-BFMI and draws at the
    maximum tree depth, with an :class:`InferenceWarning` for each that fails :data:`THRESHOLDS`."""
    import arviz as az

    posterior = idata.posterior[list(var_names)]
    depth = idata.posterior.attrs.get("max_tree_depth", 10)
    summary = {
        "max_r_hat": float(max(float(v.max()) for v in az.rhat(posterior).data_vars.values())),
        "min_ess_bulk": float(min(float(v.min()) for v in az.ess(posterior, method="bulk").data_vars.values())),
        "min_ess_tail": float(min(float(v.min()) for v in az.ess(posterior, method="tail").data_vars.values())),
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "min_bfmi": float(np.min(az.bfmi(idata))),
        "max_tree_depth_hits": int((idata.sample_stats["n_steps"] >= 2**depth - 1).sum()),
    }
    problems = []
    if summary["max_r_hat"] > THRESHOLDS["r_hat"]:
        problems.append(f"max R-hat {summary['max_r_hat']:.3f} > {THRESHOLDS['r_hat']}")
    if min(summary["min_ess_bulk"], summary["min_ess_tail"]) < THRESHOLDS["ess"]:
        problems.append(
            f"min ESS {min(summary['min_ess_bulk'], summary['min_ess_tail']):.0f} < {THRESHOLDS['ess']} (bulk/tail)"
        )
    if summary["divergences"]:
        problems.append(f"{summary['divergences']} divergent transitions")
    if summary["min_bfmi"] < THRESHOLDS["bfmi"]:
        problems.append(f"E-BFMI {summary['min_bfmi']:.2f} < {THRESHOLDS['bfmi']}")
    if summary["max_tree_depth_hits"]:
        problems.append(f"{summary['max_tree_depth_hits']} draws hit the maximum tree depth")
    summary["problems"] = problems
    if warn and problems:
        warnings.warn("NUTS diagnostics: " + "; ".join(problems), InferenceWarning, stacklevel=2)
    return summary


def _linearised(statistic, at: np.ndarray, deviations: np.ndarray, step: float = 1e-3) -> np.ndarray:
    """statistic(at + deviation) - statistic(at) to first order, per row of ``deviations``: a central
    difference along each deviation (exact for quadratic statistics, relative error ~step^2 otherwise)."""
    return (statistic(at + step * deviations) - statistic(at - step * deviations)) / (2 * step)


def mcmc_correlators(idata, orders=(2, 4), model=None):
    """G<n> and, for n >= 3, G<n>c from the posterior draws of ``phi``, with ESS-based errors.

    Every correlator is a smooth function of the moments (averages of monomials of phi over the
    draws).  Its error is the delta method with autocorrelation: the monomials' deviations projected
    on the function's gradient give one series per correlator, whose standard error is its standard
    deviation over :math:`\\sqrt{\\mathrm{ESS}}` (ArviZ's bulk ESS of that series, over all chains).
    Returns the dataset of :func:`~nnqft_ppl.correlators.to_dataset` (dims p1..pn) with
    ``attrs["min_ess"]``, the smallest ESS among the series, and ``G<n>_theory`` where ``model`` (the
    sampled model, or its name) has a theory (a deformed model: its first-order prediction).
    """
    import arviz as az
    import xarray as xr

    phi = np.asarray(idata.posterior["phi"].values, dtype=np.float64)  # (chain, draw, point)
    chains, draws, n_points = phi.shape
    orders = validate_orders(orders, n_points)
    basis = MonomialBasis(n_points, max(orders))
    flat = phi.reshape(-1, n_points)
    monomials = np.concatenate(
        [np.prod(flat[:, unique_tuples(n_points, order)], axis=-1) for order in range(1, basis.max_order + 1)], axis=1
    )
    moments = monomials.mean(axis=0)

    def statistic(m):
        return np.concatenate([m, cumulants_from_moments(m, basis)], axis=-1)

    estimate = statistic(moments)
    influence = _linearised(statistic, moments, monomials - moments)
    series = xr.Dataset({"s": (("chain", "draw", "k"), influence.reshape(chains, draws, -1))})
    ess = np.asarray(az.ess(series, method="bulk")["s"].values)
    spread = influence.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        stderr = np.where(spread > 0, spread / np.sqrt(ess), 0.0)

    def split(vector):
        return named_tensors(vector[: basis.size], vector[basis.size :], basis, orders)

    points = np.asarray(idata.constant_data["points"].values)
    attrs = {key: value for key, value in idata.posterior.attrs.items() if key in _RUN_ATTRIBUTES}
    attrs.update({"nets": int(chains * draws), "min_ess": float(np.nanmin(np.where(spread > 0, ess, np.inf)))})
    theory = None
    if model is not None and get_model(model).theory is not None:
        theory = predict(get_model(model).theory(**json.loads(attrs["params"])), points, orders)
    return to_dataset(split(estimate), split(stderr), points, attrs, theory)


_RUN_ATTRIBUTES = ("model", "params", "method", "seed", "chains", "samples", "warmup")


def write_inference(idata, correlators, out_dir) -> None:
    """``--out DIR`` of ``nnqft infer --method nuts``: inference.nc (the InferenceData), summary.csv
    (``az.summary`` of the field and the action), trace.png and rank.png (the field), correlators.nc."""
    import arviz as az
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    idata.to_netcdf(str(out / "inference.nc"), engine="h5netcdf")
    names = [name for name in ("phi", "delta_S") if name in idata.posterior]
    az.summary(idata, var_names=names).to_csv(out / "summary.csv")
    for name, plot in (("trace", az.plot_trace), ("rank", az.plot_rank)):
        with warnings.catch_warnings():  # ArviZ 0.23's plots use an API that Matplotlib 3.11 deprecates
            warnings.simplefilter("ignore", DeprecationWarning)
            axes = plot(idata, var_names=["phi"], show=False)
        figure = np.ravel(axes)[0].get_figure()
        figure.savefig(out / f"{name}.png", dpi=100)
        plt.close(figure)
    correlators.to_netcdf(out / "correlators.nc", engine="h5netcdf")


def _init_from_prior(site=None):
    """NumPyro init strategy: a prior draw, and for the unwrapped phases of :class:`UnwrappedPhaseReparam`
    (an improper flat site, which NumPyro would start in [-2, 2]) a uniform draw in [-pi, pi)."""
    if site is None:
        return functools.partial(_init_from_prior)  # NumPyro expects strategies as partials
    if site["type"] == "sample" and not site["is_observed"] and site["name"].endswith("_unwrapped"):
        shape = site["kwargs"].get("sample_shape", ()) + site["fn"].shape()
        return jax.random.uniform(site["kwargs"]["rng_key"], shape, minval=-math.pi, maxval=math.pi)
    return numpyro.infer.init_to_sample(site)


@functools.lru_cache(maxsize=16)
def _climber(model, params_items: tuple, steps: int, learning_rate: float, shapes: tuple):
    """The compiled, vmapped climb of :func:`map_search` for one model, its hyperparameters and the
    shapes ``(starts, n_points)`` (cached, so that repeated searches compile once; the guide keeps
    state from its first trace, so every shape gets its own): returns the optimum's latent values,
    log-density, sites and gradient norm per start."""
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoDelta
    from numpyro.infer.util import log_density

    params = dict(params_items)
    target = _reparametrised(model, UnwrappedPhaseReparam)
    guide = AutoDelta(target, init_loc_fn=_init_from_prior())
    schedule = lambda step: learning_rate * 0.01 ** (step / steps)  # noqa: E731 (decays 100x over the climb)
    svi = SVI(target, guide, numpyro.optim.Adam(schedule), Trace_ELBO())

    def climb(key, x):
        state = svi.init(key, x, **params)
        state, _ = jax.lax.scan(lambda s, _: (svi.update(s, x, **params)[0], None), state, None, length=steps)
        optimum = svi.get_params(state)
        latent = guide.median(optimum)
        log_p, trace = log_density(target, (x,), params, latent)
        sites = {k: s["value"] for k, s in trace.items() if s["type"] in ("sample", "deterministic")}
        gradient = jax.grad(lambda q: svi.loss.loss(jax.random.PRNGKey(0), q, target, guide, x, **params))(optimum)
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree_util.tree_leaves(gradient)))
        return latent, log_p, sites, norm

    return jax.jit(jax.vmap(climb, in_axes=(0, None)))


@functools.lru_cache(maxsize=16)
def _curvature(model, params_items: tuple):
    """The compiled Hessian spectra of -log P, vmapped over optima (cached per model and hyperparameters)."""
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import log_density

    params = dict(params_items)
    target = _reparametrised(model, UnwrappedPhaseReparam)

    def curvature(latent, x):
        flat, unravel = ravel_pytree(latent)
        return jnp.linalg.eigvalsh(jax.hessian(lambda v: -log_density(target, (x,), params, unravel(v))[0])(flat))

    return jax.jit(jax.vmap(curvature, in_axes=(0, None)))


def map_search(
    model,
    points,
    *,
    params: dict | None = None,
    starts: int = 16,
    steps: int = 2000,
    learning_rate: float = 0.01,
    seed: int = 0,
    top: int | None = None,
    hessian: bool = False,
):
    r"""Maxima of the parameter density from ``starts`` random starts (draws of the free model), all at
    once: Adam on the negative log-density in NumPyro's unconstrained space (SVI with an ``AutoDelta``
    guide; the step size decays from ``learning_rate`` by 100x over the climb), vmapped over starts,
    ``steps`` steps in one compiled ``lax.scan``.  Phases are unwrapped reals (flat, as they are).

    Returns an ``xarray.Dataset`` with dim ``start`` ordered by decreasing log-density (the best
    ``top``, default all): every latent site and deterministic (``phi`` at the points, ...) at the
    optimum, ``log_density`` (log P(theta) up to its constant, including the deformation) and
    ``gradient_norm`` (in the unconstrained space; small at a converged maximum).  With ``hessian=True``
    also ``hessian_eigenvalues`` (start, direction): the ascending eigenvalues of the Hessian of
    :math:`-\log P` in the parameters themselves (phases unwrapped), positive at a strict maximum of P,
    negative along a saddle's descending directions, zero along flat ones (moduli).
    """
    import xarray as xr

    spec = get_model(model)
    points = as_points(points)
    params = spec.resolve(params, points)
    for name, value in (("starts", starts), ("steps", steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    trace = check_field(spec.model, points, params, spec.name)
    x = as_input(points)
    climb = _climber(spec.model, tuple(sorted(params.items())), steps, float(learning_rate), (starts, len(points)))
    with _numpyro_promotion():
        latent, log_p, sites, gradient = climb(jax.random.split(jax.random.PRNGKey(seed), starts), x)
    gradient = np.asarray(gradient)
    order = np.argsort(-np.asarray(log_p))[: top or starts]
    dims, coords = _dims(trace, len(points))
    data = {}
    for name, value in sites.items():
        if name.endswith(("_vector", "_unwrapped")) or name not in trace or trace[name].get("is_observed"):
            continue
        data[name] = (("start", *dims.get(name, [])), np.asarray(value)[order])
    data["log_density"] = ("start", np.asarray(log_p)[order])
    data["gradient_norm"] = ("start", gradient[order])
    data["points"] = (("point", "coordinate"), points)
    attrs = {
        "model": spec.name,
        "params": json.dumps(params),
        "method": "map",
        "starts": int(starts),
        "steps": int(steps),
        "learning_rate": float(learning_rate),
        "seed": int(seed),
    }
    result = xr.Dataset(data, coords={**coords, "start": np.arange(len(order))}, attrs=attrs)
    if hessian:
        spectra = hessian_spectra(result, spec.model)
        result["hessian_eigenvalues"] = (("start", "direction"), spectra)
    return result


def hessian_spectra(found, model, starts=None) -> np.ndarray:
    r"""Ascending eigenvalues of the Hessian of :math:`-\log P` at the optima of a :func:`map_search` result
    ``found`` (all starts, or the indices ``starts``) of ``model``, in the parameters themselves (phases
    unwrapped)."""
    params = json.loads(found.attrs["params"])
    curvature = _curvature(model, tuple(sorted(params.items())))
    index = np.arange(found.sizes["start"]) if starts is None else np.asarray(starts)
    trace = check_field(model, found["points"].values, params)
    latent = {
        f"{name}_unwrapped" if _is_phase(site) else name: jnp.asarray(found[name].values[index])
        for name, site in trace.items()
        if site["type"] == "sample" and not site["is_observed"]
    }
    with _numpyro_promotion():
        return np.asarray(curvature(latent, as_input(found["points"].values)))
