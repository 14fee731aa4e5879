"""NUTS, MAP and the ArviZ layer (nnqft_ppl.inference) against exact answers.

References: the constant field of test_deform (phi ~ N(0, 1) at every point, deformed law
exp(-phi^2/2 - |V| V(phi)), moments by quadrature); undeformed Cos-net and Scalar-net, whose
exact correlators the theory gives (the phases and ball momenta exercise the reparametrisations).
"""

from __future__ import annotations

import json
import math

import arviz as az
import numpy as np
import pytest
from helpers import K_SIGMA, max_deviation
from test_deform import POINTS, constant_net, deformed_moment

from nnqft_ppl.box import Box
from nnqft_ppl.cli import main
from nnqft_ppl.deform import deform
from nnqft_ppl.inference import InferenceWarning, diagnostics, map_search, mcmc_correlators, nuts
from nnqft_ppl.potentials import phi4, polynomial


def test_nuts_on_a_deformed_constant_field_matches_the_exact_law():
    potential = phi4(3.0)
    model = deform(constant_net, potential, Box(2.0), nodes_per_side=3)
    idata = nuts(model, POINTS, chains=4, samples=1000, warmup=500, seed=2, target_accept=0.95)
    assert {"posterior", "sample_stats", "constant_data"} <= set(idata.groups())
    assert idata.posterior["phi"].dims == ("chain", "draw", "point")
    assert idata.posterior["a"].dims == ("chain", "draw", "neuron")
    assert {"diverging", "energy", "lp", "tree_depth", "step_size", "acceptance_rate"} <= set(idata.sample_stats)
    summary = diagnostics(idata)
    assert summary["problems"] == [] and summary["max_r_hat"] < 1.01 and summary["divergences"] == 0
    run = mcmc_correlators(idata, (2, 4))
    m2, m4 = (deformed_moment(potential, 2.0, k) for k in (2, 4))
    assert abs(run["G2"].values[0, 1] - m2) < K_SIGMA * run["G2_stderr"].values[0, 1]
    assert abs(run["G4c"].values[0, 0, 0, 1] - (m4 - 3 * m2**2)) < K_SIGMA * run["G4c_stderr"].values[0, 0, 0, 1]
    assert abs(m2 - 1) > 8 * run["G2_stderr"].values[0, 1]
    assert run.attrs["min_ess"] > 1000 and run.attrs["method"] == "nuts"


def test_phases_are_sampled_without_a_boundary():
    """Undeformed Cos-net (N = 3): NUTS with the 2-vector phases reproduces the exact G2 and G4c, and the
    phases cover the circle uniformly (E cos c = E sin c = 0 within errors)."""
    params = {"width": 3, "sigma_b": 1.0}
    idata = nuts("cos_net", [[0.0], [0.8]], params=params, chains=2, samples=1500, warmup=500, seed=2)
    assert "c_vector" not in idata.posterior and idata.posterior["c"].dims == ("chain", "draw", "neuron")
    run = mcmc_correlators(idata, (2, 4), model="cos_net")
    assert max_deviation(run, "G2") < K_SIGMA and max_deviation(run, "G4c") < K_SIGMA
    phases = idata.posterior["c"].values.ravel()
    assert np.all(np.abs(phases) <= math.pi)
    for moment in (np.cos(phases), np.sin(phases)):
        assert abs(moment.mean()) < K_SIGMA * moment.std() / math.sqrt(float(az.ess(idata, var_names=["c"])["c"].min()))


def test_momenta_in_the_ball_move_freely():
    """Undeformed Scalar-net with cutoff 3 (N = 2): momenta stay in the ball, G2 matches the theory."""
    idata = nuts("scalar_net", [[0.0], [0.6]], params={"width": 2, "cutoff": 3.0}, chains=2, samples=1000, seed=3)
    assert float(np.abs(idata.posterior["b"]).max()) < 3.0
    assert max_deviation(mcmc_correlators(idata, (2,), model="scalar_net"), "G2") < K_SIGMA
    assert diagnostics(idata, warn=False)["divergences"] == 0


def test_mcmc_errors_and_diagnostics_on_synthetic_draws():
    """Independent draws: the ESS-based error of G2 is sd/sqrt(n) (to 10 %); chains that disagree warn."""
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(4, 2000, 2))
    stats = {
        "diverging": np.zeros((4, 2000), bool),
        "n_steps": np.full((4, 2000), 7),
        "energy": rng.normal(size=(4, 2000)),
    }
    idata = az.from_dict(
        posterior={"phi": phi},
        sample_stats=stats,
        constant_data={"points": np.array([[0.0], [1.0]])},
        dims={"phi": ["point"], "points": ["point", "coordinate"]},
        attrs={"model": "synthetic", "params": "{}", "method": "nuts", "seed": 0},
    )
    run = mcmc_correlators(idata, (2, 4))
    expected = np.std(phi[..., 0] ** 2) / math.sqrt(8000)
    assert run["G2_stderr"].values[0, 0] == pytest.approx(expected, rel=0.1)
    assert abs(run["G4c"].values[0, 0, 1, 1]) < K_SIGMA * run["G4c_stderr"].values[0, 0, 1, 1]
    assert diagnostics(idata, warn=False)["problems"] == []
    shifted = phi + np.array([0.0, 0.0, 0.0, 0.5])[:, None, None]
    bad = az.from_dict(
        posterior={"phi": shifted},
        sample_stats={**stats, "diverging": stats["diverging"] | (rng.random((4, 2000)) < 0.01)},
    )
    with pytest.warns(InferenceWarning, match="R-hat .*divergent"):
        summary = diagnostics(bad)
    assert summary["max_r_hat"] > 1.01 and summary["divergences"] > 0


def test_map_finds_both_vacua_of_a_double_well():
    """Constant field with V = -phi^2/2 + phi^4/48 on a box of volume 2: log P = -phi^2/2 - 2 V(phi) at
    a_i = phi/N, maximal at phi^2 = 12 (|V| - 1)/|V| = 6; both signs are found, with equal log-density."""
    model = deform(constant_net, polynomial({2: -1.0, 4: 0.5}), Box(2.0), nodes_per_side=3)
    result = map_search(model, POINTS, starts=16, steps=1500, learning_rate=0.05, seed=4)
    best = result.isel(start=slice(0, 4))
    assert np.allclose(np.abs(best["phi"].values), math.sqrt(6.0), rtol=1e-3)
    assert set(np.sign(result["phi"].values[:, 0]).tolist()) == {-1.0, 1.0}
    assert np.allclose(best["log_density"], best["log_density"][0], rtol=1e-5)
    assert np.all(best["gradient_norm"] < 1e-2) and list(result["log_density"].values) == sorted(
        result["log_density"].values, reverse=True
    )


def test_infer_command(tmp_path, capsys):
    out = tmp_path / "nuts"
    arguments = ["infer", "scalar_net", "--points", "0;0.5", "--set", "width=4", "--set", "cutoff=3"]
    deformation = ["--deform", "phi4:lam=0.5", "--box", "L=2"]
    small = ["--chains", "2", "--samples", "200", "--warmup", "200", "--quiet"]
    with pytest.warns(InferenceWarning, match="min ESS"):  # 2 x 200 draws are too few for the threshold
        assert main(arguments + deformation + small + ["--out", str(out), "--json", str(tmp_path / "r.json")]) == 0
    assert {"inference.nc", "summary.csv", "trace.png", "rank.png", "correlators.nc", "result.json"} <= {
        p.name for p in out.iterdir()
    }
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["model"] == "scalar_net+phi4:lam=0.5" and record["method"] == "nuts"
    assert set(record["diagnostics"]) >= {"max_r_hat", "min_ess_bulk", "divergences", "problems"}
    assert np.array(record["theory"]["G4c"]).shape == (2, 2, 2, 2)
    assert az.from_netcdf(out / "inference.nc").posterior["phi"].shape == (2, 200, 2)
    assert main(arguments + deformation + ["--method", "map", "--starts", "4", "--steps", "50", "--quiet"]) == 0
    assert (
        main(arguments + deformation + ["--method", "reweight", "--nets", "4096", "--json", str(tmp_path / "w.json")])
        == 0
    )
    reweighted = json.loads((tmp_path / "w.json").read_text())
    assert reweighted["method"] == "reweight" and reweighted["importance_ess"] > 1000
    assert reweighted["deformation"]["potential"] == "phi4:lam=0.5" and reweighted["deformation"]["box"]["length"] == 2
    assert record["deformation"]["discretisation_error"] < 1e-6
    assert "effective" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--deform", "phi4:lam=0.1"], "--deform and --box go together"),
        (["--deform", "phi4:lam=-1", "--box", "L=2"], "unbounded below"),
        (["--deform", "phi4:lam=0.1", "--box", "L=2,d=2"], "the points have d = 1"),
        (["--method", "hmc"], "invalid choice"),
        (["--chains", "0"], "chains must be a positive integer"),
    ],
)
def test_infer_command_bad_input(arguments, message, capsys):
    assert main(["infer", "cos_net", "--points", "0;1", "--quiet"] + arguments) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
