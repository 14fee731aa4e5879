"""Shards of a run merge into the single run's result bit for bit; jax.distributed runs too.

A shard holds whole jackknife blocks whose groups it sums in the single run's order,
so merging places the blocks side by side: every variable of the merged dataset is
bitwise equal to the single run's (``np.array_equal``), for either engine, any number
of shards, block counts that the shards do not divide, shards computed on two forced
host devices, and runs spread over two or four ``jax.distributed`` processes.
"""

import dataclasses
import functools
import io
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import nnqft_ppl as nn
from nnqft_ppl.cli import main
from nnqft_ppl.shards import Shard, merge_shards
from nnqft_ppl.tracing import NETS_PER_CHUNK

POINTS = [[0.0], [0.5], [1.0]]
N_NETS = 12 * NETS_PER_CHUNK + 100  # 199 groups: block boundaries fall inside chunks
RUN = dict(n_nets=N_NETS, orders=(2, 4), params={"width": 7}, seed=21, batch_size=NETS_PER_CHUNK, progress=False)


@functools.lru_cache(maxsize=None)
def _single(method, n_blocks=6, seed=21):
    return nn.sample("cos_net", POINTS, method=method, **{**RUN, "n_blocks": n_blocks, "seed": seed})


def _assert_bitwise_equal(merged, single):
    assert set(merged.data_vars) == set(single.data_vars)
    for name in single.data_vars:
        assert np.array_equal(merged[name].values, single[name].values, equal_nan=True), name
    assert np.array_equal(merged["points"].values, single["points"].values)
    assert merged.attrs == single.attrs


def _shard_files(tmp_path, method, count, n_blocks=6, seed=21, points=POINTS, n_nets=N_NETS, folder="shards"):
    run = {**RUN, "n_blocks": n_blocks, "seed": seed, "n_nets": n_nets}
    return [
        nn.sample("cos_net", points, method=method, shard=(k, count), **run).save(tmp_path / folder)
        for k in range(count)
    ]


@pytest.mark.parametrize(
    "method, count, n_blocks",
    [("ensemble", 1, 6), ("ensemble", 2, 6), ("ensemble", 3, 7), ("neurons", 2, 7), ("neurons", 3, 6)],
)
def test_merged_shards_equal_the_single_run_bit_for_bit(tmp_path, method, count, n_blocks):
    """7 blocks in 2 or 3 shards: shards of 3 + 4 and 2 + 2 + 3 blocks."""
    files = _shard_files(tmp_path, method, count, n_blocks)
    assert [f.name for f in files] == [f"shard-{k}-of-{count}.npz" for k in range(count)]
    shards = [Shard.load(f) for f in files]
    blocks = [shard.blocks for shard in shards]
    assert blocks[0][0] == 0 and blocks[-1][1] == n_blocks
    assert all(a[1] == b[0] for a, b in zip(blocks[:-1], blocks[1:], strict=True))
    nets = sum(int(shard.accumulators[-1].counts.sum()) for shard in shards)  # networks (both engines)
    assert nets == N_NETS
    _assert_bitwise_equal(merge_shards(files[::-1]), _single(method, n_blocks))


def test_merge_keeps_replicas_and_accepts_shard_objects():
    shards = [nn.sample_ensemble("cos_net", POINTS, shard=(k, 2), **{**RUN, "n_blocks": 6}) for k in (1, 0)]
    merged = merge_shards(shards, keep_replicas=True)
    single = nn.sample_ensemble("cos_net", POINTS, keep_replicas=True, **{**RUN, "n_blocks": 6})
    assert "G4c_replicas" in merged
    _assert_bitwise_equal(merged, single)


def test_cli_shards_and_merge_give_the_sample_record(tmp_path, capsys):
    """200 networks (13 groups, so 13 blocks): one chunk per run, the batch shape of the other tests'
    runs, compiled once for all of them."""
    common = ["cos_net", "--points", "0;0.5;1", "--set", "width=7", "--nets", "200", "--seed", "5"]
    for k in range(2):
        assert main(["sample", *common, "--shard", f"{k}/2", "--out", str(tmp_path / "shards")]) == 0
    out = capsys.readouterr().out
    assert "shard 1/2: blocks 6..12 of 13 (networks 96..199 of 200)" in out
    files = sorted(str(f) for f in (tmp_path / "shards").iterdir())
    assert [os.path.basename(f) for f in files] == ["shard-0-of-2.npz", "shard-1-of-2.npz"]
    assert main(["merge", *files, "--json", str(tmp_path / "merged.json"), "--out", str(tmp_path / "run")]) == 0
    assert "2 shards" in capsys.readouterr().out
    assert main(["sample", *common, "--json", str(tmp_path / "single.json"), "--quiet"]) == 0
    single = (tmp_path / "single.json").read_text()
    assert (tmp_path / "merged.json").read_text() == single
    assert (tmp_path / "run" / "result.json").read_text() == single
    assert (tmp_path / "run" / "correlators.nc").exists()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--shard", "0/2"], "--shard writes a shard file: give --out DIR"),
        (["--shard", "2/2", "--out", "x"], "K must lie in 0..M-1"),
        (["--shard", "1-2", "--out", "x"], "--shard expects K/M"),
        (["--shard", "0/2", "--distributed", "--out", "x"], "not allowed with argument"),
        (["--shard", "0/2", "--out", "x", "--mixed", "field_neuron"], "--mixed goes with a single run"),
    ],
)
def test_cli_refuses_bad_shard_options(capsys, arguments, message):
    assert main(["sample", "cos_net", "--points", "0;1", "--nets", "1000", *arguments]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_too_many_shards_for_the_blocks_are_refused():
    with pytest.raises(ValueError, match="7 shards need at least 7 jackknife blocks, this run has 6"):
        nn.sample_ensemble("cos_net", POINTS, shard=(0, 7), **{**RUN, "n_blocks": 6})
    with pytest.raises(ValueError, match="ensemble' and 'neurons' only"):
        nn.sample("cos_net", POINTS, method="reweight", shard=(0, 2), n_nets=100)


def _with_run(shard: Shard, **changes) -> Shard:
    """The shard claiming another run (a valid file of a run computed elsewhere)."""
    fingerprint = {**shard.run["fingerprint"], **changes.pop("fingerprint", {})}
    return dataclasses.replace(shard, run={**shard.run, **changes, "fingerprint": fingerprint})


def test_shards_of_different_runs_duplicates_and_gaps_are_refused(tmp_path, capsys):
    files = _shard_files(tmp_path, "ensemble", 3)
    other_seed = _shard_files(tmp_path, "ensemble", 3, seed=22, folder="seed")
    other_points = _shard_files(tmp_path, "ensemble", 3, points=[[0.0], [0.5], [2.0]], folder="points")
    other_nets = _shard_files(tmp_path, "ensemble", 3, n_nets=N_NETS + 16, folder="nets")
    other_split = _shard_files(tmp_path, "ensemble", 2, folder="split")
    first, second, third = (Shard.load(f) for f in files)
    cases = [
        (
            [files[0], other_seed[1], files[2]],
            r"shard-0-of-3.npz' and '.*seed/shard-1-of-3.npz' belong to different "
            r"runs \(seed 21 vs 22\)",
        ),
        (
            [files[0], files[1], other_points[2]],
            r"different runs \(points \[\[0.0\], \[0.5\], \[1.0\]\] vs \[\[0.0\], \[0.5\], \[2.0\]\]\)",
        ),
        ([other_nets[0], files[1], files[2]], r"different runs \(n_nets 3188 vs 3172\)"),
        (
            [files[0], other_split[1]],
            r"different splits: .*shard-0-of-3.npz' is shard 0/3, .*shard-1-of-2.npz' is "
            "shard 1/2",
        ),
        ([files[0], files[1], files[1], files[2]], r"shard 1/3 is given twice: '.*shard-1-of-3.npz' and"),
        ([files[0], files[2]], r"missing shard\(s\) 1/3 of the run \(have 0/3, 2/3\)"),
        ([files[1]], r"missing shard\(s\) 0/3, 2/3"),
        ([], "merge needs the shard files"),
        (
            [
                first,
                _with_run(second, fingerprint={"params": {**first.run["fingerprint"]["params"], "width": 8}}),
                third,
            ],
            r"different runs \(params",
        ),
        (
            [first, second, _with_run(third, orders=[2, 4, 6], fingerprint={"max_order": 6})],
            r"different runs \(orders \[2, 4\] vs \[2, 4, 6\], max_order 4 vs 6\)",
        ),
        (
            [_with_run(first, model="gauss_net", fingerprint={"model": "gauss_net"}), second, third],
            r"different runs \(model \"gauss_net\" vs \"cos_net\"",
        ),
        (
            [first, _with_run(second, method="neurons", fingerprint={"engine": "neurons, tiles of 256"}), third],
            r"different runs \(method \"ensemble\" vs \"neurons\"",
        ),
    ]
    for shards, message in cases:
        with pytest.raises(ValueError, match=message):
            merge_shards(shards)
    assert main(["merge", str(files[0]), str(files[2])]) == 2
    error = capsys.readouterr().err
    assert error.startswith("nnqft: error: missing shard(s) 1/3") and error.count("\n") == 1


def _npz(arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_truncated_or_corrupted_shard_is_named_and_the_others_are_kept(tmp_path, capsys):
    files = _shard_files(tmp_path, "ensemble", 3)
    before = [f.read_bytes() for f in files]
    damaged = tmp_path / "damaged.npz"

    def refused(data, message):
        damaged.write_bytes(data)
        with pytest.raises(ValueError, match=message):
            merge_shards([files[0], damaged, files[2]])
        assert main(["merge", str(files[0]), str(damaged), str(files[2])]) == 2
        error = capsys.readouterr().err
        assert str(damaged) in error and "the other 2 file(s) read fine" in error and error.count("\n") == 1

    good = before[1]
    refused(good[: len(good) // 2], r"shard file '.*damaged.npz' is unreadable \(truncated or corrupted")
    refused(b"", r"'.*damaged.npz' is unreadable")
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    refused(bytes(flipped), r"'.*damaged.npz' is (unreadable|corrupted)")
    with np.load(io.BytesIO(good)) as npz:  # arrays changed, checksum left as it was: a silent overwrite
        arrays = {name: npz[name] for name in npz.files}
    arrays["0_sums"] = arrays["0_sums"].copy()
    arrays["0_sums"][0, 0] = np.nextafter(arrays["0_sums"][0, 0], np.inf)  # one ulp
    refused(_npz(arrays), r"'.*damaged.npz' is corrupted \(checksum mismatch\)")
    metadata = json.loads(str(arrays["metadata"]))
    arrays["metadata"] = np.array(json.dumps({**metadata, "version": 99}))
    refused(_npz(arrays), "has shard format version 99; this nnqft reads version 1")
    assert [f.read_bytes() for f in files] == before  # the valid files are untouched
    damaged.write_bytes(good)  # recomputed (here: restored): the merge goes through
    _assert_bitwise_equal(merge_shards([files[0], damaged, files[2]]), _single("ensemble"))


DEVICES = """
import sys, jax
import nnqft_ppl as nn
assert jax.local_device_count() == 2, jax.local_devices()
method, out = sys.argv[1], sys.argv[2]
for k in range(2):
    nn.sample("cos_net", {points}, method=method, shard=(k, 2), **{run}).save(out)
"""


@pytest.mark.parametrize("method", ["ensemble", "neurons"])
def test_shards_on_two_devices_merge_to_the_one_device_run(tmp_path, method):
    """Shards computed with batches sharded over 2 forced host devices (a subprocess: XLA_FLAGS
    must be set before JAX starts) merge to the bits of the run on this process's one device."""
    environment = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    run = {**RUN, "n_blocks": 6, "batch_size": 4 * NETS_PER_CHUNK}
    script = DEVICES.format(points=POINTS, run=run)
    subprocess.run([sys.executable, "-c", script, method, str(tmp_path)], check=True, env=environment, timeout=300)
    files = sorted(tmp_path.glob("shard-*-of-2.npz"))
    assert len(files) == 2
    _assert_bitwise_equal(merge_shards(files), _single(method))


DISTRIBUTED = """
import os, sys
import jax
jax.distributed.initialize(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"], num_processes={processes},
                           process_id=int(os.environ["JAX_PROCESS_ID"]))
from nnqft_ppl.cli import main
assert (jax.process_count(), jax.local_device_count()) == ({processes}, 1)
argv = ["sample", "cos_net", "--points", "0;0.5;1", "--set", "width=7", "--nets", "{n_nets}", "--seed", "21",
        "--method", "neurons", "--distributed", "--json", sys.argv[1], "--quiet"]
assert main(argv) == 0
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("count", [2, 4])
def test_jax_distributed_processes_give_the_single_run(tmp_path, count):
    """Processes joined by jax.distributed over loopback (Gloo CPU collectives) run
    ``nnqft sample --distributed`` (:func:`nnqft_ppl.sample_distributed`): each computes one
    shard, the shards' bytes are all-gathered and merged on all, and process 0 writes the
    record, which is the single-process run's (JSON keeps every float64 exactly)."""
    script = DISTRIBUTED.format(n_nets=N_NETS, processes=count)
    address = f"127.0.0.1:{_free_port()}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / f"record-{k}.json")],
            env=dict(os.environ, JAX_COORDINATOR_ADDRESS=address, JAX_PROCESS_ID=str(k)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for k in range(count)
    ]
    try:
        expected = json.loads(json.dumps(nn.run_record(_single("neurons", n_blocks=20))))  # while they run
        outputs = [process.communicate(timeout=240)[0].decode() for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [process.returncode for process in processes] == [0] * count, outputs
    assert [path.name for path in tmp_path.iterdir()] == ["record-0.json"]  # process 0 writes the outputs
    assert json.loads((tmp_path / "record-0.json").read_text()) == expected


def test_sample_distributed_in_one_process_is_the_plain_run():
    _assert_bitwise_equal(nn.sample_distributed("cos_net", POINTS, **{**RUN, "n_blocks": 6}), _single("ensemble"))
    with pytest.raises(ValueError, match="shards the run itself"):
        nn.sample_distributed("cos_net", POINTS, shard=(0, 2), **RUN)


def test_a_shard_checkpoints_and_resumes_its_own_blocks_only(tmp_path):
    checkpoint = tmp_path / "shard.ckpt.npz"
    run = {**RUN, "n_blocks": 6, "checkpoint": checkpoint, "checkpoint_every": 0.0}
    first = nn.sample_ensemble("cos_net", POINTS, shard=(1, 3), **run)
    with np.load(checkpoint) as saved:
        assert int(saved["next_chunk"]) == 9  # blocks 2..3: groups 67..132, chunks 4..8
    resumed = nn.sample_ensemble("cos_net", POINTS, shard=(1, 3), **run)  # nothing left to evaluate
    assert resumed.to_bytes() == first.to_bytes()
    with pytest.raises(ValueError, match="belongs to a different run.*shard"):
        nn.sample_ensemble("cos_net", POINTS, shard=(2, 3), **run)
