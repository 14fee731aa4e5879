"""Osterwalder-Schrader checks: reflection positivity and cluster decomposition (PHYSICS.md C, B.3)."""

from __future__ import annotations

import json
import math

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from helpers import K_SIGMA

from models import cauchy_net, scalar_net
from nnqft_ppl.axioms import (
    cluster_decomposition,
    euclidean_invariance,
    exact_reflection_ratio,
    reflection_positivity,
)
from nnqft_ppl.cli import main
from nnqft_ppl.nets import linear_readout

TIMES = np.linspace(0.25, 2.0, 8)[:, None]


def lorentzian_cos_net(x, width=10, d=1, mass=1.0):
    """Cos-net with b ~ Cauchy(0, m) in d = 1: G2 = e^{-m|t - t'|}/2, reflection positive (PHYSICS.md A.4, C.2)."""
    with numpyro.plate("neurons", width):
        b = numpyro.sample("b", dist.Cauchy(0.0, mass))
        c = numpyro.sample("c", dist.Uniform(-math.pi, math.pi))
    return linear_readout(jnp.cos(x * b[None, :] + c[None, :]), 1.0)


def test_gaussian_spectrum_cos_net_violates_reflection_positivity():
    """[G(t_i + t_j)] with G ~ exp(-t^2/2) is not PSD (C.2); the measured statistic matches the exact e_min/e_max."""
    check = reflection_positivity("cos_net", TIMES, params={"width": 100}, n_nets=50_000, progress=False)
    assert check.verdict == "violated"
    assert check.theory < -0.05
    assert abs(check.statistic - check.theory) < K_SIGMA * check.stderr


@pytest.mark.parametrize("seed", [0, 1])
def test_lorentzian_spectrum_is_reflection_positive(seed):
    """e^{-m|t|} is completely monotone: [G(t_i + t_j)] is rank one, f.M.f >= 0 for every fixed f."""
    check = reflection_positivity(lorentzian_cos_net, TIMES, n_nets=40_000, seed=seed, progress=False)
    assert check.verdict == "satisfied within errors"
    assert check.stderr < 0.02  # the test has power: cos_net's violation is -0.09


def test_hard_cutoff_scalar_violates_rp_weakly_and_less_as_the_cutoff_grows():
    """C.2: the cutoff propagator goes negative at large t ~ -sin(L t)/(pi L^2 t); e_min/e_max < 0,
    shrinking towards 0 as L grows, while the Cauchy net (exactly e^{-m|t|}) is RP."""
    ratios = [exact_reflection_ratio(scalar_net.theory(mass=1.0, cutoff=cutoff), TIMES) for cutoff in (3, 10, 40, 80)]
    assert all(r < 0 for r in ratios) and ratios == sorted(ratios) and ratios[-1] > -1e-3
    assert exact_reflection_ratio(cauchy_net.theory(mass=1.0), TIMES) > -1e-12
    strong = reflection_positivity(
        "scalar_net", TIMES, params={"width": 100, "cutoff": 3.0}, n_nets=40_000, progress=False
    )
    weak = reflection_positivity(
        "scalar_net", TIMES, params={"width": 100, "cutoff": 80.0}, n_nets=40_000, progress=False
    )
    assert strong.verdict == "violated" and abs(strong.statistic - strong.theory) < K_SIGMA * strong.stderr
    assert weak.verdict == "satisfied within errors" and weak.theory < 0  # a violation below the resolution


def test_cos_net_fails_cluster_decomposition_at_finite_width():
    """G4c(0, L, 0, L) -> sigma_a^4 / 2N as L grows (B.3): 1/20 at N = 10, measured and exact."""
    far, near = cluster_decomposition("cos_net", [20.0, 0.5], params={"width": 10}, n_nets=40_000, progress=False)
    assert far.verdict == "fails" and abs(far.theory - 1 / 20) < 1e-6
    assert abs(far.statistic - far.theory) < K_SIGMA * far.stderr
    assert abs(near.statistic - near.theory) < K_SIGMA * near.stderr


def test_wide_cos_net_clusters_within_errors():
    (check,) = cluster_decomposition("cos_net", [20.0], params={"width": 10_000}, n_nets=20_000, progress=False)
    assert check.verdict == "clusters"


PLANE = np.array([[0.0, 0.0], [0.5, 0.2], [-0.3, 0.6], [0.1, -0.4]])


def test_cos_net_is_euclidean_invariant_at_width_three():
    check = euclidean_invariance("cos_net", PLANE, params={"width": 3}, n_nets=30_000, progress=False)
    assert check.verdict == "invariant within errors" and check.theory < 1e-9


def test_gauss_net_translations_break_invariance_at_finite_width():
    """Gauss-net's G4c depends on sum_i |x_i|^2 (B.2): only rotations about the origin are symmetries."""
    check = euclidean_invariance(
        "gauss_net", 0.3 * PLANE, params={"width": 3, "sigma_b": 0.3}, n_nets=30_000, seed=4, progress=False
    )
    assert check.verdict == "broken" and check.theory > K_SIGMA


def test_check_command_writes_one_record_per_check(tmp_path, capsys):
    record_path = tmp_path / "check.json"
    assert main(["check", "cos_net", "--set", "width=5", "--nets", "20000", "--json", str(record_path)]) == 0
    records = json.loads(record_path.read_text())
    assert [r["axiom"] for r in records[:3]] == [
        "reflection positivity",
        "Euclidean invariance",
        "permutation symmetry",
    ]
    assert all(set(r) == {"axiom", "statistic", "stderr", "theory", "verdict", "detail"} for r in records)
    assert records[0]["verdict"] == "violated"
    assert "cluster decomp., L=20" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["check", "cos_net", "--d", "0"], "d must be a positive integer"),
        (["check", "cos_net", "--scale", "-1"], "scale must be a positive number"),
        (["check", "cos_net", "--set", "width=0"], "width must be a positive integer"),
    ],
)
def test_check_command_bad_input(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: reflection_positivity("cos_net", [[0.5], [-0.2]]), "positive half-space"),
        (lambda: reflection_positivity("cos_net", [[0.5]], axis=1), "axis 1 does not exist"),
        (lambda: cluster_decomposition("cos_net", []), "separations"),
        (lambda: cluster_decomposition("cos_net", [1.0, -2.0]), "separations"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
