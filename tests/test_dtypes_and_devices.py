"""float32 against float64, the per-device batch memory every streamed run reports, and NUTS chains over devices.

JAX computes in float32 unless ``JAX_ENABLE_X64=1`` is set when it starts, and the number of
forced host devices is fixed then too, so the float64 run is a subprocess (on two forced host
devices, which also exercises the report).  The same seed draws different networks in the two
float types, so the comparison is statistical: both runs are independent measurements of the
same correlators.  (That the device count changes no bit of a result is
tests/test_determinism.py's.)
"""

import functools
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import K_SIGMA, max_deviation, max_difference

import nnqft_ppl as nn
from nnqft_ppl.ensemble import activations_per_batch
from nnqft_ppl.streaming import BatchPlan
from nnqft_ppl.tracing import NETS_PER_CHUNK

POINTS = [[0.0], [0.4], [1.1]]
RUN = dict(n_nets=40_000, orders=(2, 4), params={"width": 3, "sigma_b": 1.2}, seed=3, progress=False)

FLOAT64 = """
import json, logging, sys
import jax, numpy as np
import nnqft_ppl as nn
from nnqft_ppl.registry import get_model
from nnqft_ppl.tracing import check_field
plans = []
handler = logging.Handler()
handler.emit = lambda record: plans.append(record.batch_plan.record())
logging.getLogger("nnqft_ppl").addHandler(handler)
logging.getLogger("nnqft_ppl").setLevel(logging.INFO)
dataset = nn.sample_ensemble("cos_net", {points}, **{run})
spec = get_model("cos_net")
phi = check_field(spec.model, np.array({points}), spec.resolve({params}, np.array({points})))["phi"]["value"]
record = {{
    "x64": jax.config.jax_enable_x64,
    "phi": str(phi.dtype),
    "variables": {{name: str(dataset[name].dtype) for name in dataset.data_vars}},
    "plans": plans,
    "dataset": dataset.to_dict(data="list"),
}}
print(json.dumps(record))
"""


@functools.lru_cache(maxsize=1)
def _float64_run():
    """The run of :data:`RUN` with JAX_ENABLE_X64=1 on two forced host devices (a subprocess)."""
    import xarray as xr

    environment = dict(os.environ, JAX_ENABLE_X64="1", XLA_FLAGS="--xla_force_host_platform_device_count=2")
    script = FLOAT64.format(points=POINTS, run=RUN, params=RUN["params"])
    result = subprocess.run(
        [sys.executable, "-c", script], check=True, env=environment, timeout=300, capture_output=True, text=True
    )
    record = json.loads(result.stdout.strip().splitlines()[-1])
    return record, xr.Dataset.from_dict(record.pop("dataset"))


@functools.lru_cache(maxsize=1)
def _float32_run():
    return nn.sample_ensemble("cos_net", POINTS, **RUN)


def test_float64_runs_in_float64():
    """With x64 the networks are evaluated in float64 (the field, the batch values), not only accumulated in it."""
    record, _ = _float64_run()
    assert record["x64"] and record["phi"] == "float64"
    assert [plan["itemsize"] for plan in record["plans"]] == [8]
    assert set(record["variables"].values()) == {"float64"}  # the accumulated results, in either float type


def test_float32_and_float64_agree_with_each_other_and_with_theory():
    _, double = _float64_run()
    single = _float32_run()
    assert not np.array_equal(single["G2"].values, double["G2"].values)  # different draws: independent checks
    for name in ("G2", "G4c"):
        assert max_difference(single, double, name) < K_SIGMA, name
        assert max_deviation(single, name) < K_SIGMA, name
        assert max_deviation(double, name) < K_SIGMA, name
    for dataset in (single, double):  # the 1/N signal is resolved: the comparisons are not vacuous
        assert np.max(np.abs(dataset["G4c_theory"].values) / dataset["G4c_stderr"].values) > 8


def _bound(plan: dict) -> int:
    """The documented bound on a device's batch values: activations_per_batch() values, or one chunk's."""
    return max(activations_per_batch(), NETS_PER_CHUNK * plan["values_per_net"]) * plan["itemsize"]


def test_two_devices_report_their_batch_memory():
    record, _ = _float64_run()
    (plan,) = record["plans"]
    assert (plan["devices"], plan["platform"]) == (2, "cpu")
    assert plan["values_per_net"] == 3 * 3 + 34  # width x points activations + the 34 monomials up to order 4
    assert plan["batch_bytes_per_device"] == plan["nets_per_device"] * plan["values_per_net"] * 8
    assert 0 < plan["batch_bytes_per_device"] <= _bound(plan)


@pytest.mark.parametrize("method, n_nets", [("ensemble", 5_000), ("ensemble", 80_000), ("neurons", 600)])
def test_each_run_logs_its_batch_plan(caplog, method, n_nets):
    """The plan is logged once per run at INFO; its per-device bytes stay within the bound at any size."""
    params = {"width": 1000} if method == "neurons" else {"width": 3}
    with caplog.at_level(logging.INFO, logger="nnqft_ppl"):
        nn.sample("cos_net", POINTS, method=method, n_nets=n_nets, orders=(2, 4), params=params, progress=False)
    (plan,) = [record.batch_plan for record in caplog.records if hasattr(record, "batch_plan")]
    assert isinstance(plan, BatchPlan) and (plan.devices, plan.itemsize) == (1, 4)
    assert plan.record()["batch_bytes_per_device"] <= _bound(plan.record())
    assert "1 cpu device" in caplog.text
    if method == "neurons":
        assert (plan.nets_per_device, plan.values_per_net) == (NETS_PER_CHUNK, 1000 * 3)
    else:  # 3 x 3 activations + 34 monomials: 2**21 // 43 networks a batch, 190 whole chunks; a small run's all
        assert plan.nets_per_device == min(-(-n_nets // NETS_PER_CHUNK), 190) * NETS_PER_CHUNK


CHAINS = """
import json, warnings
import jax
import models
from nnqft_ppl.inference import nuts
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    idata = nuts("cos_net", [[0.0], [0.8]], params={"width": 2}, chains=2, samples=200, warmup=100, seed=2,
                 progress=False)
print(json.dumps({"devices": jax.local_device_count(), "method": idata.posterior.attrs["chain_method"],
                  "phi": idata.posterior["phi"].values.tolist()}))
"""


def test_nuts_chains_run_in_parallel_over_local_devices_with_the_same_draws():
    """Two chains on two forced host devices run in parallel (one per device) and draw exactly what the two
    vectorised chains on one device draw (the same per-chain keys)."""
    runs = []
    for devices in (1, 2):
        environment = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
        result = subprocess.run(
            [sys.executable, "-c", CHAINS], check=True, env=environment, timeout=300, capture_output=True, text=True
        )
        runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
    assert [(run["devices"], run["method"]) for run in runs] == [(1, "vectorized"), (2, "parallel")]
    np.testing.assert_array_equal(runs[0]["phi"], runs[1]["phi"])
    assert np.shape(runs[0]["phi"]) == (2, 200, 2)
