"""Cost of the free scalar's propagator and of the reflection-positivity check (issue 4).

Figures (each against a baseline from the same process; nothing asserts on timings):

1. **1 % propagator, d = 3.**  ``scalar_net`` (d = 3, m = 1, cutoff 10, alpha = 0,
   width 100) at 8 points on a line 0, 0.25, ..., 1.75: the smallest number of
   networks (doubling from 2^12) for which every G2 element has a standard error
   <= 1 % of G(0), and the wall time of that run (warm: compiled once before).
   Done for the ensemble and the exact finite-width engine; the figure is the
   exact engine's time as a ratio of the ensemble's.
2. **RP check cost.**  Wall time (warm) of :func:`nnqft_ppl.axioms.reflection_positivity`
   on ``cauchy_net`` (20k networks) with 4, 8, 16 and 32 points; ratio to the 4-point
   time.  Each check measures G2 at 2n points (n and their reflections): the power
   sums grow like n^2, the eigenproblem is negligible.

Run ``python benchmarks/bench_scalar.py [--json FILE]`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import models  # noqa: F401  (registers the built-in models)
from nnqft_ppl.axioms import reflection_positivity
from nnqft_ppl.sampling import sample

SCALAR = {"width": 100, "d": 3, "mass": 1.0, "cutoff": 10.0, "alpha": 0.0}
TARGET = 0.01


def _points() -> np.ndarray:
    points = np.zeros((8, 3))
    points[:, 0] = 0.25 * np.arange(8)
    return points


def _timed(function):
    function()  # compile
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def propagator_to_one_percent(method: str) -> dict:
    points = _points()
    n_nets = 2**12
    while True:

        def run(n_nets=n_nets):
            return sample(
                "scalar_net", points, method=method, n_nets=n_nets, orders=(2,), params=SCALAR, progress=False
            )

        seconds, dataset = _timed(run)
        error = float(np.max(dataset["G2_stderr"].values) / dataset["G2_theory"].values[0, 0])
        if error <= TARGET or n_nets >= 2**22:
            return {"method": method, "nets": n_nets, "relative_error": error, "seconds": seconds}
        n_nets *= 2


def rp_cost(n_points: int) -> float:
    times = np.linspace(0.25, 2.0, n_points)[:, None]
    seconds, _ = _timed(lambda: reflection_positivity("cauchy_net", times, n_nets=20_000, progress=False))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the figures as JSON")
    args = parser.parse_args()
    figures = []
    ensemble, exact = propagator_to_one_percent("ensemble"), propagator_to_one_percent("neurons")
    for run in (ensemble, exact):
        print(
            f"1% propagator ({run['method']}): {run['nets']:,} networks, error {run['relative_error']:.4f}, "
            f"{run['seconds']:.2f} s"
        )
    figures.append(
        {
            "name": "propagator_d3_1pct_exact_vs_ensemble",
            "value": exact["seconds"],
            "baseline": ensemble["seconds"],
            "ratio": exact["seconds"] / ensemble["seconds"],
            "unit": "s",
            "runs": [ensemble, exact],
        }
    )
    base = rp_cost(4)
    for n in (8, 16, 32):
        seconds = rp_cost(n)
        print(f"RP check, {n} points: {seconds:.2f} s ({seconds / base:.2f} x the 4-point check, {base:.2f} s)")
        figures.append(
            {"name": f"rp_check_{n}_points", "value": seconds, "baseline": base, "ratio": seconds / base, "unit": "s"}
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)


if __name__ == "__main__":
    main()
