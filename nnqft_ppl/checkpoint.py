"""Checkpoints of streamed accumulators: resume an interrupted run exactly.

A checkpoint holds the per-block power sums, the next chunk to evaluate and a
*fingerprint* of the run (model, hyperparameters, points, seed, sizes).  Chunks
are summed in order, so a resumed run ends with exactly the numbers of an
uninterrupted one.  Files are written atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .moments import BlockedSums

__all__ = ["run_fingerprint", "save_checkpoint", "load_checkpoint"]


def run_fingerprint(
    engine: str, model_name: str, params: dict, points, seed: int, n_nets: int, max_order: int, n_blocks: int
) -> dict:
    """Everything that determines a run's numbers; a checkpoint resumes only a run with the same fingerprint.

    Besides the run's own settings: the float type networks are drawn in (x64 on or
    off draws different numbers), the chunk and group sizes, and the library version.
    """
    import jax.numpy as jnp

    from . import __version__
    from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP

    return {
        "float": jnp.dtype(jnp.result_type(float)).name,
        "chunk": [NETS_PER_CHUNK, NETS_PER_GROUP],
        "version": __version__,
        "engine": engine,
        "model": model_name,
        "params": params,
        "points": np.asarray(points).tolist(),
        "seed": int(seed),
        "n_nets": int(n_nets),
        "max_order": int(max_order),
        "n_blocks": int(n_blocks),
    }


def save_checkpoint(path, fingerprint: dict, next_chunk: int, accumulators: tuple[BlockedSums, ...]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"next_chunk": np.array(next_chunk), "fingerprint": np.array(json.dumps(fingerprint, sort_keys=True))}
    for k, sums in enumerate(accumulators):
        arrays.update({f"{k}_counts": sums.counts, f"{k}_sums": sums.sums, f"{k}_abs_max": sums.abs_max})
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def load_checkpoint(path, fingerprint: dict, n_accumulators: int):
    """``(next_chunk, accumulators)`` from ``path``, or ``None`` if there is no file.

    Raises ``ValueError`` if the file is unreadable or belongs to a different run.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            stored = json.loads(str(data["fingerprint"]))
            next_chunk = int(data["next_chunk"])
            accumulators = tuple(
                BlockedSums(data[f"{k}_counts"], data[f"{k}_sums"], data[f"{k}_abs_max"]) for k in range(n_accumulators)
            )
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"checkpoint {str(path)!r} is unreadable ({error}); delete it to start afresh") from None
    if stored != json.loads(json.dumps(fingerprint, sort_keys=True)):
        changed = sorted(k for k in set(stored) | set(fingerprint) if stored.get(k) != fingerprint.get(k))
        raise ValueError(
            f"checkpoint {str(path)!r} belongs to a different run ({', '.join(changed)} differ); "
            "delete it or choose another checkpoint path"
        )
    return next_chunk, accumulators
