"""Speed of the landscape search against its floor, the log-density gradient (issue 7).

Figures (each against a baseline from the same process; nothing asserts on timings):

1. **Starts per second.**  :func:`nnqft_ppl.inference.map_search` on ``cos_net`` (d = 1, 5 grid
   points) at width 100 and 1000: ``starts`` climbs of ``steps`` Adam steps, all starts vmapped in
   one compiled ``lax.scan``; warm wall time (compiled once before), as climbs per second and as
   gradient evaluations per second (starts x steps / s).
2. **The floor.**  One gradient of log P(theta) (NumPyro's ``log_density`` under ``jax.grad``,
   vmapped over the same number of starts, jit-compiled), timed warm: the cost that no optimiser
   can beat per step.  The figure is the search's time per step as a ratio of it (1 would mean the
   optimiser's own arithmetic and the scan were free).
3. **Hessians.**  ``hessian=True`` at width 100 (dense Hessian and its eigenvalues per start):
   its extra time as a ratio of the search.

Run ``python benchmarks/bench_landscape.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np
from numpyro.infer.util import log_density

import models  # noqa: F401  (registers the built-in models)
from nnqft_ppl.inference import UnwrappedPhaseReparam, _reparametrised, map_search
from nnqft_ppl.tracing import as_input, trace_network

GRID = np.linspace(-2.0, 2.0, 5)[:, None]


def _timed(function, rounds: int = 2) -> float:
    function()  # compile
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        jax.block_until_ready(function())
        best = min(best, time.perf_counter() - start)
    return best


def search_time(width: int, starts: int, steps: int, hessian: bool = False) -> float:
    params = {"width": width}
    return _timed(lambda: map_search("cos_net", GRID, params=params, starts=starts, steps=steps, hessian=hessian))


def gradient_time(width: int, starts: int) -> float:
    """One vmapped, jitted gradient of log P at ``starts`` prior draws (the model as map_search sees it)."""
    from models.cos_net import cos_net

    target = _reparametrised(cos_net, UnwrappedPhaseReparam)
    x, params = as_input(GRID), {"width": width}
    keys = jax.random.split(jax.random.PRNGKey(0), starts)

    def latent(key):  # a prior draw, its phases as the unwrapped reals map_search moves
        trace = trace_network(cos_net, key, x, params)
        return {"a": trace["a"]["value"], "b": trace["b"]["value"], "c_unwrapped": trace["c"]["value"]}

    values = jax.vmap(latent)(keys)
    gradient = jax.jit(jax.vmap(jax.grad(lambda v: log_density(target, (x,), params, v)[0])))
    return _timed(lambda: gradient(values), rounds=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    starts, steps = (64, 200) if args.quick else (256, 1000)
    figures = []
    for width in (100, 1000):
        search = search_time(width, starts, steps)
        floor = gradient_time(width, starts)
        per_step = search / steps
        figures += [
            {"name": f"starts_per_second_width{width}", "value": starts / search, "unit": "climbs/s"},
            {
                "name": f"step_over_gradient_width{width}",
                "value": per_step,
                "baseline": floor,
                "ratio": per_step / floor,
                "unit": "s",
            },
        ]
        print(
            f"width {width}: {starts} starts x {steps} steps in {search:.2f} s = {starts / search:.1f} climbs/s; "
            f"one step {1e3 * per_step:.2f} ms vs one gradient {1e3 * floor:.2f} ms (x{per_step / floor:.2f})"
        )
    with_hessian = search_time(100, starts, steps, hessian=True)
    plain = search_time(100, starts, steps)
    figures.append(
        {"name": "hessian_overhead_width100", "value": with_hessian, "baseline": plain, "ratio": with_hessian / plain}
    )
    print(f"width 100 with Hessians: {with_hessian:.2f} s vs {plain:.2f} s (x{with_hessian / plain:.2f})")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=1)


if __name__ == "__main__":
    main()
