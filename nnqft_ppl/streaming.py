"""The streaming loop shared by the ensemble and exact finite-width engines.

Work is cut into chunks of ``NETS_PER_CHUNK`` networks.  A jit-compiled batch
function evaluates several chunks at once (vmapped, and sharded over all local
devices) and returns per-chunk power sums; the host adds them in float64, in
chunk order, into jackknife blocks of consecutive chunks.  One batch is always in
flight while the previous one is being added, and the batch shape never changes,
so the function compiles once.
"""

from __future__ import annotations

import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from .checkpoint import load_checkpoint, save_checkpoint
from .moments import BlockedSums, MonomialBasis
from .tracing import NETS_PER_CHUNK

__all__ = ["stream_chunks", "TRACE_COUNTS"]

TRACE_COUNTS = {"batch": 0}
"""How often a batch function was traced (compiled); a test guards against recompilation."""


def _batch_function(chunk_function: Callable, devices) -> Callable:
    def batch(chunks):
        TRACE_COUNTS["batch"] += 1
        return jax.vmap(chunk_function)(chunks)

    compiled = jax.jit(batch)
    if len(devices) == 1:
        return lambda chunks: compiled(jnp.asarray(chunks))
    sharding = NamedSharding(Mesh(np.array(devices), ("devices",)), PartitionSpec("devices"))
    return lambda chunks: compiled(jax.device_put(chunks, sharding))


def stream_chunks(
    chunk_function: Callable,
    *,
    n_chunks: int,
    bases: tuple[MonomialBasis, ...],
    n_blocks: int,
    chunks_per_batch: int,
    n_units: int,
    unit: str = "net",
    progress: bool | None = None,
    checkpoint=None,
    fingerprint: dict | None = None,
    checkpoint_every: float = 60.0,
) -> tuple[BlockedSums, ...]:
    """Evaluate chunks ``0..n_chunks-1`` and return one :class:`BlockedSums` per basis.

    ``chunk_function(chunk)`` (traceable, ``chunk`` an int32 scalar) returns a tuple
    with one ``(count, power_sums, abs_max)`` per basis.  Chunk ``k`` goes to block
    ``k * n_blocks // n_chunks``.  With ``checkpoint`` (a path) the accumulators are
    saved every ``checkpoint_every`` seconds and at the end, and a run with the
    same ``fingerprint`` resumes from the file.
    """
    devices = jax.local_devices()
    chunks_per_batch = min(chunks_per_batch, n_chunks)
    chunks_per_batch = max(len(devices), -(-chunks_per_batch // len(devices)) * len(devices))
    n_blocks = max(1, min(n_blocks, n_chunks))
    accumulators = tuple(BlockedSums.zeros(n_blocks, basis) for basis in bases)
    next_chunk = 0
    if checkpoint is not None:
        restored = load_checkpoint(checkpoint, fingerprint, len(bases))
        if restored is not None:
            next_chunk, accumulators = restored
    batch = _batch_function(chunk_function, devices)
    last_save = time.monotonic()
    bar = tqdm(
        total=n_units,
        initial=min(n_units, next_chunk * NETS_PER_CHUNK),
        unit=unit,
        unit_scale=True,
        disable=(None if progress is None else not progress),
        leave=False,
    )

    def consume(chunks, outputs):
        nonlocal accumulators, last_save
        valid = chunks < n_chunks
        block_ids = chunks[valid] * n_blocks // n_chunks
        outputs = jax.device_get(outputs)
        accumulators = tuple(
            sums.add_chunks(block_ids, *(np.asarray(part)[valid] for part in output))
            for sums, output in zip(accumulators, outputs, strict=True)
        )
        done = int(chunks[valid][-1]) + 1
        bar.update(min(n_units, done * NETS_PER_CHUNK) - bar.n)
        if checkpoint is not None and (time.monotonic() - last_save > checkpoint_every or done == n_chunks):
            save_checkpoint(checkpoint, fingerprint, done, accumulators)
            last_save = time.monotonic()

    pending = None
    for start in range(next_chunk, n_chunks, chunks_per_batch):
        chunks = np.arange(start, start + chunks_per_batch, dtype=np.int32)
        outputs = batch(chunks)
        if pending is not None:
            consume(*pending)
        pending = (chunks, outputs)
    if pending is not None:
        consume(*pending)
    bar.close()
    return accumulators
