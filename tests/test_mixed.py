"""Mixed field-neuron correlators (nnqft_ppl.mixed) against PHYSICS.md G.2.

References, written out here from the closed forms (not from the library's theory): for Cos-net,
G2(x, y) = sigma_a^2/2 e^{-sigma_b^2 |x-y|^2/2d} and

    E[phi(x) a_j h_j(z)] = G2(x, z)/N,   E[phi(x) h_j(z)] = 0,
    E[phi(x) phi(y) h_j(z)^2] = G2(x, y)/2 + sigma_a^2/(8N) e^{-sigma_b^2 |x+y-2z|^2/2d};

for the Fourier-feature net (Rayleigh amplitudes r, E[r] = sigma_a sqrt(pi/4N)) the bare one is
E[r] E[h(x) h(z)] = sigma_a sqrt(pi/4N) e^{-sigma_b^2 |x-z|^2/2d}/2.  N = 3 and sigma_b = 2, so
that the 1/N term is resolved and varies on the grid of probe points.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from helpers import K_SIGMA

from nnqft_ppl.cli import main
from nnqft_ppl.inference import nuts
from nnqft_ppl.mixed import OBSERVABLES, MixedObservable, mixed_correlators, mixed_draws, mixed_from_draws
from nnqft_ppl.moments import jackknife_stderr
from nnqft_ppl.nets import cos_neurons, linear_readout

WIDTH, SIGMA_B = 3, 2.0
PARAMS = {"width": WIDTH, "sigma_b": SIGMA_B}
FIELD = np.array([[0.0], [1.0]])
PROBES = np.array([[-0.5], [0.0], [0.25], [0.5], [0.75], [1.0], [1.5]])
NAMES = tuple(OBSERVABLES)


def g2(x, y, sigma_a=1.0):
    return sigma_a**2 / 2 * np.exp(-(SIGMA_B**2) * np.sum((x - y) ** 2, axis=-1) / 2)


def cos_net_references(field, probes, n=WIDTH):
    """The G.2 closed forms, dims (x, z) and (x, y, z)."""
    x, y, z = field[:, None, None], field[None, :, None], probes[None, None, :]
    midpoint_term = np.exp(-(SIGMA_B**2) * np.sum((x + y - 2 * z) ** 2, axis=-1) / 2) / (8 * n)
    return {
        "field_neuron": g2(field[:, None], probes[None, :]) / n,
        "field_bare_neuron": np.zeros((len(field), len(probes))),
        "field_field_neuron_squared": g2(x, y) / 2 + midpoint_term,
    }


def deviations(dataset, name, reference):
    return np.abs(dataset[name].values - reference) / dataset[f"{name}_stderr"].values


@pytest.fixture(scope="module")
def cos_run():
    """2^15 Cos-nets at N = 3, every neuron averaged (one compiled program for the tests below)."""
    return mixed_correlators(
        "cos_net", FIELD, PROBES, NAMES, n_nets=2**15, seed=11, params=PARAMS, progress=False, keep_replicas=True
    )


def test_g2_formulas_match_the_ensemble(cos_run):
    references = cos_net_references(FIELD, PROBES)
    for name in NAMES:
        assert cos_run[f"{name}_theory"].shape == cos_run[name].shape
        np.testing.assert_allclose(cos_run[f"{name}_theory"].values, references[name], atol=1e-12)
        assert deviations(cos_run, name, references[name]).max() < K_SIGMA, name
    assert cos_run["field_neuron"].dims == ("x", "z") and cos_run["field_field_neuron_squared"].dims == ("x", "y", "z")
    assert cos_run.attrs["neuron"] == "mean" and cos_run.attrs["nets"] == 2**15
    np.testing.assert_array_equal(cos_run["neuron_points"].values, PROBES)


def test_the_one_over_n_terms_are_resolved(cos_run):
    """E[phi phi h^2] differs from its N -> infinity value G2/2, and E[phi a_j h_j] from 0, by many errors."""
    x, y = FIELD[0], FIELD[1]
    k = int(np.flatnonzero(PROBES[:, 0] == 0.5)[0])
    measured = cos_run["field_field_neuron_squared"].values[0, 1, k]
    stderr = cos_run["field_field_neuron_squared_stderr"].values[0, 1, k]
    assert abs(measured - g2(x, y) / 2) > 3 * K_SIGMA * stderr
    assert abs(measured - g2(x, y) / 2 - 1 / (8 * WIDTH)) < K_SIGMA * stderr
    large = cos_net_references(FIELD, PROBES)["field_neuron"] > 0.05
    assert np.all(cos_run["field_neuron"].values[large] > K_SIGMA * cos_run["field_neuron_stderr"].values[large])


def test_the_neuron_resolved_term_peaks_at_the_midpoint(cos_run):
    """The 1/N part of E[phi(x) phi(y) h_j(z)^2] over the grid of z is largest at z = (x + y)/2, for every pair."""
    name = "field_field_neuron_squared"
    one_over_n = cos_run[name].values - g2(FIELD[:, None], FIELD[None, :])[:, :, None] / 2
    replicas = cos_run[f"{name}_replicas"].values
    for i, j in ((0, 1), (0, 0), (1, 1)):
        midpoint = int(np.flatnonzero(PROBES[:, 0] == (FIELD[i, 0] + FIELD[j, 0]) / 2)[0])
        assert int(np.argmax(one_over_n[i, j])) == midpoint
        far = int(np.argmax(np.abs(PROBES[:, 0] - PROBES[midpoint, 0])))
        drop = one_over_n[i, j, midpoint] - one_over_n[i, j, far]
        assert drop > K_SIGMA * jackknife_stderr(replicas[:, i, j, midpoint] - replicas[:, i, j, far])


def test_general_formulas_fixed_neuron_and_user_observables():
    """Fourier-feature net (mean amplitude E[r] != 0, so E[phi h_j] != 0), one fixed neuron j = 1, and the
    user's observables: per neuron h_j(z)^2 (mean 1/2), per network phi(x)^2 (G2(x, x))."""
    squares = MixedObservable("h_squared", lambda values: values["h"].T ** 2, ("z",), requires=("h",))
    field_squared = MixedObservable("phi_squared", lambda values: values["phi"] ** 2, ("x",), per_neuron=False)
    observables = (*NAMES, squares, field_squared)
    run = mixed_correlators(
        "fourier_net", FIELD, PROBES, observables, n_nets=2**15, seed=3, params=PARAMS, neuron=1, progress=False
    )
    references = cos_net_references(FIELD, PROBES)
    references["field_bare_neuron"] = math.sqrt(math.pi / (4 * WIDTH)) * g2(FIELD[:, None], PROBES[None, :])
    for name in NAMES:
        np.testing.assert_allclose(run[f"{name}_theory"].values, references[name], atol=1e-12)
        assert deviations(run, name, references[name]).max() < K_SIGMA, name
    large = references["field_bare_neuron"] > 0.1
    assert np.all(run["field_bare_neuron"].values[large] > K_SIGMA * run["field_bare_neuron_stderr"].values[large])
    assert deviations(run, "h_squared", 0.5).max() < K_SIGMA and "h_squared_theory" not in run
    assert deviations(run, "phi_squared", 0.5).max() < K_SIGMA and run.attrs["neuron"] == 1


@pytest.mark.slow
def test_mcmc_draws_agree_with_the_theory():
    """Undeformed Cos-net sampled by NUTS: the mixed correlators of the draws, ESS-based errors, match G.2.
    (Slow: compiling NUTS takes ~10 s of CPU on 2 cores; the mixed values of the draws ~1.5 s.)"""
    idata = nuts("cos_net", FIELD, params=PARAMS, chains=2, samples=500, warmup=300, seed=5)
    probes = PROBES[[0, 3, 5]]
    draws = mixed_draws(idata, NAMES, probes)
    assert draws["field_field_neuron_squared"].dims == ("chain", "draw", "x", "y", "z")
    assert draws["field_neuron"].shape == (2, 500, 2, 3)
    run = mixed_from_draws(idata, NAMES, probes)
    references = cos_net_references(FIELD, probes)
    for name in NAMES:
        np.testing.assert_allclose(run[f"{name}_theory"].values, references[name], atol=1e-12)
        assert deviations(run, name, references[name]).max() < K_SIGMA, name
        assert run[f"{name}_r_hat"].max() < 1.05
    assert run.attrs["method"] == "nuts" and run.attrs["nets"] == 1000 and run.attrs["min_ess"] > 200


def test_command_line_writes_mixed_correlators_with_theory(tmp_path, capsys):
    record_path, out = tmp_path / "run.json", tmp_path / "out"
    arguments = ["sample", "cos_net", "--points", "0;1", "--set", "width=3", "--set", "sigma_b=2", "--nets", "4096"]
    arguments += ["--orders", "2", "--mixed", "field_neuron,field_field_neuron_squared", "--neuron-points", "-0.5;0.5"]
    assert main(arguments + ["--json", str(record_path), "--out", str(out)]) == 0
    record = json.loads(record_path.read_text())
    mixed = record["mixed"]
    assert set(mixed["observables"]) == {"field_neuron", "field_field_neuron_squared"}
    assert mixed["neuron_points"] == [[-0.5], [0.5]] and mixed["nets"] == 4096 and mixed["neuron"] == "mean"
    references = cos_net_references(FIELD, np.array([[-0.5], [0.5]]))
    for name, entry in mixed["observables"].items():
        np.testing.assert_allclose(entry["theory"], references[name], atol=1e-12)
        assert np.max(np.abs(np.array(entry["mean"]) - references[name]) / np.array(entry["stderr"])) < K_SIGMA
    assert mixed["observables"]["field_field_neuron_squared"]["dims"] == ["x", "y", "z"]
    import xarray as xr

    with xr.open_dataset(out / "correlators.nc", engine="h5netcdf") as stored:
        assert {"G2", "field_neuron_theory", "field_field_neuron_squared_stderr"} <= set(stored.data_vars)
    assert "field_field_neuron_squared" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mixed", "bogus"], "unknown mixed observable 'bogus'"),
        (["--mixed", "field_neuron", "--neuron-points", "0,1"], "neuron probe points have d=2"),
        (["--neuron-points", "0"], "--neuron-points goes with --mixed"),
    ],
)
def test_command_line_bad_input_is_one_line_with_status_2(extra, message, capsys):
    assert main(["sample", "cos_net", "--points", "0;1", "--nets", "256", "--quiet"] + extra) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and "Traceback" not in error


def field_only_net(x, width=2):
    """No neurons recorded: phi only."""
    import numpyro

    h = cos_neurons(x, width, 1.0)
    numpyro.deterministic("phi", h.sum(axis=1))


def unweighted_net(x, width=2):
    """Neurons 'h' recorded, but no output weights 'a'."""
    import numpyro

    h = numpyro.deterministic("h", cos_neurons(x, width, 1.0))
    numpyro.deterministic("phi", h.sum(axis=1))


def weighted_net(x, width=2):
    linear_readout(cos_neurons(x, width, 1.0), 1.0)


@pytest.mark.parametrize(
    "model, arguments, message",
    [
        ("cos_net", {"observables": "field_phonon"}, "unknown mixed observable 'field_phonon'"),
        ("cos_net", {"neuron_points": [[0.0, 1.0]]}, "neuron probe points have d=2 coordinates, the field points d=1"),
        (field_only_net, {"observables": "field_bare_neuron"}, "records no site 'h'"),
        (unweighted_net, {"observables": "field_neuron"}, "records no site 'a'"),
        (weighted_net, {"neuron": 2}, "neuron must be None (average over neurons) or an integer in [0, 2)"),
        (weighted_net, {"observables": lambda values: values["phi"]}, "a per-neuron observable returns (width, ...)"),
    ],
)
def test_bad_input_names_the_problem(model, arguments, message):
    with pytest.raises(ValueError) as error:
        mixed_correlators(model, [[0.0], [0.5], [1.0]], **{"n_nets": 256, **arguments})
    assert message in str(error.value)
