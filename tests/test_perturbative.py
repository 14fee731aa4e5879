"""First-order perturbation theory of a local potential on a box (PHYSICS.md D.2, E.3)."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from scipy import special
from scipy.integrate import cubature

from nnqft_ppl.box import Box
from nnqft_ppl.registry import get_model
from nnqft_ppl.theory import (
    Propagator,
    RadialTable,
    first_order_correlators,
    gaussian_vertex_factor,
    mass_shift,
    model_propagator,
    predict,
    radial_fourier_transform,
)

MASS = 1.3
LAMBDA = 0.7


def exponential_propagator(mass: float = MASS) -> Propagator:
    """The Lambda -> infinity, d = 1 propagator e^{-m|t|}/2m: cauchy_net with sigma_a^2 = 1/m."""
    return model_propagator("cauchy_net", {"mass": mass, "sigma_a": 1 / math.sqrt(mass)})


def exponential_vertex(xs, mass: float, low: float = -np.inf, high: float = np.inf) -> float:
    """Exact int_low^high dz prod_i e^{-m|x_i - z|}: the exponent is linear between consecutive breakpoints."""
    xs = np.asarray(xs, dtype=np.float64)
    breaks = np.unique(np.concatenate([[low, high], xs[(xs > low) & (xs < high)]]))
    total = 0.0
    for a, b in zip(breaks[:-1], breaks[1:], strict=True):
        probe = (a + b) / 2 if np.isfinite(a + b) else (b - 1 if np.isfinite(b) else a + 1)
        slope = -mass * np.sum(np.sign(probe - xs))  # d/dz of -m sum_i |x_i - z|
        anchor = b if not np.isfinite(a) else a
        value = math.exp(-mass * np.sum(np.abs(xs - anchor)))
        if not np.isfinite(a):
            total += value / slope
        elif not np.isfinite(b):
            total += -value / slope
        else:
            total += value * (b - a) if slope == 0 else value * math.expm1(slope * (b - a)) / slope
    return total


def test_exponential_vertex_helper_matches_the_text_closed_form():
    """int dz e^{-m|x-z| - m|z-y|} = (1/m + r) e^{-mr} (checked by hand: e^{-mr}/2m from each half-line, r e^{-mr}
    from between), and int e^{-4m|z|} = 1/2m."""
    r = 0.8
    assert exponential_vertex([0.0, r], MASS) == pytest.approx((1 / MASS + r) * math.exp(-MASS * r), rel=1e-14)
    assert exponential_vertex([0.0] * 4, MASS) == pytest.approx(1 / (2 * MASS), rel=1e-14)


def test_vertex_factors_are_gaussian_expectations_of_the_derivatives():
    """c_n = E[V^(n)(phi)], phi ~ N(0, v), against Gauss-Hermite quadrature of the differentiated polynomial."""
    potential = {1: 0.3, 2: -0.4, 3: 1.1, 4: 0.7, 6: 2.5, 7: -0.2}
    coefficients = np.zeros(8)
    for k, g in potential.items():
        coefficients[k] = g / math.factorial(k)
    v = 0.83
    nodes, weights = np.polynomial.hermite_e.hermegauss(20)  # E over N(0, 1)
    for order in range(8):
        derivative = (
            np.polynomial.Polynomial(coefficients).deriv(order) if order else np.polynomial.Polynomial(coefficients)
        )
        expected = weights @ derivative(math.sqrt(v) * nodes) / math.sqrt(2 * math.pi)
        assert gaussian_vertex_factor(potential, order, v) == pytest.approx(expected, rel=1e-13, abs=1e-13)
    # the examples of the module docstring: phi^4 (PHYSICS.md E.3), phi^6, phi^2
    assert gaussian_vertex_factor({4: LAMBDA}, 2, v) == pytest.approx(LAMBDA * v / 2, rel=1e-15)
    assert gaussian_vertex_factor({4: LAMBDA}, 4, v) == LAMBDA
    assert gaussian_vertex_factor({4: LAMBDA}, 3, v) == 0.0
    assert [gaussian_vertex_factor({6: 2.0}, n, v) for n in (2, 4, 6)] == pytest.approx([2 * v**2 / 8, v, 2.0])
    assert gaussian_vertex_factor({2: 0.5}, 4, v) == 0.0
    np.testing.assert_allclose(gaussian_vertex_factor({4: 1.0}, 2, np.array([0.5, 2.0])), [0.25, 1.0])


def test_phi4_in_d1_reproduces_the_infinite_volume_closed_forms():
    """PHYSICS.md E.3 benchmark: G = e^{-m|t|}/2m, G4c(0,0,0,0) = -lam/(32 m^5), and
    dG2(x, y) = -(lam/2) G(0) (1/4m^2) (1/m + |x-y|) e^{-m|x-y|}; the box is 30/m from every point."""
    propagator = exponential_propagator()
    assert propagator.coincident == pytest.approx(1 / (2 * MASS), rel=1e-15)
    points = np.array([0.0, 0.4, -1.1, 2.0])
    result = first_order_correlators(propagator, points, Box(60.0), {4: LAMBDA}, rtol=1e-12)
    assert result["G4c"][0, 0, 0, 0] == pytest.approx(-LAMBDA / (32 * MASS**5), rel=1e-12)
    separation = np.abs(points[:, None] - points[None, :])
    closed = -LAMBDA / 2 / (2 * MASS) / (4 * MASS**2) * (1 / MASS + separation) * np.exp(-MASS * separation)
    np.testing.assert_allclose(result["G2"], closed, rtol=1e-12)
    for index in itertools.combinations_with_replacement(range(4), 4):
        exact = -LAMBDA * exponential_vertex(points[list(index)], MASS) / (2 * MASS) ** 4
        assert result["G4c"][index] == pytest.approx(exact, rel=1e-12)
    assert np.all(result["G4c_error"] <= 1e-12 * np.abs(result["G4c"]).max())


def test_finite_box_exactly_and_a_point_near_the_edge_gets_less():
    """On a finite box the d = 1 vertex integrals are still elementary: points inside, at the edge and outside."""
    propagator = exponential_propagator()
    box = Box(3.0, center=0.5)
    points = np.array([0.5, 1.9, 2.0, 2.6, -1.7])  # centre, near the edge, on it, 0.6 and 0.7 outside
    result = first_order_correlators(propagator, points, box, {4: LAMBDA}, rtol=1e-12)
    low, high = -1.0, 2.0
    g0 = 1 / (2 * MASS)
    for i, j in itertools.combinations_with_replacement(range(len(points)), 2):
        exact = -LAMBDA / 2 * g0 * exponential_vertex(points[[i, j]], MASS, low, high) / (2 * MASS) ** 2
        assert result["G2"][i, j] == pytest.approx(exact, rel=1e-12)
    for index in itertools.combinations_with_replacement(range(len(points)), 4):
        exact = -LAMBDA * exponential_vertex(points[list(index)], MASS, low, high) / (2 * MASS) ** 4
        assert result["G4c"][index] == pytest.approx(exact, rel=1e-12, abs=1e-15)
    diagonal = -np.diagonal(result["G2"])
    assert diagonal[0] > diagonal[1] > diagonal[2] > diagonal[3] > 0  # less of the box near the vertex
    assert 0 < diagonal[4] < diagonal[3]


def test_tensors_are_symmetric_and_the_error_estimate_is_within_rtol():
    propagator = model_propagator("scalar_net", {"d": 2, "mass": 1.0, "cutoff": 6.0})
    points = np.array([[0.0, 0.1], [0.5, -0.3], [1.2, 0.4]])
    result = first_order_correlators(propagator, points, Box(4.0, d=2), {4: LAMBDA, 2: 0.2}, orders=(2, 4), rtol=1e-9)
    np.testing.assert_array_equal(result["G2"], result["G2"].T)
    for permutation in itertools.permutations(range(4)):
        np.testing.assert_array_equal(result["G4c"], np.transpose(result["G4c"], permutation))
    for name in ("G2", "G4c"):
        assert result[name].shape == (3,) * int(name[1])
        assert np.all(result[f"{name}_error"] <= 1e-9 * np.abs(result[name]).max())
    assert np.all(result["G4c"] < 0) and np.all(result["G2"] < 0)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_scalar_net_propagator_is_its_theory_and_has_the_closed_form_coincident_value(d):
    mass, cutoff, sigma_a = 1.2, 15.0, 1.3
    params = {"d": d, "mass": mass, "cutoff": cutoff, "sigma_a": sigma_a}
    propagator = model_propagator("scalar_net", params)
    points = np.random.default_rng(d).uniform(-2, 2, (5, d))
    expected = predict(get_model("scalar_net").theory(**params), points, (2,))["G2"]
    np.testing.assert_allclose(propagator.matrix(points), expected, rtol=1e-12, atol=1e-13)
    closed = {  # int_{|p|<L} d^dp/(2 pi)^d / (p^2 + m^2)
        1: math.atan(cutoff / mass) / (math.pi * mass),
        2: math.log1p((cutoff / mass) ** 2) / (4 * math.pi),
        3: (cutoff - mass * math.atan(cutoff / mass)) / (2 * math.pi**2),
    }[d]
    assert propagator.coincident == pytest.approx(sigma_a**2 * closed, rel=1e-12)


@pytest.mark.parametrize("d", [2, 3])
def test_radial_table_interpolates_the_radial_integral(d):
    """The table against radial_fourier_transform at radii between its nodes, far beyond the first call."""
    mass, cutoff = 0.8, 25.0
    propagator = model_propagator("scalar_net", {"d": d, "mass": mass, "cutoff": cutoff})
    radii = np.random.default_rng(7).uniform(0, 12, 1000)
    direct = radial_fourier_transform(lambda p: 1 / (p * p + mass * mass), radii, d, cutoff)
    vectors = np.zeros((len(radii), d))
    vectors[:, 0] = radii
    table = propagator.separation(vectors)
    assert np.max(np.abs(table - direct)) < 1e-12 * propagator.coincident


def test_radial_table_of_a_bessel_function_is_exact_to_rounding():
    """J0(K r) has exponential type K: degree-20 Chebyshev panels 2 pi/K wide interpolate it to rounding."""
    calls = []

    def bessel(r):
        calls.append(len(r))
        return special.j0(7.0 * r)

    table = RadialTable(bessel, 2 * math.pi / 7.0)
    r = np.linspace(0, 3, 777)
    np.testing.assert_allclose(table(r), special.j0(7.0 * r), rtol=0, atol=1e-14)
    np.testing.assert_allclose(table(-r), table(r), rtol=0, atol=0)  # radial: even
    first = sum(calls)
    np.testing.assert_allclose(table(r[::-1] / 2), special.j0(3.5 * r[::-1]), rtol=0, atol=1e-14)
    assert sum(calls) == first  # within the table: no new evaluations
    table(np.array([40.0]))
    assert len(table.coefficients) * table.panel_width > 40.0


def test_cauchy_and_generic_propagators_are_their_theories():
    """Dedicated (cauchy_net), neuron-moment (gauss_net, erf_net: not translation invariant) and
    infinite_width() kernel (cos_doublet_net, an IndependentSum) paths, against predict's G2."""
    cases = [
        ("cauchy_net", {"mass": 0.7, "sigma_a": 1.4}, 1),
        ("gauss_net", {"d": 2, "sigma_w": 1.3, "sigma_b": 0.4}, 2),
        ("erf_net", {"d": 2}, 2),
        ("cos_doublet_net", {"d": 2, "angle": 0.4}, 2),
    ]
    for name, params, d in cases:
        propagator = model_propagator(name, params)
        points = np.random.default_rng(3).uniform(-1, 1, (300, d))  # more than one chunk of the kernel path
        spec = get_model(name)
        expected = predict(spec.theory(**spec.resolve(params)), points, (2,))["G2"]
        np.testing.assert_allclose(propagator.matrix(points), expected, rtol=1e-13, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(propagator.variance(points), np.diagonal(expected), rtol=1e-13, err_msg=name)
    assert model_propagator("cauchy_net", {"mass": 0.7, "sigma_a": 1.4}).coincident == pytest.approx(1.4**2 / 2)
    with pytest.raises(ValueError, match="not translation invariant"):
        _ = model_propagator("erf_net", {"d": 1}).coincident


@pytest.mark.parametrize("d", [2, 3])
def test_gauss_net_vertex_integrals_are_the_erf_closed_form(d):
    """G = s^2 e^{-a|x-z|^2} (gauss_net without bias, a = s^2/2d): prod_i G(x_i - z) is a Gaussian in z, so
    int_V = s^{2k} e^{-a sum_i |x_i - xbar|^2} prod_axes sqrt(pi/ka)/2 [erf(sqrt(ka)(hi - xbar)) - erf(...(lo ...))]."""
    s, a = 1.3, 1.3**2 / (2 * d)
    propagator = model_propagator("gauss_net", {"d": d, "sigma_w": s, "sigma_b": 0.0})
    points = np.random.default_rng(11).uniform(-1, 1.5, (3, d))  # some outside the box
    box = Box(2.0, d=d, center=0.3)
    low, high = box.center - box.length / 2, box.center + box.length / 2
    result = first_order_correlators(propagator, points, box, {4: LAMBDA}, rtol=1e-10)

    def vertex(index):
        x = points[list(index)]
        k, mean = len(index), x.mean(axis=0)
        root = math.sqrt(k * a)
        axes = math.sqrt(math.pi / (k * a)) / 2 * (special.erf(root * (high - mean)) - special.erf(root * (low - mean)))
        return s ** (2 * k) * math.exp(-a * np.sum((x - mean) ** 2)) * np.prod(axes)

    for index in itertools.combinations_with_replacement(range(3), 4):
        assert result["G4c"][index] == pytest.approx(-LAMBDA * vertex(index), rel=1e-10)
    for index in itertools.combinations_with_replacement(range(3), 2):
        assert result["G2"][index] == pytest.approx(-LAMBDA / 2 * s**2 * vertex(index), rel=1e-10)


def test_d2_scalar_net_agrees_with_adaptive_cubature():
    """An independent brute force (scipy's adaptive cubature) on a small box, points inside, near the edge, outside."""
    propagator = model_propagator("scalar_net", {"d": 2, "mass": 1.0, "cutoff": 10.0, "sigma_a": 1.2})
    points = np.array([[0.1, -0.2], [0.4, 0.3], [0.8, 0.75], [1.3, -0.1]])
    box = Box(1.5, d=2, center=0.1)
    tuples = [(0, 0, 0, 0), (0, 1, 2, 2), (1, 2, 3, 3), (2, 2, 2, 2), (0, 1), (2, 3), (3, 3)]
    result = first_order_correlators(propagator, points, box, {4: LAMBDA}, rtol=1e-10)

    def integrand(z):
        g = propagator.separation(points[None, :, :] - z[:, None, :])
        return np.stack([np.prod(g[:, list(t)], axis=1) for t in tuples], axis=-1)

    lower, upper = [box.center - box.length / 2] * 2, [box.center + box.length / 2] * 2
    reference = cubature(integrand, lower, upper, rtol=1e-12, atol=0)
    assert reference.status == "converged"
    coupling = {4: -LAMBDA, 2: -LAMBDA / 2 * propagator.coincident}
    for t, value in zip(tuples, reference.estimate, strict=True):
        assert result[f"G{len(t)}" + ("c" if len(t) > 2 else "")][t] == pytest.approx(
            coupling[len(t)] * value, rel=1e-10
        )


def test_phi4_mass_shift_on_a_large_box_in_d1_with_cutoff():
    """dG2 -> dm^2 dG/dm^2, dm^2 = sigma_a^2 (lam/2) G_L(0), dG/dm^2 = -sigma_a^2 int_{|p|<L} e^{ipx}/(p^2+m^2)^2."""
    mass, cutoff, sigma_a = 1.0, 20.0, 1.3
    propagator = model_propagator("scalar_net", {"d": 1, "mass": mass, "cutoff": cutoff, "sigma_a": sigma_a})
    points = np.array([0.0, 0.5, -1.3, 2.2])
    result = first_order_correlators(propagator, points, Box(40.0), {4: LAMBDA}, orders=2, rtol=1e-10)
    shift = mass_shift({4: LAMBDA}, propagator.coincident, field_strength=sigma_a**2)
    assert shift == pytest.approx(sigma_a**4 * LAMBDA / 2 * math.atan(cutoff / mass) / (math.pi * mass), rel=1e-14)
    separation = np.abs(points[:, None] - points[None, :])
    derivative = -(sigma_a**2) * radial_fourier_transform(lambda p: 1 / (p * p + mass**2) ** 2, separation, 1, cutoff)
    # 20/m inside the box; what is left is the hard cutoff's ripple, G_L - G ~ sin(L t)/(pi L^2 t): a 1/L tail
    np.testing.assert_allclose(result["G2"], shift * derivative, rtol=1e-6)


def test_d2_box_approaches_the_mass_shift_like_one_over_its_size():
    """In d = 2 the hard cutoff's ripple, G_L(r) - G(r) ~ cos(L r)/(L r)^{3/2}, leaves a box-size effect ~ 1/L."""
    mass, cutoff = 1.5, 6.0
    propagator = model_propagator("scalar_net", {"d": 2, "mass": mass, "cutoff": cutoff})
    points = np.array([[0.0, 0.0], [0.5, 0.2], [-0.6, 0.4]])
    separation = np.linalg.norm(points[:, None] - points[None, :], axis=-1)
    target = mass_shift({4: LAMBDA}, propagator.coincident) * -radial_fourier_transform(
        lambda p: 1 / (p * p + mass**2) ** 2, separation, 2, cutoff
    )
    deviations = []
    for length in (12.0, 24.0):
        shift = first_order_correlators(propagator, points, Box(length, d=2), {4: LAMBDA}, orders=2, rtol=1e-8)["G2"]
        deviations.append(np.max(np.abs(shift - target)) / np.max(np.abs(target)))
    assert deviations[1] < 5e-4
    assert deviations[0] / deviations[1] == pytest.approx(2.0, rel=0.05)


def test_phi2_deformation_is_the_first_order_change_of_mass_and_nothing_else():
    """V = dm2 phi^2/2 on G = e^{-m|t|}/2 (cauchy_net, Z = m): dG2 = -dm2 int G G = Z dm2 d G/d m^2 at fixed Z,
    checked against a central difference of the closed form; G4c, G1 and G3c vanish."""
    mass, dm2 = 0.9, 0.05
    propagator = model_propagator("cauchy_net", {"mass": mass, "sigma_a": 1.0})
    points = np.array([0.0, 0.3, 1.7])
    result = first_order_correlators(propagator, points, Box(70.0), {2: dm2}, orders=(1, 2, 3, 4), rtol=1e-12)
    separation = np.abs(points[:, None] - points[None, :])

    def propagator_at(mass_squared):  # Z e^{-m|t|}/2m with Z = mass (fixed)
        root = math.sqrt(mass_squared)
        return mass * np.exp(-root * separation) / (2 * root)

    step = 1e-4
    derivative = (propagator_at(mass**2 + step) - propagator_at(mass**2 - step)) / (2 * step)
    shift = mass_shift({2: dm2}, propagator.coincident, field_strength=mass)
    assert shift == pytest.approx(mass * dm2)
    np.testing.assert_allclose(result["G2"], shift * derivative, rtol=1e-7)
    np.testing.assert_allclose(
        result["G2"], -dm2 / 4 * (1 / mass + separation) * np.exp(-mass * separation), rtol=1e-12
    )
    for name in ("G1", "G3c", "G4c"):
        assert np.all(result[name] == 0.0), name


def test_phi6_and_odd_potentials_give_every_order():
    """V = g6 phi^6/6! + g3 phi^3/3!: G1 = -(g3 G0/2) int G, G2 = -(g6 G0^2/8) int GG, G3c = -g3 int G^3,
    G4c = -(g6 G0/2) int G^4, G6c = -g6 int G^6, with G = e^{-m|t|}/2m on the whole line."""
    g3, g6 = 0.4, 1.7
    propagator = exponential_propagator()
    g0 = propagator.coincident
    points = np.array([0.0, 0.6])
    result = first_order_correlators(propagator, points, Box(60.0), {6: g6, 3: g3}, orders=(1, 2, 3, 4, 6), rtol=1e-12)
    factors = {1: g3 * g0 / 2, 2: g6 * g0**2 / 8, 3: g3, 4: g6 * g0 / 2, 6: g6}
    for order, factor in factors.items():
        name = f"G{order}" + ("c" if order > 2 else "")
        for index in itertools.combinations_with_replacement(range(2), order):
            exact = -factor * exponential_vertex(points[list(index)], MASS) / (2 * MASS) ** order
            assert result[name][index] == pytest.approx(exact, rel=1e-12), (name, index)


@dataclasses.dataclass(frozen=True)
class PotentialLike:
    """The shape of nnqft_ppl.potentials.Potential that perturbation theory reads: callable, with coefficients."""

    function: object
    coefficients: dict | None

    def __call__(self, phi):
        return self.function(phi)


def test_callable_vertex_factors_and_the_coincident_override():
    """A callable (n, v) -> c_n gives the same as the polynomial; ``coincident`` replaces G(0) in the factors."""
    propagator = exponential_propagator()
    points = np.array([0.0, 0.5])
    box = Box(8.0)
    g0 = propagator.coincident
    polynomial = first_order_correlators(propagator, points, box, {4: LAMBDA}, rtol=1e-12)
    callable_ = first_order_correlators(
        propagator, points, box, lambda n, v: {2: LAMBDA * g0 / 2, 4: LAMBDA}.get(n, 0.0), rtol=1e-12
    )
    for name in ("G2", "G4c"):
        np.testing.assert_array_equal(polynomial[name], callable_[name])
    doubled = first_order_correlators(propagator, points, box, {4: LAMBDA}, coincident=2 * g0, rtol=1e-12)
    np.testing.assert_allclose(doubled["G2"], 2 * polynomial["G2"], rtol=1e-14)
    np.testing.assert_array_equal(doubled["G4c"], polynomial["G4c"])
    negative = first_order_correlators(propagator, points, box, {4: -LAMBDA}, rtol=1e-12)  # allowed here
    potential = PotentialLike(lambda phi: LAMBDA * phi**4 / 24, {4: LAMBDA})  # callable, but read by coefficients
    from_object = first_order_correlators(propagator, points, box, potential, rtol=1e-12)
    np.testing.assert_array_equal(from_object["G4c"], polynomial["G4c"])
    with pytest.raises(ValueError, match="coefficients"):
        first_order_correlators(propagator, points, box, PotentialLike(np.cosh, None))
    np.testing.assert_allclose(negative["G4c"], -polynomial["G4c"], rtol=1e-15)


def test_bad_input_is_refused_clearly():
    one = exponential_propagator()
    two = model_propagator("scalar_net", {"d": 2, "mass": 1.0, "cutoff": 20.0})
    with pytest.raises(ValueError, match="dimension mismatch"):
        first_order_correlators(one, np.zeros((2, 2)), Box(4.0), {4: 1.0})
    with pytest.raises(ValueError, match="dimension mismatch"):
        first_order_correlators(one, np.zeros((2, 2)), Box(4.0, d=2), {4: 1.0})
    with pytest.raises(ValueError, match="powers must be integers"):
        first_order_correlators(one, [0.0], Box(4.0), {2.5: 1.0})
    with pytest.raises(ValueError, match="finite numbers"):
        first_order_correlators(one, [0.0], Box(4.0), {4: float("nan")})
    with pytest.raises(ValueError, match="non-empty"):
        first_order_correlators(one, [0.0], Box(4.0), {})
    with pytest.raises(ValueError, match="not supported"):
        first_order_correlators(one, [0.0], Box(4.0), {4: 1.0}, orders=(8,))
    with pytest.raises(ValueError, match="must be a Propagator"):
        first_order_correlators(lambda x, z: 0.0, [0.0], Box(4.0), {4: 1.0})
    with pytest.raises(ValueError, match="Box"):
        first_order_correlators(one, [0.0], (-2.0, 2.0), {4: 1.0})
    with pytest.raises(ValueError, match="did not converge .* within 1.00e\\+05 quadrature nodes \\(relative error"):
        first_order_correlators(two, np.zeros((1, 2)), Box(10.0, d=2), {4: 1.0}, rtol=1e-14, max_nodes=100_000)
    with pytest.raises(ValueError, match="unknown model"):
        model_propagator("no_such_net")
    for name in ("scalar_net", "cauchy_net"):
        with pytest.raises(ValueError, match="mass"):
            model_propagator(name, {"mass": -1.0})
    with pytest.raises(ValueError, match="G\\(0\\)"):
        mass_shift({4: 1.0}, float("inf"))
