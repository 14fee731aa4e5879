"""Landscapes of classical configurations (PHYSICS.md G.1): maxima where they are known in closed form."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from models.double_well_net import DoubleWell, double_well_net, landscape_prediction
from nnqft_ppl.box import Box
from nnqft_ppl.cli import main
from nnqft_ppl.deform import deform
from nnqft_ppl.landscape import _classify, landscape
from nnqft_ppl.potentials import polynomial
from nnqft_ppl.tracing import trace_network

GRID = np.linspace(-1.0, 1.0, 5)[:, None]


def test_double_well_landscape_is_a_continuum_of_constant_vacua():
    """Every climb ends at alpha = +-v, b = 0 with free phases: phi constant, log P and the Hessian
    spectrum (N x 8 kappa v^2, N x d/sigma_b^2, N flat) as predicted; one family, many fields."""
    params = {"width": 6, "kappa": 4.0, "v": 1.0}
    result = landscape("double_well_net", GRID, params=params, starts=32, steps=1500, learning_rate=0.05)
    expected = landscape_prediction(**params)
    assert result["converged"].all()
    assert np.allclose(np.abs(result["alpha"].values), 1.0, atol=1e-3) and np.abs(result["b"].values).max() < 1e-3
    assert np.allclose(result["configuration_log_density"], expected["max_log_density"], rtol=1e-5)
    spectrum = np.sort(np.concatenate([np.zeros(6), np.ones(6), np.full(6, expected["amplitude_curvature"])]))
    assert np.allclose(result["hessian_eigenvalues"].values, spectrum, atol=1e-3 * expected["amplitude_curvature"])
    assert set(result["kind"].values) == {"maximum"} and set(result["n_flat"].values) == {expected["flat_directions"]}
    phi = result["phi_configuration"].values
    assert np.allclose(phi, phi[:, :1], atol=1e-5)  # constant in x
    assert result.sizes["family"] == 1 and result["family_size"].values[0] > 20  # a continuum


def test_cos_net_has_a_unique_vacuum():
    """Gaussian a, b and uniform c: the only maximum is a = b = 0 (phi = 0), phases flat."""
    result = landscape("cos_net", GRID, params={"width": 5}, starts=16, steps=1500, learning_rate=0.05)
    assert result.sizes["configuration"] == 1 and np.abs(result["phi_configuration"].values).max() < 1e-5
    assert int(result["n_flat"].values[0]) == 5 and result["kind"].values[0] == "maximum"
    assert result["share"].values[0] == 1.0


def test_negative_mass_squared_phi4_has_maxima_in_pairs_related_by_phi_to_minus_phi():
    """V = -2 phi^2 + phi^4/24 on Scalar-net: the density is invariant under a -> -a (phi -> -phi), so the best
    configuration (a non-zero field) and its mirror are both maxima, with the same log-density."""
    model = deform("scalar_net", polynomial({2: -4.0, 4: 1.0}), Box(4.0))
    grid = np.linspace(-2.0, 2.0, 9)[:, None]
    params = {"width": 8, "cutoff": 3.0}
    result = landscape(model, grid, params=params, starts=64, steps=2000, learning_rate=0.05)
    phi, log_p = result["phi_configuration"].values, result["configuration_log_density"].values
    assert np.abs(phi[0]).max() > 1.0 and set(result["kind"].values[:2]) == {"maximum"}
    assert np.abs(phi[1] + phi[0]).max() < 1e-3 * np.abs(phi[0]).max()
    assert log_p[1] == pytest.approx(log_p[0], abs=1e-3)


def test_hessian_classification():
    eigenvalues = np.array([[1.0, 2.0, 1e-9], [-0.5, 1.0, 2.0], [0.0, 0.0, 3.0]])
    positive, flat, negative = _classify(eigenvalues, 1e-4)
    assert positive.tolist() == [2, 2, 1] and flat.tolist() == [1, 0, 2] and negative.tolist() == [0, 1, 0]


def test_maxima_of_p_theta_are_not_maxima_of_the_field_density():
    """G.1's caveat, measured on the double-well net (N = 6): every maximum of P(theta) has |alpha_i| = v and
    a constant field anywhere in [-v sqrt(N), v sqrt(N)] (the continuum above), yet the density of phi(0)
    over the ensemble peaks at 0, with the variance E[alpha^2]/2 of the CLT Gaussian."""
    params = {"width": 6, "kappa": 4.0, "v": 1.0}
    keys = jax.random.split(jax.random.PRNGKey(3), 20_000)
    x = jnp.zeros((1, 1))
    fields = np.asarray(jax.vmap(lambda key: trace_network(double_well_net, key, x, params)["phi"]["value"][0])(keys))
    alpha = np.asarray(DoubleWell(4.0, 1.0).sample(jax.random.PRNGKey(0), (200_000,)))
    assert np.var(fields) == pytest.approx(np.mean(alpha**2) / 2, rel=0.05)
    counts, _ = np.histogram(fields, bins=np.linspace(-2.5, 2.5, 11))
    assert int(np.argmax(counts)) in (4, 5)  # a central bin: the field's density peaks at 0


def test_landscape_command(tmp_path, capsys):
    out = tmp_path / "land"
    arguments = ["landscape", "double_well_net", "--set", "width=4", "--starts", "8", "--steps", "800"]
    assert main(arguments + ["--grid", "0;0.5", "--out", str(out), "--json", str(tmp_path / "l.json")]) == 0
    assert {"landscape.nc", "landscape.png", "result.json"} <= {p.name for p in out.iterdir()}
    record = json.loads((tmp_path / "l.json").read_text())
    assert record["converged"] >= 6 and {c["kind"] for c in record["configurations"]} == {"maximum"}
    assert "families" in capsys.readouterr().out
    assert main(["landscape", "cos_net", "--deform", "phi4:lam=1"]) == 2
    assert "--deform and --box go together" in capsys.readouterr().err


def test_searches_of_other_shapes_and_phases_starting_on_the_whole_circle():
    """Regression: the cached climb is per shape (a second search with other starts or points works), and
    the unwrapped phases start uniform on [-pi, pi): after one tiny step |c| > 2 for 1 - 2/pi of them."""
    from nnqft_ppl.inference import map_search

    map_search("cos_net", [[0.0], [0.5]], params={"width": 3}, starts=4, steps=5)
    map_search("cos_net", [[0.0], [0.5], [1.0]], params={"width": 3}, starts=8, steps=5)
    result = map_search("cos_net", [[0.0], [0.5]], params={"width": 8}, starts=64, steps=1, learning_rate=1e-6)
    share, expected = np.mean(np.abs(result["c"].values) > 2), 1 - 2 / np.pi
    assert abs(share - expected) < 5 * np.sqrt(expected * (1 - expected) / result["c"].size)


def test_ball_map_and_momentum_density_have_finite_gradients_at_the_origin():
    """Climbs towards constant fields reach b = 0 exactly in single precision: no NaN there."""
    from models.scalar_net import scalar_design
    from nnqft_ppl.spectral import BallTransform

    ball = BallTransform(3.0)
    assert np.allclose(jax.jacobian(ball)(jnp.zeros(2)), 3.0 * np.eye(2))
    assert np.all(np.isfinite(jax.grad(lambda u: ball.log_abs_det_jacobian(u, ball(u)))(jnp.zeros(2))))
    log_prob = scalar_design(1, 1.0, 3.0, 0.0).momentum_distribution.log_prob
    assert np.all(jax.grad(log_prob)(jnp.zeros(1)) == 0.0)
