"""Action reconstruction: connected correlators -> couplings of S = -log P (PHYSICS.md F.1-F.3).

Checks:
- closed forms: F.2's first-order couplings written out here with numpy.einsum, for the exact
  cumulants of phi = N^{-1/2} sum_a A z_a (kappa_r(phi) = N^{1-r/2} kappa_r(A z), §1.1);
- an exact density: a standardised sum of N exponentials has a Gamma law, and -log p - S is flat up
  to O(N^{-3/2}) at first order and O(N^{-5/2}) at second order;
- signs and symmetry factors: an independent brute force, -log of the Edgeworth density
  exp(sum_r (-1)^r/r! kappa_r d^r) N(phi; 0, G) expanded as an exact polynomial in phi (1 and 2
  dimensions) with the cumulants scaled by s^{r-2}, against every coefficient, orders 0, 1, 2;
- Monte Carlo: the Cos-net's couplings from an ensemble agree with those of its exact correlators
  within K_SIGMA jackknife standard errors;
- error propagation, the action function (NumPy and JAX), bad input.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import K_SIGMA
from scipy.signal import convolve
from scipy.special import gammaln

from nnqft_ppl import action_function, reconstruct_action, sample
from nnqft_ppl.edgeworth import diagrams

# --------------------------------------------------------------------------
# independent helpers
# --------------------------------------------------------------------------


def symmetric_random(rng, n, r, scale):
    tensor = rng.normal(size=(n,) * r) * scale
    return np.mean([np.transpose(tensor, p) for p in itertools.permutations(range(r))], axis=0)


def sum_of_vectors_cumulants(A, z_cumulants, N):
    """kappa_r of phi = N^{-1/2} sum_{a=1}^N A z_a, z with independent components of cumulants z_cumulants[r]."""
    out = {}
    for r, kz in z_cumulants.items():
        letters = "abcdef"[:r]
        out[r] = N ** (1 - r / 2) * kz * np.einsum(",".join(f"{c}k" for c in letters) + "->" + letters, *[A] * r)
    return out


def amputate4(ginv, t):
    return np.einsum("ia,jb,kc,ld,abcd->ijkl", ginv, ginv, ginv, ginv, t)


def amputate3(ginv, t):
    return np.einsum("ia,jb,kc,abc->ijk", ginv, ginv, ginv, t)


def close(a, b, rtol=1e-12):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) <= rtol * max(np.max(np.abs(b)), 1e-300)


def correlator_dict(G, kappas):
    return {"G2": G, **{f"G{r}c": k for r, k in kappas.items()}}


# --------------------------------------------------------------------------
# 1. exactness of the first-order formula
# --------------------------------------------------------------------------


def test_first_order_is_f2_for_a_z2_symmetric_sum(rng):
    """Uniform z (kappa_4 = -6/5): g4 = -G^-1 G^-1 G^-1 G^-1 G4c, g2 = G^-1 + 1/2 G^-1 (G4c:G^-1) G^-1 (F.2)."""
    n, N = 3, 10
    A = rng.normal(size=(n, n)) + 2 * np.eye(n)
    kappas = sum_of_vectors_cumulants(A, {4: -6 / 5, 6: 48 / 7}, N)
    G = A @ A.T
    ginv = np.linalg.inv(G)
    result = reconstruct_action(correlator_dict(G, kappas), order=1)
    assert close(result["g4"].values, -amputate4(ginv, kappas[4]))
    assert close(result["g2"].values, ginv + 0.5 * np.einsum("ia,abcd,cd,bj->ij", ginv, kappas[4], ginv, ginv))
    assert close(result["G2_inv"].values, ginv)
    assert {"g1", "g3", "g5", "g6"}.isdisjoint(result.data_vars)
    assert result.attrs["order"] == 1 and result.attrs["assumed_zero"] == "G3c"
    assert result.attrs["errors"] == "none" and np.all(np.isnan(result["g4_stderr"].values))
    gaussian = reconstruct_action({"G2": G}, order=0)
    assert list(gaussian.data_vars) == ["g2", "g2_stderr", "G2_inv", "G2_inv_stderr"]
    assert close(gaussian["g2"].values, ginv)


def test_first_order_with_a_three_point_function(rng):
    """Exponential z (kappa_r = (r-1)!): g3 = -amputated G3c, g1 = 1/2 G^-1 (G3c:G^-1), and the (G3c)^2 terms of
    the same order, g4 += 3 Sym(G3c G^-1 G3c), g2 -= 1/2 (G3c G^-1 G^-1 G3c) + 1/2 (G3c G^-1 (G3c:G^-1)),
    amputated (the 1D case is the classic x^4 coefficient -k4/24 + k3^2/8 and x^2: k4/4 - k3^2/2)."""
    n, N = 3, 20
    A = rng.normal(size=(n, n)) + 2 * np.eye(n)
    k = sum_of_vectors_cumulants(A, {3: 2.0, 4: 6.0}, N)
    G = A @ A.T
    ginv = np.linalg.inv(G)
    result = reconstruct_action(correlator_dict(G, k), order=1)
    trace3 = np.einsum("abc,bc->a", k[3], ginv)
    chain = np.einsum("abi,ij,jcd->abcd", k[3], ginv, k[3])
    chain = (chain + chain.transpose(0, 2, 1, 3) + chain.transpose(0, 3, 2, 1)) / 3
    c2 = 0.5 * np.einsum("abcd,cd->ab", k[4], ginv)
    c2 -= 0.5 * np.einsum("aij,ik,jl,klb->ab", k[3], ginv, ginv, k[3])
    c2 -= 0.5 * np.einsum("abi,ij,j->ab", k[3], ginv, trace3)
    assert close(result["g1"].values, 0.5 * ginv @ trace3)
    assert close(result["g3"].values, -amputate3(ginv, k[3]))
    assert close(result["g4"].values, amputate4(ginv, -k[4] + 3 * chain))
    assert close(result["g2"].values, ginv + ginv @ c2 @ ginv)
    assert result.attrs["cumulants"] == "G3c, G4c"


def gamma_residuals(N, phi):
    """max |(-log p - S)(phi) - (-log p - S)(0)| for phi = (Gamma(N) - N)/sqrt(N), at orders 0, 1, 2."""
    x = N + math.sqrt(N) * phi
    minus_log_p = -0.5 * math.log(N) - (N - 1) * np.log(x) + x + gammaln(N)
    kappas = {f"G{r}c": np.full((1,) * r, math.factorial(r - 1) * N ** (1 - r / 2)) for r in range(3, 7)}
    residuals = []
    for order in range(3):
        S = action_function(reconstruct_action({"G2": np.ones((1, 1)), **kappas}, order=order))
        difference = minus_log_p - S(phi[:, None])
        residuals.append(np.max(np.abs(difference - difference[len(phi) // 2])))
    return residuals


def test_action_reproduces_an_exact_density_to_the_order_kept():
    """Sum of N centred exponentials: the error left at order k is O(N^{-k-1/2}) (the next terms are
    G5c, G3c G4c, G3c^3 ~ N^{-3/2}, then N^{-5/2}), so second order is closer by a factor ~N."""
    phi = np.linspace(-1.5, 1.5, 7)
    small, large = gamma_residuals(100, phi), gamma_residuals(400, phi)
    for residuals, N in ((small, 100), (large, 400)):
        assert residuals[0] > 50 * residuals[1] and residuals[1] > N / 4 * residuals[2]
    assert 6 < small[1] / large[1] < 10  # 4^{3/2} = 8
    assert 24 < small[2] / large[2] < 40  # 4^{5/2} = 32


# --------------------------------------------------------------------------
# 2. second order against a brute-force expansion
# --------------------------------------------------------------------------

S_MAX, DEGREE = 4, 12  # powers of s kept (t = s^2 up to t^2); highest power of phi that appears


def _shift(poly, axis):
    """Multiply by the variable of ``axis`` (axis 0: s; axis 1 + i: phi_i)."""
    out = np.zeros_like(poly)
    take = [slice(None)] * poly.ndim
    put = [slice(None)] * poly.ndim
    take[axis], put[axis] = slice(None, -1), slice(1, None)
    out[tuple(put)] = poly[tuple(take)]
    return out


def _derivative(poly, axis):
    powers = np.arange(poly.shape[axis]).reshape([-1 if a == axis else 1 for a in range(poly.ndim)])
    return np.roll(poly * powers, -1, axis=axis)


def brute_force_minus_log_ratio(G, kappas):
    """-log(P / N(0, G)) as a polynomial array [s power, phi_1 power, ...], with kappa_r -> s^{r-2} kappa_r.

    P / N = e^{S_G} exp(D) e^{-S_G}, D = sum_r (-1)^r/r! kappa_r . d^r; on f e^{-S_G}, d_i acts as
    f -> d_i f - (G^{-1} phi)_i f.  exp and -log(1 + X) are truncated at s^4.
    """
    n = len(G)
    ginv = np.linalg.inv(G)
    shape = (S_MAX + 1,) + (DEGREE + 1,) * n
    one = np.zeros(shape)
    one[(0,) * (n + 1)] = 1.0

    def d(poly, i):
        return _derivative(poly, 1 + i) - sum(ginv[i, j] * _shift(poly, 1 + j) for j in range(n))

    def D(poly):
        out = np.zeros_like(poly)
        for r, kappa in kappas.items():
            for index in itertools.product(range(n), repeat=r):
                term = poly
                for i in index:
                    term = d(term, i)
                term = (-1) ** r / math.factorial(r) * kappa[index] * term
                for _ in range(r - 2):
                    term = _shift(term, 0)
                out += term
        return out

    total, term = one.copy(), one.copy()
    for k in range(1, S_MAX + 1):
        term = D(term) / k
        total += term
    X = total - one
    result, power = np.zeros(shape), one
    for j in range(1, S_MAX + 1):
        power = convolve(power, X, method="direct")[tuple(slice(0, s) for s in shape)]
        result += (-1) ** j * power / j
    return result


def polynomial_of(couplings, n):
    """Coefficients [phi_1 power, ...] of S = sum_m 1/m! g_m . phi^m."""
    out = np.zeros((DEGREE + 1,) * n)
    for name in couplings.data_vars:
        if name.startswith("g") and name[1:].isdigit():
            m, tensor = int(name[1:]), couplings[name].values
            for index in itertools.product(range(n), repeat=m):
                out[tuple(np.bincount(index, minlength=n))] += tensor[index] / math.factorial(m)
    return out


@pytest.mark.parametrize("n", [1, 2])
def test_second_order_signs_and_symmetry_factors_against_brute_force(rng, n):
    A = 0.3 * rng.normal(size=(n, n)) + np.eye(n)
    G = A @ A.T
    kappas = {r: symmetric_random(rng, n, r, 0.5) for r in range(3, 7)}
    brute = brute_force_minus_log_ratio(G, kappas)
    ginv = np.linalg.inv(G)
    gaussian = np.zeros((DEGREE + 1,) * n)
    for i, j in itertools.product(range(n), repeat=2):
        gaussian[tuple(np.bincount([i, j], minlength=n))] += ginv[i, j] / 2
    constant = (0,) * n
    for order in range(3):
        expected = gaussian + brute[: 2 * order + 1].sum(axis=0)
        expected[constant] = 0.0
        assert close(polynomial_of(reconstruct_action(correlator_dict(G, kappas), order=order), n), expected)
    for power in range(1, S_MAX + 1):  # every order of the brute force is resolved by the comparison
        terms = brute[power].copy()
        terms[constant] = 0.0
        assert np.max(np.abs(terms)) > 0.01


def test_z2_second_order_diagrams_carry_the_f3_coefficients():
    """F.3: two G4c joined by one G^-1 line enter S as +1/2 (1/4!)^2 (4*4) G4c G^-1 G4c u^6 = +1/72; F.2: the
    self-contracted G4c as +1/4 G4c G^-1 uu; G6c as -1/6! u^6 (first order in G6c)."""
    coefficients = {(d.vertices, d.lines, d.self_lines, d.legs): d.coefficient for d in diagrams((4, 6), 2)}
    assert coefficients[((4, 4), ((0, 1, 1),), (0, 0), (3, 3))] == pytest.approx(1 / 72)
    assert coefficients[((4,), (), (1,), (2,))] == pytest.approx(1 / 4)
    assert coefficients[((6,), (), (0,), (6,))] == pytest.approx(-1 / 720)
    assert max(d.degree for d in diagrams((4, 6), 2)) == 6 and max(d.order for d in diagrams((4, 6), 2)) == 2


# --------------------------------------------------------------------------
# 3. Monte Carlo: an ensemble's couplings against those of the exact correlators
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cos_net_run():
    points = np.array([[0.0], [1.0], [2.0]])
    options = dict(params={"width": 3}, orders=(2, 4, 6), n_nets=100_000, seed=3, progress=False)
    return sample("cos_net", points, keep_replicas=True, **options)


def test_cos_net_couplings_from_an_ensemble_match_its_exact_correlators(cos_net_run):
    """Width 3: the reconstructed quartic coupling (first order) and g2, g4, g6 (second order), with jackknife
    errors through the whole nonlinear map, agree with the same map applied to G2_theory, G4c_theory,
    G6c_theory; the couplings are resolved (the comparison is not empty)."""
    run = cos_net_run
    exact = {"G2": run["G2_theory"], "G4c": run["G4c_theory"], "G6c": run["G6c_theory"]}
    for order, names in ((1, ("g2", "g4")), (2, ("g2", "g4", "g6"))):
        measured = reconstruct_action(run, order=order)
        theory = reconstruct_action(exact, order=order)
        assert measured.attrs["errors"] == "jackknife" and measured.attrs["source_model"] == "cos_net"
        assert measured["g4_replicas"].shape == (20, 3, 3, 3, 3)
        for name in names:
            error = measured[f"{name}_stderr"].values
            assert np.max(np.abs(measured[name].values - theory[name].values) / error) < K_SIGMA, (order, name)
            assert np.max(np.abs(theory[name].values) / error) > K_SIGMA, (order, name)


def test_linear_error_propagation_without_replicas(cos_net_run):
    """Without replicas the errors are linearised from the _stderr with independent entries: for G2_inv
    exactly sum_{i<=j} (sigma_ij dG^-1/dG_ij)^2 with dG^-1 = -G^-1 dG G^-1.  Neglecting the correlations of
    neighbouring entries, which cancel in the amputation, makes them much larger than the jackknife's here."""
    run = cos_net_run.drop_vars([name for name in cos_net_run.data_vars if name.endswith("_replicas")])
    linear = reconstruct_action(run, order=1)
    assert linear.attrs["errors"] == "linear" and "g4_replicas" not in linear
    ginv, sigma = np.linalg.inv(run["G2"].values), run["G2_stderr"].values
    variance = np.zeros((3, 3))
    for i, j in itertools.combinations_with_replacement(range(3), 2):
        direction = np.zeros((3, 3))
        direction[i, j] = direction[j, i] = 1.0
        variance += (sigma[i, j] * ginv @ direction @ ginv) ** 2
    assert close(linear["G2_inv_stderr"].values, np.sqrt(variance), rtol=1e-5)
    jackknifed = reconstruct_action(cos_net_run, order=1)
    assert np.all(linear["g4_stderr"].values > jackknifed["g4_stderr"].values)
    with pytest.raises(ValueError, match="G2_replicas"):
        reconstruct_action(run, order=1, errors="jackknife")


def test_linear_errors_along_the_four_point_function(rng):
    """At first order g4 = -G^-1 G^-1 G^-1 G^-1 G4c is linear in G4c: with errors on G4c only, the propagated
    error is exactly sqrt(sum_{unique t} sigma_t^2 (amputated E_t)^2), E_t the symmetric unit tensor of t."""
    n = 3
    A = rng.normal(size=(n, n)) + 2 * np.eye(n)
    G, G4c = A @ A.T, symmetric_random(rng, n, 4, 0.1)
    sigma = np.abs(symmetric_random(rng, n, 4, 0.01))
    data = {"G2": G, "G2_stderr": np.zeros((n, n)), "G4c": G4c, "G4c_stderr": sigma}
    result = reconstruct_action(data, order=1)
    ginv = np.linalg.inv(G)
    variance = np.zeros((n,) * 4)
    for t in itertools.combinations_with_replacement(range(n), 4):
        unit = np.zeros((n,) * 4)
        for p in set(itertools.permutations(t)):
            unit[p] = 1.0
        variance += (sigma[t] * amputate4(ginv, unit)) ** 2
    assert result.attrs["errors"] == "linear"
    assert close(result["g4_stderr"].values, np.sqrt(variance), rtol=1e-8)
    assert np.all(result["G2_inv_stderr"].values == 0.0)


# --------------------------------------------------------------------------
# the action function
# --------------------------------------------------------------------------


def test_action_function_evaluates_the_polynomial(rng):
    n = 3
    couplings = {f"g{m}": symmetric_random(rng, n, m, 1.0) for m in range(1, 7)}
    S = action_function(couplings)
    phi = rng.normal(size=(5, n))
    letters = "abcdef"
    expected = sum(
        np.einsum(letters[:m] + "," + ",".join(f"z{c}" for c in letters[:m]) + "->z", g, *[phi] * m) / math.factorial(m)
        for m, g in ((int(name[1:]), g) for name, g in couplings.items())
    )
    assert close(S(phi), expected)
    assert S(phi[0]).shape == () and S(phi.reshape(5, 1, n)).shape == (5, 1)
    traced = jax.jit(jax.grad(lambda x: jnp.sum(S(x))))(jnp.asarray(phi, dtype=jnp.float32))
    numeric = (S(phi + 1e-6 * np.eye(n)[None, 1]) - S(phi - 1e-6 * np.eye(n)[None, 1])) / 2e-6
    assert traced.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(traced)[:, 1], numeric, rtol=1e-3, atol=1e-3 * np.max(np.abs(numeric)))


def test_order_zero_is_the_gaussian_density(rng):
    n = 4
    A = rng.normal(size=(n, n)) + 2 * np.eye(n)
    G = A @ A.T
    S = action_function(reconstruct_action({"G2": G}, order=0))
    phi = rng.normal(size=(6, n))
    minus_log_normal = 0.5 * np.einsum("zi,ij,zj->z", phi, np.linalg.inv(G), phi)
    assert close(S(phi), minus_log_normal)


# --------------------------------------------------------------------------
# 4. bad input
# --------------------------------------------------------------------------


def test_singular_g2_needs_regularisation():
    """Two coincident points: G2 singular, refused; Tikhonov G2 + eps 1 (phi plus white noise) works."""
    G = np.array([[1.0, 1.0, 0.5], [1.0, 1.0, 0.5], [0.5, 0.5, 1.0]])
    G4c = 0.01 * np.ones((3,) * 4)
    with pytest.raises(ValueError, match="positive definite.*regularisation"):
        reconstruct_action({"G2": G, "G4c": G4c})
    eps = 0.1
    result = reconstruct_action({"G2": G, "G4c": G4c}, regularisation=eps)
    ginv = np.linalg.inv(G + eps * np.eye(3))
    assert close(result["g4"].values, -amputate4(ginv, G4c), rtol=1e-9)  # G4c = const: cancellations
    assert close(result["G2_inv"].values, ginv)
    assert result.attrs["regularisation"] == eps
    with pytest.raises(ValueError, match="positive definite"):
        reconstruct_action({"G2": np.array([[1.0, 2.0], [2.0, 1.0]])}, order=0)


GOOD = {"G2": np.eye(2), "G4c": np.zeros((2,) * 4)}


@pytest.mark.parametrize(
    ("correlators", "options", "error", "message"),
    [
        ([[1.0]], {}, TypeError, "Dataset or a mapping"),
        (GOOD, {"order": 3}, ValueError, "order must be 0, 1 or 2"),
        (GOOD, {"order": 1.0}, TypeError, "order must be an integer"),
        (GOOD, {"order": True}, TypeError, "order must be an integer"),
        (GOOD, {"regularisation": -1.0}, ValueError, "eps > 0"),
        (GOOD, {"regularisation": "1e-3"}, TypeError, "regularisation"),
        (GOOD, {"errors": "bootstrap"}, ValueError, "unknown error method"),
        (GOOD, {"errors": "linear"}, ValueError, "G2_stderr"),
        (GOOD, {"missing_as_zero": ("G8c",)}, ValueError, "G3c..G6c"),
        ({"G4c": GOOD["G4c"]}, {}, ValueError, "lack G2"),
        ({"G2": np.eye(2)}, {}, ValueError, "order 1 needs G4c"),
        (GOOD, {"order": 2}, ValueError, "order 2 needs G6c.*missing_as_zero"),
        ({"G2": np.ones(2)}, {"order": 0}, ValueError, "square matrix"),
        ({**GOOD, "G4c": np.zeros((3,) * 4)}, {}, ValueError, r"G4c has shape \(3, 3, 3, 3\), expected \(2, 2, 2, 2\)"),
        ({**GOOD, "G4c": np.full((2,) * 4, np.nan)}, {}, ValueError, "G4c has non-finite"),
        ({"G2": np.array([[1.0, 0.1], [0.2, 1.0]])}, {"order": 0}, ValueError, "G2 is not a symmetric"),
        ({**GOOD, "G4c": np.arange(16.0).reshape((2,) * 4)}, {}, ValueError, "G4c is not a symmetric"),
        ({"G2": [["a", "b"], ["c", "d"]]}, {"order": 0}, TypeError, "G2 must be an array of real numbers"),
        (
            {**GOOD, "G2_replicas": np.stack([np.eye(2)] * 4), "G4c_replicas": np.zeros((3,) + (2,) * 4)},
            {},
            ValueError,
            "G4c_replicas has shape",
        ),
        (
            {**GOOD, "G2_replicas": np.full((4, 2, 2), np.nan), "G4c_replicas": np.zeros((4,) + (2,) * 4)},
            {},
            ValueError,
            "G2_replicas has non-finite",
        ),
        ({**GOOD, "G2_stderr": -np.ones((2, 2)), "G4c_stderr": np.zeros((2,) * 4)}, {}, ValueError, "G2_stderr"),
    ],
)
def test_bad_input_is_refused(correlators, options, error, message):
    with pytest.raises(error, match=message):
        reconstruct_action(correlators, **options)


def test_missing_six_point_function_can_be_taken_as_zero():
    result = reconstruct_action(GOOD, order=2, missing_as_zero=("G3c", "G5c", "G6c"))
    assert result.attrs["assumed_zero"] == "G3c, G5c, G6c" and result.attrs["cumulants"] == "G4c"
    assert np.all(result["g6"].values == 0.0) and close(result["g2"].values, np.eye(2))


def test_bad_action_input_is_refused():
    S = action_function({"g2": np.eye(2)})
    with pytest.raises(ValueError, match=r"phi must have shape \(\.\.\., 2\)"):
        S(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="lack g2"):
        action_function({"g4": np.zeros((2,) * 4)})
    with pytest.raises(ValueError, match="g4 has shape"):
        action_function({"g2": np.eye(2), "g4": np.zeros((3,) * 4)})
    with pytest.raises(TypeError, match="couplings must be"):
        action_function(np.eye(2))
