"""The local quartic coupling, its six-point prediction and its cutoff flow (PHYSICS.md E.4, B.8, H.1)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from helpers import K_SIGMA
from scipy import special

from models import gauss_net, relu_net
from nnqft_ppl.cli import main
from nnqft_ppl.combinatorics import pairings, unique_tuples
from nnqft_ppl.coupling import (
    HMS20_CUTOFFS,
    flow_slope_prediction,
    kernel_degree,
    quartic_coupling,
    vertex_integrals,
)
from nnqft_ppl.presets import COUPLING_PRESETS, get_preset
from nnqft_ppl.theory import relu_kernel

RELU_POINTS = np.array([[0.2], [0.4], [0.6], [0.8], [1.0], [1.2]])  # HMS20's ReLU inputs (PHYSICS.md H.1)
MIXED_POINTS = np.array([[-1.0], [0.3], [0.7], [1.5]])  # both half-lines contribute to T_L


def test_vertex_integral_of_bias_free_relu_is_the_homogeneous_closed_form():
    """sigma_b = 0: K_EFT(z, x) = |z| K(sign z, x), so T_L = 24 L^5/5 [prod_i K(1, x_i) + prod_i K(-1, x_i)]."""
    theory = relu_net.theory(width=20, d=1, sigma_w=1.3, sigma_b=0.0)
    cutoffs = np.array([0.5, 7.0, 300.0])
    values, errors = vertex_integrals(theory, MIXED_POINTS, cutoffs)
    unit = relu_kernel(np.vstack([[[1.0], [-1.0]], MIXED_POINTS]), 1.3, 0.0)[:2, 2:]  # K(+-1, x_i)
    tuples = unique_tuples(len(MIXED_POINTS), 4)
    expected = 24 * cutoffs[:, None] ** 5 / 5 * (np.prod(unit[0, tuples], -1) + np.prod(unit[1, tuples], -1))
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert np.all(errors <= 1e-12 * np.abs(values).max(axis=1, keepdims=True))


def test_vertex_integral_of_gauss_kernel_is_the_gaussian_integral():
    """K_EFT = s^2 exp(-s^2 (z - x)^2 / 2) in d = 1: prod_i K_EFT = s^8 exp(-s^2 V / 2) exp(-2 s^2 (z - m)^2)
    with m the mean of the four points and V their sum of squared deviations; the z-integral is two erfs."""
    sigma_w = 1.2
    points = np.array([[-0.5], [0.0], [0.4], [1.1]])
    cutoffs = np.array([0.3, 2.0, 50.0])
    values, _ = vertex_integrals(gauss_net.theory(width=5, d=1, sigma_w=sigma_w, sigma_b=0.3), points, cutoffs)
    xs = points[unique_tuples(4, 4)][..., 0]
    mean, spread = xs.mean(axis=1), np.sum((xs - xs.mean(axis=1, keepdims=True)) ** 2, axis=1)
    a = 2 * sigma_w**2
    integral = (
        0.5
        * np.sqrt(np.pi / a)
        * (special.erf(np.sqrt(a) * (cutoffs[:, None] - mean)) + special.erf(np.sqrt(a) * (cutoffs[:, None] + mean)))
    )
    expected = 24 * sigma_w**8 * np.exp(-(sigma_w**2) * spread / 2) * integral
    np.testing.assert_allclose(values, expected, rtol=1e-10)


@pytest.mark.parametrize("d", [1, 2])
def test_bias_free_relu_flow_slope_is_minus_d_plus_four(d):
    """Homogeneity of degree p = 1 gives T_L ~ L^{d+4} exactly, between any two cutoffs."""
    theory = relu_net.theory(width=20, d=d, sigma_b=0.0)
    points = RELU_POINTS if d == 1 else np.array([[0.5, 1.0], [1.0, 0.5], [-1.0, 0.2]])
    assert kernel_degree(theory, points, 1e3) == pytest.approx(1.0, abs=1e-12)
    assert flow_slope_prediction(1.0, d) == -(d + 4)
    cutoffs = np.array([0.7, 7.0, 70.0])
    values, _ = vertex_integrals(theory, points, cutoffs)
    used = np.all(values > 0, axis=0)
    local_slopes = np.diff(np.log(values[:, used]), axis=0) / np.diff(np.log(cutoffs))[:, None]
    np.testing.assert_allclose(local_slopes, d + 4, rtol=1e-8)


def test_flow_slope_with_biases_tends_to_the_homogeneous_value():
    """sigma_b = 1: K_EFT(s z, x) = s K_0(z, x) + O(1), so d ln T_L / d ln L -> d + 4 = 5 as L grows,
    with the deviation falling like 1/L."""
    theory = relu_net.theory(width=20, d=1, sigma_b=1.0)
    cutoffs = np.array([1e2, 1.1e2, 1e4, 1.1e4])
    values, _ = vertex_integrals(theory, RELU_POINTS, cutoffs)
    local = np.log(values[1::2] / values[::2]) / np.log(1.1)  # two local slopes per tuple
    deviation = np.abs(local - 5).max(axis=1)
    assert deviation[1] < 1e-3
    assert deviation[1] < 0.03 * deviation[0]  # ~ 100x smaller at 100x the cutoff
    assert kernel_degree(theory, RELU_POINTS, 1e5) == pytest.approx(1.0, abs=1e-4)


def test_decaying_kernel_gives_a_convergent_integral_and_zero_slope():
    theory = gauss_net.theory(width=5, d=1, sigma_b=1.0)
    points = 0.01 * RELU_POINTS
    assert kernel_degree(theory, points, 1e3) == -np.inf
    assert flow_slope_prediction(-np.inf, 1) == 0.0
    values, _ = vertex_integrals(theory, points, [1e2, 1e4])
    np.testing.assert_allclose(values[1], values[0], rtol=1e-12)


@pytest.fixture(scope="module", params=["ensemble", "neurons"])
def relu_coupling(request):
    n_nets = 60_000 if request.param == "ensemble" else 5_000
    return quartic_coupling(
        "relu_net",
        RELU_POINTS,
        width=20,
        cutoffs=(10.0, 100.0, 1e3),
        n_nets=n_nets,
        method=request.param,
        seed=5,
        progress=False,
    )


def test_fitted_coupling_matches_the_exact_finite_width_value(relu_coupling):
    """lambda_m from the measured Delta G4 against the same fit of the exact G4c (formula vs Monte Carlo)."""
    deviation = (relu_coupling["lambda_m"] - relu_coupling["lambda_m_theory"]) / relu_coupling["lambda_m_stderr"]
    assert np.all(np.abs(deviation.values) < K_SIGMA)
    assert np.all(relu_coupling["lambda_m_stderr"].values < 0.3 * np.abs(relu_coupling["lambda_m_theory"].values))


def test_six_point_eft_error_matches_its_exact_value(relu_coupling):
    """The share of G6 - G6_GP the local EFT misses, measured (jackknife error) against exact G6 and G4c."""
    measured, exact = relu_coupling["six_point_eft_error"], relu_coupling["six_point_eft_error_theory"]
    assert np.all(np.abs(measured - exact).values < K_SIGMA * relu_coupling["six_point_eft_error_stderr"].values)


def test_fitted_flow_slope_is_the_homogeneity_prediction(relu_coupling):
    attrs = relu_coupling.attrs
    assert attrs["kernel_degree"] == pytest.approx(1.0) and attrs["flow_slope_predicted"] == -5.0
    assert abs(attrs["flow_slope"] - attrs["flow_slope_predicted"]) < K_SIGMA * attrs["flow_slope_stderr"]
    assert attrs["flow_r2"] == pytest.approx(1.0, abs=1e-12)


def test_six_point_eft_is_the_sum_over_fifteen_splittings(relu_coupling):
    """G6_EFT(x_1..x_6) = sum_{15 pairings} KKK + sum_{15 pairs (ab)} K_ab lambda_m T(rest), term by term."""
    kernel = relu_kernel(RELU_POINTS, 1.0, 0.0)
    four = {tuple(t): k for k, t in enumerate(unique_tuples(6, 4))}
    cut = 1
    vertex = relu_coupling["vertex_integral"].values[cut]
    coupling = float(relu_coupling["lambda_m_theory"][cut])
    six = unique_tuples(6, 6)
    expected = np.zeros(len(six))
    for row, t in enumerate(six):
        for pairing in pairings(6):
            expected[row] += np.prod([kernel[t[a], t[b]] for a, b in pairing])
        for a, b in itertools.combinations(range(6), 2):
            rest = tuple(sorted(t[k] for k in range(6) if k not in (a, b)))
            expected[row] += kernel[t[a], t[b]] * coupling * vertex[four[rest]]
    np.testing.assert_allclose(relu_coupling["G6_eft_theory"].values[cut], expected, rtol=1e-12)
    error = relu_coupling["six_point_eft_error_theory"].values
    assert np.all((error > 0) & (error < 1))  # the local EFT captures most, not all, of G6 - G6_GP


@pytest.mark.parametrize(
    "cutoffs, message",
    [([], "cutoffs"), ([10.0, -1.0], "cutoffs"), ([np.inf], "cutoffs"), ("ten", "cutoffs")],
)
def test_bad_cutoffs_are_refused(cutoffs, message):
    with pytest.raises(ValueError, match=message):
        vertex_integrals(relu_net.theory(width=5), RELU_POINTS, cutoffs)


def test_too_many_quadrature_nodes_are_refused_before_sampling():
    points = np.array([[1.0, 0.2, 0.2], [0.2, 1.0, 0.2]])
    with pytest.raises(ValueError, match="quadrature nodes"):
        quartic_coupling("relu_net", points, width=5, cutoffs=HMS20_CUTOFFS, n_nets=10**9)


def test_model_without_a_kernel_is_refused():
    from nnqft_ppl.nets import cos_neurons, linear_readout

    def kernel_free_net(x, width=5, d=1):
        return linear_readout(cos_neurons(x, width, 1.0), 1.0)

    with pytest.raises(ValueError, match="no theory"):
        quartic_coupling(kernel_free_net, RELU_POINTS, width=5, n_nets=10**9)


def test_coupling_command_writes_records_and_figures(tmp_path, capsys):
    out, record_path = tmp_path / "out", tmp_path / "coupling.json"
    arguments = ["coupling", "relu_net", "--points", "0.2;0.6;1.2", "--width", "20", "--cutoffs", "10,100,1000"]
    arguments += ["--nets", "6000", "--out", str(out), "--json", str(record_path)]
    assert main(arguments) == 0
    record = json.loads(record_path.read_text())
    assert record["cutoffs"] == [10.0, 100.0, 1000.0] and record["width"] == 20
    assert record["flow_slope_predicted"] == -5.0 and len(record["lambda_m"]) == 3
    assert {p.name for p in out.iterdir()} == {"relu_net.nc", "relu_net.png"}
    assert "large-L slope" in capsys.readouterr().out


def test_coupling_preset_has_the_hms20_cases():
    cases = get_preset("hms20", presets=COUPLING_PRESETS)
    assert [(case.model, case.params["width"]) for case in cases] == [
        ("relu_net", 20),
        ("erf_net", 5),
        ("gauss_net", 1000),
    ]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["coupling", "relu_net", "--points", "0.2", "--width", "5", "--cutoffs", "10,-1"], "cutoffs must be"),
        (["coupling", "relu_net", "--points", "0.2", "--width", "5", "--cutoffs", "10,x"], "comma-separated numbers"),
        (["coupling", "relu_net", "--points", "0.2"], "needs a MODEL, --width"),
        (["coupling", "relu_net", "--points", "0.2", "--width", "0"], "width must be a positive integer"),
        (["coupling", "--preset", "hms20", "--width", "5"], "--preset fixes"),
        (["coupling", "--preset", "nope"], "unknown preset"),
    ],
)
def test_coupling_command_bad_input(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
