"""Osterwalder-Schrader axioms checked on an NN-FT's measured correlators (PHYSICS.md C).

Each check returns an :class:`AxiomCheck`: a statistic with its jackknife standard
error, the theory's value where the model has one, and a verdict that accounts for
the error (``K_SIGMA`` standard errors).

- Reflection positivity (OS2): for points x_i in the half-space x^mu > 0 and the
  reflection Theta (x^mu -> -x^mu), the matrix M_ij = G(Theta x_i, x_j) must be
  positive semidefinite; the statistic is f.M.f / e_max along the direction f of
  its lowest eigenvalue (see :func:`reflection_positivity`), and RP is violated when
  it is below -K_SIGMA standard errors.  In d = 1 this is the complete-monotonicity
  (Bernstein) test [G(t_i + t_j)] >= 0 of C.2.
- Cluster decomposition (OS4): G4c(0, L e, 0, L e) -> 0 as L grows.  Cos-type nets
  fail at finite N (B.3: the limit is sigma_a^4 / 2N) and pass as N -> infinity.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from .moments import jackknife_stderr
from .registry import get_model
from .sampling import sample
from .spacetime import as_points

__all__ = ["AxiomCheck", "K_SIGMA", "reflection_positivity", "cluster_decomposition"]

K_SIGMA = 5.0
"""Standard errors a statistic must exceed before a check calls an axiom violated."""


@dataclasses.dataclass
class AxiomCheck:
    axiom: str
    statistic: float
    stderr: float
    theory: float | None
    verdict: str
    detail: str

    def record(self) -> dict:
        return dataclasses.asdict(self)


def _reflection_matrix(g2, n):
    """Symmetrised M_ij = G(Theta x_i, x_j) from G2 at (points, reflected points); leading axes kept."""
    block = g2[..., n:, :n]
    return (block + np.swapaxes(block, -1, -2)) / 2


def reflection_positivity(
    model,
    points,
    *,
    axis: int = 0,
    params: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    progress: bool | None = None,
) -> AxiomCheck:
    """Is M_ij = G(Theta x_i, x_j) positive semidefinite?  Theta reflects coordinate ``axis``.

    The smallest eigenvalue of a noisy matrix is biased low (the noise's own
    eigenvalues spread both ways), so the test holds one direction fixed: half the
    networks (seed) give the eigenvector f of M's smallest eigenvalue, the other half
    (seed + 1) measure r = f.M.f / e_max(M) with a jackknife error, an unbiased
    estimate of a quantity that is >= 0 for a reflection-positive theory.
    ``theory`` is the exact e_min / e_max where the model has a theory.
    ``points`` must lie in the open half-space x^axis > 0.
    """
    points = as_points(points)
    if not 0 <= axis < points.shape[1]:
        raise ValueError(f"reflection axis {axis} does not exist for points in d={points.shape[1]}")
    if not np.all(points[:, axis] > 0):
        raise ValueError(f"reflection positivity needs points with coordinate {axis} > 0 (the positive half-space)")
    n = len(points)
    reflected = points.copy()
    reflected[:, axis] *= -1
    spec = get_model(model)
    runs = [
        sample(
            spec,
            np.vstack([points, reflected]),
            method=method,
            n_nets=max(1, n_nets // 2),
            orders=(2,),
            seed=seed + half,
            params=params,
            progress=progress,
            keep_replicas=half == 1,
        )
        for half in (0, 1)
    ]
    direction = np.linalg.eigh(_reflection_matrix(runs[0]["G2"].values, n))[1][:, 0]

    def ratio(g2):
        matrix = _reflection_matrix(g2, n)
        return np.einsum("i,...ij,j->...", direction, matrix, direction) / np.linalg.eigvalsh(matrix)[..., -1]

    measured = float(ratio(runs[1]["G2"].values))
    stderr = float(jackknife_stderr(ratio(runs[1]["G2_replicas"].values)))
    theory = None
    if "G2_theory" in runs[1]:
        eigenvalues = np.linalg.eigvalsh(_reflection_matrix(runs[1]["G2_theory"].values, n))
        theory = float(eigenvalues[0] / eigenvalues[-1])
    verdict = "violated" if measured < -K_SIGMA * stderr else "satisfied within errors"
    detail = (
        f"{spec.name} {runs[1].attrs['params']}: f.M.f / e_max with M = [G(Theta x_i, x_j)] at {n} points, "
        f"f its lowest eigenvector from independent networks"
    )
    return AxiomCheck("reflection positivity", measured, stderr, theory, verdict, detail)


def cluster_decomposition(
    model,
    separations,
    *,
    d: int = 1,
    params: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    progress: bool | None = None,
) -> list[AxiomCheck]:
    """G4c(0, L e, 0, L e) at each separation L (e a unit vector): zero for a clustering theory.

    The verdict per separation is "clusters" when G4c is within K_SIGMA standard
    errors of zero, else "fails" (with the theory's value where known).
    """
    separations = np.asarray(separations, dtype=np.float64)
    if separations.ndim != 1 or len(separations) == 0 or not np.all(np.isfinite(separations) & (separations > 0)):
        raise ValueError(f"separations must be positive numbers, got {separations.tolist()}")
    spec = get_model(model)
    checks = []
    for k, separation in enumerate(separations):
        points = np.zeros((2, d))
        points[1, 0] = separation
        run = sample(
            spec, points, method=method, n_nets=n_nets, orders=(4,), seed=seed + k, params=params, progress=progress
        )
        value, stderr = float(run["G4c"].values[0, 0, 1, 1]), float(run["G4c_stderr"].values[0, 0, 1, 1])
        theory = float(run["G4c_theory"].values[0, 0, 1, 1]) if "G4c_theory" in run else None
        verdict = "clusters" if abs(value) < K_SIGMA * stderr else "fails"
        detail = f"{spec.name} {run.attrs['params']}: G4c(0, L, 0, L) at L = {separation:g}"
        checks.append(AxiomCheck("cluster decomposition", value, stderr, theory, verdict, detail))
    return checks


def axiom_table(checks) -> str:
    """One line per check: axiom, statistic ± error, theory, verdict."""
    lines = [f"{'axiom':24} {'statistic':>24} {'theory':>11}  verdict"]
    for c in checks:
        theory = f"{c.theory:11.4g}" if c.theory is not None else f"{'-':>11}"
        lines.append(f"{c.axiom:24} {c.statistic:12.4g} ± {c.stderr:9.2g} {theory}  {c.verdict}")
    return "\n".join(lines)


def axiom_records(checks) -> str:
    return json.dumps([c.record() for c in checks], indent=1)
