"""Time to a target precision on G4c: the exact finite-width engine against the ensemble (section ``precision``).

``cos_net`` at width 10, 100, 1000 (``sigma_a = sigma_b = 1``), d = 1, the six points of the throughput section,
orders (2, 4).  The precision is the relative standard error (jackknife) of G4c at the element where the model's
exact theory has the largest |G4c|: stderr / |G4c_theory| there, the same element for both engines.

Figure, per width
-----------------
**exact engine: seconds to 5% on G4c (vs ensemble)**.  Value: wall time of :func:`nnqft_ppl.sample_neurons` in a
fresh process (``python -m nnqft_ppl.benchmarks.precision --child neurons WIDTH N``), compilation and the i.i.d.
checks included, imports excluded, at the number of traced networks N found by :func:`time_to_precision` (a power of
two, at least :data:`MIN_NETWORKS`: each run's error predicts the next N, error ~ 1/sqrt(N), until the error is
<= the target); best of :attr:`PrecisionSizes.repeats` runs at that N.

Baseline: the same for :func:`nnqft_ppl.sample_ensemble`, measured the same way in fresh processes when the networks
it needs take less than :attr:`PrecisionSizes.direct_seconds` at its measured rate (both predicted from a pilot: the
throughput measurement :func:`nnqft_ppl.benchmarks.throughput.measure` at orders (2, 4), its error and marginal
rate); otherwise extrapolated: the networks needed (error ~ 1/sqrt(n)) divided by the marginal rate, plus the first
call's compile time.  The note says which.  Ratio < 1: the exact engine is faster.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
import warnings

import numpy as np

import nnqft_ppl
from nnqft_ppl.benchmarks.figures import Figure, run_child
from nnqft_ppl.benchmarks.throughput import WIDTHS, Case, case, compile_clock, measure

MODEL = "cos_net"
ORDERS = (2, 4)
CHILD_TIMEOUT = 600.0
MIN_NETWORKS = 512
"""Fewest networks a run may use: the jackknife's 20 blocks need 320 (blocks are groups of 16 networks); with
fewer blocks the error estimate itself is too uncertain to stop a search on (4 blocks: +-40 %)."""


@dataclasses.dataclass(frozen=True)
class PrecisionSizes:
    widths: tuple = WIDTHS
    target: float = 0.05
    """Relative standard error of G4c to reach."""
    repeats: int = 1
    """Fresh-process runs at the final size (the search's last run included); the fastest is kept."""
    direct_seconds: float = 30.0
    """Measure the ensemble directly (fresh processes) when it needs less than this; extrapolate otherwise."""


PRECISION_SIZES = {True: PrecisionSizes(repeats=1, direct_seconds=10.0), False: PrecisionSizes(repeats=3)}
"""``nnqft bench --quick`` uses ``PRECISION_SIZES[True]``."""


def relative_error(dataset) -> tuple[int, float]:
    """(flat index, stderr / |theory|) of G4c at the element where |G4c_theory| is largest."""
    theory = np.asarray(dataset["G4c_theory"].values).ravel()
    errors = np.asarray(dataset["G4c_stderr"].values).ravel()
    index = int(np.argmax(np.abs(theory)))
    return index, float(errors[index] / abs(theory[index]))


def timed_run(engine: str, width: int, n_nets: int) -> dict:
    """One run of ``engine`` (``"neurons"`` or ``"ensemble"``) in this process: its seconds (compilation included),
    of which compiling, and its relative error on G4c."""
    sample = {"neurons": nnqft_ppl.sample_neurons, "ensemble": nnqft_ppl.sample_ensemble}[engine]
    this = case(MODEL, width)
    clock = compile_clock()
    compiled_before, start = clock.seconds, time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = sample(MODEL, this.points, n_nets=n_nets, orders=ORDERS, params=this.params, progress=False)
    seconds = time.perf_counter() - start
    _, error = relative_error(dataset)
    return {"seconds": seconds, "compile_seconds": clock.seconds - compiled_before, "relative_error": error}


def fresh_run(engine: str, width: int, n_nets: int) -> dict:
    """:func:`timed_run` in a fresh process."""
    return run_child("precision", ["--child", engine, str(width), str(n_nets)], CHILD_TIMEOUT)


def next_size(n_nets: int, error: float, target: float) -> int:
    """The power of two predicted to reach ``target`` from ``error`` at ``n_nets`` (error ~ 1/sqrt(n)), at least
    twice ``n_nets``."""
    if not math.isfinite(error):
        return 2 * n_nets
    return max(2 * n_nets, 2 ** math.ceil(math.log2(n_nets * (error / target) ** 2)))


def time_to_precision(engine: str, width: int, start: int, sizes: PrecisionSizes) -> tuple[float, int, str]:
    """(seconds, networks, search trail) of ``engine`` reaching ``sizes.target`` in fresh processes, from ``start``
    networks; the seconds are the best of ``sizes.repeats`` runs at the final size."""
    n_nets, trail = start, []
    while True:
        run = fresh_run(engine, width, n_nets)
        trail.append(f"{n_nets}: {run['relative_error']:.3g}")
        if run["relative_error"] <= sizes.target:
            break
        n_nets = next_size(n_nets, run["relative_error"], sizes.target)
    seconds = [run["seconds"]] + [fresh_run(engine, width, n_nets)["seconds"] for _ in range(sizes.repeats - 1)]
    return min(seconds), n_nets, "; ".join(trail)


def exact_start(width: int) -> int:
    """A first guess of the exact engine's networks, below what it needs: about 2^14 neuron samples (on cos_net
    2^16 samples gave 3-4 % at every width), at least :data:`MIN_NETWORKS`."""
    return max(MIN_NETWORKS, 2 ** round(math.log2(2**14 / width)))


def ensemble_time(this: Case, sizes: PrecisionSizes, quick: bool) -> tuple[float, str]:
    """The ensemble's seconds to ``sizes.target`` (measured or extrapolated, see the module docstring) and a note."""
    pilot = measure(this, ORDERS, quick)
    _, error = relative_error(pilot.dataset)
    needed = pilot.n_large * (error / sizes.target) ** 2
    predicted = needed / pilot.networks_per_second
    if predicted <= sizes.direct_seconds:
        start = max(MIN_NETWORKS, 2 ** math.floor(math.log2(needed)))
        seconds, n_nets, trail = time_to_precision("ensemble", this.width, start, sizes)
        return seconds, f"ensemble measured: {n_nets:,} networks (search {trail})"
    seconds = predicted + pilot.compile_seconds
    return seconds, (
        f"ensemble extrapolated: {needed:.2g} networks at {pilot.networks_per_second:.3g}/s "
        f"(error {error:.3g} at {pilot.n_large:,})"
    )


def figures(quick: bool = False) -> list[Figure]:
    sizes = PRECISION_SIZES[quick]
    result = []
    for width in sizes.widths:
        this = case(MODEL, width)
        seconds, n_nets, trail = time_to_precision("neurons", width, exact_start(width), sizes)
        baseline, note = ensemble_time(this, sizes, quick)
        result.append(
            Figure(
                f"{this.label}: exact engine s to {sizes.target:.0%} on G4c (vs ensemble)",
                seconds,
                baseline,
                "s",
                f"exact: {n_nets:,} networks (search {trail}), best of {sizes.repeats}; {note}",
                target="ratio < 1",
            )
        )
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="one timed run of an engine (a child of the precision section)")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "WIDTH", "N"), required=True)
    engine, width, n_nets = parser.parse_args(argv).child
    print(json.dumps(timed_run(engine, int(width), int(n_nets))))


if __name__ == "__main__":
    main()
