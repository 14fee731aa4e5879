"""The library's ensemble against a per-network NumPy loop (section ``baseline`` of ``nnqft bench``).

The baseline does what the public HMS20 code (``keeganstoner/nn-qft``, ``create_networks`` and ``n_point``) does,
written with NumPy: one network per Python iteration, its parameters drawn with a ``numpy.random.Generator`` (the
same distributions as the library's model), the network evaluated at the points and its outputs stored; then, from
the stored outputs, every moment ``G(x_t1 .. x_tk)`` as the mean over networks of the product, for each unique index
tuple ``t`` of each order up to 6 (HMS20 form the full n^k tensor per network; unique tuples are cheaper), and the
connected correlators from the moments (the Moebius formula of :func:`nnqft_ppl.moments.cumulants_from_moments`, a
NumPy function whose cost is negligible here).  Models, widths, points and orders are those of the ``throughput``
section (:func:`nnqft_ppl.benchmarks.throughput.case`).

Figure, per model and width
---------------------------
**speed-up over per-network NumPy**: value = the library's marginal networks/s
(:func:`nnqft_ppl.benchmarks.throughput.measure`, the same measurement as the throughput section's, made once per
process); baseline = the NumPy loop's networks/s end to end, n / (loop + correlators), on enough networks that one
run takes at least :attr:`BaselineSizes.seconds` (best of :attr:`BaselineSizes.rounds`).  The ratio is the speed-up
(target >= 100).  The NumPy run is single-process; NumPy may use threads inside its matrix products.

**ceiling: roofline over per-network NumPy**: value = the roofline's networks/s from the same measurement (the
bare draws, activations and readout, no moments: see :mod:`nnqft_ppl.benchmarks.throughput`); baseline = the same
NumPy rate.  The most any brute-force ensemble could gain over the loop on this machine: where it is below 100, the
speed-up target is out of reach of the hardware, not of the library.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable

import numpy as np
from scipy.special import erf

from nnqft_ppl.benchmarks.figures import Figure
from nnqft_ppl.benchmarks.throughput import ORDERS, SIZES, Case, case, measure
from nnqft_ppl.combinatorics import unique_tuples
from nnqft_ppl.correlators import named_tensors
from nnqft_ppl.moments import MonomialBasis, cumulants_from_moments


@dataclasses.dataclass(frozen=True)
class BaselineSizes:
    seconds: float = 2.0
    """Least wall time of one timed NumPy run (the number of networks is grown until it takes this long)."""
    rounds: int = 1
    """Timed NumPy runs; the fastest is kept."""


BASELINE_SIZES = {True: BaselineSizes(2.0, 1), False: BaselineSizes(3.0, 2)}
"""``nnqft bench --quick`` uses ``BASELINE_SIZES[True]``; models and widths are ``throughput.SIZES[quick]``'s."""


# --- one network with NumPy -------------------------------------------------------------------------------------


def cos_net_numpy(rng: np.random.Generator, x: np.ndarray, *, width, sigma_a, sigma_b) -> np.ndarray:
    """``cos_net``: a ~ N(0, sigma_a^2/N), b ~ N(0, sigma_b^2/d), c ~ U[-pi, pi]; phi = cos(x b^T + c) @ a."""
    d = x.shape[1]
    a = rng.normal(0.0, sigma_a / math.sqrt(width), width)
    b = rng.normal(0.0, sigma_b / math.sqrt(d), (width, d))
    c = rng.uniform(-math.pi, math.pi, width)
    return np.cos(x @ b.T + c) @ a


def _gauss(z, x, sigma_w, sigma_b):
    """exp(z) / sqrt(E[exp(2 z)]) (HMS20 Gauss-net, as :data:`nnqft_ppl.nets.ACTIVATIONS` ``"gauss"``)."""
    return np.exp(z - sigma_b**2 - sigma_w**2 * np.sum(x**2, axis=1, keepdims=True) / x.shape[1])


NUMPY_ACTIVATIONS = {
    "erf": lambda z, x, sigma_w, sigma_b: erf(z),
    "relu": lambda z, x, sigma_w, sigma_b: np.maximum(z, 0.0),
    "gauss": _gauss,
}


def affine_numpy(activation: str) -> Callable:
    """An HMS20 net: W0 ~ N(0, sigma_w^2/d), b0 ~ N(0, sigma_b^2), W1 ~ N(0, sigma_w^2/N), b1 ~ N(0, sigma_b^2);
    phi = act(x W0^T + b0) @ W1 + b1."""
    function = NUMPY_ACTIVATIONS[activation]

    def network(rng: np.random.Generator, x: np.ndarray, *, width, sigma_w, sigma_b) -> np.ndarray:
        d = x.shape[1]
        w0 = rng.normal(0.0, sigma_w / math.sqrt(d), (width, d))
        b0 = rng.normal(0.0, sigma_b, width)
        w1 = rng.normal(0.0, sigma_w / math.sqrt(width), width)
        b1 = rng.normal(0.0, sigma_b)
        return function(x @ w0.T + b0, x, sigma_w, sigma_b) @ w1 + b1

    return network


NUMPY_NETS = {
    "cos_net": cos_net_numpy,
    "gauss_net": affine_numpy("gauss"),
    "erf_net": affine_numpy("erf"),
    "relu_net": affine_numpy("relu"),
}


# --- the baseline ensemble and its correlators -------------------------------------------------------------------


def numpy_ensemble(model: str, params: dict, points, n_nets: int, seed: int = 0) -> np.ndarray:
    """Outputs (n_nets, n_points) of ``n_nets`` networks, one per Python iteration."""
    network, rng = NUMPY_NETS[model], np.random.default_rng(seed)
    x = np.asarray(points, dtype=np.float64)
    outputs = np.empty((n_nets, len(x)))
    for i in range(n_nets):
        outputs[i] = network(rng, x, **params)
    return outputs


def numpy_correlators(outputs: np.ndarray, orders=ORDERS) -> dict[str, np.ndarray]:
    """``G<n>`` and ``G<n>c`` (full symmetric tensors) from stored outputs: each moment is the mean over networks of
    the product at one unique index tuple; cumulants by the Moebius formula."""
    n_points = outputs.shape[1]
    basis = MonomialBasis(n_points, max(orders))
    moments = np.array(
        [
            np.mean(np.prod(outputs[:, tuple_], axis=1))
            for order in range(1, basis.max_order + 1)
            for tuple_ in unique_tuples(n_points, order)
        ]
    )
    return named_tensors(moments, cumulants_from_moments(moments, basis), basis, orders)


def run_baseline(case: Case, n_nets: int, orders=ORDERS, seed: int = 0) -> tuple[float, float]:
    """Seconds of the NumPy loop and of its correlators for ``n_nets`` networks of ``case``."""
    start = time.perf_counter()
    outputs = numpy_ensemble(case.model, case.params, case.points, n_nets, seed)
    looped = time.perf_counter()
    numpy_correlators(outputs, orders)
    return looped - start, time.perf_counter() - looped


def baseline_rate(case: Case, sizes: BaselineSizes, orders=ORDERS) -> tuple[float, str]:
    """The NumPy baseline's networks/s end to end, and a note; n grows until one run takes ``sizes.seconds``."""
    n_nets = 64
    parts = run_baseline(case, n_nets, orders)
    while sum(parts) < sizes.seconds:
        n_nets = max(2 * n_nets, math.ceil(1.2 * n_nets * sizes.seconds / sum(parts)))
        parts = run_baseline(case, n_nets, orders)
    runs = [parts] + [run_baseline(case, n_nets, orders) for _ in range(sizes.rounds - 1)]
    loop, correlators = min(runs, key=sum)
    note = f"NumPy: {n_nets:,} networks in {loop:.2f} s + correlators {correlators:.2f} s, best of {sizes.rounds}"
    return n_nets / (loop + correlators), note


def figures(quick: bool = False) -> list[Figure]:
    """The speed-up and its ceiling for every model and width of ``throughput.SIZES[quick]``."""
    result = []
    for width in SIZES[quick].widths:
        for model in SIZES[quick].models:
            this = case(model, width)
            library = measure(this, ORDERS, quick)
            rate, note = baseline_rate(this, BASELINE_SIZES[quick])
            result += [
                Figure(
                    f"{this.label}: speed-up over per-network NumPy",
                    library.networks_per_second,
                    rate,
                    "networks/s",
                    f"{note}; library: marginal rate of the throughput section",
                    target="ratio >= 100",
                ),
                Figure(
                    f"{this.label}: ceiling, roofline over per-network NumPy",
                    library.roofline_per_second,
                    rate,
                    "networks/s",
                    "the bare draws, activations and readout of the throughput section: no brute-force ensemble "
                    "is faster on this machine",
                ),
            ]
    return result
