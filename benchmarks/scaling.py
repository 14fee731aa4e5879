"""Scaling with devices and processes, and memory against the number of networks (``nnqft bench``, section ``scaling``).

Every measurement runs in fresh processes (``python -m nnqft_ppl.benchmarks.scaling CHILD ...``): the number of
forced host devices is fixed when JAX starts, and peak memory is a property of the whole process.  The workload
is the ensemble of ``throughput``'s headline case: ``cos_net`` at width 1000 (and 100 in full mode), d = 1, six
points, orders (2, 4, 6).

Figures
-------
1. **Devices**: the ensemble's *marginal* rate, ``(n_large - n_small) / (t_large - t_small)`` networks/s, with the
   compile time of each call (:class:`CompileClock`) taken off each ``t``, in fresh processes (:data:`SETTINGS`):
   one device pinned to one core (:func:`os.sched_setaffinity` before JAX starts its threads), and K = 1, 2, 4
   forced host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=K``; batches are sharded over all
   local devices) on all cores.  The settings run one after the other, ``rounds`` times over; each keeps its best
   rate.  Figures: K devices against 1 (the speed-up; target >= 1.6 for K = 2 on a 2-core machine); 1 device
   against 1 device on one core (what XLA's own threads give a single device); 2 devices against 1 device on one
   core (how the sharded batches scale over the cores).
2. **Cores busy**: CPU time (user + system, all threads, :func:`os.times`) over wall time of the fastest large run
   with 1 device: how many cores one process with one device keeps busy.  Baseline: the machine's cores.
3. **Processes**: :func:`nnqft_ppl.sample_distributed` with the same total networks in 1 process and in 2 processes
   of a ``jax.distributed`` job on loopback (Gloo CPU collectives), one device each.  Value: the job's wall time
   with 2 processes; baseline: with 1; two figures: (a) the whole job as the parent sees it (process start,
   imports, ``jax.distributed`` start-up, compilation, the run, the all-gather and merge), and (b) the run alone
   (the slowest process's ``sample_distributed`` call, its compile time taken off).  The speed-up is
   ``1 / ratio`` (target ratio <= 1 / 1.6 = 0.625).
4. **Peak memory**: peak RSS (``VmHWM``) of a fresh process running ``cos_net`` at width 10, six points, orders
   (2, 4, 6) with 1e5, 1e6, 1e7 networks (quick: 1e5, 1e6); value: each larger run's peak, baseline: the median of
   three 1e5 runs; target ratio < 1.10 (the engine streams).
5. **Per-device memory**: the batch values one device holds (:class:`nnqft_ppl.streaming.BatchPlan`, logged by
   every run) in the largest run of figure 4 against the documented bound,
   :func:`nnqft_ppl.ensemble.activations_per_batch` values of the float type; and, where the backend reports it
   (GPU, TPU: :func:`device_memory_mib`), each device's peak bytes in use against the smallest run's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import statistics
import time
import warnings

import numpy as np

from nnqft_ppl.benchmarks.figures import (
    CompileClock,
    Figure,
    device_memory_mib,
    peak_rss_mib,
    run_child,
    run_children,
)

POINTS = np.linspace(0.0, 1.0, 6)[:, None]
ORDERS = (2, 4, 6)
DEVICE_COUNTS = (1, 2, 4)
SMALL_RUN = {1000: 4096, 100: 16384}
"""Networks of figure 1's small run per width (the large run has 4x, full mode 12x, as many)."""
TARGET_SPEED_UP = 1.6
ONE_CORE = "NNQFT_BENCH_ONE_CORE"
"""Environment variable: ``1`` pins a child (all its threads) to one core (figure 1's single-core baseline)."""
MEMORY_WIDTH = 10


# --- children: each runs in a fresh process and prints one JSON line ---------------------------------------------


class PlanLog(logging.Handler):
    """Collects the :class:`~nnqft_ppl.streaming.BatchPlan` that every streamed run logs (``nnqft_ppl`` logger)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.plans = []
        logger = logging.getLogger("nnqft_ppl")
        logger.addHandler(self)
        logger.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "batch_plan"):
            self.plans.append(record.batch_plan)


def sample(width: int, n_nets: int, distributed: bool = False):
    """One ensemble of ``cos_net`` at ``width`` on :data:`POINTS` (warnings off: a benchmark prints figures only)."""
    import nnqft_ppl

    run = nnqft_ppl.sample_distributed if distributed else nnqft_ppl.sample_ensemble
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run("cos_net", POINTS, n_nets=n_nets, orders=ORDERS, params={"width": width}, progress=False)


def timed(width: int, n_nets: int, clock: CompileClock, distributed: bool = False) -> dict:
    """One :func:`sample` call: wall seconds, of which compiling, and CPU seconds of the whole process."""
    compiled, cpu, start = clock.seconds, os.times(), time.perf_counter()
    sample(width, n_nets, distributed)
    wall, after = time.perf_counter() - start, os.times()
    return {
        "wall": wall,
        "compile": clock.seconds - compiled,
        "cpu": (after.user + after.system) - (cpu.user + cpu.system),
    }


def marginal_rate(small: list[dict], large: list[dict], n_small: int, n_large: int) -> float:
    """Networks/s between two sizes, compile time off each call, best call of each size."""
    best = lambda runs: min(run["wall"] - run["compile"] for run in runs)  # noqa: E731
    return (n_large - n_small) / (best(large) - best(small))


def child_throughput(width: int, n_small: int, n_large: int, rounds: int) -> dict:
    """Figure 1-2 in this process: its marginal rate, cores used, local devices and batch plan."""
    import jax

    clock, plans = CompileClock(), PlanLog()
    sample(width, n_small)  # warm-up: imports, the eager contract check, the batch compilation
    small, large = [], []
    for _ in range(rounds):
        small.append(timed(width, n_small, clock))
        large.append(timed(width, n_large, clock))
    fastest = min(large, key=lambda run: run["wall"])
    return {
        "devices": jax.local_device_count(),
        "rate": marginal_rate(small, large, n_small, n_large),
        "cores": fastest["cpu"] / fastest["wall"],
        "plan": plans.plans[-1].record(),
    }


def child_distributed(width: int, n_nets: int) -> dict:
    """Figure 3: one process of a job (``JAX_NUM_PROCESSES`` > 1: a ``jax.distributed`` one) runs its shard."""
    import jax

    if int(os.environ.get("JAX_NUM_PROCESSES", "1")) > 1:
        jax.distributed.initialize(
            coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
            num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
            process_id=int(os.environ["JAX_PROCESS_ID"]),
        )
    run = timed(width, n_nets, CompileClock(), distributed=True)
    return {"process": jax.process_index(), "processes": jax.process_count(), **run}


def child_memory(n_nets: int) -> dict:
    """Figure 4-5: peak RSS of this process, its devices' peak memory and its batch plan after one run."""
    plans = PlanLog()
    start = time.perf_counter()
    sample(MEMORY_WIDTH, n_nets)
    return {
        "seconds": time.perf_counter() - start,
        "max_rss_mib": peak_rss_mib(),
        "device_mib": device_memory_mib(),
        "plan": plans.plans[-1].record(),
    }


# --- the figures --------------------------------------------------------------------------------------------------


def devices_env(count: int) -> dict:
    return {"XLA_FLAGS": f"--xla_force_host_platform_device_count={count}", "JAX_PLATFORMS": "cpu"}


def load() -> str:
    return "load average {:.1f}".format(os.getloadavg()[0])


PINNING = hasattr(os, "sched_setaffinity")
"""Whether a child can be pinned to one core (Linux); elsewhere the one-core figures are left out."""
SETTINGS = (((1, True),) if PINNING else ()) + tuple((count, False) for count in DEVICE_COUNTS)
"""Figure 1's processes: (forced host devices, pinned to one core)."""


def setting_env(devices: int, one_core: bool) -> dict:
    return {**devices_env(devices), ONE_CORE: "1" if one_core else "0"}


def device_figures(width: int, n_small: int, n_large: int, rounds: int, timeout: float) -> list[Figure]:
    """Figures 1-2 at ``width``: each setting of :data:`SETTINGS` in its own process, the sequence repeated
    ``rounds`` times, the best rate of each kept."""
    arguments = ["throughput", str(width), str(n_small), str(n_large), "1"]
    runs = {setting: [] for setting in SETTINGS}
    for _ in range(rounds):
        for setting in SETTINGS:
            runs[setting].append(run_child("scaling", arguments, timeout, setting_env(*setting)))
    best = {setting: max(results, key=lambda result: result["rate"]) for setting, results in runs.items()}
    for (devices, _), result in best.items():
        if result["devices"] != devices:
            raise RuntimeError(f"asked for {devices} host devices, the child had {result['devices']}")
    one = best[1, False]
    common = f"cos_net width {width}, {n_large:,} vs {n_small:,} networks, best of {rounds}; {load()}"

    def busy(result):
        return f"{result['cores']:.2f} cores busy, {result['plan']['nets_per_device']} networks per device per batch"

    figures = []
    for devices in DEVICE_COUNTS[1:]:
        result = best[devices, False]
        figures.append(
            Figure(
                f"w{width}: {devices} vs 1 host devices",
                result["rate"],
                one["rate"],
                "networks/s",
                f"{common}; {busy(result)} vs {busy(one)}",
                target=f"ratio >= {TARGET_SPEED_UP}" if devices == 2 else "",
            )
        )
    if PINNING:
        one_core = best[1, True]
        figures.append(
            Figure(
                f"w{width}: 1 device vs 1 device pinned to 1 core",
                one["rate"],
                one_core["rate"],
                "networks/s",
                f"{common}; {busy(one)} vs {busy(one_core)}: what one device gets from XLA's threads",
            )
        )
        figures.append(
            Figure(
                f"w{width}: 2 host devices vs 1 device pinned to 1 core",
                best[2, False]["rate"],
                one_core["rate"],
                "networks/s",
                f"{common}; how the sharded batches scale over the cores",
            )
        )
    figures.append(
        Figure(
            f"w{width}: cores busy with 1 device (CPU time / wall)",
            one["cores"],
            float(os.cpu_count()),
            "cores",
            "CPU time (all threads) / wall time of the fastest large run; baseline: the machine's cores",
        )
    )
    return figures


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def distributed_job(processes: int, width: int, n_nets: int, timeout: float) -> dict:
    """Figure 3: one job of ``processes`` processes (one device each); its wall time and the slowest run."""
    address = f"127.0.0.1:{free_port()}"
    envs = [
        {
            **devices_env(1),
            "JAX_COORDINATOR_ADDRESS": address,
            "JAX_NUM_PROCESSES": str(processes),
            "JAX_PROCESS_ID": str(k),
        }
        for k in range(processes)
    ]
    start = time.perf_counter()
    results = run_children("scaling", ["distributed", str(width), str(n_nets)], timeout, envs)
    job = time.perf_counter() - start
    assert sorted(result["process"] for result in results) == list(range(processes)), results
    return {
        "job": job,
        "run": max(result["wall"] for result in results),
        "run_without_compile": max(result["wall"] - result["compile"] for result in results),
        "compile": max(result["compile"] for result in results),
        "cores": sum(result["cpu"] for result in results) / max(result["wall"] for result in results),
    }


def best_job(runs: list[dict]) -> dict:
    """Each time of :func:`distributed_job` at its best over rounds; the cores of the round with the fastest run."""
    fastest = min(runs, key=lambda job: job["run_without_compile"])
    return {
        **{key: min(job[key] for job in runs) for key in ("job", "run", "run_without_compile", "compile")},
        "cores": fastest["cores"],
    }


def process_figures(width: int, n_nets: int, rounds: int, timeout: float) -> list[Figure]:
    """Figure 3: 1 against 2 processes, interleaved ``rounds`` times, the best of each kept."""
    jobs = {1: [], 2: []}
    for _ in range(rounds):
        for processes in jobs:
            jobs[processes].append(distributed_job(processes, width, n_nets, timeout))
    best = {processes: best_job(runs) for processes, runs in jobs.items()}
    one, two = best[1], best[2]
    common = (
        f"cos_net width {width}, {n_nets:,} networks in all, best of {rounds}; cores busy in the call "
        f"{two['cores']:.2f} vs {one['cores']:.2f}; {load()}"
    )
    return [
        Figure(
            "2 vs 1 jax.distributed processes: whole job wall",
            two["job"],
            one["job"],
            "s",
            f"{common}; start-up, imports and compilation included (compile {two['compile']:.1f} s vs "
            f"{one['compile']:.1f} s); speed-up {one['job'] / two['job']:.2f}x",
            target=f"ratio <= {1 / TARGET_SPEED_UP:.3f}",
        ),
        Figure(
            "2 vs 1 jax.distributed processes: run, compile excluded",
            two["run_without_compile"],
            one["run_without_compile"],
            "s",
            f"{common}; slowest process's sample_distributed call minus its compile time (all-gather and merge "
            f"included); speed-up {one['run_without_compile'] / two['run_without_compile']:.2f}x",
            target=f"ratio <= {1 / TARGET_SPEED_UP:.3f}",
        ),
    ]


def memory_figures(sizes: tuple[int, ...], timeout: float, small_repeats: int = 3) -> list[Figure]:
    """Figures 4-5.  The peak varies by a few percent between identical runs (compilation, thread pools), so the
    smallest size is run ``small_repeats`` times and its median is the baseline."""
    from nnqft_ppl.ensemble import activations_per_batch

    small = [run_child("scaling", ["memory", str(sizes[0])], timeout) for _ in range(small_repeats)]
    baseline = statistics.median(run["max_rss_mib"] for run in small)
    figures = []
    for size in sizes[1:]:
        large = run_child("scaling", ["memory", str(size)], timeout)
        figures.append(
            Figure(
                f"peak RSS, {size:.0e} vs {sizes[0]:.0e} networks",
                large["max_rss_mib"],
                baseline,
                "MiB",
                f"cos_net width {MEMORY_WIDTH}, 6 points, orders 2,4,6; {large['seconds']:.0f} s; baseline: median "
                f"of {', '.join(format(run['max_rss_mib'], '.0f') for run in small)} MiB",
                target="ratio < 1.10",
            )
        )
    plan = large["plan"]
    bound = activations_per_batch() * plan["itemsize"]
    device_peaks = [mib for mib in large["device_mib"] if mib is not None]
    reported = (
        f"device peak {max(device_peaks):.0f} MiB (largest of {len(device_peaks)})"
        if device_peaks
        else "device peak memory not reported by the CPU backend"
    )
    figures.append(
        Figure(
            f"per-device batch values, {sizes[-1]:.0e} networks (vs bound)",
            plan["batch_bytes_per_device"] / 2**20,
            bound / 2**20,
            "MiB",
            f"{plan['nets_per_device']} networks x {plan['values_per_net']} values x {plan['itemsize']} B on each of "
            f"{plan['devices']} {plan['platform']} device(s); {reported}",
            target="ratio <= 1",
        )
    )
    small_peaks = [mib for mib in small[0]["device_mib"] if mib is not None]
    if device_peaks and small_peaks:
        figures.append(
            Figure(
                f"per-device peak memory, {sizes[-1]:.0e} vs {sizes[0]:.0e} networks",
                max(device_peaks),
                max(small_peaks),
                "MiB",
                "peak bytes in use, largest over the local devices",
                target="ratio < 1.10",
            )
        )
    return figures


def figures(quick: bool = False) -> list[Figure]:
    """The section's figures; quick: width 1000 only, fewer rounds and networks, memory up to 1e6 networks (~3-4
    minutes on 2 cores); full: widths 1000 and 100, memory up to 1e7 networks (~10 minutes)."""
    widths = (1000,) if quick else (1000, 100)
    result = []
    for width in widths:
        n_small = SMALL_RUN[width]
        result += device_figures(width, n_small, n_small * (4 if quick else 12), 2 if quick else 3, timeout=600)
    result += process_figures(1000, 81_920 if quick else 163_840, 1 if quick else 2, timeout=600)
    result += memory_figures((100_000, 1_000_000) if quick else (100_000, 1_000_000, 10_000_000), timeout=1200)
    return result


def main(argv=None) -> None:
    """``python -m nnqft_ppl.benchmarks.scaling CHILD ARGS``: run one child, print its JSON line."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("child", choices=("throughput", "distributed", "memory"))
    parser.add_argument("numbers", nargs="+", type=lambda text: int(float(text)))
    args = parser.parse_args(argv)
    if os.environ.get(ONE_CORE) == "1":  # before JAX starts its thread pools: they inherit the affinity
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    child = {"throughput": child_throughput, "distributed": child_distributed, "memory": child_memory}[args.child]
    print(json.dumps(child(*args.numbers)))


if __name__ == "__main__":
    main()
