"""Effective mass, transfer-matrix mass gap and Kaellen-Lehmann fit (PHYSICS.md C.2)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import K_SIGMA

from nnqft_ppl.lorentzian import effective_mass, kallen_lehmann, lorentzian_checks, mass_gap
from nnqft_ppl.theory import free_propagator

SEPARATIONS = 0.25 * np.arange(1, 12)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_effective_mass_of_a_free_propagator_is_its_mass(d):
    g = free_propagator(SEPARATIONS, 1.3, d)
    np.testing.assert_allclose(effective_mass(SEPARATIONS, g, d), 1.3, rtol=1e-9)


def test_mass_gap_resolves_two_exponentials():
    """G(t) = c_1 e^{-E_1 t} + c_2 e^{-E_2 t}: the 2x2 Hankel GEVP returns E_1, E_2 exactly."""
    g = 0.7 * np.exp(-0.8 * SEPARATIONS) + 0.2 * np.exp(-2.5 * SEPARATIONS)
    np.testing.assert_allclose(mass_gap(g, 0.25, n_states=2), [0.8, 2.5], rtol=1e-8)
    with pytest.raises(ValueError, match="separations"):
        mass_gap(g[:3], 0.25, n_states=2)


def test_positive_spectral_fit_of_a_two_pole_propagator():
    """rho = 0.3 delta(mu - 1) + 0.7 delta(mu - 3) in d = 3: the grid fit's weight sits near both poles."""
    g = 0.3 * free_propagator(SEPARATIONS, 1.0, 3) + 0.7 * free_propagator(SEPARATIONS, 3.0, 3)
    masses, weights, chi2 = kallen_lehmann(SEPARATIONS, g, 1e-3 * g, d=3)
    assert chi2 < 1.0  # the grid (200 masses) describes it to 0.1 %
    light = masses < 2.0
    assert np.sum(weights[light]) == pytest.approx(0.3, rel=0.05)
    assert np.sum(weights[~light]) == pytest.approx(0.7, rel=0.05)


def test_cauchy_net_spectrum_is_a_single_particle_of_its_mass():
    """G = e^{-m|t|}/2 (sigma_a = 1): effective mass, mass gap and spectral mass all equal m = 0.8
    exactly in theory, and within errors from the ensemble."""
    checks = lorentzian_checks("cauchy_net", params={"width": 10, "mass": 0.8}, n_nets=40_000, seed=2, progress=False)
    assert [c.axiom for c in checks] == ["effective mass", "mass gap (transfer matrix)", "Kaellen-Lehmann mass"]
    for check in checks:
        assert check.theory == pytest.approx(0.8, rel=1e-6)
        assert abs(check.statistic - check.theory) < K_SIGMA * check.stderr
    assert checks[1].stderr < 0.02


def test_hard_cutoff_scalar_gap_matches_its_theory():
    """Scalar-net, d = 1, cutoff 20: the Hankel gap of the exact cutoff propagator, and the measured one."""
    (_, gap, _) = lorentzian_checks(
        "scalar_net", params={"width": 50, "mass": 1.0, "cutoff": 20.0}, n_nets=40_000, progress=False
    )
    assert abs(gap.theory - 1.0) < 0.05
    assert abs(gap.statistic - gap.theory) < K_SIGMA * gap.stderr


@pytest.mark.parametrize("options, message", [({"n_points": 3}, "at least 4 points"), ({"step": 0.0}, "step")])
def test_bad_input(options, message):
    with pytest.raises(ValueError, match=message):
        lorentzian_checks("cauchy_net", **options)
