"""The exact finite-width engine: agreement with closed forms and with the ensemble; refusals."""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from helpers import K_SIGMA, max_deviation, max_difference

import nnqft_ppl as nn
from nnqft_ppl.moments import MonomialBasis, cumulants_from_moments
from nnqft_ppl.nets import cos_neurons, linear_readout
from nnqft_ppl.neurons import SAMPLES_PER_TILE, _gaussian_cumulants, _tiling
from nnqft_ppl.streaming import TRACE_COUNTS
from nnqft_ppl.tracing import NETS_PER_GROUP


@pytest.mark.parametrize(
    "model, params, points",
    [
        ("cos_net", {"width": 1000, "sigma_a": 0.8}, [[0.0], [0.5], [1.2]]),
        ("cos_net", {"width": 50, "sigma_b": 2.0}, [[0.0, 0.0], [0.3, 0.1], [0.0, 0.4]]),
        ("gauss_net", {"width": 100, "sigma_b": 0.3}, [[0.0], [0.1], [0.2]]),
        ("erf_net", {"width": 1000}, [[-0.5], [0.3], [1.0]]),
        ("relu_net", {"width": 20, "sigma_b": 0.0}, [[0.2], [0.6], [1.2]]),
    ],
)
def test_exact_engine_matches_finite_width_theory(model, params, points):
    """G^(r)_c = N kappa_r[a h] + (bias, G2 only) against the closed forms, r = 2, 4, 6."""
    dataset = nn.sample_neurons(model, points, n_nets=4_000, orders=(2, 4, 6), params=params, seed=11)
    for name in ("G2", "G4c", "G6c"):
        assert max_deviation(dataset, name) < K_SIGMA, name
    # the 1/N term is resolved far beyond what the same number of whole networks would give
    assert np.max(np.abs(dataset["G4c_theory"].values) / dataset["G4c_stderr"].values) > 10


def test_exact_engine_agrees_with_brute_force_ensemble():
    """Two independent estimators of the same correlators, including the output bias (erf_net)."""
    points = [[0.0], [0.6]]
    params = {"width": 3, "sigma_b": 0.7}
    exact = nn.sample_neurons("erf_net", points, n_nets=20_000, orders=(2, 4), params=params, seed=12)
    brute = nn.sample_ensemble("erf_net", points, n_nets=300_000, orders=(2, 4), params=params, seed=13)
    for name in ("G2", "G4", "G4c"):
        assert max_difference(exact, brute, name) < K_SIGMA, name


def _model_without_contract(x, width=10, d=1):
    numpyro.deterministic("phi", jnp_sum_of_cos(x, width))


def jnp_sum_of_cos(x, width):
    return cos_neurons(x, width, 1.0).sum(axis=1) / math.sqrt(width)


def _shared_scale_net(x, width=10, d=1):
    scale = numpyro.sample("scale", dist.LogNormal(0.0, 0.5))
    h = cos_neurons(x, width, 1.0)
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(0.0, scale / math.sqrt(width)))
    numpyro.deterministic("h", h)
    numpyro.deterministic("phi", h @ a)


def _deformed_net(x, width=10, d=1):
    phi = linear_readout(cos_neurons(x, width, 1.0), 1.0)
    numpyro.factor("deformation", -0.1 * (phi**4).sum())


def _quadratic_net(x, width=10, d=1):
    h = cos_neurons(x, width, 1.0)
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(0.0, 1 / math.sqrt(width)))
    numpyro.deterministic("h", h)
    numpyro.deterministic("phi", h @ a + (h**2).sum(axis=1))


def _non_gaussian_bias_net(x, width=10, d=1):
    h = cos_neurons(x, width, 1.0)
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(0.0, 1 / math.sqrt(width)))
    numpyro.deterministic("h", h)
    bias = numpyro.sample("bias", dist.Exponential(1.0))
    numpyro.deterministic("phi", h @ a + bias)


@pytest.mark.parametrize(
    "model, reason",
    [
        (_model_without_contract, "must record neurons"),
        (_shared_scale_net, "depend on network-level sites"),
        (_deformed_net, "factor/observed sites"),
        (_quadratic_net, "not h @ a plus a neuron-independent term"),
        (_non_gaussian_bias_net, "are not Normal"),
    ],
)
def test_exact_engine_refuses_models_without_iid_neurons(model, reason):
    with pytest.raises(ValueError, match=reason):
        nn.sample_neurons(model, [[0.0], [1.0]], n_nets=256)


def test_exact_engine_needs_a_width():
    def widthless(x, d=1):
        numpyro.deterministic("phi", x[:, 0])

    with pytest.raises(ValueError, match="needs a 'width'"):
        nn.sample_neurons(widthless, [[0.0]], n_nets=256)


def _non_identical_net(x, width=5, d=1):
    with numpyro.plate("neurons", width):
        b = numpyro.sample("b", dist.Normal(0.0, jnp.arange(1.0, width + 1.0)))
        c = numpyro.sample("c", dist.Uniform(-math.pi, math.pi))
    linear_readout(jnp.cos(x @ b[None, :] + c[None, :]), 1.0)


def _centred_net(x, width=5, d=1):
    h = cos_neurons(x, width, 1.0)
    linear_readout(h - h.mean(axis=1, keepdims=True), 1.0)


@pytest.mark.parametrize(
    "model, reason",
    [(_non_identical_net, "not identically distributed"), (_centred_net, "neurons are coupled")],
)
def test_exact_engine_refuses_non_exchangeable_neurons(model, reason):
    with pytest.raises(ValueError, match=reason):
        nn.sample_neurons(model, [[0.0], [1.0]], n_nets=256)


def test_power_sums_compile_once_for_every_model_and_width_with_the_same_tiling():
    """The exact engine compiles the traced networks once per model and width, and their
    power sums once per tiling and orders (widths 5 and 6 both put a group's neurons in
    one tile of 128; the network-level terms' sums serve every width)."""
    points = [[0.05], [0.45], [0.95]]
    before = TRACE_COUNTS["batch"]
    nn.sample_neurons("erf_net", points, n_nets=256, orders=(2, 4), params={"width": 5, "sigma_w": 0.9})
    assert TRACE_COUNTS["batch"] - before <= 4  # keys, networks, neuron and network-level sums
    for model, width in (("relu_net", 6), ("erf_net", 6)):
        before = TRACE_COUNTS["batch"]
        nn.sample_neurons(model, points, n_nets=256, orders=(2, 4), params={"width": width, "sigma_w": 0.9})
        assert TRACE_COUNTS["batch"] - before == 1, model


@pytest.mark.parametrize("width", [1, 5, 17, 40])
def test_tiles_cover_every_neuron_of_a_group(width):
    """One tile of the next power of two, or whole tiles of SAMPLES_PER_TILE (padding < one tile)."""
    tile, n_tiles = _tiling(width)
    samples = NETS_PER_GROUP * width
    assert tile & (tile - 1) == 0 and tile * n_tiles >= samples
    assert tile * (n_tiles - 1) < samples
    assert tile <= SAMPLES_PER_TILE


@pytest.mark.parametrize("n_points, max_order", [(3, 6), (2, 4), (4, 2), (1, 1)])
def test_gaussian_network_term_keeps_the_first_two_cumulants(n_points, max_order, rng):
    """The network-level term's cumulants: mean and covariance as the general moment ->
    cumulant conversion gives them, nothing beyond (a Gaussian output bias)."""
    basis = MonomialBasis(n_points, max_order)
    moments = rng.normal(size=(5, basis.size))
    expected = cumulants_from_moments(moments, basis)
    expected[..., basis.offsets[min(3, max_order + 1)] :] = 0.0
    np.testing.assert_array_equal(_gaussian_cumulants(moments, basis), expected)
