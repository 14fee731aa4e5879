"""Ensemble throughput against the bare-``jax.numpy`` roofline (section ``throughput`` of ``nnqft bench``).

Models: ``cos_net``, ``gauss_net``, ``erf_net``, ``relu_net`` at width 10, 100, 1000 (:data:`WIDTHS`), d = 1, the
six points :data:`POINTS` (``gauss_net`` at 0.01 x them with sigma_b = 0.3, which keeps its log-normal neurons away
from heavy tails; ``relu_net`` with sigma_b = 1, as the HMS20 runs used), orders (2, 4, 6).

Figures, per model and width
----------------------------
1. **networks/s (vs roofline)**: the *marginal* rate of :func:`nnqft_ppl.sample_ensemble`,
   (n_large - n_small) / (t_large - t_small), from two calls of different size, so that the per-call fixed cost
   (contract check, jackknife, theory) drops out; each t has the call's own compile time (JAX's trace, lower and
   compile events) taken off.  n_large - n_small networks take about :attr:`Sizes.seconds`; n_small is one
   batch (:func:`ensemble_sizes`).  Best of :attr:`Sizes.rounds` rounds, interleaved with the roofline.
   **Baseline, the roofline**: the same random numbers (the same distributions and shapes per network; one key per
   batch, the cheapest way to draw them), the same activation and readout ``h @ a (+ bias)``, in bare
   ``jax.numpy`` as one jit-compiled function of a batch of networks, timed with ``jax.block_until_ready`` after
   every batch and nothing else: no per-network keys, no NumPyro, no moments.  Its batch size is the fastest of
   three (:func:`roofline_batches`; cache effects on a CPU are large).  Drawing the parameters and evaluating the
   network is the floor of any brute-force ensemble's work (not a strict bound on its speed: XLA may fuse the
   library's program better, and the ratio then exceeds 1).  Target: ratio >= 0.7 at width 1000.
2. **neuron evaluations/s (vs roofline)**: figure 1 times the width (the same ratio, in the unit that shows how
   the cost grows with width).
3. **compile (vs roofline compile)**: seconds JAX spends compiling in the first ``sample_ensemble`` call of this
   model, width and point set (later calls of the same shapes reuse the compiled batch function), against the
   roofline's compile seconds.

:func:`measure` is also what the ``baseline`` and ``precision`` sections use for the library's rate; its results
are kept for the process, so a full ``nnqft bench`` measures each ensemble once.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import nnqft_ppl
from nnqft_ppl.benchmarks.figures import CompileClock, Figure
from nnqft_ppl.ensemble import activations_per_batch, batch_layout
from nnqft_ppl.moments import MonomialBasis
from nnqft_ppl.nets import ACTIVATIONS
from nnqft_ppl.tracing import NETS_PER_CHUNK

MODELS = ("cos_net", "gauss_net", "erf_net", "relu_net")
WIDTHS = (10, 100, 1000)
POINTS = np.linspace(0.0, 1.0, 6)[:, None]
ORDERS = (2, 4, 6)
HYPERPARAMETERS = {
    "cos_net": ({"sigma_a": 1.0, "sigma_b": 1.0}, 1.0),
    "gauss_net": ({"sigma_w": 1.0, "sigma_b": 0.3}, 0.01),
    "erf_net": ({"sigma_w": 1.0, "sigma_b": 1.0}, 1.0),
    "relu_net": ({"sigma_w": 1.0, "sigma_b": 1.0}, 1.0),
}
"""Per model: hyperparameters besides the width, and the factor applied to :data:`POINTS`."""


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How long and how often to measure; ``nnqft bench --quick`` uses ``SIZES[True]``, the full run ``SIZES[False]``.

    Tests may substitute smaller ones (``monkeypatch.setitem(throughput.SIZES, True, ...)``).
    """

    models: tuple = MODELS
    widths: tuple = WIDTHS
    seconds: float = 2.0
    """Wall time of the difference between the large and the small ensemble call (compilation excluded)."""
    rounds: int = 3
    """Interleaved rounds; the best time of each kind is kept."""


SIZES = {True: Sizes(seconds=0.6, rounds=1), False: Sizes(seconds=2.0, rounds=3)}


# --- bare-JAX rooflines: the same draws, activations and readout as the models ---------------------------------


def cos_net_roofline(key, x, *, n_nets, width, sigma_a, sigma_b):
    """``cos(x b^T + c) @ a``: a ~ N(0, sigma_a^2/N), b ~ N(0, sigma_b^2/d), c ~ U[-pi, pi], as in ``cos_net``."""
    d = x.shape[1]
    key_a, key_b, key_c = jax.random.split(key, 3)
    a = sigma_a / math.sqrt(width) * jax.random.normal(key_a, (n_nets, width))
    b = sigma_b / math.sqrt(d) * jax.random.normal(key_b, (n_nets, width, d))
    c = jax.random.uniform(key_c, (n_nets, width), minval=-math.pi, maxval=math.pi)
    return jax.vmap(lambda a, b, c: jnp.cos(x @ b.T + c[None, :]) @ a)(a, b, c)


def affine_roofline(activation: str) -> Callable:
    """The roofline of an HMS20 net (``erf_net``, ``relu_net``, ``gauss_net``): ``act(x W0^T + b0) @ W1 + b1``.

    W0 ~ N(0, sigma_w^2/d), b0 ~ N(0, sigma_b^2), W1 ~ N(0, sigma_w^2/N), b1 ~ N(0, sigma_b^2); the biases are
    not drawn when sigma_b = 0, as in :func:`nnqft_ppl.nets.affine_neurons` and ``linear_readout``.  The
    activation is the library's own (:data:`nnqft_ppl.nets.ACTIVATIONS`).
    """
    function = ACTIVATIONS[activation]

    def roofline(key, x, *, n_nets, width, sigma_w, sigma_b):
        d = x.shape[1]
        key_w0, key_b0, key_w1, key_bias = jax.random.split(key, 4)
        w0 = sigma_w / math.sqrt(d) * jax.random.normal(key_w0, (n_nets, width, d))
        w1 = sigma_w / math.sqrt(width) * jax.random.normal(key_w1, (n_nets, width))
        if sigma_b > 0:
            b0 = sigma_b * jax.random.normal(key_b0, (n_nets, width))
            bias = sigma_b * jax.random.normal(key_bias, (n_nets,))
        else:
            b0, bias = jnp.zeros((n_nets, width)), jnp.zeros(n_nets)

        def network(w0, b0, w1, bias):
            return function(x @ w0.T + b0[None, :], x, sigma_w, sigma_b) @ w1 + bias

        return jax.vmap(network)(w0, b0, w1, bias)

    roofline.__name__ = f"{activation}_roofline"
    return roofline


ROOFLINES = {
    "cos_net": cos_net_roofline,
    "gauss_net": affine_roofline("gauss"),
    "erf_net": affine_roofline("erf"),
    "relu_net": affine_roofline("relu"),
}


@dataclasses.dataclass(frozen=True)
class Case:
    """One model at one width: its hyperparameters (sorted items, hashable) and points."""

    model: str
    params_items: tuple
    point_scale: float = 1.0

    @property
    def params(self) -> dict:
        return dict(self.params_items)

    @property
    def width(self) -> int:
        return self.params["width"]

    @property
    def points(self) -> np.ndarray:
        return self.point_scale * POINTS

    @property
    def label(self) -> str:
        return f"{self.model} width {self.width}"


def case(model: str, width: int) -> Case:
    """The benchmark configuration of ``model`` at ``width`` (:data:`HYPERPARAMETERS`)."""
    params, scale = HYPERPARAMETERS[model]
    return Case(model, tuple(sorted({**params, "width": width}.items())), scale)


# --- measurement ------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def compile_clock() -> CompileClock:
    """One clock per process (each registers a listener with :mod:`jax.monitoring`)."""
    return CompileClock()


def run_ensemble(case: Case, n_nets: int, orders=ORDERS):
    """One ``sample_ensemble`` call: (wall seconds, of which compiling, dataset)."""
    clock = compile_clock()
    compiled_before, start = clock.seconds, time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = nnqft_ppl.sample_ensemble(
            case.model, case.points, n_nets=n_nets, orders=orders, params=case.params, progress=False
        )
    return time.perf_counter() - start, clock.seconds - compiled_before, dataset


def roofline_batches(case: Case) -> tuple[int, ...]:
    """Candidate networks per roofline batch: the powers of two nearest to 1/8, 1/2 and 1 times the library's
    values per batch (:func:`nnqft_ppl.ensemble.activations_per_batch`) in activations (on 2 CPU cores the
    fastest lay between 2^18 and 2^21 activations at every width)."""
    per_net = case.width * len(case.points)
    return tuple(
        2 ** max(4, round(math.log2(activations_per_batch() * factor / per_net))) for factor in (1 / 8, 1 / 2, 1)
    )


def compile_roofline(case: Case, batch_size: int):
    """The jitted roofline batch ``batch number -> phi`` and its compile seconds."""
    clock = compile_clock()
    batch = functools.partial(ROOFLINES[case.model], n_nets=batch_size, **case.params)
    x = jnp.asarray(case.points, dtype=jnp.result_type(float))
    roofline = jax.jit(lambda number: batch(jax.random.fold_in(jax.random.PRNGKey(0), number), x))
    compiled_before = clock.seconds
    jax.block_until_ready(roofline(0))
    return roofline, clock.seconds - compiled_before


def run_roofline(roofline, n_batches: int) -> float:
    start = time.perf_counter()
    for number in range(n_batches):
        jax.block_until_ready(roofline(number))
    return time.perf_counter() - start


def fastest_roofline(case: Case, n_nets: int):
    """The roofline at its fastest batch size on ``n_nets`` networks: (function, batch size, compile seconds)."""
    candidates = []
    for batch_size in roofline_batches(case):
        roofline, compile_seconds = compile_roofline(case, batch_size)
        seconds = min(run_roofline(roofline, n_nets // batch_size) for _ in range(2))
        candidates.append((seconds, batch_size, roofline, compile_seconds))
    _, batch_size, roofline, compile_seconds = min(candidates, key=lambda candidate: candidate[0])
    return roofline, batch_size, compile_seconds


def library_batch(case: Case, orders=ORDERS) -> int:
    """Networks per compiled batch ``sample_ensemble`` picks by default (:func:`nnqft_ppl.ensemble.batch_layout`)."""
    basis = MonomialBasis(len(case.points), max(orders))
    return batch_layout(case.params, len(case.points), basis)["chunks_per_batch"] * NETS_PER_CHUNK


def ensemble_sizes(case: Case, orders, seconds: float, unit: int) -> tuple[int, int]:
    """(n_small, n_large): n_small = ``unit``, and n_large - n_small networks take about ``seconds``.

    The rate is the marginal one between calls of n and 4n networks, n growing fourfold from ``unit`` until the
    two differ by ``seconds / 8`` (a call's fixed cost would spoil a rate from one call).  Multiples of ``unit``.
    """
    n_nets, elapsed = unit, _compute_seconds(case, unit, orders)
    while True:
        more_nets, more_elapsed = 4 * n_nets, _compute_seconds(case, 4 * n_nets, orders)
        if more_elapsed - elapsed >= seconds / 8 or more_nets >= 2**30:
            break
        n_nets, elapsed = more_nets, more_elapsed
    rate = (more_nets - n_nets) / max(more_elapsed - elapsed, 1e-9)
    return unit, unit * (1 + max(1, round(rate * seconds / unit)))


def _compute_seconds(case: Case, n_nets: int, orders) -> float:
    wall, compiling, _ = run_ensemble(case, n_nets, orders)
    return wall - compiling


@dataclasses.dataclass
class Measurement:
    """The ensemble's marginal rate and the roofline's, from one interleaved measurement."""

    case: Case
    orders: tuple
    networks_per_second: float
    roofline_per_second: float
    compile_seconds: float
    roofline_compile_seconds: float
    roofline_batch: int
    n_small: int
    n_large: int
    round_ratios: list
    dataset: object
    """The dataset of the last large call (its standard errors predict the error at other sizes)."""

    @property
    def note(self) -> str:
        return (
            f"{self.n_large:,} vs {self.n_small:,} networks, best of {len(self.round_ratios)}; roofline batch "
            f"{self.roofline_batch}; per-round ratios {', '.join(f'{ratio:.2f}' for ratio in self.round_ratios)}"
        )


_MEASURED: dict = {}


def measure(case: Case, orders=ORDERS, quick: bool = False) -> Measurement:
    """:class:`Measurement` of ``case`` (sizes from ``SIZES[quick]``); measured once per process and kept."""
    sizes = SIZES[quick]
    key = (case, tuple(orders), sizes)
    if key not in _MEASURED:
        _MEASURED[key] = _measure(case, tuple(orders), sizes)
    return _MEASURED[key]


def _measure(case: Case, orders: tuple, sizes: Sizes) -> Measurement:
    unit = max(max(roofline_batches(case)), 2 ** math.ceil(math.log2(library_batch(case, orders))))
    _, compile_seconds, _ = run_ensemble(case, unit, orders)  # the first call of these shapes compiles
    n_small, n_large = ensemble_sizes(case, orders, sizes.seconds, unit)
    roofline, roofline_batch, roofline_compile = fastest_roofline(case, unit)
    small, large, bare, ratios = [], [], [], []
    for _ in range(sizes.rounds):
        wall, compiling, _ = run_ensemble(case, n_small, orders)
        small.append(wall - compiling)
        wall, compiling, dataset = run_ensemble(case, n_large, orders)
        large.append(wall - compiling)
        bare.append(run_roofline(roofline, n_large // roofline_batch))
        ratios.append((n_large - n_small) / (large[-1] - small[-1]) / (n_large / bare[-1]))
    return Measurement(
        case,
        orders,
        networks_per_second=(n_large - n_small) / (min(large) - min(small)),
        roofline_per_second=n_large / min(bare),
        compile_seconds=compile_seconds,
        roofline_compile_seconds=roofline_compile,
        roofline_batch=roofline_batch,
        n_small=n_small,
        n_large=n_large,
        round_ratios=ratios,
        dataset=dataset,
    )


# --- the figures ------------------------------------------------------------------------------------------------


def case_figures(measurement: Measurement) -> list[Figure]:
    """Figures 1-3 of one model and width."""
    label, width = measurement.case.label, measurement.case.width
    return [
        Figure(
            f"{label}: networks/s (vs roofline)",
            measurement.networks_per_second,
            measurement.roofline_per_second,
            "networks/s",
            measurement.note,
            target="ratio >= 0.7" if width >= 1000 else "",
        ),
        Figure(
            f"{label}: neuron evaluations/s (vs roofline)",
            measurement.networks_per_second * width,
            measurement.roofline_per_second * width,
            "neurons/s",
            "networks/s x width",
        ),
        Figure(
            f"{label}: compile (vs roofline compile)",
            measurement.compile_seconds,
            measurement.roofline_compile_seconds,
            "s",
            "first sample_ensemble call of these shapes; later calls reuse it",
        ),
    ]


def figures(quick: bool = False) -> list[Figure]:
    """Figures 1-3 for every model and width of ``SIZES[quick]``."""
    sizes = SIZES[quick]
    result = []
    for width in sizes.widths:
        for model in sizes.models:
            result += case_figures(measure(case(model, width), ORDERS, quick))
    return result
