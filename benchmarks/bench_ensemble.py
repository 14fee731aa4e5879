"""Speed and memory of the correlator engines, each figure against a baseline from the same run.

The machine this runs on is usually shared and noisy, so no figure is an absolute
number to compare across runs: each comes with a baseline measured in the same
process run (interleaved with it, best of several rounds), and the *ratio* is
the figure to read.  Nothing here asserts on timings.

Figures
-------
1. **Ensemble throughput** of :func:`nnqft_ppl.sample_ensemble` for ``cos_net``
   and ``gauss_net`` at width 1000, d = 1, six points, orders (2, 4, 6): networks
   per second and neuron evaluations per second (networks x width).  Measured as
   the *marginal* rate, (n_large - n_small) / (t_large - t_small), from two calls
   of different size, so the per-call fixed cost (the eager contract check,
   jackknife and theory) drops out; each t has the call's own compile time
   (figure 3) taken off, as that alone varies by seconds on a busy machine.
   Best time of ``--rounds`` interleaved rounds.
2. **Roofline**: the same random numbers (same distributions and shapes per
   network; one key per batch, which is the cheapest way to draw them) and the
   same activations and readout ``h @ a`` written in bare ``jax.numpy`` as one
   jit-compiled function of a batch of networks, timed with
   ``jax.block_until_ready`` after every batch and nothing else: no per-network
   key derivation, no NumPyro, no moments.  The batch size is the fastest of
   ``ROOFLINE_BATCHES`` (cache effects on a CPU are large).  Drawing the
   parameters and evaluating the network is the floor of any brute-force
   ensemble (DESIGN.md §4); figure 1 is reported as a fraction of it (target
   >= 70%).
3. **Compile time** of one ``sample_ensemble`` call (JAX's own trace, lowering
   and backend-compile durations, from :mod:`jax.monitoring`; every call
   compiles afresh), and the whole fixed cost of a call (compile, contract
   check, jackknife, theory), both against the roofline's compile time.
4. **Peak memory** (peak RSS of a fresh subprocess, see :func:`peak_rss_mib`) of
   ``cos_net`` at width 10, six points, orders (2, 4, 6) with 1e5 and with 1e7
   networks; the figure is the growth in percent (target < 10%: the ensemble
   streams, DESIGN.md §2).
5. **Exact finite-width engine**: wall time in a fresh subprocess, compilation
   included (imports excluded), of :func:`nnqft_ppl.sample_neurons` on ``cos_net``
   at width 1000, six points, orders (2, 4) with the smallest number of traced
   networks (found by doubling) that gives the largest-magnitude element of G4c
   a relative standard error <= 5% (target < 5 s); best of three such runs.
   Baseline: the time the ensemble engine would need for the same error on the
   same element, extrapolated (error ~ 1/sqrt(n)) from the error and throughput
   of the cos_net runs of figure 1.

Run ``python benchmarks/bench_ensemble.py`` (a few minutes on 2 cores) or with
``--quick`` (smaller sizes, one round); ``--json FILE`` writes every figure as
``{name, value, baseline, ratio, unit}`` with ``ratio = value / baseline``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import resource
import subprocess
import sys
import time
import warnings
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import nnqft_ppl

WIDTH = 1000
POINTS = np.linspace(0.0, 1.0, 6)[:, None]
ORDERS = (2, 4, 6)
ROOFLINE_BATCHES = (256, 1024, 4096)
"""Candidate networks per roofline batch (1024 is the ensemble's default at width 1000, six points)."""
BATCH_UNIT = max(ROOFLINE_BATCHES)
"""Ensemble sizes are multiples of this, so every candidate batch divides them."""

TARGET_RELATIVE_ERROR = 0.05
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


# --- bare-JAX rooflines: the same draws, activations and readout as the models ---------------


def cos_net_roofline(key, x, *, n_nets, width, sigma_a, sigma_b):
    """phi = cos(x b + c) @ a with a (n, width), b (n, width, d), c (n, width) as in ``cos_net``."""
    d = x.shape[1]
    key_a, key_b, key_c = jax.random.split(key, 3)
    a = sigma_a / math.sqrt(width) * jax.random.normal(key_a, (n_nets, width))
    b = sigma_b / math.sqrt(d) * jax.random.normal(key_b, (n_nets, width, d))
    c = jax.random.uniform(key_c, (n_nets, width), minval=-math.pi, maxval=math.pi)
    h = jnp.cos(jnp.einsum("pd,nwd->npw", x, b) + c[:, None, :])
    return jnp.einsum("npw,nw->np", h, a)


def gauss_net_roofline(key, x, *, n_nets, width, sigma_w, sigma_b):
    """phi = exp(x W0 + b0 - sigma_b^2 - sigma_w^2 |x|^2 / d) @ W1 + bias as in ``gauss_net``."""
    d = x.shape[1]
    key_w0, key_b0, key_w1, key_bias = jax.random.split(key, 4)
    w0 = sigma_w / math.sqrt(d) * jax.random.normal(key_w0, (n_nets, width, d))
    b0 = sigma_b * jax.random.normal(key_b0, (n_nets, width))
    w1 = sigma_w / math.sqrt(width) * jax.random.normal(key_w1, (n_nets, width))
    bias = sigma_b * jax.random.normal(key_bias, (n_nets,))
    normaliser = sigma_b**2 + sigma_w**2 * jnp.sum(x**2, axis=1) / d
    h = jnp.exp(jnp.einsum("pd,nwd->npw", x, w0) + b0[:, None, :] - normaliser[None, :, None])
    return jnp.einsum("npw,nw->np", h, w1) + bias[:, None]


@dataclasses.dataclass(frozen=True)
class Case:
    """One model of figure 1, its hyperparameters, points, and its bare-JAX roofline."""

    model: str
    params: dict
    points: np.ndarray
    roofline: Callable


CASES = (
    Case("cos_net", {"width": WIDTH, "sigma_a": 1.0, "sigma_b": 1.0}, POINTS, cos_net_roofline),
    # Small inputs and sigma_b = 0.3 keep the log-normal neurons away from heavy tails.
    Case("gauss_net", {"width": WIDTH, "sigma_w": 1.0, "sigma_b": 0.3}, 0.01 * POINTS, gauss_net_roofline),
)


# --- measurement helpers -------------------------------------------------------------------------


class CompileClock:
    """Seconds JAX spends tracing, lowering and compiling (from :mod:`jax.monitoring`)."""

    def __init__(self):
        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event, duration, **_):
        if event in COMPILE_EVENTS:
            self.seconds += duration


@dataclasses.dataclass
class Figure:
    """One measured figure; ``ratio = value / baseline`` is the one to read."""

    name: str
    value: float
    baseline: float
    unit: str
    note: str = ""
    target: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline

    def record(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "unit": self.unit,
        }


def run_ensemble(case: Case, n_nets: int, clock: CompileClock, batch_size: int | None = None):
    """One ``sample_ensemble`` call: (wall seconds, of which compiling, dataset)."""
    compiled_before, start = clock.seconds, time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = nnqft_ppl.sample_ensemble(
            case.model,
            case.points,
            n_nets=n_nets,
            orders=ORDERS,
            params=case.params,
            batch_size=batch_size,
            progress=False,
        )
    return time.perf_counter() - start, clock.seconds - compiled_before, dataset


def compile_roofline(case: Case, batch_size: int, clock: CompileClock):
    """The jitted roofline batch ``batch_number -> phi`` and its compile seconds."""
    batch = functools.partial(case.roofline, n_nets=batch_size, **case.params)
    x = jnp.asarray(case.points, dtype=jnp.float32)
    roofline = jax.jit(lambda number: batch(jax.random.fold_in(jax.random.PRNGKey(0), number), x))
    compiled_before = clock.seconds
    jax.block_until_ready(roofline(0))
    return roofline, clock.seconds - compiled_before


def run_roofline(roofline, n_batches: int) -> float:
    start = time.perf_counter()
    for number in range(n_batches):
        jax.block_until_ready(roofline(number))
    return time.perf_counter() - start


def fastest_roofline(case: Case, clock: CompileClock, tries: int = 3):
    """The roofline at its fastest batch size: (function, batch size, compile seconds)."""
    candidates = []
    for batch_size in ROOFLINE_BATCHES:
        roofline, compile_seconds = compile_roofline(case, batch_size, clock)
        seconds = min(run_roofline(roofline, BATCH_UNIT // batch_size) for _ in range(tries))
        candidates.append((seconds, batch_size, roofline, compile_seconds))
    _, batch_size, roofline, compile_seconds = min(candidates, key=lambda candidate: candidate[0])
    return roofline, batch_size, compile_seconds


def largest_relative_error(dataset, name="G4c"):
    """(flat index of the largest-magnitude element of ``name``, its value, its relative standard error)."""
    values = np.asarray(dataset[name].values).ravel()
    errors = np.asarray(dataset[f"{name}_stderr"].values).ravel()
    index = int(np.argmax(np.abs(values)))
    return index, float(values[index]), float(errors[index] / abs(values[index]))


def child(command: list[str], timeout: float) -> dict:
    """Run this script as a fresh subprocess and parse the JSON line it prints last."""
    result = subprocess.run([sys.executable, __file__, *command], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"child {command} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the figures ---------------------------------------------------------------------------------


def ensemble_figures(
    case: Case, n_small: int, n_large: int, rounds: int, clock: CompileClock, library_batch: int | None = None
):
    """Figures 1-3 for one model; also returns the large run's dataset and throughput.

    ``library_batch`` is passed to ``sample_ensemble`` as ``batch_size`` (None: its default).
    """
    run_ensemble(case, n_small, clock, library_batch)  # warm-up: imports, the contract check's eager ops
    roofline, batch_size, roofline_compile = fastest_roofline(case, clock)
    small, large, bare, compile_seconds, per_round = [], [], [], [], []
    for _ in range(rounds):
        seconds, compiled, _ = run_ensemble(case, n_small, clock, library_batch)
        small.append(seconds - compiled)
        compile_seconds.append(compiled)
        seconds, compiled, dataset = run_ensemble(case, n_large, clock, library_batch)
        large.append(seconds - compiled)
        bare.append(run_roofline(roofline, n_large // batch_size))
        per_round.append((n_large - n_small) / (large[-1] - small[-1]) / (n_large / bare[-1]))
    throughput = (n_large - n_small) / (min(large) - min(small))
    roofline_throughput = n_large / min(bare)
    width = case.params["width"]
    fixed_cost = min(small) - n_small / throughput + min(compile_seconds)
    figures = [
        Figure(
            f"{case.model} networks/s (vs roofline)",
            throughput,
            roofline_throughput,
            "networks/s",
            f"{n_large:,} vs {n_small:,} networks, best of {rounds}; batch {library_batch or 'default'}, "
            f"roofline batch {batch_size}; per-round ratios {', '.join(f'{r:.2f}' for r in per_round)}",
            target="ratio >= 0.7",
        ),
        Figure(
            f"{case.model} neuron evaluations/s (vs roofline)",
            throughput * width,
            roofline_throughput * width,
            "neurons/s",
            "networks/s x width",
        ),
        Figure(
            f"{case.model} compile per call (vs roofline compile)",
            min(compile_seconds),
            roofline_compile,
            "s",
            "trace + lower + compile of every sample_ensemble call",
        ),
        Figure(
            f"{case.model} fixed cost per call (vs roofline compile)",
            fixed_cost,
            roofline_compile,
            "s",
            "compile + check + jackknife + theory: t_small - n_small / throughput",
        ),
    ]
    return figures, dataset, throughput


def memory_figures(sizes: tuple[int, int], timeout: float, small_repeats: int = 3):
    """Figure 4: peak RSS of fresh subprocesses at two ensemble sizes.

    The peak varies by a few percent between identical runs (compilation, thread
    pools), so the small run is repeated and its median is the baseline.
    """
    small = sorted(child(["--child", "memory", str(sizes[0])], timeout)["max_rss_mib"] for _ in range(small_repeats))
    large = child(["--child", "memory", str(sizes[1])], timeout)
    note = (
        f"cos_net width 10, {sizes[1]:.0e} networks ({large['seconds']:.0f} s) vs {sizes[0]:.0e} "
        f"(median of {small_repeats}: {', '.join(f'{mib:.0f}' for mib in small)} MiB)"
    )
    return [
        Figure(
            "peak RSS, large vs small ensemble",
            large["max_rss_mib"],
            small[len(small) // 2],
            "MiB",
            note,
            target="ratio < 1.10",
        )
    ]


def neuron_figures(
    ensemble_dataset, ensemble_throughput: float, n_ensemble: int, start: int, repeats: int, timeout: float
):
    """Figure 5: time to 5% on the largest |G4c| with the exact engine, vs the ensemble's estimated time.

    ``n_nets`` doubles from ``start`` until the error is finite and <= 5%; that
    size is then timed ``repeats`` times in all (the search's run included).
    """
    n_nets, searched = start, []
    while True:
        run = child(["--child", "neurons", str(n_nets)], timeout)
        searched.append(f"{n_nets}: {run['relative_error']:.3g}")
        if math.isfinite(run["relative_error"]) and run["relative_error"] <= TARGET_RELATIVE_ERROR:
            break
        n_nets *= 2
    seconds = min(
        [run["seconds"]] + [child(["--child", "neurons", str(n_nets)], timeout)["seconds"] for _ in range(repeats - 1)]
    )
    errors = np.asarray(ensemble_dataset["G4c_stderr"].values).ravel()
    ensemble_error = errors[run["index"]] / abs(run["value"])
    ensemble_nets = n_ensemble * (ensemble_error / TARGET_RELATIVE_ERROR) ** 2
    ensemble_seconds = ensemble_nets / ensemble_throughput
    note = (
        f"n_nets={n_nets} (doubling, rel. error {'; '.join(searched)}); ensemble would need "
        f"{ensemble_nets:.2g} networks"
    )
    return [
        Figure(
            "cos_net exact engine: seconds to 5% on G4c (vs ensemble)",
            seconds,
            ensemble_seconds,
            "s",
            note,
            target="value < 5 s",
        )
    ]


# --- children (fresh processes) ------------------------------------------------------------------


def peak_rss_mib() -> float:
    """Peak resident memory of this process.

    ``VmHWM`` from ``/proc/self/status`` where there is one: ``ru_maxrss`` of a
    child started by ``subprocess`` (vfork + exec on Linux) also counts the
    parent's peak, which would hide the child's own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_memory(n_nets: int) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nnqft_ppl.sample_ensemble("cos_net", POINTS, n_nets=n_nets, orders=ORDERS, params={"width": 10}, progress=False)
    return {"max_rss_mib": peak_rss_mib(), "seconds": time.perf_counter() - start}


def child_neurons(n_nets: int) -> dict:
    start = time.perf_counter()
    dataset = nnqft_ppl.sample_neurons(
        "cos_net", POINTS, n_nets=n_nets, orders=(2, 4), params={"width": WIDTH}, progress=False
    )
    seconds = time.perf_counter() - start
    index, value, relative_error = largest_relative_error(dataset)
    return {"seconds": seconds, "relative_error": relative_error, "index": index, "value": value}


# --- driver ---------------------------------------------------------------------------------------


def print_table(figures: list[Figure]) -> None:
    print(f"\n{'figure':58s} {'value':>11s} {'baseline':>11s} {'ratio':>9s}  {'unit':11s} target")
    for figure in figures:
        print(
            f"{figure.name:58s} {figure.value:11.4g} {figure.baseline:11.4g} {figure.ratio:9.3g}  "
            f"{figure.unit:11s} {figure.target}"
        )
        if figure.note:
            print(f"    {figure.note}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes and one round (about 2 minutes)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as {name, value, baseline, ratio, unit}")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of figure 1-2 timings (best is kept)")
    parser.add_argument("--memory-nets", type=float, help="large ensemble size of figure 4 (default 1e7)")
    parser.add_argument("--batch-size", type=int, help="sample_ensemble's batch_size in figures 1-3 (default: its own)")
    parser.add_argument("--ensemble-only", action="store_true", help="figures 1-3 only (no subprocesses)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, n_nets = args.child[0], int(float(args.child[1]))
        print(json.dumps({"memory": child_memory, "neurons": child_neurons}[kind](n_nets)))
        return

    n_small, n_large = (BATCH_UNIT // 2, (2 if args.quick else 10) * BATCH_UNIT)
    rounds = args.rounds or (1 if args.quick else 4)
    memory_sizes = (100_000, int(args.memory_nets or (1e6 if args.quick else 1e7)))
    clock = CompileClock()
    print(f"jax {jax.__version__} on {jax.devices()}; widths {WIDTH}, {len(POINTS)} points, orders {ORDERS}")

    figures = []
    for case in CASES:
        print(f"figures 1-3: {case.model} ...", flush=True)
        case_figures, dataset, throughput = ensemble_figures(case, n_small, n_large, rounds, clock, args.batch_size)
        figures += case_figures
        if case.model == "cos_net":
            cos_dataset, cos_throughput = dataset, throughput
    if args.ensemble_only:
        finish(figures, args.json)
        return
    print(f"figure 4: peak memory at {memory_sizes[0]:.0e} and {memory_sizes[1]:.0e} networks ...", flush=True)
    figures += memory_figures(memory_sizes, timeout=1800)
    print("figure 5: exact finite-width engine ...", flush=True)
    figures += neuron_figures(
        cos_dataset, cos_throughput, n_large, start=64, repeats=1 if args.quick else 3, timeout=600
    )

    finish(figures, args.json)


def finish(figures: list[Figure], json_path: str | None) -> None:
    print_table(figures)
    for figure in figures:
        if figure.name.startswith("peak RSS"):
            print(f"\npeak-memory growth: {100 * (figure.ratio - 1):+.1f}% (target < 10%)")
    if json_path:
        with open(json_path, "w") as file:
            json.dump([figure.record() for figure in figures], file, indent=2)


if __name__ == "__main__":
    main()
