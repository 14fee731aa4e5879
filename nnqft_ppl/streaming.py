"""The streaming loop shared by the ensemble and exact finite-width engines.

Work is cut into chunks of ``NETS_PER_CHUNK`` networks.  A jit-compiled batch
function evaluates several chunks at once (vmapped, and sharded over all local
devices) and returns power sums per group of ``NETS_PER_GROUP`` networks; the host
adds them in float64, in order, into jackknife blocks of consecutive groups.  One
batch is always in flight while the previous one is being added.  The batch
shape never changes within a run, and compiled batch functions are cached across
runs of the same model, hyperparameters and point-set shape.

A run may split its work into several compiled programs: the chunk function, which
depends on the model and its hyperparameters, and ``reductions`` of its outputs,
which need not: each reduction is then compiled once for all models and widths that
hand it arrays of the same shapes (the exact engine's power sums).

A run may also be cut into *shards* (:mod:`nnqft_ppl.shards`): shard ``K`` of ``M``
(0-based) evaluates only the groups of the jackknife blocks ``K * B // M`` to
``(K + 1) * B // M - 1`` (:func:`shard_blocks`), in the same order, so its blocks'
float64 sums are bitwise those of the whole run.

Memory per device is bounded by the batch, whatever the number of networks: each run
logs its :class:`BatchPlan` (devices, networks per device and the bytes of values they
hold at once) to the ``nnqft_ppl`` logger at level INFO, the plan itself in the log
record's ``batch_plan`` attribute.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import operator
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .moments import BlockedSums, MonomialBasis
from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP, as_input

__all__ = [
    "BatchPlan",
    "block_groups",
    "effective_blocks",
    "memoised_chunk_function",
    "run_arguments",
    "shard_blocks",
    "stream_chunks",
    "TRACE_COUNTS",
]

TRACE_COUNTS = {"batch": 0}
"""How often a batch function was traced (compiled); a test guards against recompilation."""

GROUPS_PER_CHUNK = NETS_PER_CHUNK // NETS_PER_GROUP

LOGGER = logging.getLogger("nnqft_ppl")


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """How a streamed run lays its batches on the local devices.

    Every batch gives each of the ``devices`` devices (all of one ``platform``)
    ``nets_per_device`` networks; each network holds ``values_per_net`` values of
    ``itemsize`` bytes at once (the engine's estimate of its largest intermediates,
    e.g. activations and monomials; None where the engine gives none).  The
    batch's values on one device, :attr:`batch_bytes_per_device`, do not depend on
    the number of networks in the run: the ensemble sizes batches to at most
    :func:`~nnqft_ppl.ensemble.activations_per_batch` values, or one chunk of
    networks where a chunk holds more.  Two batches are alive at a time (one
    computing, the previous one's outputs being added on the host).
    """

    devices: int
    platform: str
    nets_per_device: int
    values_per_net: int | None
    itemsize: int

    @property
    def batch_bytes_per_device(self) -> int | None:
        """Bytes of the values one device holds for a batch (None without ``values_per_net``)."""
        if self.values_per_net is None:
            return None
        return self.nets_per_device * self.values_per_net * self.itemsize

    def record(self) -> dict:
        """The plan as a JSON-ready dict, :attr:`batch_bytes_per_device` included."""
        return {**dataclasses.asdict(self), "batch_bytes_per_device": self.batch_bytes_per_device}

    def describe(self) -> str:
        """One line: ``batches of 512 networks over 2 cpu devices (256 each, 7.1 MB of values per device)``."""
        size = self.batch_bytes_per_device
        memory = "" if size is None else f", {size / 1e6:.3g} MB of values per device"
        return (
            f"batches of {self.nets_per_device * self.devices} networks over {self.devices} {self.platform} "
            f"device{'s' if self.devices > 1 else ''} ({self.nets_per_device} each{memory})"
        )


FAST_COMPILE_OPTIONS = {"xla_backend_optimization_level": 1}
"""XLA options for programs compiled afresh for every model and width whose share of
the run time is small (the exact engine's network traces).  On a CPU, LLVM's level 1
instead of 2 compiles them ~1.5x faster (1.15 s instead of 1.8 s of CPU for an Erf-net
chunk, measured on 2 cores: its key derivations and draws are ~100 small kernels, 85%
of the compile time) and runs them ~1.5x slower, which costs little where the power
sums take ~85% of the run time.  The ensemble's batches use it where their monomials
outnumber their activations (small widths: compile halved, no measurable loss); the
other run-time heavy programs keep the default level."""


@functools.lru_cache(maxsize=64)
def _compiled_batch(chunk_function: Callable, n_arguments: int, fast_compile: bool = False) -> Callable:
    def batch(chunks, *arguments):
        TRACE_COUNTS["batch"] += 1
        return jax.vmap(chunk_function, in_axes=(0,) + (None,) * n_arguments)(chunks, *arguments)

    return jax.jit(batch, compiler_options=_fast_compile_options() if fast_compile else None)


@functools.lru_cache(maxsize=64)
def _compiled_mapped(function: Callable, fast_compile: bool = False) -> Callable:
    """jit of ``function`` vmapped over the chunks of a batch (the leading axis of every
    input); cached by the function alone, so every run that hands it arrays of the same
    shapes reuses the compiled program."""

    def batch(*inputs):
        TRACE_COUNTS["batch"] += 1
        return jax.vmap(function)(*inputs)

    return jax.jit(batch, compiler_options=_fast_compile_options() if fast_compile else None)


@functools.lru_cache(maxsize=1)
def _fast_compile_options() -> dict | None:
    """:data:`FAST_COMPILE_OPTIONS` where the backend is a CPU that accepts them, else None."""
    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda x: x + 1, compiler_options=FAST_COMPILE_OPTIONS).lower(jnp.zeros(2)).compile()
    except Exception:  # an XLA without this option compiles with its defaults
        return None
    return dict(FAST_COMPILE_OPTIONS)


def memoised_chunk_function(builder: Callable, model: Callable, params: dict, basis: MonomialBasis) -> Callable:
    """``builder(model, params, basis)``, memoised when the hyperparameters are hashable,
    so that repeated runs reuse one compiled batch function."""
    try:
        return _memoised(builder, model, tuple(sorted(params.items())), basis)
    except TypeError:  # unhashable hyperparameter values
        return builder(model, tuple(sorted(params.items())), basis)


@functools.lru_cache(maxsize=64)
def _memoised(builder, model, params_items, basis):
    return builder(model, params_items, basis)


def run_arguments(points, seed: int, n_nets: int) -> tuple:
    """The per-run arrays a chunk function receives: points, seed, and n_nets as (full chunks, remainder)."""
    full_chunks, remainder = divmod(n_nets, NETS_PER_CHUNK)
    return as_input(points), jnp.uint32(seed), jnp.int32(full_chunks), jnp.int32(remainder)


def effective_blocks(n_nets: int, n_blocks: int) -> int:
    """The jackknife blocks a run of ``n_nets`` networks uses: ``n_blocks``, at most one per group."""
    return max(1, min(n_blocks, -(-n_nets // NETS_PER_GROUP)))


def shard_blocks(n_blocks: int, shard: tuple[int, int]) -> tuple[int, int]:
    """``(first, end)``: the blocks ``first .. end - 1`` of shard ``K`` of ``M`` (0-based) of a run
    with ``n_blocks`` (effective) blocks: ``K * n_blocks // M`` to ``(K + 1) * n_blocks // M``.

    Raises ``ValueError`` unless ``0 <= K < M <= n_blocks`` (every shard holds a whole block).
    """
    try:
        index, count = (operator.index(value) for value in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be a pair (K, M) of integers, got {shard!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: K must lie in 0..M-1 (shards count from 0)")
    if count > n_blocks:
        raise ValueError(
            f"shard {index}/{count}: {count} shards need at least {count} jackknife blocks, this run has "
            f"{n_blocks} (raise n_blocks, or use fewer shards)"
        )
    return index * n_blocks // count, (index + 1) * n_blocks // count


def block_groups(n_groups: int, n_blocks: int, first: int, end: int) -> tuple[int, int]:
    """``(first group, end group)`` of the blocks ``first .. end - 1``: group ``g`` goes to block
    ``g * n_blocks // n_groups``, so block ``b`` starts at group ``ceil(b * n_groups / n_blocks)``."""
    return -(-first * n_groups // n_blocks), -(-end * n_groups // n_blocks)


def stream_chunks(
    chunk_function: Callable,
    arguments: tuple,
    *,
    n_nets: int,
    bases: tuple[MonomialBasis, ...],
    n_blocks: int,
    chunks_per_batch: int,
    progress: bool | None = None,
    checkpoint=None,
    fingerprint: dict | None = None,
    checkpoint_every: float = 60.0,
    prologue: Callable | None = None,
    reductions: tuple[Callable, ...] | None = None,
    fast_compile: bool = False,
    shard: tuple[int, int] | None = None,
    values_per_net: int | None = None,
) -> tuple[BlockedSums, ...]:
    """Evaluate the chunks of ``n_nets`` networks and return one :class:`BlockedSums` per basis.

    ``chunk_function(chunk, *arguments)`` (traceable; ``chunk`` an int32 scalar)
    returns one ``(counts, power_sums, abs_max)`` per basis, each with a leading axis
    of ``GROUPS_PER_CHUNK`` groups.  Group ``g`` goes to block ``g * n_blocks // n_groups``.
    Optional programs of their own around it, each compiled once for every run that
    hands it arrays of the same shapes: a ``prologue(chunk, *arguments)`` (traceable)
    computes what does not depend on the model (the networks' keys), and the chunk
    function receives its outputs instead of ``(chunk, *arguments)``; with
    ``reductions`` (traceable, one per basis) the chunk function returns one tuple of
    arrays per basis, and ``reductions[i](*outputs[i])`` returns basis i's
    ``(counts, power_sums, abs_max)``.  ``fast_compile`` compiles the chunk function
    with :data:`FAST_COMPILE_OPTIONS`.
    With ``checkpoint`` (a path) the accumulators are saved every
    ``checkpoint_every`` seconds and at the end, and a run with the same
    ``fingerprint`` resumes from the file.
    With ``shard = (K, M)`` only the groups of shard K's blocks (:func:`shard_blocks`) are
    added (the chunks they lie in are evaluated, those at its ends also by its
    neighbours); the other blocks stay zero.
    The run's :class:`BatchPlan` (with ``values_per_net``, the values one network holds
    at once) is logged to the ``nnqft_ppl`` logger at level INFO.
    """
    if isinstance(n_blocks, bool) or not isinstance(n_blocks, int) or n_blocks < 2:
        raise ValueError(f"n_blocks must be an integer >= 2 (delete-one-block jackknife), got {n_blocks!r}")
    devices = jax.local_devices()
    n_groups = -(-n_nets // NETS_PER_GROUP)
    n_blocks = effective_blocks(n_nets, n_blocks)
    first_group, end_group = 0, n_groups
    if shard is not None:
        first_group, end_group = block_groups(n_groups, n_blocks, *shard_blocks(n_blocks, shard))
    first_chunk, end_chunk = first_group // GROUPS_PER_CHUNK, -(-end_group // GROUPS_PER_CHUNK)
    chunks_per_batch = min(chunks_per_batch, end_chunk - first_chunk)
    chunks_per_batch = max(len(devices), -(-chunks_per_batch // len(devices)) * len(devices))
    _log_plan(devices, chunks_per_batch, values_per_net)
    accumulators = tuple(BlockedSums.zeros(n_blocks, basis) for basis in bases)
    next_chunk = first_chunk
    if checkpoint is not None:
        restored = load_checkpoint(checkpoint, fingerprint, len(bases))
        if restored is not None:
            next_chunk, accumulators = restored
    if prologue is None:
        compiled = _compiled_batch(chunk_function, len(arguments), fast_compile)
    else:
        prepare, evaluate = _compiled_batch(prologue, len(arguments)), _compiled_mapped(chunk_function, fast_compile)
        compiled = lambda chunks, *arguments: evaluate(*prepare(chunks, *arguments))  # noqa: E731
    reduce = None if reductions is None else tuple(map(_compiled_mapped, reductions))
    if len(devices) > 1:
        sharding = NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec("devices"))
        place = lambda chunks: jax.device_put(chunks, sharding)  # noqa: E731
    else:
        place = jnp.asarray

    def batch(chunks):
        outputs = compiled(place(chunks), *arguments)
        if reduce is None:
            return outputs
        return tuple(program(*output) for program, output in zip(reduce, outputs, strict=True))

    last_save = time.monotonic()
    first_net, end_net = first_group * NETS_PER_GROUP, min(n_nets, end_group * NETS_PER_GROUP)
    nets_done = lambda chunk: min(end_net, max(first_net, chunk * NETS_PER_CHUNK)) - first_net  # noqa: E731
    bar = tqdm(
        total=end_net - first_net,
        initial=nets_done(next_chunk),
        unit="net",
        unit_scale=True,
        disable=(None if progress is None else not progress),
        leave=False,
    )

    def consume(chunks, outputs):
        nonlocal accumulators, last_save
        groups = (chunks[:, None] * GROUPS_PER_CHUNK + np.arange(GROUPS_PER_CHUNK)).ravel()
        valid = (groups >= first_group) & (groups < end_group)
        block_ids = groups[valid] * n_blocks // n_groups
        outputs = jax.device_get(outputs)

        def by_group(part):  # (chunks, groups, ...) -> (valid groups, ...)
            return np.asarray(part).reshape((-1,) + np.shape(part)[2:])[valid]

        accumulators = tuple(
            sums.add(block_ids, *map(by_group, output)) for sums, output in zip(accumulators, outputs, strict=True)
        )
        done = min(end_chunk, int(chunks[-1]) + 1)
        bar.update(nets_done(done) - bar.n)
        if checkpoint is not None and (time.monotonic() - last_save > checkpoint_every or done == end_chunk):
            save_checkpoint(checkpoint, fingerprint, done, accumulators)
            last_save = time.monotonic()

    pending = None
    for start in range(next_chunk, end_chunk, chunks_per_batch):
        chunks = np.arange(start, start + chunks_per_batch, dtype=np.int32)
        outputs = batch(chunks)
        if pending is not None:
            consume(*pending)
        pending = (chunks, outputs)
    if pending is not None:
        consume(*pending)
    bar.close()
    return accumulators


def _log_plan(devices, chunks_per_batch: int, values_per_net: int | None) -> None:
    """Log the run's :class:`BatchPlan`; networks are evaluated in JAX's default float (see :func:`as_input`)."""
    plan = BatchPlan(
        devices=len(devices),
        platform=devices[0].platform,
        nets_per_device=chunks_per_batch // len(devices) * NETS_PER_CHUNK,
        values_per_net=None if values_per_net is None else int(values_per_net),
        itemsize=jnp.dtype(jnp.result_type(float)).itemsize,
    )
    LOGGER.info("%s", plan.describe(), extra={"batch_plan": plan})
