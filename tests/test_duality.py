"""Dual theories (PHYSICS.md A.5): the Fourier-feature net, the complex net and the Cos-doublet,
compare_models, internal O(2) invariance, and `nnqft compare`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import K_SIGMA, max_deviation

from models import complex_net, cos_doublet_net, cos_net, fourier_net, gauss_net
from nnqft_ppl import sample
from nnqft_ppl.axioms import internal_rotation_invariance
from nnqft_ppl.cli import main
from nnqft_ppl.duality import DUAL_PAIRS, compare_models, compare_pair
from nnqft_ppl.theory import predict

PLANE = np.array([[0.0, 0.0], [0.6, 0.2], [-0.3, 0.7]])
LINE = np.array([[0.0], [0.5], [1.0]])


def cos_type_closed_form(points, width, sigma_a, sigma_b, mu4_over_sigma_a4):
    """PHYSICS.md B.3/B.4 written out: G2 = sigma_a^2/2 e^{-sigma_b^2 r^2/2d} and
    G4c = sigma_a^4/(8N) (mu4/sigma_a^4 A - 2B) on the full (n, n, n, n) tensor."""
    n, d = points.shape

    def kernel(v):
        return np.exp(-(sigma_b**2) * np.sum(v**2, axis=-1) / (2 * d))

    x = points
    g2 = sigma_a**2 / 2 * kernel(x[:, None] - x[None, :])
    x1, x2, x3, x4 = x[:, None, None, None], x[None, :, None, None], x[None, None, :, None], x[None, None, None, :]
    a = kernel(x1 + x2 - x3 - x4) + kernel(x1 - x2 + x3 - x4) + kernel(x1 - x2 - x3 + x4)
    b = kernel(x1 - x2) * kernel(x3 - x4) + kernel(x1 - x3) * kernel(x2 - x4) + kernel(x1 - x4) * kernel(x2 - x3)
    return g2, sigma_a**4 / (8 * width) * (mu4_over_sigma_a4 * a - 2 * b)


def test_fourier_net_theory_is_the_closed_form_and_differs_from_cos_net_by_a():
    """G2 as Cos-net; G4c = sigma_a^4/(8N)(2A - 2B) vs Cos-net's (3A - 2B); zero at coincident points."""
    params = {"width": 7, "sigma_a": 1.3, "sigma_b": 0.8}
    fourier = predict(fourier_net.theory(**params), PLANE, (2, 4))
    cos = predict(cos_net.theory(**params), PLANE, (2, 4))
    g2, g4c = cos_type_closed_form(PLANE, 7, 1.3, 0.8, 2.0)
    _, cos_g4c = cos_type_closed_form(PLANE, 7, 1.3, 0.8, 3.0)
    assert np.allclose(fourier["G2"], g2, rtol=1e-12, atol=1e-14) and np.allclose(cos["G2"], g2, rtol=1e-12)
    assert np.allclose(fourier["G4c"], g4c, rtol=1e-12, atol=1e-14)
    assert np.allclose(cos["G4c"], cos_g4c, rtol=1e-12, atol=1e-14)
    assert abs(fourier["G4c"][1, 1, 1, 1]) < 1e-14  # phi(x) at one point is exactly Gaussian
    assert fourier_net.rayleigh_moment(6, 2.0) == pytest.approx(6 * 2.0**6)


def test_fourier_net_ensemble_matches_closed_form():
    """Brute-force networks (d = 2, N = 3) against B.3/B.4 with the Rayleigh amplitude moment mu4 = 2 sigma_a^4."""
    params = {"width": 3, "sigma_a": 1.3, "sigma_b": 0.8}
    dataset = sample("fourier_net", PLANE, n_nets=200_000, orders=(2, 4), params=params, seed=3, progress=False)
    g2, g4c = cos_type_closed_form(PLANE, 3, 1.3, 0.8, 2.0)
    assert max_deviation(dataset, "G2", g2) < K_SIGMA
    assert max_deviation(dataset, "G4c", g4c) < K_SIGMA
    # the test has power: Cos-net's G4c (3A - 2B) is excluded
    _, cos_g4c = cos_type_closed_form(PLANE, 3, 1.3, 0.8, 3.0)
    assert max_deviation(dataset, "G4c", cos_g4c) > 3 * K_SIGMA


def test_exact_engine_accepts_fourier_net_and_agrees_up_to_six_points():
    """Polar form r cos(b.x - psi): i.i.d. neurons in the contract; G6c tests mu6 = Gamma(4) sigma_a^6 = 6 sigma_a^6."""
    points = np.array([[0.0], [0.7]])
    dataset = sample(
        "fourier_net", points, method="neurons", n_nets=20_000, orders=(2, 4, 6), params={"width": 4}, progress=False
    )
    for name in ("G2", "G4c", "G6c"):
        assert max_deviation(dataset, name) < K_SIGMA, name


def test_gauss_net_matching_has_cos_net_two_point_function_and_not_its_four_point_function():
    """A.5 item 1 on gauss_net's line sigma_a = sqrt(2) sigma_w, no biases: equal G2 in d = 1..3 analytically."""
    rng = np.random.default_rng(7)
    for d in (1, 2, 3):
        points = rng.uniform(-0.5, 0.5, size=(3, d))
        pair = DUAL_PAIRS["cos-gauss"]
        cos = predict(cos_net.theory(**{**pair.params_a, "d": d}), points, (2, 4))
        gauss = predict(gauss_net.theory(**{**pair.params_b, "d": d}), points, (2, 4))
        assert np.allclose(cos["G2"], gauss["G2"], rtol=1e-12)
        assert np.max(np.abs(cos["G4c"] - gauss["G4c"])) > 0.1
    origin = np.zeros((1, 1))
    cos = predict(cos_net.theory(**DUAL_PAIRS["cos-gauss"].params_a), origin, (4,))["G4c"]
    gauss = predict(gauss_net.theory(**DUAL_PAIRS["cos-gauss"].params_b), origin, (4,))["G4c"]
    assert cos[0, 0, 0, 0] == pytest.approx(3 * math.sqrt(2) ** 4 / (8 * 3)) and abs(gauss[0, 0, 0, 0]) < 1e-12


def _verdicts(comparison):
    return {(c.name, c.subject): c for c in comparison.checks}


@pytest.mark.filterwarnings("ignore::nnqft_ppl.HeavyTailWarning")
def test_cos_gauss_pair_equal_g2_different_g4c_and_symmetries():
    """Cos-net: E(d) at N = 3; Gauss-net: translations break it, rotations/reflections about the origin do not.

    Translated away from the origin, Gauss-net's log-normal neurons have heavy-tailed fourth
    moments (B.2; warned about): the breaking is confirmed by the exact correlators (theory > K_SIGMA).
    """
    comparison = compare_pair("cos-gauss", n_nets=50_000, n_transforms=2, seed=0, progress=False)
    checks = _verdicts(comparison)
    assert checks["G2 equal", "a-b"].verdict == "equal within errors" and checks["G2 equal", "a-b"].theory < 1e-9
    g4c = checks["G4c differ", "a-b"]
    assert g4c.verdict == "differ" and g4c.theory > K_SIGMA
    assert checks["G4c difference vs theory", "a-b"].verdict == "agrees with the theories"
    assert checks["E(d) invariance", "a"].verdict == "invariant within errors"
    broken = checks["E(d) invariance", "b"]
    assert broken.verdict == "broken" and broken.theory > K_SIGMA
    assert checks["O(d) invariance", "b"].verdict == "invariant within errors"
    assert comparison.symmetry("a") == "E(d)" and comparison.symmetry("b") == "O(d) only"


def test_cos_fourier_pair_equal_g2_different_g4c_both_euclidean_invariant():
    comparison = compare_pair("cos-fourier", n_nets=50_000, n_transforms=2, seed=5, progress=False)
    checks = _verdicts(comparison)
    assert checks["G2 equal", "a-b"].verdict == "equal within errors"
    g4c = checks["G4c differ", "a-b"]
    assert g4c.verdict == "differ" and g4c.theory > K_SIGMA
    assert checks["G4c difference vs theory", "a-b"].verdict == "agrees with the theories"
    assert comparison.symmetry("a") == comparison.symmetry("b") == "E(d)"


def test_models_that_are_not_dual_are_told_apart():
    """Cos-net at two different sigma_b: G2 differs, and the theory column predicted it."""
    comparison = compare_models(
        "cos_net",
        "cos_net",
        [[0.0], [1.0]],
        params_a={"width": 3, "sigma_b": 1.0},
        params_b={"width": 3, "sigma_b": 2.0},
        n_nets=20_000,
        symmetries=False,
        progress=False,
    )
    g2 = comparison.get("G2 equal")
    assert g2.verdict == "differ" and g2.theory > K_SIGMA


def test_compare_command_round_trip(tmp_path, capsys):
    record_path = tmp_path / "compare.json"
    arguments = ["compare", "--pair", "cos-fourier", "--set-b", "width=4", "--nets", "20000", "--no-symmetries"]
    assert main(arguments + ["--json", str(record_path)]) == 0
    record = json.loads(record_path.read_text())
    assert record["pair"] == "cos-fourier" and (record["model_a"], record["model_b"]) == ("cos_net", "fourier_net")
    assert record["params_b"] == {"width": 4, "d": 1, "sigma_a": math.sqrt(2), "sigma_b": 1.0}
    assert record["points"] == DUAL_PAIRS["cos-fourier"].points(1).tolist() and record["nets"] == 20_000
    assert [(c["name"], c["verdict"]) for c in record["checks"]] == [
        ("G2 equal", "equal within errors"),
        ("G4c differ", "differ"),
        ("G4c difference vs theory", "agrees with the theories"),
    ]
    run = record["runs"]["b"]
    assert run["model"] == "fourier_net" and set(run["correlators"]) == {"G2", "G4", "G4c"} == set(run["theory"])
    assert np.array(run["correlators"]["G4c"]["mean"]).shape == (3, 3, 3, 3)
    out = capsys.readouterr().out
    assert "G4c differ" in out and "dual at infinite width" in out

    assert main(["compare", "cos_net", "fourier_net", "--points", "-0.5;0.5", "--nets", "2000", "--quiet"]) == 0


# --------------------------------------------------------------------------
# A.5 item 3: complex net (O(2) at every N) vs two independent Cos-nets (quarter turns)
# --------------------------------------------------------------------------

ANGLE = 2.1  # a generic direction of the doublet: cos^4 + sin^4 = 0.62 there


def doublet_factor(angle):
    """cos^4 + sin^4 = 1 - sin^2(2 angle)/2: the Cos-doublet's G4c relative to one Cos-net's."""
    return math.cos(angle) ** 4 + math.sin(angle) ** 4


def test_complex_net_and_cos_doublet_theories_are_the_closed_forms():
    """Complex net: Fourier-feature net's 2A - 2B at every angle; Cos-doublet: (cos^4 + sin^4)(3A - 2B),
    half of one Cos-net's at pi/4, all of it at the quarter turns; G2 the same for both at every angle."""
    params = {"width": 7, "sigma_a": 1.3, "sigma_b": 0.8}
    g2, fourier_g4c = cos_type_closed_form(PLANE, 7, 1.3, 0.8, 2.0)
    _, cos_g4c = cos_type_closed_form(PLANE, 7, 1.3, 0.8, 3.0)
    for angle in (0.0, math.pi / 4, ANGLE, math.pi, -4.0):
        complex_ = predict(complex_net.theory(**params, angle=angle), PLANE, (2, 4))
        doublet = predict(cos_doublet_net.theory(**params, angle=angle), PLANE, (2, 4))
        for theory in (complex_, doublet):
            assert np.allclose(theory["G2"], g2, rtol=1e-12, atol=1e-14)
        assert np.allclose(complex_["G4c"], fourier_g4c, rtol=1e-12, atol=1e-14)
        assert np.allclose(doublet["G4c"], doublet_factor(angle) * cos_g4c, rtol=1e-12, atol=1e-14)
    half = predict(cos_doublet_net.theory(**params, angle=math.pi / 4), PLANE, (4,))["G4c"]
    assert np.allclose(half, cos_g4c / 2, rtol=1e-12, atol=1e-14)
    quarter = predict(cos_doublet_net.theory(**params, angle=3 * math.pi / 2), PLANE, (4,))["G4c"]
    assert np.allclose(quarter, cos_g4c, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("model", ["complex_net", "cos_doublet_net"])
def test_complex_net_and_cos_doublet_ensembles_match_their_theories(model):
    """Brute-force networks (d = 2, N = 3, a generic angle) against the closed forms, with power:
    the other model's G4c at that angle is excluded."""
    params = {"width": 3, "sigma_a": 1.3, "sigma_b": 0.8, "angle": ANGLE}
    dataset = sample(model, PLANE, n_nets=200_000, orders=(2, 4), params=params, seed=4, progress=False)
    g2, fourier_g4c = cos_type_closed_form(PLANE, 3, 1.3, 0.8, 2.0)
    _, cos_g4c = cos_type_closed_form(PLANE, 3, 1.3, 0.8, 3.0)
    doublet_g4c = doublet_factor(ANGLE) * cos_g4c
    g4c, other = (fourier_g4c, doublet_g4c) if model == "complex_net" else (doublet_g4c, fourier_g4c)
    assert max_deviation(dataset, "G2", g2) < K_SIGMA
    assert max_deviation(dataset, "G4c", g4c) < K_SIGMA
    assert max_deviation(dataset, "G4c", other) > 2 * K_SIGMA


@pytest.mark.parametrize("model", ["complex_net", "cos_doublet_net"])
def test_exact_engine_accepts_complex_net_and_cos_doublet(model):
    """Polar form |a| cos(b.x + arg a - angle), and the pair of Cos-net neurons with "a" = 1: i.i.d. neurons."""
    points = np.array([[0.0], [0.7]])
    params = {"width": 4, "angle": ANGLE}
    dataset = sample(model, points, method="neurons", n_nets=20_000, orders=(2, 4, 6), params=params, progress=False)
    for name in ("G2", "G4c", "G6c"):
        assert max_deviation(dataset, name) < K_SIGMA, name


DOUBLET = {"width": 3, "sigma_a": math.sqrt(2), "sigma_b": 1.0}  # the complex-doublet pair's matching
PAIR_SEED = 8  # compare_pair seeds: the doublet's random internal angle is 2.30 (sin^2 2 angle = 0.99)


def test_complex_net_is_o2_invariant_at_finite_width():
    """A random internal rotation (the pair test's angle for model a: the compiled run is reused); theory column 0."""
    check = internal_rotation_invariance(
        "complex_net", LINE, n_angles=1, seed=PAIR_SEED + 6, params=DOUBLET, n_nets=200_000, progress=False
    )
    assert check.axiom == "O(2) invariance" and check.verdict == "invariant within errors"
    assert check.theory == 0.0 and "random rotations by 5.221" in check.detail


def test_cos_doublet_is_not_o2_invariant_at_finite_width():
    """A random rotation (the pair test's angle for model b) changes its G4c, by far: the theory
    column (the exact difference in standard errors) says so too."""
    random = internal_rotation_invariance(
        "cos_doublet_net", LINE, n_angles=1, seed=PAIR_SEED + 14, params=DOUBLET, n_nets=200_000, progress=False
    )
    assert random.axiom == "O(2) invariance" and random.verdict == "broken" and random.theory > 2 * K_SIGMA


def test_cos_doublet_g4c_halves_at_an_eighth_turn():
    """At pi/4, G4c is (cos^4 + sin^4) = 1/2 of that at angle 0: broken by far, as the theory column says."""
    eighth = internal_rotation_invariance(
        "cos_doublet_net", LINE, angles=[math.pi / 4], params=DOUBLET, n_nets=200_000, seed=3, progress=False
    )
    assert eighth.axiom == "invariance at given angles" and eighth.verdict == "broken" and eighth.theory > 2 * K_SIGMA


def test_cos_doublet_is_quarter_turn_invariant_at_finite_width():
    """phi_1 -> phi_2 -> -phi_1: the Cos-doublet keeps the square's rotations (theory column 0)."""
    quarter = internal_rotation_invariance(
        "cos_doublet_net", LINE, angles=[math.pi / 2, -math.pi], params=DOUBLET, n_nets=200_000, seed=5, progress=False
    )
    assert quarter.axiom == "quarter-turn invariance" and quarter.verdict == "invariant within errors"
    assert quarter.theory < 1e-9 and "rotations by 1.571, -3.142" in quarter.detail


def test_complex_doublet_pair_equal_g2_different_g4c_and_internal_symmetries():
    """At angle 0: Re(Phi) vs one Cos-net, G4c 2A - 2B vs 3A - 2B; both E(d); O(2) vs quarter turns."""
    comparison = compare_pair("complex-doublet", n_nets=200_000, n_transforms=1, seed=PAIR_SEED, progress=False)
    checks = _verdicts(comparison)
    assert checks["G2 equal", "a-b"].verdict == "equal within errors" and checks["G2 equal", "a-b"].theory < 1e-9
    g4c = checks["G4c differ", "a-b"]
    assert g4c.verdict == "differ" and g4c.theory > 2 * K_SIGMA
    assert checks["G4c difference vs theory", "a-b"].verdict == "agrees with the theories"
    broken = checks["O(2) invariance", "b"]
    assert broken.verdict == "broken" and broken.theory > 2 * K_SIGMA
    for name, subject in (("O(2) invariance", "a"), ("quarter-turn invariance", "a"), ("quarter-turn invariance", "b")):
        assert checks[name, subject].verdict == "invariant within errors", (name, subject)
    assert comparison.symmetry("a") == "E(d), O(2)" and comparison.internal_symmetry("a") == "O(2)"
    assert comparison.symmetry("b") == "E(d), only quarter turns (discrete)"
    summary = comparison.table().splitlines()[-1]
    assert "complex_net: E(d), O(2)" in summary and "cos_doublet_net: E(d), only quarter turns (discrete)" in summary


def test_compare_command_complex_doublet_pair(capsys):
    """The pair is named on the command line (200000 networks: the runs compiled above are reused)."""
    assert main(["compare", "--pair", "complex-doublet", "--nets", "200000", "--no-symmetries"]) == 0
    out = capsys.readouterr().out
    assert "complex_net vs cos_doublet_net" in out and "dual at infinite width" in out


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: internal_rotation_invariance("cos_net", LINE), ValueError, "cos_net has no 'angle' hyperparameter"),
        (lambda: internal_rotation_invariance("complex_net", LINE, n_angles=0), ValueError, "n_angles must be"),
        (
            lambda: internal_rotation_invariance("complex_net", LINE, angles=[]),
            ValueError,
            "angles must be a non-empty",
        ),
        (lambda: internal_rotation_invariance("complex_net", LINE, angles=[np.nan]), ValueError, "finite numbers"),
        (lambda: sample("complex_net", LINE, params={"sigma_a": 0.0}), ValueError, "sigma_a must be > 0"),
        (lambda: complex_net.theory(angle=None), TypeError, "angle must be a number"),
        (lambda: cos_doublet_net.theory(angle=math.inf), ValueError, "angle must be finite"),
    ],
)
def test_internal_symmetry_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["compare", "--pair", "cos-complex"], "unknown dual pair 'cos-complex'"),
        (["compare", "cos_net", "--pair", "cos-gauss"], "--pair fixes the models"),
        (["compare", "cos_net"], "compare needs MODEL_A and MODEL_B"),
        (["compare", "cos_net", "fourier_net", "--set-a", "sigma_w=1"], "unknown hyperparameter 'sigma_w'"),
        (["compare", "cos_net", "gauss_net", "--set-b", "width"], "--set expects KEY=VALUE"),
        (["compare", "cos_net", "fourier_net", "--points", "0;1", "--d", "2"], "--d 2 contradicts the points"),
        (["compare", "--pair", "cos-gauss", "--d", "0"], "d must be a positive integer"),
        (["compare", "--pair", "cos-gauss", "--nets", "0"], "number of networks must be a positive integer"),
        (["compare", "--pair", "cos-gauss", "--transforms", "0"], "n_transforms must be a positive integer"),
        (["compare", "--pair", "cos-gauss", "--method", "mcmc"], "invalid choice"),
    ],
)
def test_compare_command_bad_input(arguments, message, capsys):
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("nnqft: error:")
