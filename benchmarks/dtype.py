"""float32 against float64: the same ensembles in both float types (``nnqft bench``, section ``dtype``).

JAX computes in float32 unless ``JAX_ENABLE_X64=1`` is set when it starts, so each float type runs in a fresh
process (``python -m nnqft_ppl.benchmarks.dtype MODEL N``); the engine accumulates power sums in float64 either
way.  The cases: ``cos_net`` at width 100 (sigma_a = sigma_b = 1) on the points 0, 0.5, 1, 1.5, and ``gauss_net``
at width 100 with sigma_b = 0.3 on the same points scaled by 0.01 (small inputs keep its log-normal neurons away
from heavy tails); orders (2, 4), seed 0, ``N`` networks (1e5).  The same seed draws *different* networks in the
two float types (the random bits are turned into floats of another width), so the two runs are independent
measurements of the same correlators.

Figures (per model)
-------------------
1. **Agreement**: max over all elements of G2 and G4c of ``|G_32 - G_64| / sqrt(sigma_32^2 + sigma_64^2)``
   (jackknife standard errors); baseline: :data:`K_SIGMA` = 5, the test suite's tolerance; target value < 5.
2. **Theory, float32** and 3. **theory, float64**: max over the same elements of ``|G - G_theory| / sigma`` for
   each run; baseline :data:`K_SIGMA`; target value < 5.
4. **Speed**: the float64 run's wall time against the float32 run's, each the fastest of :data:`TIMED_CALLS`
   identical calls in its process after a first one that compiles (same seed: the same numbers every call).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

from nnqft_ppl.benchmarks.figures import Figure, run_child

K_SIGMA = 5.0
"""Tolerance in (combined) standard errors, as in the test suite (tests/helpers.py)."""

POINTS = np.array([[0.0], [0.5], [1.0], [1.5]])
CASES = {
    "cos_net": ({"width": 100, "sigma_a": 1.0, "sigma_b": 1.0}, POINTS),
    "gauss_net": ({"width": 100, "sigma_w": 1.0, "sigma_b": 0.3}, 0.01 * POINTS),
}
NAMES = ("G2", "G4c")
TIMED_CALLS = 3
"""Compiled calls timed per float type (the fastest is kept)."""


def child_run(model: str, n_nets: int) -> dict:
    """In this process's float type: the correlators, their errors and theory, and the fastest compiled call's
    seconds."""
    import jax

    import nnqft_ppl

    params, points = CASES[model]

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return nnqft_ppl.sample_ensemble(model, points, n_nets=n_nets, orders=(2, 4), params=params, progress=False)

    dataset, seconds = run(), []  # the first call compiles
    for _ in range(TIMED_CALLS):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    arrays = {name: dataset[name].values.tolist() for name in dataset.data_vars if name.split("_")[0] in NAMES}
    return {"float": jax.numpy.dtype(jax.numpy.result_type(float)).name, "seconds": min(seconds), **arrays}


def agreement(first: dict, second: dict) -> float:
    """max over the elements of :data:`NAMES` of |a - b| / sqrt(sa^2 + sb^2) (0 where both are exact and equal)."""
    worst = 0.0
    for name in NAMES:
        difference = np.abs(np.subtract(first[name], second[name]))
        combined = np.hypot(first[f"{name}_stderr"], second[f"{name}_stderr"])
        with np.errstate(divide="ignore", invalid="ignore"):
            worst = max(worst, float(np.max(np.where(difference == 0, 0.0, difference / combined))))
    return worst


def theory_deviation(run: dict) -> float:
    """max over the elements of :data:`NAMES` of |G - G_theory| / sigma."""
    return max(
        float(np.max(np.abs(np.subtract(run[name], run[f"{name}_theory"])) / np.asarray(run[f"{name}_stderr"])))
        for name in NAMES
    )


def model_figures(model: str, n_nets: int, timeout: float) -> list[Figure]:
    """Figures 1-4 for ``model``: a float32 and a float64 process."""
    single = run_child("dtype", [model, str(n_nets)], timeout, {"JAX_ENABLE_X64": "0"})
    double = run_child("dtype", [model, str(n_nets)], timeout, {"JAX_ENABLE_X64": "1"})
    if (single["float"], double["float"]) != ("float32", "float64"):
        raise RuntimeError(f"expected float32 and float64 runs, got {single['float']} and {double['float']}")
    params, _ = CASES[model]
    setting = f"{model} {', '.join(f'{key}={value}' for key, value in params.items())}, {n_nets:.0e} networks"
    return [
        Figure(
            f"{model}: float32 vs float64, max |dG| / combined sigma",
            agreement(single, double),
            K_SIGMA,
            "sigma",
            f"{setting}; G2 and G4c, all elements",
            target=f"value < {K_SIGMA:g}",
        ),
        Figure(
            f"{model}: float32 vs theory, max |dG| / sigma",
            theory_deviation(single),
            K_SIGMA,
            "sigma",
            setting,
            target=f"value < {K_SIGMA:g}",
        ),
        Figure(
            f"{model}: float64 vs theory, max |dG| / sigma",
            theory_deviation(double),
            K_SIGMA,
            "sigma",
            setting,
            target=f"value < {K_SIGMA:g}",
        ),
        Figure(
            f"{model}: float64 vs float32 time",
            double["seconds"],
            single["seconds"],
            "s",
            f"{setting}; fastest of {TIMED_CALLS} compiled calls; load average {os.getloadavg()[0]:.1f}",
        ),
    ]


def figures(quick: bool = False) -> list[Figure]:
    """The section's figures (1e5 networks per run in both modes: ~1 minute on 2 cores)."""
    return [figure for model in CASES for figure in model_figures(model, 100_000, timeout=600)]


def main(argv=None) -> None:
    """``python -m nnqft_ppl.benchmarks.dtype MODEL N``: one run in this process's float type, as a JSON line."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model", choices=tuple(CASES))
    parser.add_argument("n_nets", type=lambda text: int(float(text)))
    args = parser.parse_args(argv)
    print(json.dumps(child_run(args.model, args.n_nets)))


if __name__ == "__main__":
    main()
