"""``nnqft reproduce``: the papers' claims, checked one by one.

Each check function measures something and returns :class:`Claim` records: a
scalar measurement with its standard error beside the theory value.  A claim of
agreement passes when |measured - theory| < PASS_SIGMA standard errors; a claim
of difference (a symmetry that must be *broken*) passes when it is larger.
Checks register with :func:`check`; later capabilities add theirs the same way.
The report is ``report.md``, ``report.json`` and figures in the output directory.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .ensemble import sample_ensemble
from .neurons import sample_neurons
from .registry import get_model
from .theory import predict

__all__ = ["Claim", "check", "reproduce", "PASS_SIGMA"]

PASS_SIGMA = 5.0
"""Agreement threshold in standard errors (>= 4 sigma, as for the test suite)."""

_CHECKS: list[Callable] = []


@dataclasses.dataclass
class Claim:
    id: str
    statement: str
    source: str
    theory: float
    measured: float
    stderr: float
    expect: str = "agree"  # or "differ"
    figure: str | None = None

    @property
    def deviation(self) -> float:
        if self.stderr > 0:
            return (self.measured - self.theory) / self.stderr
        return 0.0 if self.measured == self.theory else float("inf")

    @property
    def passed(self) -> bool:
        close = abs(self.deviation) < PASS_SIGMA
        return close if self.expect == "agree" else not close

    def record(self) -> dict:
        fields = dataclasses.asdict(self)
        return {**fields, "deviation_sigma": self.deviation, "pass": self.passed}


def check(function: Callable) -> Callable:
    """Register ``function(sizes, out_dir) -> list[Claim]`` as part of the report."""
    _CHECKS.append(function)
    return function


@dataclasses.dataclass(frozen=True)
class Sizes:
    nets: int
    neuron_nets: int
    widths: tuple[int, ...]


QUICK = Sizes(nets=100_000, neuron_nets=2_000, widths=(10, 100, 1000))
FULL = Sizes(nets=2_000_000, neuron_nets=50_000, widths=(2, 5, 10, 50, 100, 500, 1000))

SCALING_MODELS = {  # model -> (hyperparameters, points): small inputs keep Gauss-net tails tame
    "cos_net": ({"sigma_b": 1.0}, [[0.0], [0.5], [1.0]]),
    "gauss_net": ({"sigma_b": 0.3}, [[0.0], [0.1], [0.2]]),
    "erf_net": ({}, [[-0.6], [0.2], [1.0]]),
    "relu_net": ({}, [[0.2], [0.6], [1.2]]),
}


def _entry(dataset, name, index):
    return float(dataset[name].values[index]), float(dataset[f"{name}_stderr"].values[index])


@check
def gaussian_limit(sizes: Sizes, out: Path) -> list[Claim]:
    """At large N the ensemble is the free theory: G4 equals the Wick sum of the exact G2."""
    claims = []
    for model in ("cos_net", "erf_net"):
        params, points = SCALING_MODELS[model]
        params = {**params, "width": 1000}
        dataset = sample_ensemble(model, points, n_nets=sizes.nets, orders=(2, 4), params=params, progress=False)
        wick = predict(get_model(model).theory(**params).infinite_width(), points, (4,))["G4"]
        index = np.unravel_index(np.argmax(np.abs(wick)), wick.shape)
        measured, stderr = _entry(dataset, "G4", index)
        claims.append(
            Claim(
                f"gaussian-limit-{model}",
                f"{model} at N=1000: G4{index} equals the Wick sum G2G2+2 perms (the infinite-width Gaussian theory)",
                "PHYSICS §1.1",
                float(wick[index]),
                measured,
                stderr,
            )
        )
    return claims


def _fit_power_law(widths, values, errors):
    """Power p and its standard error from a weighted least-squares fit of A N^p to the values.

    Fitted in linear space: a straight-line fit of log|value| would be biased by
    Jensen's inequality (E log|X| < log|E X|) where the relative errors are large.
    """
    from scipy.optimize import curve_fit

    guess = (values[0] * widths[0] ** 1.0, -1.0)
    (_, power), covariance = curve_fit(
        lambda n, amplitude, p: amplitude * n**p, widths, values, p0=guess, sigma=errors, absolute_sigma=True
    )
    return float(power), float(np.sqrt(covariance[1, 1]))


@check
def one_over_n_scaling(sizes: Sizes, out: Path) -> list[Claim]:
    """G4c ∝ 1/N and G6c ∝ 1/N^2 for every model, from the exact finite-width engine."""
    from matplotlib.figure import Figure

    claims = []
    figure = Figure(figsize=(4 * len(SCALING_MODELS), 3.4), layout="tight")
    axes = figure.subplots(1, len(SCALING_MODELS))
    for ax, (model, (params, points)) in zip(axes, SCALING_MODELS.items(), strict=True):
        index4, index6 = (0, 0, 1, 1), (0, 0, 1, 1, 2, 2)
        rows = []
        for seed, width in enumerate(sizes.widths):  # independent networks at each width
            dataset = sample_neurons(
                model,
                points,
                n_nets=sizes.neuron_nets,
                orders=(2, 4, 6),
                params={**params, "width": width},
                seed=seed,
                progress=False,
            )
            rows.append(
                _entry(dataset, "G4c", index4)
                + _entry(dataset, "G6c", index6)
                + (float(dataset["G4c_theory"].values[index4]), float(dataset["G6c_theory"].values[index6]))
            )
        rows = np.array(rows)
        widths = np.array(sizes.widths, dtype=float)
        for column, order, power in ((0, 4, -1), (2, 6, -2)):
            slope, error = _fit_power_law(widths, rows[:, column], rows[:, column + 1])
            claims.append(
                Claim(
                    f"scaling-G{order}c-{model}",
                    f"{model}: |G{order}c| falls like N^{power}",
                    "PHYSICS §1.1",
                    float(power),
                    slope,
                    error,
                    figure="scaling.png",
                )
            )
        ax.errorbar(widths, np.abs(rows[:, 0]), rows[:, 1], fmt="o", label=r"$|G^{(4)}_c|$ measured")
        ax.plot(widths, np.abs(rows[:, 4]), "k-", lw=1, label="exact finite N")
        ax.errorbar(widths, np.abs(rows[:, 2]), rows[:, 3], fmt="s", label=r"$|G^{(6)}_c|$ measured")
        ax.plot(widths, np.abs(rows[:, 5]), "k--", lw=1)
        ax.set(xscale="log", yscale="log", xlabel="width N", title=model)
    axes[0].legend(fontsize=7)
    figure.savefig(out / "scaling.png", dpi=110)
    return claims


@check
def engines_agree(sizes: Sizes, out: Path) -> list[Claim]:
    """The brute-force ensemble and the exact finite-width engine measure the same G4c."""
    claims = []
    for model, (params, points) in SCALING_MODELS.items():
        params = {**params, "width": 3}
        brute = sample_ensemble(model, points, n_nets=sizes.nets, orders=(4,), params=params, progress=False)
        exact = sample_neurons(
            model, points, n_nets=sizes.neuron_nets, orders=(4,), params=params, seed=1, progress=False
        )
        index = (0, 0, 1, 1)
        (b, b_err), (e, e_err) = _entry(brute, "G4c", index), _entry(exact, "G4c", index)
        claims.append(
            Claim(
                f"engines-agree-{model}",
                f"{model} at N=3: ensemble G4c{index} equals the exact "
                "finite-width engine's (theory column: the exact engine)",
                "PHYSICS §1.1",
                e,
                b,
                float(np.hypot(b_err, e_err)),
            )
        )
    return claims


def _rotation(angle):
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


@check
def finite_width_symmetries(sizes: Sizes, out: Path) -> list[Claim]:
    """Cos-net is Euclidean invariant at finite N; Gauss-net only rotation invariant."""
    claims = []
    cases = [
        (
            "cos_net",
            {"width": 2, "sigma_b": 1.5},
            [[0.0, 0.0], [0.5, 0.2], [-0.3, 0.6]],
            lambda p: p @ _rotation(0.9).T + np.array([2.0, -1.5]),
            "rotated and translated",
            "agree",
            "PHYSICS A.2",
        ),
        (
            "gauss_net",
            {"width": 2, "sigma_b": 0.3},
            [[0.1, 0.0], [0.0, 0.25], [-0.2, 0.1]],
            lambda p: p @ _rotation(2.0).T,
            "rotated about the origin",
            "agree",
            "PHYSICS A.5, B.2",
        ),
        (
            "gauss_net",
            {"width": 2, "sigma_b": 0.3},
            [[0.1, 0.0], [0.0, 0.25], [-0.2, 0.1]],
            lambda p: p + np.array([0.3, 0.3]),
            "translated",
            "differ",
            "PHYSICS A.5, B.2",
        ),
    ]
    for seed, (model, params, points, move, how, expect, source) in enumerate(cases):
        points = np.array(points)
        first = sample_ensemble(
            model, points, n_nets=sizes.nets, orders=(4,), params=params, seed=2 * seed, progress=False
        )
        second = sample_ensemble(
            model, move(points), n_nets=sizes.nets, orders=(4,), params=params, seed=2 * seed + 1, progress=False
        )
        index = (0, 0, 0, 0)
        (a, a_err), (b, b_err) = _entry(first, "G4c", index), _entry(second, "G4c", index)
        verb = "equals" if expect == "agree" else "differs from"
        claims.append(
            Claim(
                f"symmetry-{model}-{how.split()[0]}",
                f"{model} at N=2: G4c{index} at the {how} points "
                f"{verb} G4c at the original points (theory column: original)",
                source,
                a,
                b,
                float(np.hypot(a_err, b_err)),
                expect=expect,
            )
        )
    return claims


def reproduce(out_dir="nnqft_report", quick: bool = False) -> list[Claim]:
    """Run every registered check, write report.md / report.json / figures, return the claims."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = QUICK if quick else FULL
    claims, notes = [], []
    start = time.monotonic()
    for function in _CHECKS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            claims.extend(function(sizes, out))
        notes.extend(f"{function.__name__}: {w.message}" for w in caught if issubclass(w.category, UserWarning))
        print(f"{function.__name__}: done ({time.monotonic() - start:.0f} s)", flush=True)
    records = [claim.record() for claim in claims]
    (out / "report.json").write_text(json.dumps({"quick": quick, "claims": records, "warnings": notes}, indent=1))
    lines = [
        "# nnqft reproduce",
        "",
        f"{sum(c.passed for c in claims)}/{len(claims)} claims pass "
        f"({'quick' if quick else 'full'} sizes, {time.monotonic() - start:.0f} s). A claim of agreement "
        f"passes within {PASS_SIGMA:g}σ; a broken symmetry must differ by more.",
        "",
        "| id | statement | source | theory | measured | stderr | dev/σ | pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in claims:
        lines.append(
            f"| {c.id} | {c.statement} | {c.source} | {c.theory:.5g} | {c.measured:.5g} | {c.stderr:.2g} "
            f"| {c.deviation:.2f} | {'yes' if c.passed else '**no**'} |"
        )
    lines += ["", "![1/N scaling](scaling.png)", ""] + [f"- warning: {note}" for note in notes]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:3] + [f"{c.id:40} {c.deviation:7.2f}σ  {'pass' if c.passed else 'FAIL'}" for c in claims]))
    return claims
