"""Index bookkeeping, moments <-> cumulants, power sums and jackknife errors.

Three kinds of checks (DESIGN.md §5, lesson 3):
- properties: counts (binomials, Bell numbers, double factorials), inverses,
  permutation symmetry, additivity of power sums;
- independent references: PHYSICS.md §1.3's connected 4- and 6-point formulas
  written out here term by term over full tensors, exact cumulants of sums of
  exponential variables, numpy power sums, the textbook block standard error;
- no statistics: every comparison here is exact up to rounding.
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nnqft_ppl.combinatorics import (
    expand_symmetric,
    moebius_coefficient,
    pairings,
    set_partitions,
    tuple_position,
    unique_tuples,
)
from nnqft_ppl.moments import (
    BlockedSums,
    MonomialBasis,
    cumulants_from_moments,
    jackknife,
    moments_from_cumulants,
    power_sums,
)

BELL_NUMBERS = {0: 1, 1: 1, 2: 2, 3: 5, 4: 15, 5: 52, 6: 203}
LETTERS = "abcdefghijklmnop"


# --------------------------------------------------------------------------
# independent helpers (deliberately not using the library's partition code)
# --------------------------------------------------------------------------


def sorted_tuples(n_points: int, order: int) -> list[tuple[int, ...]]:
    """i_1 <= ... <= i_r in lexicographic order (the storage order of the library)."""
    return list(itertools.combinations_with_replacement(range(n_points), order))


def perfect_matchings(elements: tuple[int, ...]) -> list[tuple[tuple[int, int], ...]]:
    """All pairings of ``elements`` by the textbook recursion: pair the first with each other one."""
    if not elements:
        return [()]
    first, rest = elements[0], elements[1:]
    matchings = []
    for k, partner in enumerate(rest):
        remaining = rest[:k] + rest[k + 1 :]
        for tail in perfect_matchings(remaining):
            matchings.append(((first, partner),) + tail)
    return matchings


def product_tensor(factors: list[tuple[np.ndarray, tuple[int, ...]]], order: int) -> np.ndarray:
    """Full order-r tensor prod_f T_f[indices of f], e.g. G2[i0, i3] G4[i1, i2, i4, i5]."""
    inputs = ",".join("".join(LETTERS[i] for i in axes) for _, axes in factors)
    return np.einsum(f"{inputs}->{LETTERS[:order]}", *(tensor for tensor, _ in factors))


def full_moment_tensors(samples: np.ndarray, max_order: int) -> dict[int, np.ndarray]:
    """E[phi_{i_1} ... phi_{i_k}] as full (n_points,)*k tensors, by outer products of the samples."""
    n_samples, n_points = samples.shape
    outer = {0: np.ones((n_samples, 1)), 1: samples}
    for k in range(2, max_order // 2 + max_order % 2 + 1):
        outer[k] = np.einsum("sa,sb->sab", outer[k - 1], samples).reshape(n_samples, -1)
    tensors = {}
    for k in range(1, max_order + 1):
        left, right = outer[k // 2], outer[k - k // 2]
        tensors[k] = (left.T @ right / n_samples).reshape((n_points,) * k)
    return tensors


def to_basis_vector(tensors: dict[int, np.ndarray], n_points: int, max_order: int) -> np.ndarray:
    """Concatenate the values at the sorted tuples of orders 1..max_order (MonomialBasis layout)."""
    return np.concatenate(
        [np.array([tensors[k][t] for t in sorted_tuples(n_points, k)]) for k in range(1, max_order + 1)]
    )


def at_sorted_tuples(tensor: np.ndarray, n_points: int, order: int) -> np.ndarray:
    return np.array([tensor[t] for t in sorted_tuples(n_points, order)])


def correlated_non_gaussian_sample(n_samples: int, n_points: int, seed: int) -> np.ndarray:
    """phi = z * exp(0.4 g) + 0.3 (z^2 - 1): correlated Gaussian z, a common log-normal scale, skew."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_points, n_points)) / math.sqrt(n_points) + np.eye(n_points)
    z = rng.normal(size=(n_samples, n_points)) @ mixing.T
    scale = np.exp(0.4 * rng.normal(size=(n_samples, 1)))
    return z * scale + 0.3 * (z**2 - 1.0)


# --------------------------------------------------------------------------
# index bookkeeping
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n_points, order", [(1, 1), (1, 6), (2, 3), (3, 4), (4, 6), (6, 2), (5, 5), (7, 1)])
def test_unique_tuples_count_is_multiset_coefficient(n_points, order):
    """|{i_1 <= ... <= i_r}| = C(n + r - 1, r); rows sorted, distinct, lexicographic."""
    tuples = unique_tuples(n_points, order)
    assert tuples.shape == (math.comb(n_points + order - 1, order), order)
    assert np.all(np.diff(tuples, axis=1) >= 0)
    assert [tuple(row) for row in tuples] == sorted_tuples(n_points, order)


def test_unique_tuples_order_zero_is_one_empty_tuple():
    """C(n - 1, 0) = 1: the single empty tuple."""
    assert unique_tuples(3, 0).shape == (1, 0)


@pytest.mark.parametrize("n_points, order", [(1, 4), (3, 2), (4, 3), (3, 6)])
def test_tuple_position_inverts_unique_tuples_for_every_permutation(n_points, order):
    """tuple_position(sigma(t)) = row of t in unique_tuples, for every permutation sigma."""
    tuples = unique_tuples(n_points, order)
    rows = np.arange(len(tuples))
    for permutation in itertools.permutations(range(order)):
        np.testing.assert_array_equal(tuple_position(n_points, tuples[:, list(permutation)]), rows)


def test_tuple_position_keeps_leading_axes():
    """Input of shape (..., r) gives positions of shape (...)."""
    rng = np.random.default_rng(0)
    tuples = rng.integers(0, 4, size=(5, 7, 3))
    positions = tuple_position(4, tuples)
    assert positions.shape == (5, 7)
    reference = {t: k for k, t in enumerate(sorted_tuples(4, 3))}
    expected = np.vectorize(lambda *t: reference[tuple(sorted(t))])(*np.moveaxis(tuples, -1, 0))
    np.testing.assert_array_equal(positions, expected)


@pytest.mark.parametrize("order, bell", sorted(BELL_NUMBERS.items()))
def test_set_partitions_count_is_bell_number(order, bell):
    """|partitions of {0..r-1}| = B_r = 1, 1, 2, 5, 15, 52, 203; each a distinct partition."""
    partitions = set_partitions(order)
    assert len(partitions) == bell
    canonical = set()
    for blocks in partitions:
        elements = [i for block in blocks for i in block]
        assert sorted(elements) == list(range(order)), blocks
        assert all(len(block) > 0 for block in blocks)
        canonical.add(frozenset(frozenset(block) for block in blocks))
    assert len(canonical) == bell


@pytest.mark.parametrize("order", range(1, 7))
def test_pairings_count_is_double_factorial(order):
    """(r-1)!! perfect matchings for even r (1, 3, 15), none for odd r; same set as the textbook recursion."""
    found = pairings(order)
    expected_count = math.prod(range(order - 1, 0, -2)) if order % 2 == 0 else 0
    assert len(found) == expected_count
    as_sets = {frozenset(frozenset(pair) for pair in p) for p in found}
    if order % 2 == 0:
        assert as_sets == {frozenset(frozenset(pair) for pair in p) for p in perfect_matchings(tuple(range(order)))}


@pytest.mark.parametrize("n_blocks, coefficient", [(1, 1), (2, -1), (3, 2), (4, -6), (5, 24), (6, -120)])
def test_moebius_coefficient(n_blocks, coefficient):
    """mu(partition with k blocks) = (-1)^{k-1} (k-1)!."""
    assert moebius_coefficient(n_blocks) == coefficient


@pytest.mark.parametrize("n_points, order", [(3, 2), (3, 4), (2, 5), (3, 6)])
def test_expand_symmetric_is_invariant_under_every_axis_permutation(n_points, order):
    """T[i_sigma(1) .. i_sigma(r)] = T[i_1 .. i_r], and T equals the stored value at sorted tuples."""
    rng = np.random.default_rng(1)
    values = rng.normal(size=(2, math.comb(n_points + order - 1, order)))  # a leading batch axis
    tensor = expand_symmetric(values, n_points, order)
    assert tensor.shape == (2,) + (n_points,) * order
    for permutation in itertools.permutations(range(order)):
        np.testing.assert_array_equal(np.transpose(tensor, (0,) + tuple(p + 1 for p in permutation)), tensor)
    for k, t in enumerate(sorted_tuples(n_points, order)):
        np.testing.assert_array_equal(tensor[(slice(None),) + t], values[:, k])


@pytest.mark.parametrize("n_points, max_order", [(1, 6), (3, 4), (4, 6)])
def test_monomial_basis_layout(n_points, max_order):
    """Order k occupies C(n+k-1, k) consecutive slots, orders 1..max_order in turn."""
    basis = MonomialBasis(n_points, max_order)
    start = 0
    for order in range(1, max_order + 1):
        count = math.comb(n_points + order - 1, order)
        assert basis.order_slice(order) == slice(start, start + count)
        start += count
    assert basis.size == start


# --------------------------------------------------------------------------
# moments <-> cumulants
# --------------------------------------------------------------------------


def connected_four_point(G2: np.ndarray, G4: np.ndarray) -> np.ndarray:
    """G4c = G4 - [GG]_{1234}, [GG] = G12 G34 + G13 G24 + G14 G23 (PHYSICS.md §0.1)."""
    return G4 - np.einsum("ij,kl->ijkl", G2, G2) - np.einsum("ik,jl->ijkl", G2, G2) - np.einsum("il,jk->ijkl", G2, G2)


def connected_six_point_symmetric(G2: np.ndarray, G4: np.ndarray, G6: np.ndarray) -> np.ndarray:
    """G6c = G6 - sum_{15 (2|4) splits} G4 G2 + 2 sum_{15 pairings} G2 G2 G2 (PHYSICS.md §1.3)."""
    six = tuple(range(6))
    splits = list(itertools.combinations(six, 2))
    matchings = perfect_matchings(six)
    assert len(splits) == 15 and len(matchings) == 15
    result = G6.copy()
    for pair in splits:
        rest = tuple(i for i in six if i not in pair)
        result -= product_tensor([(G2, pair), (G4, rest)], 6)
    for matching in matchings:
        result += 2 * product_tensor([(G2, pair) for pair in matching], 6)
    return result


def connected_six_point_zero_mean(G2, G3, G4, G6) -> np.ndarray:
    """Zero mean, no parity: kappa_6 = m6 - sum_15 m4 m2 - sum_10 m3 m3 + 2 sum_15 m2 m2 m2."""
    result = connected_six_point_symmetric(G2, G4, G6)
    six = tuple(range(6))
    triple_splits = [t for t in itertools.combinations(six, 3) if 0 in t]  # {A, complement}, counted once
    assert len(triple_splits) == 10
    for triple in triple_splits:
        rest = tuple(i for i in six if i not in triple)
        result -= product_tensor([(G3, triple), (G3, rest)], 6)
    return result


def connected_five_point_zero_mean(G2, G3, G5) -> np.ndarray:
    """Zero mean: kappa_5 = m5 - sum_{10 (2|3) splits} m3 m2."""
    result = G5.copy()
    five = tuple(range(5))
    for pair in itertools.combinations(five, 2):
        rest = tuple(i for i in five if i not in pair)
        result -= product_tensor([(G2, pair), (G3, rest)], 5)
    return result


def test_cumulants_match_physics_1_3_for_symmetric_sample():
    """cumulants_from_moments = G4 - [GG] and G6 - sum_15 G4 G2 + 2 sum_15 G2 G2 G2 (PHYSICS.md §1.3).

    Moments of a correlated non-Gaussian sample made exactly Z2-symmetric by
    including -phi for every phi (odd moments vanish, the premise of §1.3).
    """
    n_points = 4
    sample = correlated_non_gaussian_sample(4000, n_points, seed=11)
    sample = np.concatenate([sample, -sample])
    moments = full_moment_tensors(sample, 6)
    basis = MonomialBasis(n_points, 6)
    cumulants = cumulants_from_moments(to_basis_vector(moments, n_points, 6), basis)

    G4c = connected_four_point(moments[2], moments[4])
    G6c = connected_six_point_symmetric(moments[2], moments[4], moments[6])
    # the sample is far from Gaussian, so the check is not 0 == 0
    assert np.max(np.abs(G6c)) > 0.1 * np.max(np.abs(moments[6]))
    np.testing.assert_allclose(
        cumulants[basis.order_slice(4)],
        at_sorted_tuples(G4c, n_points, 4),
        rtol=0,
        atol=1e-10 * np.abs(moments[4]).max(),
    )
    np.testing.assert_allclose(
        cumulants[basis.order_slice(6)],
        at_sorted_tuples(G6c, n_points, 6),
        rtol=0,
        atol=1e-10 * np.abs(moments[6]).max(),
    )
    np.testing.assert_allclose(cumulants[basis.order_slice(2)], at_sorted_tuples(moments[2], n_points, 2), rtol=1e-12)
    for odd in (1, 3, 5):
        assert np.max(np.abs(cumulants[basis.order_slice(odd)])) < 1e-10 * np.abs(moments[odd + 1]).max()


def test_cumulants_match_zero_mean_formulas_for_skewed_sample():
    """Centred but skewed sample: kappa_3 = m3, kappa_5 = m5 - sum_10 m3 m2,
    kappa_6 = m6 - sum_15 m4 m2 - sum_10 m3 m3 + 2 sum_15 m2 m2 m2."""
    n_points = 3
    sample = correlated_non_gaussian_sample(5000, n_points, seed=12)
    sample = sample - sample.mean(axis=0)
    moments = full_moment_tensors(sample, 6)
    basis = MonomialBasis(n_points, 6)
    cumulants = cumulants_from_moments(to_basis_vector(moments, n_points, 6), basis)

    references = {
        3: moments[3],
        4: connected_four_point(moments[2], moments[4]),
        5: connected_five_point_zero_mean(moments[2], moments[3], moments[5]),
        6: connected_six_point_zero_mean(moments[2], moments[3], moments[4], moments[6]),
    }
    assert np.max(np.abs(moments[3])) > 0.1  # genuinely skewed
    for order, reference in references.items():
        np.testing.assert_allclose(
            cumulants[basis.order_slice(order)],
            at_sorted_tuples(reference, n_points, order),
            rtol=0,
            atol=1e-10 * np.abs(moments[order]).max(),
            err_msg=f"order {order}",
        )


def test_cumulants_with_nonzero_mean_are_shift_invariant():
    """kappa_1 = mean; kappa_r (r >= 2) of phi + c equals kappa_r of phi; kappa_2 = covariance."""
    n_points = 3
    centred = correlated_non_gaussian_sample(3000, n_points, seed=13)
    centred = centred - centred.mean(axis=0)
    shift = np.array([1.5, -0.7, 0.3])
    basis = MonomialBasis(n_points, 6)
    of_centred = cumulants_from_moments(to_basis_vector(full_moment_tensors(centred, 6), n_points, 6), basis)
    of_shifted = cumulants_from_moments(to_basis_vector(full_moment_tensors(centred + shift, 6), n_points, 6), basis)
    np.testing.assert_allclose(of_shifted[basis.order_slice(1)], shift, rtol=1e-12)
    np.testing.assert_allclose(
        of_shifted[basis.order_slice(2)],
        at_sorted_tuples(np.cov(centred.T, bias=True), n_points, 2),
        rtol=1e-10,
    )
    for order in range(2, 7):
        scale = np.abs(of_centred[basis.order_slice(order)]).max()
        np.testing.assert_allclose(
            of_shifted[basis.order_slice(order)], of_centred[basis.order_slice(order)], rtol=0, atol=1e-9 * scale
        )


@pytest.mark.parametrize("n_points", [1, 2, 4])
def test_moments_from_cumulants_inverts_cumulants_from_moments(n_points):
    """Round trips moments -> cumulants -> moments and cumulants -> moments -> cumulants, nonzero means."""
    basis = MonomialBasis(n_points, 6)
    sample = correlated_non_gaussian_sample(2000, n_points, seed=14) + np.linspace(0.5, -1.0, n_points)
    moments = to_basis_vector(full_moment_tensors(sample, 6), n_points, 6)
    assert np.all(np.abs(moments[basis.order_slice(1)]) > 0.2)
    np.testing.assert_allclose(
        moments_from_cumulants(cumulants_from_moments(moments, basis), basis), moments, rtol=1e-10
    )

    rng = np.random.default_rng(15)
    cumulants = rng.normal(size=(3, basis.size))  # leading axes are carried through
    np.testing.assert_allclose(
        cumulants_from_moments(moments_from_cumulants(cumulants, basis), basis), cumulants, rtol=1e-9, atol=1e-11
    )


def exact_centred_gamma_moments(shape: int, max_order: int) -> list[int]:
    """E[(G - k)^r] for G ~ Gamma(k, 1) (a sum of k i.i.d. Exp(1)), exact integers.

    E[G^j] = k (k+1) ... (k+j-1); binomial expansion of (G - k)^r.
    """
    raw = [math.prod(range(shape, shape + j)) for j in range(max_order + 1)]
    return [sum(math.comb(r, j) * raw[j] * (-shape) ** (r - j) for j in range(r + 1)) for r in range(1, max_order + 1)]


@pytest.mark.parametrize("n_terms", [1, 3, 7])
def test_cumulants_of_sum_of_exponentials(n_terms):
    """S = sum of N centred Exp(1): kappa_1 = 0, kappa_r = N (r-1)! (r >= 2), from exact moments."""
    basis = MonomialBasis(1, 6)
    moments = np.array(exact_centred_gamma_moments(n_terms, 6), dtype=np.float64)
    expected = np.array([0.0] + [n_terms * math.factorial(r - 1) for r in range(2, 7)])
    np.testing.assert_allclose(cumulants_from_moments(moments, basis), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(moments_from_cumulants(expected, basis), moments, rtol=1e-12)


# --------------------------------------------------------------------------
# power sums, blocks, jackknife
# --------------------------------------------------------------------------


def reference_power_sums(samples: np.ndarray, weights: np.ndarray, max_order: int) -> np.ndarray:
    """sum_s w_s prod_j phi_s[t_j] over sorted tuples, float64 numpy, plus the same sum of |terms|."""
    n_points = samples.shape[1]
    sums, magnitudes = [], []
    for order in range(1, max_order + 1):
        for t in sorted_tuples(n_points, order):
            terms = weights * np.prod(samples[:, list(t)], axis=1)
            sums.append(terms.sum())
            magnitudes.append(np.abs(terms).sum())
    return np.array(sums), np.array(magnitudes)


@pytest.mark.parametrize("n_samples, n_points, max_order", [(1, 2, 3), (64, 3, 4), (256, 2, 6)])
def test_power_sums_match_numpy(n_samples, n_points, max_order):
    """power_sums = sum_s w_s phi_{t_1}..phi_{t_k} (float32 accuracy); abs_max = max_s w_s |phi_s|."""
    rng = np.random.default_rng(16)
    samples = rng.normal(size=(n_samples, n_points)).astype(np.float32)
    weights = rng.uniform(0.2, 2.0, size=n_samples).astype(np.float32)
    basis = MonomialBasis(n_points, max_order)
    jitted = jax.jit(power_sums, static_argnums=2)  # traceable, as documented
    sums, abs_max = jitted(jnp.asarray(samples), jnp.asarray(weights), basis)
    expected, magnitude = reference_power_sums(samples.astype(np.float64), weights.astype(np.float64), max_order)
    assert sums.shape == (basis.size,)
    # float32: each product and the pairwise tree add a few ulps of the sum of |terms|
    np.testing.assert_allclose(np.asarray(sums, dtype=np.float64), expected, rtol=0, atol=1e-5 * magnitude.max())
    assert np.all(np.abs(np.asarray(sums, dtype=np.float64) - expected) <= 1e-5 * magnitude)
    np.testing.assert_allclose(np.asarray(abs_max), np.max(np.abs(samples) * weights[:, None], axis=0), rtol=1e-6)


@pytest.mark.parametrize("n_samples", [3, 100, 96])
def test_power_sums_rejects_non_power_of_two(n_samples):
    """Chunk size must be a power of two (fixed pairwise summation tree)."""
    basis = MonomialBasis(2, 2)
    with pytest.raises(ValueError, match="power of two"):
        power_sums(jnp.zeros((n_samples, 2), jnp.float32), jnp.ones(n_samples, jnp.float32), basis)


def chunk_results(rng, n_chunks, chunk_size, basis):
    """Power sums, counts and |phi| maxima of ``n_chunks`` random chunks (numpy float64)."""
    samples = rng.normal(size=(n_chunks, chunk_size, basis.n_points))
    sums = np.stack([reference_power_sums(chunk, np.ones(chunk_size), basis.max_order)[0] for chunk in samples])
    return samples, np.full(n_chunks, float(chunk_size)), sums, np.abs(samples).max(axis=1)


def test_blocked_sums_add_and_merge_are_additive():
    """add puts each chunk's sums into its block; merge(A, B) = one accumulator fed A's and B's chunks."""
    rng = np.random.default_rng(17)
    basis = MonomialBasis(3, 4)
    samples, counts, sums, abs_max = chunk_results(rng, 6, 8, basis)
    block_ids = np.array([0, 2, 2, 1, 0, 2])

    together = BlockedSums.zeros(3, basis).add(block_ids, counts, sums, abs_max)
    first = BlockedSums.zeros(3, basis).add(block_ids[:4], counts[:4], sums[:4], abs_max[:4])
    second = BlockedSums.zeros(3, basis).add(block_ids[4:], counts[4:], sums[4:], abs_max[4:])
    merged = first.merge(second)
    sequential = first.add(block_ids[4:], counts[4:], sums[4:], abs_max[4:])

    for block in range(3):
        mine = block_ids == block
        np.testing.assert_allclose(together.counts[block], counts[mine].sum())
        np.testing.assert_allclose(together.sums[block], sums[mine].sum(axis=0), rtol=1e-13, atol=1e-13)
    for other in (merged, sequential):
        np.testing.assert_allclose(other.counts, together.counts)
        np.testing.assert_allclose(other.sums, together.sums, rtol=1e-13, atol=1e-13)
        np.testing.assert_array_equal(other.abs_max, np.abs(samples).max(axis=(0, 1)))
    assert together.total == 48
    all_samples = samples.reshape(-1, basis.n_points)
    np.testing.assert_allclose(
        together.means(), reference_power_sums(all_samples, np.ones(48), 4)[0] / 48, rtol=1e-12, atol=1e-14
    )
    # the inputs were not modified in place
    assert BlockedSums.zeros(3, basis).sums.sum() == 0 and first.total == 32


@pytest.mark.parametrize("n_used_blocks, n_blocks", [(10, 10), (5, 8), (2, 2)])
def test_jackknife_of_the_mean_is_the_block_standard_error(n_used_blocks, n_blocks):
    """Identity statistic, K equal blocks: jackknife stderr = s(block means) / sqrt(K); empty blocks ignored."""
    rng = np.random.default_rng(18)
    basis = MonomialBasis(2, 2)
    block_size = 40
    samples, counts, sums, abs_max = chunk_results(rng, n_used_blocks, block_size, basis)
    accumulator = BlockedSums.zeros(n_blocks, basis).add(np.arange(n_used_blocks), counts, sums, abs_max)

    estimate, stderr = jackknife(lambda moments: moments[..., basis.order_slice(1)], accumulator)
    block_means = samples.mean(axis=1)  # (K, n_points)
    np.testing.assert_allclose(estimate, samples.reshape(-1, 2).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stderr, block_means.std(axis=0, ddof=1) / math.sqrt(n_used_blocks), rtol=1e-10)


@pytest.mark.parametrize("n_blocks", [1, 4])
def test_jackknife_with_one_filled_block_gives_nan_stderr(n_blocks):
    """Fewer than two non-empty blocks: finite estimate, NaN standard error, and no warning."""
    rng = np.random.default_rng(19)
    basis = MonomialBasis(2, 2)
    samples, counts, sums, abs_max = chunk_results(rng, 1, 16, basis)
    accumulator = BlockedSums.zeros(n_blocks, basis).add(np.array([0]), counts, sums, abs_max)
    estimate, stderr = jackknife(lambda moments: moments[..., basis.order_slice(1)], accumulator)
    np.testing.assert_allclose(estimate, samples[0].mean(axis=0), rtol=1e-12)
    assert stderr.shape == estimate.shape
    assert np.all(np.isnan(stderr))
