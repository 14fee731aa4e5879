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
- Kaellen-Lehmann.  RP means G(r) = int d rho(mu) G_mu(r) with rho >= 0 (C.2); the
  non-negative least-squares fit of rho on a grid of masses, weighted by the errors,
  gives the spectral weight and its mean mass, and chi^2 per degree of freedom says
  whether a positive spectral measure describes the data at all.
"""

from __future__ import annotations

import json

import numpy as np

from .axioms import AxiomCheck
from .moments import jackknife_stderr
from .registry import get_model
from .sampling import sample
from .theory import free_propagator

__all__ = ["effective_mass", "mass_gap", "kallen_lehmann", "lorentzian_checks", "separation_average"]


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
    """The n_states lowest energies from G(k step), k = 1..K (last axis), by the Hankel-matrix GEVP (d = 1)."""
    from scipy.linalg import eigvals

    g = np.asarray(g, dtype=np.float64)
    if g.shape[-1] < 2 * n_states:
        raise ValueError(f"{n_states} energies need G at {2 * n_states} separations, got {g.shape[-1]}")
    index = np.add.outer(np.arange(n_states), np.arange(n_states))
    flat = g.reshape(-1, g.shape[-1])
    energies = []
    for row in flat:
        values = np.real(eigvals(row[index + 1], row[index]))
        with np.errstate(divide="ignore", invalid="ignore"):
            energies.append(np.sort(np.where(values > 0, -np.log(values) / step, np.nan)))
    return np.array(energies).reshape(g.shape[:-1] + (n_states,))


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
        masses, weights = np.exp(fit.x[:k]), np.exp(fit.x[k:])
        order = np.argsort(masses)
        share = np.cumsum((weights * propagators(masses)[0])[order])
        out.append(masses[order][np.searchsorted(share, share[-1] / 2)])
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
        checks.append(
            statistic(lambda g: mass_gap(g, step)[..., 0], "mass gap (transfer matrix)", "lowest energy of the GEVP")
        )
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
