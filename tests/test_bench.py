"""``nnqft bench``: its baselines estimate the right thing, and the suite runs end to end (no timings asserted)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import K_SIGMA

from nnqft_ppl.benchmarks import baseline, precision, throughput
from nnqft_ppl.cli import main
from nnqft_ppl.combinatorics import unique_tuples
from nnqft_ppl.registry import get_model
from nnqft_ppl.theory import predict

TEST_POINTS = np.array([[0.2], [0.6], [1.0]])


def theory_moments(model, params, points, orders=(2, 4)):
    spec = get_model(model)
    return predict(spec.theory(**spec.resolve(params, points)), points, orders)


def max_moment_deviation(outputs, reference, order):
    """max over unique tuples of |mean of the product - reference| / its standard error (outputs: nets x points)."""
    deviations = []
    for tuple_ in unique_tuples(outputs.shape[1], order):
        products = np.prod(outputs[:, tuple_], axis=1)
        stderr = products.std(ddof=1) / math.sqrt(len(products))
        deviations.append(abs(products.mean() - reference[tuple(tuple_)]) / stderr)
    return max(deviations)


@pytest.mark.parametrize(
    "model, params",
    [
        ("cos_net", {"width": 3, "sigma_a": 1.0, "sigma_b": 1.0}),
        ("erf_net", {"width": 2, "sigma_w": 1.0, "sigma_b": 1.0}),
    ],
)
def test_numpy_baseline_estimates_the_exact_correlators(model, params):
    """The per-network NumPy loop and its correlators: G2 and G4 against the exact finite-width theory."""
    outputs = baseline.numpy_ensemble(model, params, TEST_POINTS, n_nets=4000, seed=3)
    measured = baseline.numpy_correlators(outputs, orders=(2, 4))
    theory = theory_moments(model, params, TEST_POINTS)
    for name, order in (("G2", 2), ("G4", 4)):
        assert max_moment_deviation(outputs, theory[name], order) < K_SIGMA, name
        expected = np.mean(np.prod(outputs[:, list(unique_tuples(3, order)[-1])], axis=1))
        assert measured[name][(2,) * order] == pytest.approx(expected)
    assert set(measured) == {"G2", "G4", "G4c"}


@pytest.mark.parametrize(
    "model, params",
    [
        ("cos_net", {"sigma_a": 1.3, "sigma_b": 1.5}),
        ("gauss_net", {"sigma_w": 1.0, "sigma_b": 0.3}),
        ("erf_net", {"sigma_w": 1.0, "sigma_b": 1.0}),
        ("relu_net", {"sigma_w": 1.0, "sigma_b": 1.0}),
        ("relu_net", {"sigma_w": 1.2, "sigma_b": 0.0}),
    ],
)
def test_rooflines_draw_the_models_distributions(model, params):
    """Each bare-JAX roofline gives the model's G2 and G4 (at width 2, where G4 is far from Gaussian)."""
    params = {**params, "width": 2}
    points = throughput.HYPERPARAMETERS[model][1] * TEST_POINTS
    roofline = jax.jit(
        lambda key: throughput.ROOFLINES[model](key, jnp.asarray(points, dtype=jnp.float32), n_nets=16384, **params)
    )
    outputs = np.asarray(roofline(jax.random.PRNGKey(7)), dtype=np.float64)
    theory = theory_moments(model, params, points)
    assert max_moment_deviation(outputs, theory["G2"], 2) < K_SIGMA
    assert max_moment_deviation(outputs, theory["G4"], 4) < K_SIGMA


@pytest.fixture
def tiny_sizes(monkeypatch):
    """One model at width 4, tiny timings."""
    monkeypatch.setitem(
        throughput.SIZES, True, throughput.Sizes(models=("cos_net",), widths=(4,), seconds=0.05, rounds=1)
    )
    monkeypatch.setitem(baseline.BASELINE_SIZES, True, baseline.BaselineSizes(seconds=0.05, rounds=1))
    monkeypatch.setitem(
        precision.PRECISION_SIZES, True, precision.PrecisionSizes(widths=(4,), target=0.3, direct_seconds=1e9)
    )
    monkeypatch.setattr(precision, "fresh_run", precision.timed_run)  # in this process: no child interpreters


def test_bench_writes_finite_figures_as_json(tiny_sizes, tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--only", "throughput,baseline,precision", "--json", str(path)]) == 0
    records = json.loads(path.read_text())
    names = [record["name"] for record in records]
    assert len(names) == 3 + 2 + 1 and len(set(names)) == len(names)
    assert any("roofline" in name for name in names) and any("NumPy" in name for name in names)
    assert any("exact engine" in name for name in names)
    for record in records:
        assert {"name", "value", "baseline", "ratio", "unit"} <= set(record)
        assert all(math.isfinite(record[key]) and record[key] > 0 for key in ("value", "baseline", "ratio"))
        assert record["ratio"] == pytest.approx(record["value"] / record["baseline"])
    assert "cos_net width 4: networks/s (vs roofline)" in capsys.readouterr().out


def test_precision_search_predicts_powers_of_two():
    assert precision.next_size(512, 0.1, 0.05) == 2048  # error ~ 1/sqrt(n): 4x the networks
    assert precision.next_size(512, 0.06, 0.05) == 1024  # at least doubles
    assert precision.next_size(512, float("nan"), 0.05) == 1024
    assert precision.exact_start(1000) == precision.MIN_NETWORKS


def test_bench_refuses_an_unknown_section(capsys):
    assert main(["bench", "--only", "nonsense"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("nnqft: error:") and "nonsense" in error and len(error.splitlines()) == 1
