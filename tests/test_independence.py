"""Independence breaking (PHYSICS.md §1.4, A.6.2, D.1): the shared-scale net and the I_IB estimator.

- closed forms: the scale-mixture moments against scipy, the shared-scale theory against
  G4c = (1+v) G4c_cos + v [GG] and D.1's I_IB = (N-1)/N delta sum_pairings E[hh]E[hh];
- statistics: the ensemble and the product-of-marginals estimator against the exact theory
  (|measured - theory| < K_SIGMA standard errors, fixed seeds), at N = 2 and N = 200: the
  1/N part G4c|P_perp shrinks, I_IB stays ~ v [GG]; zero I_IB for i.i.d. neurons;
- structure: the cyclic shift draws every neuron from a different network, the networks
  under P are the ensemble's, the exact engine refuses dependent neurons, bad input is named.
"""

import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from helpers import K_SIGMA, max_deviation
from scipy import stats

import nnqft_ppl as nn
from models import cos_net, shared_scale_net
from nnqft_ppl.independence import networks_per_chunk
from nnqft_ppl.theory import ScaleMixtureTheory, gamma_scale_moment, predict

POINTS = [[0.0], [0.8]]
NAMES = ("G2", "G2_perp", "G4c", "G4c_perp", "I_IB")


def wick_sum(G2: np.ndarray) -> np.ndarray:
    """[GG]_{ijkl} = G_ij G_kl + G_ik G_jl + G_il G_jk."""
    outer = np.einsum("ij,kl->ijkl", G2, G2)
    return outer + outer.transpose(0, 2, 1, 3) + outer.transpose(0, 3, 2, 1)


# --------------------------------------------------------------------------
# Closed forms
# --------------------------------------------------------------------------


@pytest.mark.parametrize("variance", [0.0, 0.3, 1.0, 2.5])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 6])
def test_gamma_scale_moment_matches_scipy(k, variance):
    """E[s^k] = E[(s^2)^{k/2}] for s^2 ~ Gamma(shape 1/v, scale v), by scipy quadrature; 1 for v = 0."""
    expected = 1.0 if variance == 0 else stats.gamma(1 / variance, scale=variance).expect(lambda y: y ** (k / 2))
    assert gamma_scale_moment(k, variance) == pytest.approx(expected, rel=1e-8)


def test_gamma_scale_moment_rejects_negative_variance():
    with pytest.raises(ValueError, match="scale variance must be a number >= 0"):
        gamma_scale_moment(2, -0.1)


@pytest.mark.parametrize("width", [1, 3, 1000])
def test_shared_scale_theory_is_cos_net_plus_independence_breaking(width):
    """G2 = G2_cos; G4c = (1+v) G4c_cos + v [GG] exactly; G4c - G4c|P_perp = (N-1)/N delta sum E[hh]E[hh] (D.1)."""
    d, sigma_a, sigma_b, variance = 2, 1.3, 0.8, 0.7
    points = np.random.default_rng(7).normal(size=(4, d))
    params = {"width": width, "d": d, "sigma_a": sigma_a, "sigma_b": sigma_b}
    theory = shared_scale_net.theory(scale_variance=variance, **params)
    mixed = predict(theory, points, (2, 4))
    cos = predict(cos_net.theory(**params), points, (2, 4))
    np.testing.assert_allclose(mixed["G2"], cos["G2"], rtol=1e-12)
    np.testing.assert_allclose(mixed["G4c"], (1 + variance) * cos["G4c"] + variance * wick_sum(cos["G2"]), atol=1e-12)
    # D.1 with E[h h] written out (PHYSICS.md B.3) and delta = E[a_i^2 a_j^2] N^2 - mu_2^2 = v sigma_a^4
    squared = np.sum((points[:, None] - points[None]) ** 2, axis=-1)
    neuron_pairs = np.exp(-(sigma_b**2) * squared / (2 * d)) / 2
    delta = variance * sigma_a**4
    independence_breaking = (width - 1) / width * delta * wick_sum(neuron_pairs)
    product = predict(theory.product_of_marginals(), points, (2, 4))
    np.testing.assert_allclose(product["G2"], cos["G2"], rtol=1e-12)
    np.testing.assert_allclose(mixed["G4c"] - product["G4c"], independence_breaking, atol=1e-12)
    # the 1/N part: i.i.d. neurons with weight moments mu_4 = E[s^4] 3 sigma_a^4 (PHYSICS.md §1.2)
    np.testing.assert_allclose(
        product["G4c"],
        cos["G4c"] + 3 * variance * sigma_a**4 / width * predict_neuron_four(points, sigma_b),
        atol=1e-12,
    )


def predict_neuron_four(points: np.ndarray, sigma_b: float) -> np.ndarray:
    """E[h_1 h_2 h_3 h_4] of a Cos-net neuron: 1/8 sum over the three zero-sum sign patterns (PHYSICS.md B.3)."""
    d = points.shape[1]
    x = points
    total = 0.0
    for signs in ((1, 1, -1, -1), (1, -1, 1, -1), (1, -1, -1, 1)):
        v = (
            signs[0] * x[:, None, None, None]
            + signs[1] * x[None, :, None, None]
            + signs[2] * x[None, None, :, None]
            + signs[3] * x[None, None, None, :]
        )
        total = total + np.exp(-(sigma_b**2) * np.sum(v**2, axis=-1) / (2 * d))
    return total / 8


def test_zero_scale_variance_is_cos_net():
    points = np.array([[0.0], [0.5], [1.2]])
    theory = shared_scale_net.theory(width=5, scale_variance=0.0)
    cos = predict(cos_net.theory(width=5), points, (2, 4))
    for result in (predict(theory, points, (2, 4)), predict(theory.product_of_marginals(), points, (2, 4))):
        np.testing.assert_allclose(result["G4c"], cos["G4c"], atol=1e-14)
    assert "s2" not in numpyro.handlers.trace(numpyro.handlers.seed(shared_scale_net.shared_scale_net, 0)).get_trace(
        jnp.zeros((1, 1)), width=3, scale_variance=0.0
    )


def test_product_of_marginals_needs_a_bias_free_finite_width_base():
    theory = ScaleMixtureTheory.gamma(nn.get_model("erf_net").theory(width=3), 0.5)  # Erf-net has an output bias
    with pytest.raises(ValueError, match="without bias"):
        theory.product_of_marginals()


# --------------------------------------------------------------------------
# Monte Carlo against the exact theory
# --------------------------------------------------------------------------


def test_shared_scale_ensemble_matches_exact_theory():
    """Brute-force ensemble: G2 = G2_cos, G4c = (1+v) G4c_cos + v [GG], resolved (width 3, v = 0.5)."""
    dataset = nn.sample_ensemble("shared_scale_net", [[0.0], [0.5], [1.2]], n_nets=200_000, params={"width": 3})
    for name in ("G2", "G4", "G4c"):
        assert max_deviation(dataset, name) < K_SIGMA, name
    assert np.min(np.abs(dataset["G4c_theory"].values) / dataset["G4c_stderr"].values) > 8


@pytest.mark.parametrize("width", [2, 200])
def test_independence_breaking_survives_infinite_width(width):
    """N = 2 and N = 200 (v = 0.5): every measured quantity within K_SIGMA of the exact theory, and
    I_IB = (N-1)/N v [GG] resolved at both widths; the 1/N part G4c|P_perp is resolved at N = 2 and has
    fallen below a tenth of its N = 2 value at N = 200 (theory: by 1/100)."""
    dataset = nn.independence_breaking(
        "shared_scale_net", POINTS, params={"width": width}, n_nets=100_000, seed=3, n_blocks=20
    )
    for name in NAMES:
        assert max_deviation(dataset, name) < K_SIGMA, name
    wick = wick_sum(dataset["G2_theory"].values)
    np.testing.assert_allclose(dataset["I_IB_theory"].values, (width - 1) / width * 0.5 * wick, rtol=1e-12)
    at_origin = dataset.isel(p1=0, p2=0, p3=0, p4=0)
    assert float(at_origin["I_IB"]) > K_SIGMA * float(at_origin["I_IB_stderr"])
    perp, perp_stderr = float(at_origin["G4c_perp"]), float(at_origin["G4c_perp_stderr"])
    if width == 2:
        assert perp > K_SIGMA * perp_stderr
    else:
        perp_at_two = predict(shared_scale_net.theory(width=2).product_of_marginals(), POINTS, (4,))["G4c"][0, 0, 0, 0]
        assert abs(perp) + K_SIGMA * perp_stderr < 0.1 * perp_at_two


def test_independent_neurons_break_no_independence():
    """Cos-net (i.i.d. neurons): P_perp = P, so I_IB = 0 and G4c|P_perp = G4c within errors."""
    dataset = nn.independence_breaking("cos_net", POINTS, params={"width": 4}, n_nets=100_000, seed=4, n_blocks=20)
    np.testing.assert_array_equal(dataset["I_IB_theory"].values, 0.0)
    for name in NAMES:
        assert max_deviation(dataset, name) < K_SIGMA, name
    assert np.min(dataset["G4c_theory"].values / dataset["G4c_perp_stderr"].values) > 8


def common_mode_net(x, width=300):
    """Every neuron carries one network-level z: phi = sum_i (z/N) * 1 + z = 2z, so G2 = 4, while a field
    assembled from N + 1 different networks has G2 = N (1/N)^2 + 1 = 1 + 1/N."""
    z = numpyro.sample("z", dist.Normal(0.0, 1.0))
    with numpyro.plate("neurons", width):
        a = numpyro.sample("a", dist.Normal(z / width, 1e-6))
    h = numpyro.deterministic("h", jnp.ones((x.shape[0], width)))
    numpyro.deterministic("phi", h @ a + z)


def test_cyclic_shift_draws_every_neuron_from_another_network():
    """Width 300 (chunks of C = 512 networks, two key chunks each): G2_perp = 1 + 1/N, not 4; the networks
    under P are those of sample_ensemble with the same seed, so G2 agrees with it to rounding."""
    assert networks_per_chunk(300) == 512
    dataset = nn.independence_breaking(common_mode_net, [[0.0]], n_nets=4096, seed=5)
    assert dataset.attrs["chunk"] == 512 and dataset.attrs["n_blocks"] == 8
    perp, perp_stderr = float(dataset["G2_perp"][0, 0]), float(dataset["G2_perp_stderr"][0, 0])
    assert abs(perp - (1 + 1 / 300)) < K_SIGMA * perp_stderr and perp_stderr < 0.05
    ensemble = nn.sample_ensemble(common_mode_net, [[0.0]], n_nets=4096, orders=2, seed=5)
    np.testing.assert_allclose(dataset["G2"].values, ensemble["G2"].values, rtol=1e-5)
    assert abs(float(dataset["G2"][0, 0]) - 4) < K_SIGMA * float(dataset["G2_stderr"][0, 0])


@pytest.mark.parametrize(
    "width, expected", [(1, 256), (255, 256), (256, 512), (511, 512), (512, 1024), (1000, 1024), (1024, 2048)]
)
def test_networks_per_chunk_exceeds_the_width(width, expected):
    assert networks_per_chunk(width) == expected


# --------------------------------------------------------------------------
# Refusals and bad input
# --------------------------------------------------------------------------


def test_exact_engine_refuses_dependent_neurons():
    with pytest.raises(ValueError, match=r"neuron sites \['a'\] depend on network-level sites \['s2'\]"):
        nn.sample("shared_scale_net", POINTS, method="neurons", n_nets=256, params={"width": 3})


def _field_only(x, width=3):
    numpyro.deterministic("phi", x[:, 0])


def _deformed(x, width=3):
    nn.nets.linear_readout(nn.nets.cos_neurons(x, width, 1.0), 1.0)
    numpyro.factor("deformation", -1.0)


def _no_width(x, sigma=1.0):
    nn.nets.linear_readout(nn.nets.cos_neurons(x, 3, sigma), 1.0)


@pytest.mark.parametrize(
    "model, options, error, message",
    [
        ("shared_scale_net", {"params": {"scale_variance": -0.5}}, ValueError, "scale_variance must be >= 0"),
        ("shared_scale_net", {"params": {"sigma_a": None}}, TypeError, "sigma_a must be a number"),
        ("shared_scale_net", {"params": {"widht": 3}}, ValueError, "unknown hyperparameter 'widht'"),
        ("shared_scale_net", {"n_nets": 200}, ValueError, r"only one chunk of 256 networks.*n_nets >= 512"),
        ("shared_scale_net", {"n_nets": 0}, ValueError, "positive integer"),
        ("shared_scale_net", {"n_blocks": 1}, ValueError, "n_blocks must be an integer >= 2"),
        ("shared_scale_net", {"seed": -1}, ValueError, "seed"),
        ("shared_scale_net", {"points": [[0.0], [math.nan]]}, ValueError, "NaN or inf"),
        ("shared_scale_net", {"points": [[0.0, 1.0]], "params": {"d": 1}}, ValueError, "dimension mismatch"),
        (_field_only, {}, ValueError, "must record neurons"),
        (_deformed, {}, ValueError, r"factor/observed sites \['deformation'\]"),
        (_no_width, {}, ValueError, "no width hyperparameter"),
        (3, {}, TypeError, "model must be a name"),
    ],
)
def test_independence_breaking_rejects_bad_input(model, options, error, message):
    options = {"points": POINTS, "n_nets": 1024, **options}
    with pytest.raises(error, match=message):
        nn.independence_breaking(model, options.pop("points"), **options)
