"""Wall time, compile share and peak memory of the HMS20 d = 1 width scan with the exact engine.

The scan is ``nnqft scan --preset hms20 --d 1 --method neurons``: Erf-, ReLU- and
Gauss-nets at widths 2, 3, 4, 5, 10, 20, 50, 100, 500, 1000, orders 2, 4, 6 at six
points, with :func:`nnqft_ppl.sample_neurons` at every width.  Each scan runs in a
fresh subprocess (cold: every program is compiled; imports are not timed), through
the command line's own entry point.  The machine this runs on is usually shared and
noisy, so every figure comes with a baseline measured by the same driver, the two
kinds of run interleaved, and the best of ``--rounds`` kept for each; the *ratio* is
the figure to read.  Nothing here asserts on timings.

Figures
-------
1. **Scan wall time** with the default sizes (``EXACT_ENGINE_SAMPLES`` neuron samples
   per width, about 250000 / N networks at width N; target < 60 s on 2 cores).
   Baseline: the same scan with a fixed 10^4 networks per width (``--nets 10000``,
   the previous default: 10^4 N neuron samples at width N, 1.7e7 per architecture
   instead of 2.5e6).
2. **Compile share**: seconds JAX spends tracing, lowering and compiling during the
   scan (its ``jax.monitoring`` durations), against the scan's wall time.
3. **Peak RSS** of the scan's subprocess (``VmHWM``), against the baseline scan's.
4. **Precision**: the standard error of the fitted power of N of r4 = G4c/G4_GP and
   r6 = G6c/G6_GP per architecture (the slope table), against the baseline's; a ratio
   near 1 says the cheaper scan measures the 1/N and 1/N^2 laws as well.

Run ``python benchmarks/bench_scan.py`` (about 8-10 minutes on 2 cores: two rounds)
or with ``--quick`` (one round); ``--json FILE`` writes every figure as
``{name, value, baseline, ratio, unit}`` with ``ratio = value / baseline``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nnqft_ppl.benchmarks.figures import COMPILE_EVENTS, Figure, peak_rss_mib, print_table

SCAN = ["scan", "--preset", "hms20", "--d", "1", "--method", "neurons", "--quiet"]
BASELINE_NETS = 10_000
"""Networks per width of the baseline scan (the exact engine's previous default)."""


def child_scan(extra: list[str]) -> dict:
    """Run ``nnqft scan`` (``SCAN + extra``) in this process and report its costs and slopes."""
    import jax

    from nnqft_ppl.cli import main

    compiling = [0.0]

    def record(event, duration, **_):
        if event in COMPILE_EVENTS:
            compiling[0] += duration

    jax.monitoring.register_event_duration_secs_listener(record)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "scan.json"
        start, cpu = time.perf_counter(), time.process_time()
        status = main([*SCAN, *extra, "--json", str(path)])
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        if status != 0:
            raise RuntimeError(f"nnqft scan exited with status {status}")
        records = json.loads(path.read_text())
    slopes = {
        record["case"]: {
            name: [entry["slope"], entry["slope_stderr"]]
            for name, entry in record["methods"]["neurons"].items()
            if entry["slope"] is not None
        }
        for record in records
    }
    samples = {
        record["case"]: sum(n * w for n, w in zip(record["nets_per_width"]["neurons"], record["widths"], strict=True))
        for record in records
    }
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "compile_seconds": compiling[0],
        "max_rss_mib": peak_rss_mib(),
        "slopes": slopes,
        "neuron_samples": samples,
    }


def child(extra: list[str], timeout: float) -> dict:
    """This script as a fresh subprocess running one scan; the JSON line it prints last."""
    command = [sys.executable, __file__, "--child", json.dumps(extra)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"child {extra} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def figures(runs: list[dict], baselines: list[dict]) -> list[Figure]:
    fastest = min(runs, key=lambda run: run["seconds"])
    reference = min(baselines, key=lambda run: run["seconds"])
    walls = [", ".join(f"{run['seconds']:.0f}" for run in kind) for kind in (runs, baselines)]
    rounds = f"rounds: {walls[0]} s vs {walls[1]} s"
    samples = sum(fastest["neuron_samples"].values()), sum(reference["neuron_samples"].values())
    out = [
        Figure(
            "HMS20 d=1 exact-engine scan wall time (vs 1e4 nets/width)",
            fastest["seconds"],
            reference["seconds"],
            "s",
            f"{samples[0]:.3g} vs {samples[1]:.3g} neuron samples in all; cpu {fastest['cpu_seconds']:.0f} vs "
            f"{reference['cpu_seconds']:.0f} s; {rounds}",
            target="value < 60 s",
        ),
        Figure(
            "compile seconds of the scan (vs its wall time)",
            fastest["compile_seconds"],
            fastest["seconds"],
            "s",
            f"baseline scan: {reference['compile_seconds']:.0f} of {reference['seconds']:.0f} s",
        ),
        Figure(
            "peak RSS of the scan (vs 1e4 nets/width)",
            min(run["max_rss_mib"] for run in runs),
            min(run["max_rss_mib"] for run in baselines),
            "MiB",
            "VmHWM of the scan's subprocess, best of the rounds",
        ),
    ]
    for case, slopes in fastest["slopes"].items():
        for name in ("r4", "r6"):
            if name in slopes and name in reference["slopes"].get(case, {}):
                (slope, error), (base_slope, base_error) = slopes[name], reference["slopes"][case][name]
                out.append(
                    Figure(
                        f"{case} slope of {name}: standard error (vs 1e4 nets/width)",
                        error,
                        base_error,
                        "",
                        f"slope {slope:.3f} +- {error:.3f} vs {base_slope:.3f} +- {base_error:.3f}",
                    )
                )
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round (about 4-5 minutes)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds of both scans (default 2; best is kept)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as {name, value, baseline, ratio, unit}")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child_scan(json.loads(args.child))))
        return
    rounds = args.rounds or (1 if args.quick else 2)
    runs, baselines = [], []
    for number in range(rounds):
        print(f"round {number + 1}/{rounds}: default scan ...", flush=True)
        runs.append(child([], timeout=1800))
        print(f"    {runs[-1]['seconds']:.1f} s; baseline scan ({BASELINE_NETS} nets/width) ...", flush=True)
        baselines.append(child(["--nets", str(BASELINE_NETS)], timeout=3600))
        print(f"    {baselines[-1]['seconds']:.1f} s", flush=True)
    results = figures(runs, baselines)
    print_table(results)
    if args.json:
        Path(args.json).write_text(json.dumps([figure.record() for figure in results], indent=2))


if __name__ == "__main__":
    main()
