"""Network i depends on (seed, i) only: results do not depend on batch size, device count or interruptions."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nnqft_ppl as nn
from nnqft_ppl.tracing import NETS_PER_CHUNK

POINTS = [[0.0], [0.5], [1.0]]
RUN = dict(n_nets=40 * NETS_PER_CHUNK + 100, orders=(2, 4), params={"width": 7}, seed=21)


def _values(dataset):
    return {name: dataset[name].values for name in dataset.data_vars if not name.endswith("_theory")}


def test_batch_size_does_not_change_a_single_bit():
    small = _values(nn.sample_ensemble("cos_net", POINTS, batch_size=NETS_PER_CHUNK, **RUN))
    large = _values(nn.sample_ensemble("cos_net", POINTS, batch_size=16 * NETS_PER_CHUNK, **RUN))
    for name in small:
        np.testing.assert_array_equal(small[name], large[name], err_msg=name)


def test_exact_engine_batch_size_does_not_change_a_single_bit():
    """The exact engine sums each group's neurons tile by tile in an order fixed by the width
    (width 37: 592 neurons per group, three tiles of 256, the last padded)."""
    run = {**RUN, "params": {"width": 37}}
    small = _values(nn.sample_neurons("cos_net", POINTS, batch_size=NETS_PER_CHUNK, **run))
    large = _values(nn.sample_neurons("cos_net", POINTS, batch_size=16 * NETS_PER_CHUNK, **run))
    for name in small:
        np.testing.assert_array_equal(small[name], large[name], err_msg=name)


SCRIPT = """
import json, sys
import nnqft_ppl as nn
import jax
method, out = sys.argv[1], sys.argv[2]
dataset = nn.sample("cos_net", {points}, method=method, progress=False, **{run})
json.dump({{"devices": jax.local_device_count(), **nn.run_record(dataset)["correlators"]}}, open(out, "w"))
"""


def _run_in_subprocess(tmp_path, method, devices):
    environment = dict(os.environ, JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    out = tmp_path / f"{method}-{devices}.json"
    script = SCRIPT.format(points=POINTS, run=RUN)
    subprocess.run([sys.executable, "-c", script, method, str(out)], check=True, env=environment, timeout=600)
    return json.loads(out.read_text())


@pytest.mark.parametrize("method", ["ensemble", "neurons"])
def test_device_count_does_not_change_a_single_bit(tmp_path, method):
    """Batches are sharded over 4 forced host devices; the numbers stay bitwise the same."""
    one = _run_in_subprocess(tmp_path, method, 1)
    four = _run_in_subprocess(tmp_path, method, 4)
    assert (one.pop("devices"), four.pop("devices")) == (1, 4)
    assert one == four


RESUMABLE = """
import sys
import nnqft_ppl as nn
nn.sample_ensemble("cos_net", {points}, n_nets=1_500_000, orders=(2, 4), params={{"width": 50}}, seed=3,
                   checkpoint=sys.argv[1], checkpoint_every=0.0, progress=False)
"""


def test_killed_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    checkpoint = tmp_path / "run.ckpt.npz"
    process = subprocess.Popen(
        [sys.executable, "-c", RESUMABLE.format(points=POINTS), str(checkpoint)],
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    deadline = time.monotonic() + 300
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    with np.load(checkpoint) as saved:
        done = int(saved["next_chunk"])
    n_chunks = 1_500_000 // NETS_PER_CHUNK
    assert 0 < done < n_chunks, "the kill must land mid-run"
    options = dict(n_nets=1_500_000, orders=(2, 4), params={"width": 50}, seed=3, progress=False)
    resumed = nn.sample_ensemble("cos_net", POINTS, checkpoint=checkpoint, **options)
    uninterrupted = nn.sample_ensemble("cos_net", POINTS, **options)
    for name, value in _values(uninterrupted).items():
        np.testing.assert_array_equal(_values(resumed)[name], value, err_msg=name)


def test_checkpoint_of_another_run_is_refused(tmp_path):
    checkpoint = tmp_path / "run.npz"
    nn.sample_ensemble("cos_net", POINTS, n_nets=1_000, checkpoint=checkpoint)
    with pytest.raises(ValueError, match="belongs to a different run.*seed"):
        nn.sample_ensemble("cos_net", POINTS, n_nets=1_000, seed=1, checkpoint=checkpoint)
    checkpoint.write_bytes(b"truncated")
    with pytest.raises(ValueError, match="unreadable"):
        nn.sample_ensemble("cos_net", POINTS, n_nets=1_000, checkpoint=checkpoint)
