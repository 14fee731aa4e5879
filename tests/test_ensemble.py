"""The brute-force ensemble engine against closed forms (PHYSICS.md B.1-B.3, §1.2-1.3)."""

import warnings

import numpy as np
import pytest
from helpers import K_SIGMA, max_deviation, max_difference

import nnqft_ppl as nn
from nnqft_ppl.streaming import TRACE_COUNTS

POINTS_1D = [[0.0], [0.4], [1.1]]
POINTS_2D = [[0.0, 0.0], [0.5, 0.2], [-0.3, 0.6]]


@pytest.mark.parametrize(
    "model, params, points, n_nets",
    [
        ("cos_net", {"width": 4, "sigma_a": 1.3, "sigma_b": 1.5}, POINTS_1D, 200_000),
        ("cos_net", {"width": 3, "sigma_b": 1.0}, POINTS_2D, 200_000),
        ("gauss_net", {"width": 3, "sigma_w": 1.0, "sigma_b": 0.3}, [[0.0], [0.1], [0.3]], 200_000),
        ("erf_net", {"width": 2}, [[-0.6], [0.2], [1.0]], 200_000),
        ("relu_net", {"width": 3, "sigma_b": 0.5}, POINTS_2D, 200_000),
    ],
)
def test_two_and_four_point_functions_match_finite_width_theory(model, params, points, n_nets):
    """G2 (exact at every N) and G4c = (1/N)(mu4 E[hhhh] - mu2^2 sum E[hh]E[hh]) (PHYSICS §1.2)."""
    dataset = nn.sample_ensemble(model, points, n_nets=n_nets, orders=(2, 4), params=params, seed=1)
    for name in ("G2", "G4", "G4c"):
        assert max_deviation(dataset, name) < K_SIGMA, name
    # the 1/N signal itself is resolved, so the comparison is not vacuous
    assert np.max(np.abs(dataset["G4c_theory"].values) / dataset["G4c_stderr"].values) > 8


def test_six_point_connected_function_at_small_width():
    """G6c = N^-2 kappa_6 of one neuron (PHYSICS §1.3), resolved at width 2."""
    params = {"width": 2, "sigma_b": 1.2}
    points = [[0.0], [0.7], [1.5]]
    dataset = nn.sample_ensemble("cos_net", points, n_nets=400_000, orders=(2, 4, 6), params=params, seed=2)
    for name in ("G6", "G6c"):
        assert max_deviation(dataset, name) < K_SIGMA, name
    assert np.max(np.abs(dataset["G6c_theory"].values) / dataset["G6c_stderr"].values) > 5


def test_odd_orders_vanish_for_a_z2_symmetric_field():
    dataset = nn.sample_ensemble("cos_net", POINTS_1D, n_nets=50_000, orders=(1, 3), params={"width": 3})
    for name in ("G1", "G3", "G3c"):
        assert max_deviation(dataset, name, reference=0.0) < K_SIGMA


def test_tensors_are_permutation_symmetric_and_follow_the_points():
    """Permuting the points permutes the tensors (same networks: same seed)."""
    points = np.array([[0.0], [0.3], [0.9], [1.4]])
    order = [2, 0, 3, 1]
    first = nn.sample_ensemble("cos_net", points, n_nets=5_000, orders=(4,), params={"width": 3})
    second = nn.sample_ensemble("cos_net", points[order], n_nets=5_000, orders=(4,), params={"width": 3})
    g4 = first["G4c"].values
    assert np.allclose(g4, g4.transpose(1, 0, 3, 2)) and np.allclose(g4, g4.transpose(3, 2, 1, 0))
    np.testing.assert_allclose(second["G4c"].values, g4[np.ix_(order, order, order, order)], atol=1e-6)


def _rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def test_cos_net_is_euclidean_invariant_at_finite_width():
    """P(theta) is invariant under the parameter map induced by x -> R x + v (PHYSICS A.2)."""
    points = np.array(POINTS_2D)
    moved = points @ _rotation(0.9).T + np.array([2.0, -1.5])
    params = {"width": 2, "sigma_b": 1.5}
    first = nn.sample_ensemble("cos_net", points, n_nets=200_000, orders=(4,), params=params, seed=3)
    second = nn.sample_ensemble("cos_net", moved, n_nets=200_000, orders=(4,), params=params, seed=4)
    assert max_difference(first, second, "G4c") < K_SIGMA


def test_gauss_net_is_rotation_but_not_translation_invariant_at_finite_width():
    """Gauss-net G4c depends on sum |x_i|^2 (PHYSICS B.2): only O(d) survives at finite N."""
    points = np.array([[0.1, 0.0], [0.0, 0.25], [-0.2, 0.1]])
    params = {"width": 2, "sigma_b": 0.3}
    options = dict(n_nets=200_000, orders=(4,), params=params)
    base = nn.sample_ensemble("gauss_net", points, seed=5, **options)
    rotated = nn.sample_ensemble("gauss_net", points @ _rotation(2.0).T, seed=6, **options)
    shifted = nn.sample_ensemble("gauss_net", points + np.array([0.3, 0.3]), seed=7, **options)
    assert max_difference(base, rotated, "G4c") < K_SIGMA
    assert max_difference(base, shifted, "G4c") > 2 * K_SIGMA


def test_no_recompilation_across_batches_or_repeated_runs():
    """The batch function is traced once however many batches a run has, and a second
    run of the same model, hyperparameters and point-set shape reuses it."""
    params = {"width": 5, "sigma_b": 0.77}
    before = TRACE_COUNTS["batch"]
    nn.sample_ensemble("cos_net", POINTS_1D, n_nets=10 * 256 + 17, params=params, batch_size=512)
    assert TRACE_COUNTS["batch"] - before == 1
    nn.sample_ensemble("cos_net", np.array(POINTS_1D) + 1.0, n_nets=5 * 256, params=params, batch_size=512, seed=4)
    assert TRACE_COUNTS["batch"] - before == 1


def test_small_runs_have_error_bars():
    """Jackknife blocks are groups of 16 networks: 100 networks already give an error bar."""
    dataset = nn.sample_ensemble("cos_net", POINTS_1D, n_nets=100, params={"width": 3})
    assert dataset.attrs["n_blocks"] == 7 and np.all(np.isfinite(dataset["G2_stderr"].values))


def test_heavy_tails_are_reported_with_evidence():
    """Gauss-net with sigma_b = 1 has log-normal neurons (PHYSICS B.2)."""
    with pytest.warns(nn.HeavyTailWarning, match=r"largest of .* networks carries"):
        dataset = nn.sample_ensemble("gauss_net", [[0.0], [0.5]], n_nets=20_000, params={"width": 2, "sigma_b": 1.5})
    assert "heavy tails" in dataset.attrs["heavy_tails"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", nn.HeavyTailWarning)
        nn.sample_ensemble("cos_net", [[0.0], [0.5]], n_nets=20_000, params={"width": 2})


def test_dataset_is_labelled_and_round_trips_through_netcdf(tmp_path):
    dataset = nn.sample_ensemble("cos_net", POINTS_1D, n_nets=2_000, orders=(2, 4), params={"width": 3}, seed=9)
    assert dataset["G4c"].dims == ("p1", "p2", "p3", "p4")
    assert dataset.attrs["nets"] == 2_000 and dataset.attrs["method"] == "ensemble"
    dataset.to_netcdf(tmp_path / "run.nc", engine="h5netcdf")
    import xarray as xr

    with xr.open_dataset(tmp_path / "run.nc", engine="h5netcdf") as loaded:
        np.testing.assert_array_equal(loaded["G4c"].values, dataset["G4c"].values)
