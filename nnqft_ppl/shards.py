"""Runs cut into shards, merged exactly; runs spread over ``jax.distributed`` processes.

A run's networks are summed in groups of ``NETS_PER_GROUP``, and group ``g`` of
``G`` goes to jackknife block ``g * B // G`` (:mod:`nnqft_ppl.streaming`), each block
summed in order from zero.  *Shard K of M* (0-based, ``0 <= K < M``) is the whole
blocks ``K * B // M`` to ``(K + 1) * B // M - 1``: it evaluates exactly the groups
of those blocks, in the same order, so its blocks' float64 sums are bitwise the
whole run's, and :func:`merge_shards` only places them side by side (no addition):
the merged result is the single run's bit for bit, whatever machines, devices and
batch sizes computed the shards.  ``B`` is the run's number of blocks (``n_blocks``,
at most one per group); ``M`` may be at most ``B``, and when ``M`` does not divide
``B`` the shards hold ``floor(B / M)`` or ``ceil(B / M)`` blocks.

``sample(..., shard=(K, M))`` returns a :class:`Shard`; ``Shard.save(path)`` writes
its file (``nnqft sample ... --shard K/M --out DIR`` writes ``DIR/shard-K-of-M.npz``).
The file (an ``.npz``) holds the shard's per-block accumulators and, as JSON, a
format version and everything that must agree between shards of one run (engine,
model, hyperparameters, points, seed, ``n_nets``, orders, ``n_blocks``, float type,
chunk sizes, library version), the shard's ``K/M`` and its blocks, and a SHA-256
checksum of all of it.  :func:`merge_shards` (``nnqft merge FILES...``) refuses
unreadable or corrupted files (naming them), shards of different runs or splits,
duplicates and missing shards, and otherwise returns the single run's dataset.

:func:`sample_distributed` runs on every process of a ``jax.distributed`` job:
process ``k`` of ``P`` computes shard ``k/P`` on its local devices; the shards'
file bytes are exchanged with an all-gather (JAX's CPU collectives, or the
accelerators'), and every process merges them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import operator
import os
from pathlib import Path

import numpy as np

from .moments import BlockedSums
from .streaming import block_groups, effective_blocks, shard_blocks
from .tracing import NETS_PER_GROUP

__all__ = [
    "FORMAT_VERSION",
    "Shard",
    "check_shard",
    "initialize_distributed",
    "merge_shards",
    "parse_shard",
    "sample_distributed",
]

FORMAT = "nnqft-shard"
FORMAT_VERSION = 1
"""Version of the shard file layout; files of another version are refused."""


def check_shard(shard) -> tuple[int, int]:
    """``(K, M)`` as integers with ``0 <= K < M``; raises ``ValueError`` otherwise."""
    if isinstance(shard, str):
        return parse_shard(shard)
    try:
        index, count = shard
        index, count = operator.index(index), operator.index(count)
    except (TypeError, ValueError):
        raise ValueError(f"shard must be a pair (K, M) of integers, got {shard!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: K must lie in 0..M-1 (shards count from 0)")
    return index, count


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/M"`` -> ``(K, M)``, 0-based: ``"0/4"`` .. ``"3/4"``."""
    index, sep, count = str(text).partition("/")
    try:
        if not sep:
            raise ValueError
        return check_shard((int(index), int(count)))
    except ValueError as error:
        if "K must lie" in str(error):
            raise
        raise ValueError(f"--shard expects K/M with 0 <= K < M, e.g. 0/4, got {text!r}") from None


@dataclasses.dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` of a run: the accumulators of its blocks ``blocks[0] .. blocks[1] - 1``.

    ``run`` holds everything that must agree between the shards of one run;
    ``source`` names where the shard came from (a file, a process) in messages.
    """

    run: dict
    index: int
    count: int
    blocks: tuple[int, int]
    accumulators: tuple[BlockedSums, ...]
    source: str = "<memory>"

    @property
    def file_name(self) -> str:
        """The default file name, ``shard-K-of-M.npz``."""
        return f"shard-{self.index}-of-{self.count}.npz"

    def describe(self) -> str:
        """``shard K/M: blocks b..c of B (networks i..j of N)``."""
        n_nets, n_blocks = self.run["fingerprint"]["n_nets"], self.run["fingerprint"]["n_blocks"]
        n_blocks = effective_blocks(n_nets, n_blocks)
        first, end = block_groups(-(-n_nets // NETS_PER_GROUP), n_blocks, *self.blocks)
        return (
            f"shard {self.index}/{self.count}: blocks {self.blocks[0]}..{self.blocks[1] - 1} of {n_blocks} "
            f"(networks {first * NETS_PER_GROUP}..{min(n_nets, end * NETS_PER_GROUP) - 1} of {n_nets})"
        )

    def _metadata(self) -> dict:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "run": self.run,
            "shard": [self.index, self.count],
            "blocks": list(self.blocks),
            "accumulators": len(self.accumulators),
        }

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {}
        for k, sums in enumerate(self.accumulators):
            arrays.update({f"{k}_counts": sums.counts, f"{k}_sums": sums.sums, f"{k}_abs_max": sums.abs_max})
        return {name: np.ascontiguousarray(value, dtype=np.float64) for name, value in arrays.items()}

    def to_bytes(self) -> bytes:
        """The shard file's contents."""
        metadata = json.dumps(self._metadata())
        arrays = self._arrays()
        buffer = io.BytesIO()
        np.savez(buffer, metadata=np.array(metadata), checksum=np.array(_checksum(metadata, arrays)), **arrays)
        return buffer.getvalue()

    def save(self, path) -> Path:
        """Write the shard file atomically (temporary file + rename) and return its path.

        ``path`` is the file, or a directory (an existing one, or a path without a suffix)
        that gets :attr:`file_name`.
        """
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path = path / self.file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(self.to_bytes())
        os.replace(temporary, path)
        return path

    @classmethod
    def load(cls, path) -> "Shard":
        """Read and verify a shard file; ``ValueError`` naming the file if it is unreadable or corrupted."""
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise ValueError(f"shard file {str(path)!r} cannot be read ({error.strerror or error})") from None
        return cls.from_bytes(data, repr(str(path)))

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "<memory>") -> "Shard":
        """A shard from a file's contents, verified (format, version, checksum, shapes)."""
        what = f"shard file {source}"
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            metadata_text, checksum = str(arrays.pop("metadata")), str(arrays.pop("checksum"))
            metadata = json.loads(metadata_text)
        except Exception as error:  # zip, npy or JSON damage: a truncated or overwritten file
            raise ValueError(
                f"{what} is unreadable (truncated or corrupted: {type(error).__name__}: {error})"
            ) from None
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
            raise ValueError(f"{what} is not an nnqft shard file")
        if metadata.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{what} has shard format version {metadata.get('version')!r}; this nnqft reads version "
                f"{FORMAT_VERSION} (merge it with the nnqft that wrote it)"
            )
        if _checksum(metadata_text, arrays) != checksum:
            raise ValueError(f"{what} is corrupted (checksum mismatch); recompute that shard")
        try:
            index, count = check_shard(metadata["shard"])
            first, end = (int(b) for b in metadata["blocks"])
            run = metadata["run"]
            fingerprint = run["fingerprint"]
            n_points = len(fingerprint["points"])
            accumulators = tuple(
                BlockedSums(arrays[f"{k}_counts"], arrays[f"{k}_sums"], arrays[f"{k}_abs_max"])
                for k in range(int(metadata["accumulators"]))
            )
            expected = shard_blocks(effective_blocks(fingerprint["n_nets"], fingerprint["n_blocks"]), (index, count))
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{what} is inconsistent ({type(error).__name__}: {error})") from None
        shapes_ok = (first, end) == expected and all(
            s.counts.shape == (end - first,)
            and s.sums.ndim == 2
            and len(s.sums) == end - first
            and s.abs_max.shape == (n_points,)
            for s in accumulators
        )
        if not accumulators or not shapes_ok:
            raise ValueError(f"{what} is inconsistent (its blocks or array shapes do not fit its run)")
        return cls(run, index, count, (first, end), accumulators, source)


def _checksum(metadata: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(metadata.encode())
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        digest.update(f"\0{name}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def make_shard(method: str, model, fingerprint: dict, orders, shard: tuple[int, int], accumulators) -> Shard:
    """The :class:`Shard` of a run's accumulators (full-size, zero outside the shard's blocks)."""
    from .registry import ModelSpec

    reference = model if isinstance(model, str) else (model.name if isinstance(model, ModelSpec) else None)
    run = {
        "method": method,
        "model": reference or fingerprint["model"],
        "orders": [int(order) for order in orders],
        "fingerprint": json.loads(json.dumps(fingerprint)),
    }
    first, end = shard_blocks(effective_blocks(fingerprint["n_nets"], fingerprint["n_blocks"]), shard)
    rows = tuple(BlockedSums(s.counts[first:end], s.sums[first:end], s.abs_max) for s in accumulators)
    return Shard(run, shard[0], shard[1], (first, end), rows, f"shard {shard[0]}/{shard[1]}")


def _flat(run: dict) -> dict:
    fingerprint = dict(run["fingerprint"])
    return {
        "method": run["method"],
        "model": fingerprint.pop("model"),
        "model reference": run["model"],
        "orders": run["orders"],
        **fingerprint,
    }


def _differences(first: dict, second: dict) -> str:
    a, b = _flat(first), _flat(second)
    parts = []
    for key in list(a) + [key for key in b if key not in a]:
        if a.get(key) != b.get(key):
            shown = f"{json.dumps(a.get(key))} vs {json.dumps(b.get(key))}"
            parts.append(f"{key} {shown}" if len(shown) <= 60 else key)
    return ", ".join(parts)


def merge_shards(shards, *, model=None, keep_replicas: bool = False):
    """The dataset of a run from all its shards (files or :class:`Shard` objects), bit for bit
    the single run's.

    ``model`` (a name, function or :class:`~nnqft_ppl.registry.ModelSpec`) resolves the
    model when the shards' reference does not (a model function that is not
    registered); its name must match.  Raises ``ValueError`` naming the problem: an
    unreadable or corrupted file (which; the others are only read, never changed),
    shards of different runs (which fields differ) or splits, a shard given twice, or
    missing shards.
    """
    items = [shards] if isinstance(shards, (str, os.PathLike, Shard)) else list(shards)
    if not items:
        raise ValueError("merge needs the shard files of a run")
    loaded, bad = [], []
    for item in items:
        if isinstance(item, Shard):
            loaded.append(item)
            continue
        try:
            loaded.append(Shard.load(item))
        except ValueError as error:
            bad.append(str(error))
    if bad:
        valid = f"; the other {len(loaded)} file(s) read fine (left untouched)" if loaded else ""
        raise ValueError("; ".join(bad) + valid)
    first = loaded[0]
    for other in loaded[1:]:
        differences = _differences(first.run, other.run)
        if differences:
            raise ValueError(f"{first.source} and {other.source} belong to different runs ({differences})")
        if other.count != first.count:
            raise ValueError(
                f"shards of different splits: {first.source} is shard {first.index}/{first.count}, "
                f"{other.source} is shard {other.index}/{other.count}"
            )
    count, by_index = first.count, {}
    for shard in loaded:
        if shard.index in by_index:
            raise ValueError(
                f"shard {shard.index}/{count} is given twice: {by_index[shard.index].source} and {shard.source}"
            )
        by_index[shard.index] = shard
    missing = [k for k in range(count) if k not in by_index]
    if missing:
        have = ", ".join(f"{k}/{count}" for k in sorted(by_index))
        raise ValueError(f"missing shard(s) {', '.join(f'{k}/{count}' for k in missing)} of the run (have {have})")
    return _result(first.run, [by_index[k] for k in range(count)], model, keep_replicas)


def _result(run: dict, shards: list[Shard], model, keep_replicas: bool):
    from .ensemble import ensemble_result
    from .neurons import neurons_result
    from .registry import get_model

    fingerprint = run["fingerprint"]
    if model is None:
        try:
            spec = get_model(run["model"])
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"the shards' model {run['model']!r} cannot be loaded here ({error}); "
                "pass it to merge_shards(..., model=...) (nnqft merge --model)"
            ) from None
    else:
        spec = get_model(model)
    if spec.name != fingerprint["model"]:
        raise ValueError(f"the shards are of model {fingerprint['model']!r}, not {spec.name!r}")
    n_blocks = effective_blocks(fingerprint["n_nets"], fingerprint["n_blocks"])
    accumulators = []
    for k in range(len(shards[0].accumulators)):
        parts = [shard.accumulators[k] for shard in shards]
        counts, sums = np.zeros(n_blocks), np.zeros((n_blocks, parts[0].sums.shape[1]))
        abs_max = np.zeros_like(parts[0].abs_max)
        for shard, part in zip(shards, parts, strict=True):
            counts[slice(*shard.blocks)], sums[slice(*shard.blocks)] = part.counts, part.sums
            abs_max = np.maximum(abs_max, part.abs_max)
        accumulators.append(BlockedSums(counts, sums, abs_max))
    finish = {"ensemble": ensemble_result, "neurons": neurons_result}[run["method"]]
    points = np.asarray(fingerprint["points"], dtype=np.float64)
    orders = tuple(run["orders"])
    return finish(
        spec,
        fingerprint["params"],
        points,
        orders,
        fingerprint["n_nets"],
        fingerprint["seed"],
        accumulators,
        keep_replicas,
    )


def initialize_distributed() -> None:
    """``jax.distributed.initialize`` from the environment (``nnqft sample --distributed``), once.

    JAX reads ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0) and detects SLURM
    (``srun``) and Open MPI jobs; elsewhere set ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID`` too.  Call it before JAX computes anything.
    """
    import jax

    if jax.distributed.is_initialized():
        return

    def integer(name):
        value = os.environ.get(name)
        try:
            return None if value is None else int(value)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {value!r}") from None

    try:
        jax.distributed.initialize(num_processes=integer("JAX_NUM_PROCESSES"), process_id=integer("JAX_PROCESS_ID"))
    except (RuntimeError, ValueError, TypeError) as error:
        raise ValueError(
            f"cannot start jax.distributed ({error}); set JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES "
            "and JAX_PROCESS_ID, or launch with srun"
        ) from None


def _all_gather_bytes(data: bytes) -> list[bytes]:
    """Every process's ``data``, in process order (an all-gather of the bytes, exact)."""
    from jax.experimental import multihost_utils

    lengths = np.asarray(multihost_utils.process_allgather(np.array([len(data)], dtype=np.int32))).reshape(-1)
    padded = np.zeros(int(lengths.max()), dtype=np.uint8)
    padded[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    gathered = np.asarray(multihost_utils.process_allgather(padded))
    return [gathered[k, : int(lengths[k])].tobytes() for k in range(len(lengths))]


def sample_distributed(model, points, *, method: str = "ensemble", keep_replicas: bool = False, **options):
    """:func:`~nnqft_ppl.sample` spread over the processes of a ``jax.distributed`` job.

    Call it on every process (after ``jax.distributed.initialize``, with the same
    arguments): process ``k`` of ``P`` computes shard ``k/P`` on its local devices, the
    shards are all-gathered and every process returns the merged dataset, bit for bit
    the single-process run's.  ``P`` may be at most the run's number of blocks.  A
    ``checkpoint`` path gets the suffix ``.process-k-of-P`` on process ``k``.  With one
    process it is a plain run.
    """
    import jax

    from .sampling import sample

    if options.get("shard") is not None:
        raise ValueError("sample_distributed shards the run itself: give no shard")
    options.pop("shard", None)
    index, count = jax.process_index(), jax.process_count()
    if options.get("checkpoint") is not None and count > 1:
        path = Path(options["checkpoint"])
        options["checkpoint"] = path.with_name(f"{path.name}.process-{index}-of-{count}")
    own = sample(model, points, method=method, shard=(index, count), **options)
    if count == 1:
        return merge_shards([own], model=model, keep_replicas=keep_replicas)
    shards = [
        own if k == index else Shard.from_bytes(data, f"shard {k}/{count} (process {k})")
        for k, data in enumerate(_all_gather_bytes(own.to_bytes()))
    ]
    return merge_shards(shards, model=model, keep_replicas=keep_replicas)
