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
- Euclidean invariance (OS1): correlators at randomly rotated, reflected and
  translated points equal the originals within errors (Cos-net: at every N;
  Gauss-net: only rotations about the origin at finite N).
- Internal symmetry: a doublet's component along a rotated angle has the same
  correlators (the complex net: O(2) at every N; two independent Cos-nets: only
  the quarter turns at finite N, PHYSICS.md A.5 item 3).
- Cluster decomposition (OS4): G4c(0, L e, 0, L e) -> 0 as L grows.  Cos-type nets
  fail at finite N (B.3: the limit is sigma_a^4 / 2N) and pass as N -> infinity.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .moments import jackknife_stderr
from .registry import get_model
from .sampling import sample
from .spacetime import as_points
from .theory import predict

__all__ = [
    "AxiomCheck",
    "K_SIGMA",
    "reflection_positivity",
    "exact_reflection_ratio",
    "euclidean_invariance",
    "internal_rotation_invariance",
    "cluster_decomposition",
    "random_euclidean_transform",
    "check_axioms",
    "axiom_table",
    "axiom_records",
]

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


def _reflected_points(points, axis: int):
    """(points, Theta points) stacked, after checking the points lie in the half-space x^axis > 0."""
    points = as_points(points)
    if not 0 <= axis < points.shape[1]:
        raise ValueError(f"reflection axis {axis} does not exist for points in d={points.shape[1]}")
    if not np.all(points[:, axis] > 0):
        raise ValueError(f"reflection positivity needs points with coordinate {axis} > 0 (the positive half-space)")
    reflected = points.copy()
    reflected[:, axis] *= -1
    return np.vstack([points, reflected])


def _eigenvalue_ratio(g2, n) -> float:
    eigenvalues = np.linalg.eigvalsh(_reflection_matrix(g2, n))
    return float(eigenvalues[0] / eigenvalues[-1])


def exact_reflection_ratio(theory, points, axis: int = 0) -> float:
    """e_min / e_max of [G(Theta x_i, x_j)] from a theory's exact G2: >= 0 (to rounding) iff RP holds there."""
    both = _reflected_points(points, axis)
    return _eigenvalue_ratio(predict(theory, both, (2,))["G2"], len(both) // 2)


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
    both = _reflected_points(points, axis)
    n = len(both) // 2
    spec = get_model(model)
    runs = [
        sample(
            spec,
            both,
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
    theory = _eigenvalue_ratio(runs[1]["G2_theory"].values, n) if "G2_theory" in runs[1] else None
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
        checks.append(AxiomCheck(f"cluster decomp., L={separation:g}", value, stderr, theory, verdict, detail))
    return checks


def random_euclidean_transform(d: int, rng: np.random.Generator, scale: float = 1.0):
    """x -> R x + v with R Haar-distributed on O(d) (reflections included) and v ~ N(0, scale^2 1_d)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    rotation = q * np.sign(np.diag(r))
    shift = scale * rng.standard_normal(d)
    return lambda points: points @ rotation.T + shift


def euclidean_invariance(
    model,
    points,
    *,
    n_transforms: int = 3,
    orders=(2, 4),
    params: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    progress: bool | None = None,
    translations: bool = True,
    transforms=None,
) -> AxiomCheck:
    """Correlators at points moved by random Euclidean transformations against the originals.

    Each transformed set is measured with independent networks; per unique element of
    G2 and the connected G<n>c, z = (G(g x) - G(x)) / sqrt(stderr_1^2 + stderr_2^2).
    The statistic is max |z| over elements and transformations (in standard errors,
    so its ``stderr`` is 1); invariance is rejected when it exceeds K_SIGMA.  The
    theory column is the same maximum with the exact correlators in place of the
    measured differences (0 for an exactly invariant theory).  ``translations=False``
    tests O(d) alone: rotations and reflections about the origin (Gauss-net keeps
    those at finite N and loses translations, PHYSICS.md A.5, C.1).  ``transforms``
    (callables ``points -> points``) replaces the random transformations by given ones.
    """
    points = as_points(points)
    spec = get_model(model)
    rng = np.random.default_rng(seed)
    size = float(np.ptp(points, axis=0).max()) or 1.0  # translations as large as the point set
    if not translations:
        size = 0.0
    if transforms is None:
        moves = [random_euclidean_transform(points.shape[1], rng, size) for _ in range(n_transforms)]
        how = f"{n_transforms} random rotations/reflections{' + translations' if translations else ' about the origin'}"
    else:
        moves, how = list(transforms), f"{len(transforms)} given transformations"
    runs = [
        sample(
            spec, where, method=method, n_nets=n_nets, orders=orders, seed=seed + k, params=params, progress=progress
        )
        for k, where in enumerate([points] + [move(points) for move in moves])
    ]
    names, statistic, theory = _invariance_statistic(runs, orders)
    verdict = "broken" if statistic > K_SIGMA else "invariant within errors"
    detail = f"{spec.name} {runs[0].attrs['params']}: max |z| over {', '.join(names)} at {len(points)} points and {how}"
    return AxiomCheck(
        "Euclidean invariance" if translations else "O(d) invariance", statistic, 1.0, theory, verdict, detail
    )


def _invariance_statistic(runs, orders) -> tuple[list[str], float, float | None]:
    """Every later run against the first (independent networks): per element of G2 and of the
    connected G<n>c (n in ``orders``, n >= 3), z = (G' - G) / sqrt(stderr'^2 + stderr^2).

    Returns the correlators compared, max |z| over elements and runs, and the same maximum
    with the theories' correlators in place of the measured ones (None without a theory).
    """
    names = [name for name in runs[0].data_vars if name in ("G2",) + tuple(f"G{o}c" for o in orders if o >= 3)]
    z, z_theory = [], []
    for run in runs[1:]:
        for name in names:
            error = np.hypot(runs[0][f"{name}_stderr"].values, run[f"{name}_stderr"].values)
            with np.errstate(divide="ignore", invalid="ignore"):
                z.append(np.ravel((run[name].values - runs[0][name].values) / error))
                if f"{name}_theory" in run:
                    z_theory.append(np.ravel((run[f"{name}_theory"].values - runs[0][f"{name}_theory"].values) / error))
    statistic = float(np.nanmax(np.abs(np.concatenate(z))))
    theory = float(np.nanmax(np.abs(np.concatenate(z_theory)))) if z_theory else None
    return names, statistic, theory


def _is_quarter_turn(angle: float) -> bool:
    turns = angle / (np.pi / 2)
    return abs(turns - round(turns)) < 1e-9


def internal_rotation_invariance(
    model,
    points,
    *,
    angles=None,
    n_angles: int = 3,
    orders=(2, 4),
    params: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    progress: bool | None = None,
) -> AxiomCheck:
    r"""Internal O(2) of a doublet: correlators of its component at rotated angles against the originals.

    The model must have an ``angle`` hyperparameter theta and be the component
    :math:`\phi_\theta = \cos\theta\,\phi_1 + \sin\theta\,\phi_2` of a doublet
    (:mod:`models.complex_net`, :mod:`models.cos_doublet_net`).  A rotation by alpha of the
    doublet maps :math:`\phi_\theta` to :math:`\phi_{\theta+\alpha}` (a reflection to
    :math:`\phi_{-\theta}`), so an O(2) invariant doublet has correlators of
    :math:`\phi_\theta` that do not depend on theta (necessary for O(2) invariance; for the
    law at one point also sufficient).  The model is measured at its angle (``params``, default
    the model's, 0) and at that angle plus each of ``angles`` (radians; default ``n_angles``
    random angles in (0, 2 pi) from ``np.random.default_rng(seed)``), independent networks per run
    (seeds ``seed``, ``seed + 1``, ...).  Statistic and theory column as for
    :func:`euclidean_invariance`: max |z| over the elements of G2 and G<n>c, in standard errors.
    The check is called "O(2) invariance" for random angles, "quarter-turn invariance" when the
    angles are multiples of pi/2 (the rotations of a square) and "invariance at given angles" otherwise.
    """
    points = as_points(points)
    spec = get_model(model)
    defaults = spec.defaults
    if "angle" not in defaults:
        raise ValueError(
            f"{spec.name} has no 'angle' hyperparameter: internal rotations act on a doublet's component "
            "phi_theta = cos(theta) phi_1 + sin(theta) phi_2 along the angle theta"
        )
    params = dict(params or {})
    base = float(params.get("angle", defaults["angle"]))
    if angles is None:
        if isinstance(n_angles, bool) or not isinstance(n_angles, (int, np.integer)) or n_angles < 1:
            raise ValueError(f"n_angles must be a positive integer, got {n_angles!r}")
        angles = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, int(n_angles))
        name, how = "O(2) invariance", f"random rotations by {', '.join(f'{angle:.4g}' for angle in angles)}"
    else:
        angles = np.asarray(angles, dtype=np.float64)
        if angles.ndim != 1 or len(angles) == 0 or not np.all(np.isfinite(angles)):
            raise ValueError(f"angles must be a non-empty sequence of finite numbers, got {angles.tolist()}")
        quarter = all(_is_quarter_turn(angle) for angle in angles)
        name = "quarter-turn invariance" if quarter else "invariance at given angles"
        how = f"rotations by {', '.join(f'{angle:.4g}' for angle in angles)}"
    runs = [
        sample(
            spec,
            points,
            method=method,
            n_nets=n_nets,
            orders=orders,
            seed=seed + k,
            params={**params, "angle": base + float(angle)},
            progress=progress,
        )
        for k, angle in enumerate([0.0, *angles])
    ]
    names, statistic, theory = _invariance_statistic(runs, orders)
    verdict = "broken" if statistic > K_SIGMA else "invariant within errors"
    detail = (
        f"{spec.name} {runs[0].attrs['params']}: max |z| over {', '.join(names)} at {len(points)} points, "
        f"angle {base:g} against {how} of the doublet"
    )
    return AxiomCheck(name, statistic, 1.0, theory, verdict, detail)


def check_axioms(
    model,
    *,
    d: int = 1,
    scale: float = 1.0,
    params: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    progress: bool | None = None,
) -> list[AxiomCheck]:
    """All checks at default point sets in d dimensions, lengths in units of ``scale``:
    reflection positivity at 8 times 0.25..2 along the first axis, Euclidean invariance
    of G2 and G4c at 4 fixed points in the cube [-1, 1]^d, permutation symmetry, and
    cluster decomposition at separations 1, 5 and 20, and what the two-point function
    says about the Lorentzian theory (:func:`~nnqft_ppl.lorentzian.lorentzian_checks`:
    effective mass, mass gap in d = 1, Kaellen-Lehmann mass; 12 points spaced scale/4)."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    options = dict(params=params, n_nets=n_nets, method=method, seed=seed, progress=progress)
    times = np.zeros((8, d))
    times[:, 0] = scale * np.linspace(0.25, 2.0, 8)
    cube = scale * np.random.default_rng(12345).uniform(-1.0, 1.0, size=(4, d))
    permutation = AxiomCheck(
        "permutation symmetry",
        0.0,
        0.0,
        0.0,
        "holds by construction",
        "a single real field: every G(x_1..x_n) is a symmetric function, estimated on sorted index tuples",
    )
    from .lorentzian import lorentzian_checks

    return [
        reflection_positivity(model, times, **options),
        euclidean_invariance(model, cube, **options),
        permutation,
        *cluster_decomposition(model, scale * np.array([1.0, 5.0, 20.0]), d=d, **options),
        *lorentzian_checks(model, d=d, step=scale / 4, **options),
    ]


def axiom_table(checks) -> str:
    """One line per check: axiom, statistic ± error, theory, verdict."""
    lines = [f"{'axiom':24} {'statistic':>24} {'theory':>11}  verdict"]
    for c in checks:
        theory = f"{c.theory:11.4g}" if c.theory is not None else f"{'-':>11}"
        lines.append(f"{c.axiom:24} {c.statistic:12.4g} ± {c.stderr:9.2g} {theory}  {c.verdict}")
    return "\n".join(lines)


def axiom_records(checks) -> list[dict]:
    return [c.record() for c in checks]
