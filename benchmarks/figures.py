"""Measurement tools shared by the benchmark sections: figures, compile clock, peak memory, fresh processes."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys

import jax

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


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
        return self.value / self.baseline if self.baseline else float("nan")

    def record(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "baseline": self.baseline,
            "ratio": self.ratio,
            "unit": self.unit,
            "note": self.note,
            "target": self.target,
        }


class CompileClock:
    """Seconds JAX spends tracing, lowering and compiling (from :mod:`jax.monitoring`) since creation."""

    def __init__(self):
        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event, duration, **_):
        if event in COMPILE_EVENTS:
            self.seconds += duration


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


def device_memory_mib() -> list[float | None]:
    """Peak bytes in use per local device (MiB) where the backend reports it (GPU, TPU); None on CPU."""
    peaks = []
    for device in jax.local_devices():
        stats = device.memory_stats() or {}
        peak = stats.get("peak_bytes_in_use", stats.get("bytes_in_use"))
        peaks.append(None if peak is None else peak / 2**20)
    return peaks


def run_child(module: str, arguments: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``python -m nnqft_ppl.benchmarks.MODULE ARGUMENTS`` in a fresh process; parse its last stdout line (JSON).

    ``env`` entries are added to this process's environment (e.g. ``XLA_FLAGS`` for forced host devices).
    """
    command = [sys.executable, "-m", f"nnqft_ppl.benchmarks.{module}", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise RuntimeError(f"benchmark child {' '.join(command[1:])} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_children(module: str, arguments: list[str], timeout: float, envs: list[dict]) -> list[dict]:
    """:func:`run_child` for several processes at once, one per entry of ``envs`` (e.g. the processes of a
    ``jax.distributed`` job, which wait for each other); their parsed last stdout lines, in order."""
    command = [sys.executable, "-m", f"nnqft_ppl.benchmarks.{module}", *arguments]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
        for env in envs
    ]
    try:
        outputs = [process.communicate(timeout=timeout) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            raise RuntimeError(f"benchmark child {' '.join(command[1:])} failed:\n{stderr[-2000:]}")
    return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]


def print_table(figures: list[Figure], file=None) -> None:
    print(f"\n{'figure':62s} {'value':>11s} {'baseline':>11s} {'ratio':>9s}  {'unit':11s} target", file=file)
    for figure in figures:
        print(
            f"{figure.name:62s} {figure.value:11.4g} {figure.baseline:11.4g} {figure.ratio:9.3g}  "
            f"{figure.unit:11s} {figure.target}",
            file=file,
        )
        if figure.note:
            print(f"    {figure.note}", file=file)


def write_json(figures: list[Figure], path: str) -> None:
    with open(path, "w") as file:
        json.dump([figure.record() for figure in figures], file, indent=2)
