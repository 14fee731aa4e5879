r"""Dual theories: two NN-FTs with the same infinite-width theory and different finite-width structure.

Two ensembles are *dual* at infinite width when their two-point functions agree:
by the CLT (PHYSICS.md §1.1) both tend to the same Gaussian theory.  At finite N
they may still differ, in the connected four-point function
:math:`G^{(4)}_c = O(1/N)` and in their symmetries (PHYSICS.md A.5, C.1).
:func:`compare_models` measures both models at the same points with independent
networks and reports, each with a verdict at ``K_SIGMA`` standard errors:

- ``G2 equal``: max over the unique elements of
  :math:`|z| = |G^{(2)}_b - G^{(2)}_a| / \sqrt{s_a^2 + s_b^2}` (the theory column:
  the same with both theories' exact G2, i.e. their analytic difference in units
  of the combined error; the detail gives it in absolute terms);
- ``G4c differ``: the same statistic for :math:`G^{(4)}_c`, which for a dual pair is
  expected to be nonzero at finite N (the theory column says whether this run can
  resolve the predicted difference);
- ``G4c difference vs theory``: the measured difference against the theories'
  difference, max :math:`|(\Delta - \Delta_{\rm theory})/s|` (both models with a theory);
- with ``symmetries=True``, :func:`~nnqft_ppl.axioms.euclidean_invariance` of each
  model under random rotations, reflections and translations (E(d)), and under
  rotations and reflections about the origin alone (O(d)); for a model with an
  ``angle`` hyperparameter (the component of a doublet along that angle),
  :func:`~nnqft_ppl.axioms.internal_rotation_invariance` under random internal
  rotations (O(2)) and under a quarter turn (which generates the square's rotations).

Named pairs (:data:`DUAL_PAIRS`), with the parameter matching of PHYSICS.md A.5:

- ``cos-gauss``: Cos-net vs HMS20 Gauss-net.  A.5 item 1 matches
  :math:`\sigma_{b^1} = 0`, :math:`\sigma_{W^1}^2 = \sigma_a^2/2`, :math:`\sigma_{W^0} = \sigma_b`,
  so that both have :math:`G^{(2)} = \frac{\sigma_a^2}2 e^{-\sigma_b^2|x-y|^2/2d}`.
  ``gauss_net`` ties its layers (HMS20's conventions, :mod:`models.gauss_net`): one
  ``sigma_w`` for the input and the output weights, one ``sigma_b`` for the hidden and
  the output bias.  It can therefore express the matching only on the line
  :math:`\sigma_a = \sqrt2\,\sigma_b`, with both biases zero:
  ``cos_net(sigma_a=sqrt(2) s, sigma_b=s)`` vs ``gauss_net(sigma_w=s, sigma_b=0)``,
  :math:`G^{(2)} = s^2 e^{-s^2|x-y|^2/2d}`.  (A hidden bias alone would keep G2, as
  Gauss-net's normaliser cancels it, and only rescale the four-neuron moment by
  :math:`e^{4\sigma_b^2}`; gauss_net cannot switch it on without the output bias.)
  Finite N: Cos-net is E(d) invariant, Gauss-net only O(d): its
  :math:`G^{(4)}_c = \frac{s^4}N(3\,\mathbb E[h_1h_2h_3h_4] - [GG]/s^4)` grows with
  :math:`\sum_i|x_i|^2` (B.2); at the origin it vanishes (the neuron is h = 1 there),
  where Cos-net's is :math:`3\sigma_a^4/8N`.  Default points are small (scale 0.3,
  for s = 1): the Gauss neuron is log-normal, and its four-point estimator's
  variance grows like :math:`e^{16 s^2|x|^2/d}` relative to its mean squared.
- ``cos-fourier``: Cos-net vs the Fourier-feature net (A.5 item 2, :mod:`models.fourier_net`)
  at the same :math:`\sigma_a, \sigma_b`: the same G2, both E(d) invariant at every N,
  :math:`G^{(4)}_c = \frac{\sigma_a^4}{8N}(3A - 2B)` vs :math:`\frac{\sigma_a^4}{8N}(2A - 2B)`;
  the difference :math:`\frac{\sigma_a^4}{8N}A` is largest at coincident points,
  where the Fourier-feature net's field is exactly Gaussian.
- ``complex-doublet``: the complex net :math:`\Phi = \sum_i a_i e^{ib_i\cdot x}` vs two
  independent Cos-nets (A.5 item 3, :mod:`models.complex_net`, :mod:`models.cos_doublet_net`),
  each a doublet :math:`(\phi_1, \phi_2)` seen through its component
  :math:`\phi_\theta = \cos\theta\,\phi_1 + \sin\theta\,\phi_2` (hyperparameter ``angle``,
  0 here: :math:`\operatorname{Re}\Phi` vs one Cos-net).  The same :math:`\sigma_a, \sigma_b`:
  the same G2 at every angle, both E(d) invariant; at finite N the complex net is O(2)
  invariant (:math:`G^{(4)}_c = \frac{\sigma_a^4}{8N}(2A - 2B)` at every angle), the Cos-doublet
  only under the quarter turns (and reflections): its
  :math:`G^{(4)}_c = (\cos^4\theta + \sin^4\theta)\frac{\sigma_a^4}{8N}(3A - 2B)`, half of it
  at :math:`\theta = \pi/4`.  At angle 0 the G4c difference is the cos-fourier pair's.

All pairs are set at width 3, where 1e5 networks resolve the 1/N structure.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import numpy as np

from .axioms import K_SIGMA, euclidean_invariance, internal_rotation_invariance
from .combinatorics import unique_tuples
from .output import run_record
from .registry import get_model
from .sampling import sample
from .spacetime import as_points

__all__ = ["DualityCheck", "DualComparison", "DualPair", "DUAL_PAIRS", "compare_models", "compare_pair"]


@dataclasses.dataclass
class DualityCheck:
    """One line of a comparison: ``subject`` is ``"a-b"`` (the pair) or ``"a"``/``"b"`` (one model).

    ``statistic`` and ``theory`` are in standard errors (``stderr`` is 1) for every check;
    ``element`` is the point-index tuple where a pair check's statistic is attained.
    """

    name: str
    subject: str
    statistic: float
    stderr: float
    theory: float | None
    verdict: str
    detail: str
    element: list[int] | None = None

    def record(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class DualComparison:
    """The result of :func:`compare_models`: the two runs and the checks."""

    model_a: str
    model_b: str
    params_a: dict
    params_b: dict
    points: np.ndarray
    n_nets: int
    method: str
    seed: int
    checks: list[DualityCheck]
    runs: tuple  # (xarray.Dataset, xarray.Dataset)
    pair: str | None = None

    def get(self, name: str, subject: str = "a-b") -> DualityCheck:
        """The check called ``name`` about ``subject`` (``"a-b"``, ``"a"`` or ``"b"``)."""
        for check in self.checks:
            if check.name == name and check.subject == subject:
                return check
        raise KeyError(f"no check {name!r} for {subject!r}")

    def record(self) -> dict:
        """JSON record: models, params, points, nets, method, seed, the checks, and each
        run's record in the ``nnqft sample`` contract (``runs.a``, ``runs.b``)."""
        return {
            "pair": self.pair,
            "model_a": self.model_a,
            "params_a": self.params_a,
            "model_b": self.model_b,
            "params_b": self.params_b,
            "points": self.points.tolist(),
            "nets": self.n_nets,
            "method": self.method,
            "seed": self.seed,
            "checks": [_finite(check.record()) for check in self.checks],
            "runs": {"a": run_record(self.runs[0]), "b": run_record(self.runs[1])},
        }

    def theories_equal(self, name: str = "G2") -> bool | None:
        """Whether both models' theories give the same ``name`` at the points (to rounding); None if unknown."""
        if not all(f"{name}_theory" in run for run in self.runs):
            return None
        a, b = (run[f"{name}_theory"].values for run in self.runs)
        return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12 * max(1.0, float(np.nanmax(np.abs(a))))))

    def symmetry(self, subject: str) -> str | None:
        """What the symmetry checks say about model ``subject`` (``"a"`` or ``"b"``): ``"E(d)"``,
        ``"O(d) only"`` (translations broken), ``"neither E(d) nor O(d)"``, or None (not checked);
        for a doublet, followed by its :meth:`internal_symmetry` (e.g. ``"E(d), O(2)"``)."""
        try:
            full, rotations = (self.get(name, subject).verdict for name in ("E(d) invariance", "O(d) invariance"))
        except KeyError:
            return self.internal_symmetry(subject)
        spacetime = "E(d)" if full != "broken" else "O(d) only" if rotations != "broken" else "neither E(d) nor O(d)"
        internal = self.internal_symmetry(subject)
        return spacetime if internal is None else f"{spacetime}, {internal}"

    def internal_symmetry(self, subject: str) -> str | None:
        """The internal symmetry of a doublet model ``subject``: ``"O(2)"``, ``"only quarter turns (discrete)"``
        (random rotations broken), ``"neither O(2) nor the quarter turns"``, or None (not checked)."""
        try:
            full, quarter = (self.get(name, subject).verdict for name in ("O(2) invariance", "quarter-turn invariance"))
        except KeyError:
            return None
        if full != "broken":
            return "O(2)"
        return "only quarter turns (discrete)" if quarter != "broken" else "neither O(2) nor the quarter turns"

    def table(self) -> str:
        """One line per check, the subject spelled with the models' names, then a summary."""
        names = {"a": self.model_a, "b": self.model_b, "a-b": f"{self.model_a} vs {self.model_b}"}
        lines = [f"{'check':26} {'subject':30} {'max |z|':>9} {'theory':>9}  verdict"]
        for check in self.checks:
            theory = f"{check.theory:9.3g}" if check.theory is not None else f"{'-':>9}"
            lines.append(f"{check.name:26} {names[check.subject]:30} {check.statistic:9.3g} {theory}  {check.verdict}")
        g2, g4c = self.get("G2 equal").verdict, self.get("G4c differ").verdict
        summary = [f"G2 {'equal within errors' if g2 == 'equal within errors' else 'differs: not dual'}"]
        if g2 == "equal within errors":
            theories_equal = self.theories_equal("G2")
            summary[0] += {
                None: " (no theory for both)",
                True: ", theories equal: dual at infinite width",
                False: ", but the theories differ: not dual",
            }[theories_equal]
        summary += [
            f"G4c {'differs' if g4c == 'differ' else 'equal within errors'} at N = "
            f"{self.params_a.get('width', '-')}/{self.params_b.get('width', '-')}",
        ]
        summary += [f"{names[s]}: {self.symmetry(s)}" for s in "ab" if self.symmetry(s) is not None]
        return "\n".join(lines + ["; ".join(summary) + " (max |z| and theory in standard errors)"])


def _finite(record: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


@dataclasses.dataclass(frozen=True)
class DualPair:
    """A named dual pair: the models, their matched hyperparameters, and the length unit of
    the default points (:func:`default_points`)."""

    model_a: str
    params_a: dict
    model_b: str
    params_b: dict
    scale: float
    description: str

    def points(self, d: int = 1) -> np.ndarray:
        return default_points(d, self.scale)


_SQRT2 = math.sqrt(2.0)

DUAL_PAIRS: dict[str, DualPair] = {
    "cos-gauss": DualPair(
        "cos_net",
        {"width": 3, "sigma_a": _SQRT2, "sigma_b": 1.0},
        "gauss_net",
        {"width": 3, "sigma_w": 1.0, "sigma_b": 0.0},
        0.3,
        "Cos-net vs Gauss-net (A.5 item 1, sigma_a = sqrt(2) sigma_w, no biases): same G2; finite N: E(d) vs only O(d)",
    ),
    "cos-fourier": DualPair(
        "cos_net",
        {"width": 3, "sigma_a": _SQRT2, "sigma_b": 1.0},
        "fourier_net",
        {"width": 3, "sigma_a": _SQRT2, "sigma_b": 1.0},
        1.0,
        "Cos-net vs Fourier-feature net (A.5 item 2): same G2, both E(d); G4c 3A-2B vs 2A-2B",
    ),
    "complex-doublet": DualPair(
        "complex_net",
        {"width": 3, "sigma_a": _SQRT2, "sigma_b": 1.0},
        "cos_doublet_net",
        {"width": 3, "sigma_a": _SQRT2, "sigma_b": 1.0},
        1.0,
        "complex net vs two independent Cos-nets (A.5 item 3): same G2 at every angle; "
        "finite N: O(2) vs only the quarter turns",
    ),
}
"""Named dual pairs (PHYSICS.md A.5); the matching is explained in the module docstring."""


def default_points(d: int = 1, scale: float = 1.0) -> np.ndarray:
    """Three points in d dimensions, lengths in units of ``scale``: the origin, ``scale/2 e_1``
    and ``scale e_1`` (d = 1) or ``scale/2 (e_1 + e_2)`` (d >= 2, off the line of the others)."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    points = np.zeros((3, int(d)))
    points[1, 0] = scale / 2
    if d == 1:
        points[2, 0] = scale
    else:
        points[2, :2] = scale / 2
    return points


def _unique(dataset, name: str, suffix: str = ""):
    values = dataset[f"{name}{suffix}"].values
    tuples = unique_tuples(dataset.sizes["point"], values.ndim)
    return tuples, values[tuple(tuples.T)]


def _z(difference, error):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((difference == 0) & (error == 0), 0.0, difference / error)


def _largest(values) -> int | None:
    """Index of the largest finite |value| (None if there is none: no error bars, or no theory)."""
    magnitude = np.where(np.isfinite(values), np.abs(values), -1.0)
    return int(np.argmax(magnitude)) if np.any(magnitude >= 0) else None


def _difference_checks(run_a, run_b, name: str, model_a: str, model_b: str, expect_equal: bool):
    """Checks on ``name`` (G2 or G4c): equal/different within errors, and against the theories."""
    tuples, a = _unique(run_a, name)
    _, b = _unique(run_b, name)
    error = np.hypot(_unique(run_a, name, "_stderr")[1], _unique(run_b, name, "_stderr")[1])
    z = _z(b - a, error)
    worst = _largest(z)
    if worst is None:
        raise ValueError(f"{name} has no finite standard errors: too few networks for the jackknife")
    statistic = float(np.abs(z[worst]))
    element = [int(i) for i in tuples[worst]]
    detail = (
        f"largest at {tuple(element)}: {model_a} {a[worst]:.5g}, {model_b} {b[worst]:.5g} "
        f"(combined stderr {error[worst]:.2g})"
    )
    z_theory, expected = None, None
    if f"{name}_theory" in run_a and f"{name}_theory" in run_b:
        theory_a, theory_b = _unique(run_a, name, "_theory")[1], _unique(run_b, name, "_theory")[1]
        expected = theory_b - theory_a
        largest = _largest(_z(expected, error))
        if largest is not None:
            z_theory = float(np.abs(_z(expected, error)[largest]))
            detail += (
                f"; theories there {theory_a[worst]:.5g}, {theory_b[worst]:.5g}; "
                f"analytic max |{name}_b - {name}_a| = {np.nanmax(np.abs(expected)):.3g}"
            )
    if expect_equal:
        verdict = "equal within errors" if statistic <= K_SIGMA else "differ"
        checks = [DualityCheck(f"{name} equal", "a-b", statistic, 1.0, z_theory, verdict, detail, element)]
    else:
        verdict = "differ" if statistic > K_SIGMA else "equal within errors"
        checks = [DualityCheck(f"{name} differ", "a-b", statistic, 1.0, z_theory, verdict, detail, element)]
    residual = _z((b - a) - expected, error) if expected is not None and not expect_equal else None
    k = _largest(residual) if residual is not None else None
    if k is not None:
        measured = float(np.abs(residual[k]))
        verdict = "agrees with the theories" if measured <= K_SIGMA else "disagrees with the theories"
        where = [int(i) for i in tuples[k]]
        detail = (
            f"measured {name}_b - {name}_a against the theories' difference; largest residual at "
            f"{tuple(where)}: {b[k] - a[k]:.5g} vs {expected[k]:.5g} ± {error[k]:.2g}"
        )
        checks.append(DualityCheck(f"{name} difference vs theory", "a-b", measured, 1.0, 0.0, verdict, detail, where))
    return checks


def compare_models(
    model_a,
    model_b,
    points,
    *,
    params_a: dict | None = None,
    params_b: dict | None = None,
    n_nets: int = 100_000,
    method: str = "ensemble",
    seed: int = 0,
    symmetries: bool = True,
    n_transforms: int = 3,
    progress: bool | None = None,
    pair: str | None = None,
) -> DualComparison:
    """Measure two models at the same ``points`` (independent networks) and compare them.

    Model a uses ``seed``, model b ``seed + 1``; with ``symmetries=True`` each model's
    E(d) and O(d) checks (:func:`~nnqft_ppl.axioms.euclidean_invariance` with
    ``n_transforms`` random transformations, translations on and off) use further seeds,
    and so do, for a model with an ``angle`` hyperparameter, its O(2) and quarter-turn checks
    (:func:`~nnqft_ppl.axioms.internal_rotation_invariance` with ``n_transforms`` random
    angles, and at the angle pi/2).
    ``method`` is ``"ensemble"`` or ``"neurons"`` (both models; the exact engine needs
    i.i.d. neurons).  Returns a :class:`DualComparison` whose checks are described in
    the module docstring; ``points`` has shape (n_points, d).
    """
    points = as_points(points)
    if isinstance(n_transforms, bool) or not isinstance(n_transforms, (int, np.integer)) or n_transforms < 1:
        raise ValueError(f"n_transforms must be a positive integer, got {n_transforms!r}")
    options = dict(n_nets=n_nets, method=method, progress=progress)
    runs = tuple(
        sample(model, points, orders=(2, 4), seed=seed + k, params=params, **options)
        for k, (model, params) in enumerate(((model_a, params_a), (model_b, params_b)))
    )
    names = [run.attrs["model"] for run in runs]
    checks = _difference_checks(*runs, "G2", *names, expect_equal=True)
    checks += _difference_checks(*runs, "G4c", *names, expect_equal=False)
    if symmetries:
        next_seed = seed + 2
        for subject, model, run in zip("ab", (model_a, model_b), runs, strict=True):
            params = json.loads(run.attrs["params"])
            for translations, label in ((True, "E(d) invariance"), (False, "O(d) invariance")):
                check = euclidean_invariance(
                    model,
                    points,
                    n_transforms=n_transforms,
                    params=params,
                    seed=next_seed,
                    translations=translations,
                    **options,
                )
                next_seed += n_transforms + 1
                checks.append(
                    DualityCheck(label, subject, check.statistic, 1.0, check.theory, check.verdict, check.detail)
                )
            if "angle" in get_model(model).defaults:
                for angles in (None, (math.pi / 2,)):
                    check = internal_rotation_invariance(
                        model, points, angles=angles, n_angles=n_transforms, params=params, seed=next_seed, **options
                    )
                    next_seed += (n_transforms if angles is None else len(angles)) + 1
                    checks.append(
                        DualityCheck(
                            check.axiom, subject, check.statistic, 1.0, check.theory, check.verdict, check.detail
                        )
                    )
    return DualComparison(
        names[0],
        names[1],
        json.loads(runs[0].attrs["params"]),
        json.loads(runs[1].attrs["params"]),
        points,
        int(n_nets),
        method,
        int(seed),
        checks,
        runs,
        pair,
    )


def compare_pair(
    name: str,
    *,
    d: int = 1,
    points=None,
    params_a: dict | None = None,
    params_b: dict | None = None,
    **options: Any,
) -> DualComparison:
    """:func:`compare_models` for a named pair of :data:`DUAL_PAIRS` at its matched
    hyperparameters (``params_a``/``params_b`` override them) and its default points in
    ``d`` dimensions (or ``points``)."""
    if name not in DUAL_PAIRS:
        raise ValueError(f"unknown dual pair {name!r}; available: {', '.join(DUAL_PAIRS)}")
    pair = DUAL_PAIRS[name]
    return compare_models(
        pair.model_a,
        pair.model_b,
        pair.points(d) if points is None else points,
        params_a={**pair.params_a, **(params_a or {})},
        params_b={**pair.params_b, **(params_b or {})},
        pair=name,
        **options,
    )
