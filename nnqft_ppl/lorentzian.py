"""What a reflection-positive Euclidean two-point function says about the Lorentzian theory (PHYSICS.md C.2).

All analyses take G(r) of a Euclidean-invariant theory at separations r_k = k delta
(k = 1..K), measured on a line of K + 1 equally spaced points (every pair at
separation k delta is averaged), with jackknife errors.

- Effective mass.  The free propagator of mass mu in d dimensions (no cutoff),
  G_mu(r) = (2 pi)^{-d/2} (mu/r)^{d/2-1} K_{d/2-1}(mu r), has a known ratio
  G_mu(r_{k+1}) / G_mu(r_k); m_eff(r_k) is the mu that reproduces the measured ratio.
  It equals m at every r for a free field of mass m and tends to the lightest mass
  for a superposition.  In d = 1 it is log(G(r_k) / G(r_{k+1})) / delta.
- Transfer matrix (d = 1).  By RP, G(t) = sum_n |<0|phi|n>|^2 e^{-E_n t} for t > 0,
  with E_n the energies of the Hamiltonian; the lowest, the mass gap, is the
  generalised eigenvalue of the Hankel matrices H1 v = e^{-E delta} H0 v with
  H0_ij = G((i + j + 1) delta), H1_ij = G((i + j + 2) delta) (Prony's method).
  With n x n matrices the GEVP gives the n lowest levels the field reaches; their
  weights Z_n = |<0|phi|n>|^2 follow by least squares, and a level is resolved
  when its weight is positive by K_SIGMA standard errors.
- Kaellen-Lehmann.  RP means G(r) = int d rho(mu) G_mu(r) with rho >= 0 (C.2); the
  non-negative least-squares fit of rho on a grid of masses, weighted by the errors,
  gives the spectral weight and its mean mass, and chi^2 per degree of freedom says
  whether a positive spectral measure describes the data at all.
- Kaellen-Lehmann positivity of a known power spectrum.  G~(p) = int d rho(mu^2) / (p^2 + mu^2)
  with rho >= 0 (plus a constant >= 0) exactly when -G~, as a function of s = p^2, is operator
  monotone on s > 0 (Loewner's theorem), i.e. when every Loewner matrix
  L_ij = (G~(s_i) - G~(s_j)) / (s_j - s_i), L_ii = -G~'(s_i), is positive semidefinite.
  :func:`spectral_positivity` returns e_min / e_max of L on a grid of momenta: a test of C.2's
  condition on the spectrum itself, not on a finite set of points.
"""

from __future__ import annotations

import json
from typing import Callable

import numpy as np

from .axioms import K_SIGMA, AxiomCheck
from .moments import jackknife_stderr
from .registry import get_model
from .sampling import sample
from .theory import free_propagator

__all__ = [
    "effective_mass",
    "mass_gap",
    "transfer_spectrum",
    "kallen_lehmann",
    "spectral_positivity",
    "lorentzian_checks",
    "separation_average",
]


def separation_average(g2: np.ndarray) -> np.ndarray:
    """G(k delta) for k = 1..K from G2 on K + 1 equally spaced points: the mean over pairs (i, i + k)."""
    n = g2.shape[-1]
    return np.stack([np.diagonal(g2, offset=k, axis1=-2, axis2=-1).mean(axis=-1) for k in range(1, n)], axis=-1)


def effective_mass(separations, g, d: int = 1) -> np.ndarray:
    """m_eff between consecutive separations (last axis of ``g``); NaN where the ratio fits no free mass."""
    from scipy.optimize import brentq

    r = np.asarray(separations, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = g[..., 1:] / g[..., :-1]
    if d == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(ratio > 0, -np.log(ratio) / np.diff(r), np.nan)

    def solve(q, near, far):
        mismatch = lambda mu: np.log(free_propagator(far, mu, d) / free_propagator(near, mu, d)) - np.log(q)  # noqa: E731
        low, high = 1e-8 / far, 50.0 / (far - near)
        if not (q > 0 and mismatch(low) * mismatch(high) < 0):
            return np.nan
        return brentq(mismatch, low, high, xtol=1e-12)

    flat = ratio.reshape(-1, ratio.shape[-1])
    out = np.array([[solve(q, r[k], r[k + 1]) for k, q in enumerate(row)] for row in flat])
    return out.reshape(ratio.shape)


def mass_gap(g, step: float, n_states: int = 1) -> np.ndarray:
    """The n_states lowest energies from G(k step), k = 1..K (last axis), by the Hankel-matrix GEVP (d = 1).

    The pencil uses every separation: H0_ij = G((i + j + 1) step), H1_ij = G((i + j + 2) step) with
    i = 0..K - n_states - 1 and j = 0..n_states - 1, and e^{-E step} are the eigenvalues of the
    least-squares solution of H0 M = H1 (exact data: those of the square GEVP).
    """
    g = np.asarray(g, dtype=np.float64)
    if g.shape[-1] < 2 * n_states:
        raise ValueError(f"{n_states} energies need G at {2 * n_states} separations, got {g.shape[-1]}")
    index = np.add.outer(np.arange(g.shape[-1] - n_states), np.arange(n_states))
    flat = g.reshape(-1, g.shape[-1])
    energies = []
    for row in flat:
        if not np.all(np.isfinite(row)):
            energies.append(np.full(n_states, np.nan))
            continue
        values = np.real(np.linalg.eigvals(np.linalg.lstsq(row[index], row[index + 1], rcond=None)[0]))
        with np.errstate(divide="ignore", invalid="ignore"):
            energies.append(np.sort(np.where(values > 0, -np.log(values) / step, np.nan)))
    return np.array(energies).reshape(g.shape[:-1] + (n_states,))


def transfer_spectrum(g, step: float, n_states: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Energies E_n (ascending) and weights Z_n with G(k step) = sum_n Z_n e^{-E_n k step}, k = 1..K (d = 1).

    The energies are :func:`mass_gap`'s; the weights the least-squares fit at fixed energies
    (NaN where an energy is not real and positive).  Over the leading axes of ``g``.
    """
    g = np.asarray(g, dtype=np.float64)
    energies = mass_gap(g, step, n_states)
    times = step * np.arange(1, g.shape[-1] + 1)
    weights = np.full(energies.shape, np.nan)
    for index in np.ndindex(g.shape[:-1]):
        if np.all(np.isfinite(energies[index])):
            design = np.exp(-np.outer(times, energies[index]))
            weights[index] = np.linalg.lstsq(design, g[index], rcond=None)[0]
    return energies, weights


def kallen_lehmann(separations, g, stderr, d: int = 1, masses=None):
    """Non-negative spectral weights rho_j at ``masses`` with sum_j rho_j G_{mu_j}(r) ~ G(r).

    Returns ``(masses, weights, chi2_per_dof)``.  The default grid has 200 masses,
    geometric from 0.05 / r_max to 20 / r_min.  The errors are taken as independent
    (neighbouring separations are positively correlated, so chi^2 is only indicative).
    """
    from scipy.optimize import nnls

    r = np.asarray(separations, dtype=np.float64)
    if masses is None:
        masses = np.geomspace(0.05 / r.max(), 20.0 / r.min(), 200)
    masses = np.asarray(masses, dtype=np.float64)
    design = np.stack([free_propagator(r, mu, d) for mu in masses], axis=1) / stderr[:, None]
    weights, residual = nnls(design, np.asarray(g) / stderr)
    dof = max(1, len(r) - int(np.sum(weights > 0)))
    return masses, weights, residual**2 / dof


SPECTRAL_POSITIVITY_TOLERANCE = 1e-10
"""Loewner ratios above -this count as positive: for a positive spectral density L is a sum of
rank-one positive matrices whose smallest eigenvalues are ~1e-16 e_max in floating point."""


def spectral_positivity(spectrum: Callable, momenta) -> float:
    """e_min / e_max of the Loewner matrix of ``spectrum`` (a callable of |p|, vectorised) at
    ``momenta`` (distinct, > 0): >= -SPECTRAL_POSITIVITY_TOLERANCE iff a positive Kaellen-Lehmann
    density reproduces the spectrum there (module docstring).  The diagonal derivative is a
    complex step (exact to rounding) where the spectrum accepts complex momenta, else a
    Richardson-extrapolated central difference (error ~1e-10 at |p| ~ 0.01/mass)."""
    s = np.asarray(momenta, dtype=np.float64) ** 2
    if s.ndim != 1 or len(s) < 2 or not np.all(s > 0) or len(np.unique(s)) != len(s):
        raise ValueError("momenta must be at least two distinct positive numbers")

    def of_s(values):
        return np.asarray(spectrum(np.sqrt(values)))

    values = of_s(s).astype(np.float64)
    if values.shape != s.shape or not np.all(np.isfinite(values)):
        raise ValueError("the spectrum must return one finite value per momentum")
    with np.errstate(divide="ignore", invalid="ignore"):
        loewner = (values[:, None] - values[None, :]) / (s[None, :] - s[:, None])
    try:
        with np.errstate(all="ignore"):
            derivative = np.imag(of_s(s + 1e-30j * s)) / (1e-30 * s)
        if not np.all(np.isfinite(derivative)):
            raise TypeError
    except TypeError:
        h = 1e-3 * s
        slope = lambda h: np.asarray(of_s(s + h) - of_s(s - h), dtype=np.float64) / (2 * h)  # noqa: E731
        derivative = (4 * slope(h / 2) - slope(h)) / 3
    loewner[np.diag_indices(len(s))] = -derivative
    eigenvalues = np.linalg.eigvalsh(loewner)
    return float(eigenvalues[0] / eigenvalues[-1])


def _merge_close_poles(masses, weights, rtol=1e-3):
    """Masses closer than ``rtol`` (relative) are one pole, which the fit may split at no cost
    (a single pole came back as 0.7999965 and 0.8000010): summed weights at the weight-averaged
    mass, which keeps G to second order in the split.  Sorted by mass."""
    order = np.argsort(masses)
    masses, weights = masses[order], weights[order]
    pole = np.concatenate([[0], np.cumsum(np.diff(masses) > rtol * masses[1:])])
    total = np.bincount(pole, weights)
    return np.bincount(pole, weights * masses) / total, total


def _spectral_mass(separations, g, stderr, d):
    """Median mass of the positive Kaellen-Lehmann fit, each mass weighted by its share
    rho_j G_{mu_j}(r_1) of G at the shortest separation (heavy masses, barely constrained
    by the data, cannot dominate it).  The masses carrying weight in the grid fit are
    then refined continuously (least squares in log mass and log weight), so the
    answer is not quantised to the grid.  Over the leading axes of ``g``."""
    from scipy.optimize import least_squares

    def propagators(masses):
        return np.stack([free_propagator(separations, mu, d) for mu in masses], axis=1)

    out = []
    for row in np.reshape(g, (-1, np.shape(g)[-1])):
        masses, weights, _ = kallen_lehmann(separations, row, stderr, d)
        used = weights > 0
        if not np.any(used):
            out.append(np.nan)
            continue
        k = int(used.sum())
        fit = least_squares(
            lambda x: (propagators(np.exp(x[:k])) @ np.exp(x[k:]) - row) / stderr,  # noqa: B023
            np.log(np.concatenate([masses[used], weights[used]])),
            max_nfev=100 * k,  # a refinement of the grid fit: far from it the data do not fix the masses anyway
        )
        masses, weights = _merge_close_poles(np.exp(fit.x[:k]), np.exp(fit.x[k:]))
        share = np.cumsum(weights * propagators(masses)[0])
        out.append(masses[np.searchsorted(share, share[-1] / 2)])
    return np.reshape(out, np.shape(g)[:-1])


def lorentzian_checks(
    model,
    *,
    d: int = 1,
    step: float = 0.25,
    n_points: int = 12,
    params: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    progress: bool | None = None,
) -> list[AxiomCheck]:
    """Effective mass (at the middle separation), mass gap (d = 1) and the positive
    Kaellen-Lehmann fit from G2 on ``n_points`` points spaced ``step`` along the first axis.

    Each statistic comes with its jackknife error and, where the model has a theory, the
    same analysis applied to the exact G2 in the ``theory`` column.
    """
    if n_points < 4:
        raise ValueError(f"the spectral analysis needs at least 4 points, got {n_points}")
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step!r}")
    spec = get_model(model)
    points = np.zeros((n_points, d))
    points[:, 0] = step * np.arange(n_points)
    run = sample(
        spec,
        points,
        method=method,
        n_nets=n_nets,
        orders=(2,),
        seed=seed,
        params=params,
        progress=progress,
        keep_replicas=True,
    )
    separations = step * np.arange(1, n_points)
    measured, replicas = separation_average(run["G2"].values), separation_average(run["G2_replicas"].values)
    theory = separation_average(run["G2_theory"].values) if "G2_theory" in run else None
    mass = json.loads(run.attrs["params"]).get("mass")
    built = f"; built with mass {mass:g}" if mass is not None else ""
    name = f"{spec.name} {run.attrs['params']}"

    def statistic(function, label, detail):
        value = float(function(measured))
        return AxiomCheck(
            label,
            value,
            float(jackknife_stderr(function(replicas))),
            None if theory is None else float(function(theory)),
            "measured",
            f"{name}: {detail}{built}",
        )

    middle = len(separations) // 2 - 1
    pair = slice(middle, middle + 2)
    checks = [
        statistic(
            lambda g: effective_mass(separations[pair], g[..., pair], d)[..., 0],
            "effective mass",
            f"m_eff between r = {separations[middle]:g} and {separations[middle + 1]:g}",
        )
    ]
    if d == 1:
        checks += _transfer_checks(measured, replicas, theory, step, f"{name}: ", built)
    if spec.spectrum is not None:
        checks.append(_spectral_positivity_check(spec, json.loads(run.attrs["params"]), name))
    errors = jackknife_stderr(replicas)
    _, _, chi2 = kallen_lehmann(separations, measured, errors, d)
    checks.append(
        statistic(
            lambda g: _spectral_mass(separations, g, errors, d),
            "Kaellen-Lehmann mass",
            f"median mass of the rho >= 0 spectral fit (chi^2/dof {chi2:.2g}, errors taken as independent)",
        )
    )
    return checks


def _transfer_checks(measured, replicas, theory, step, prefix, built) -> list[AxiomCheck]:
    """The mass gap and the second level of the transfer matrix (d = 1).

    The two-level spectrum is resolved when its second weight Z_2 exceeds K_SIGMA standard
    errors; the gap is then its lower energy, otherwise the one-level GEVP's (with two
    unresolved levels the pencil is singular and E_2 is not determined by the data).
    """
    spectra = {n: [transfer_spectrum(g, step, n) for g in (measured, replicas)] for n in (1, 2)}
    (energy, weight), (energies, weights) = spectra[2]
    weight_error = jackknife_stderr(weights[..., 1])
    resolved = bool(weight[1] > K_SIGMA * weight_error)
    n = 2 if resolved else 1
    exact = [None, None]
    if theory is not None:
        theory_energy, _ = transfer_spectrum(theory, step, n)
        exact = [float(value) if np.isfinite(value) else None for value in theory_energy] + [None]
    (gap, gap_weight), (gaps, _) = spectra[n]
    levels = f"{n}-level GEVP over every separation, weight Z_1 = {gap_weight[0]:.4g}"
    checks = [
        AxiomCheck(
            "mass gap (transfer matrix)",
            float(gap[0]),
            float(jackknife_stderr(gaps[..., 0])),
            exact[0],
            "measured",
            f"{prefix}lowest energy of the {levels}{built}",
        )
    ]
    detail = f"{prefix}E_2 of the 2-level GEVP, weight Z_2 = {weight[1]:.3g} ± {weight_error:.2g}"
    checks.append(
        AxiomCheck(
            "second level (transfer matrix)",
            float(energy[1]) if resolved else float("nan"),
            float(jackknife_stderr(energies[..., 1])) if resolved else float("nan"),
            exact[1],
            "two levels" if resolved else "one level within errors",
            detail if resolved else f"{prefix}one level: Z_2 not resolved ({weight[1]:.3g} ± {weight_error:.2g})",
        )
    )
    return checks


def _spectral_positivity_check(spec, params, name) -> AxiomCheck:
    """C.2 on the model's known spectrum: exact, so its error is 0 and its theory column itself."""
    spectrum, momenta = spec.spectrum(**params)
    ratio = spectral_positivity(spectrum, momenta)
    positive = ratio >= -SPECTRAL_POSITIVITY_TOLERANCE
    return AxiomCheck(
        "Kaellen-Lehmann positivity",
        ratio,
        0.0,
        ratio,
        "positive spectral density" if positive else "no positive spectral density",
        f"{name}: e_min / e_max of the Loewner matrix of the infinite-width power spectrum at "
        f"{len(momenta)} momenta {np.min(momenta):.3g}..{np.max(momenta):.3g} (exact)",
    )
