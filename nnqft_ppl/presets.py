"""Named experiment set-ups: the papers' architectures, hyperparameters and inputs.

``hms20`` is the width scan of Halverson-Maiti-Stoner (arXiv:2008.08601) as
recorded in PHYSICS.md H.1: Erf-, ReLU- and Gauss-nets with sigma_w = sigma_b = 1,
widths 2..1000, 10^6 networks per width, in d = 1, 2, 3 with their input sets.

Conventions where the authors' code is ambiguous:
- ReLU-net runs with sigma_b = 0, the README's stated intent (its free_theory.py
  compares instead of assigning and so used sigma_b = 1; pass ``--set sigma_b=1``
  to reproduce that);
- Erf-net uses the +-1-style inputs the published free-theory plots use (v2 of the
  paper moved some runs to 0.002..0.012; not reproduced here);
- Gauss-net inputs are scaled by 0.01, as in the code, which keeps its log-normal
  neurons estimable;
- the output bias has the same sigma_b as the hidden layer (their "Schoenholz et al."
  convention).
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["ScanCase", "PRESETS", "COUPLING_PRESETS", "get_preset"]


@dataclasses.dataclass(frozen=True)
class ScanCase:
    model: str
    params: dict
    points: np.ndarray
    label: str


HMS20_WIDTHS = (2, 3, 4, 5, 10, 20, 50, 100, 500, 1000)
HMS20_NETS = 1_000_000
EXACT_ENGINE_SAMPLES = 250_000
"""Neuron samples per width for the exact engine (``nnqft scan --method neurons``): about
250000 / N networks at width N (:func:`nnqft_ppl.scan.neuron_nets`), so G4c/G4_GP and
G6c/G6_GP have the same relative error at every width.  HMS20 d = 1, per width:
G4c/G4_GP to ~2% (Erf-net) and ~4% (ReLU-net), G6c/G6_GP to ~10-20%; the heavy-tailed
Gauss-net ~15-50%.  The fitted powers of N are as precise as with the previous fixed
10^4 networks per width (10^4 N samples at width N: 1.7e7 per architecture instead of
2.5e6), which resolved the widest networks far better than the narrowest.  The
network-level term (an output bias) gets only ~250000 / N samples: at the largest
widths it limits G2, and with it m4 and m6 (not r4, r6)."""

_ERF_1D = np.array([-1.0, -0.6, -0.2, 0.2, 0.6, 1.0])[:, None]
_RELU_1D = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])[:, None]
_SQUARE = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
_TETRAHEDRON = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, 1.0, 1.0], [1.0, -1.0, 1.0]])


def _hms20() -> list[ScanCase]:
    inputs = {
        1: {"erf_net": _ERF_1D, "gauss_net": 0.01 * _ERF_1D, "relu_net": _RELU_1D},
        2: {"erf_net": _SQUARE, "gauss_net": 0.01 * _SQUARE, "relu_net": np.where(_SQUARE < 0, 0.5, 1.0)},
        3: {
            "erf_net": _TETRAHEDRON,
            "gauss_net": 0.01 * _TETRAHEDRON,
            "relu_net": np.where(_TETRAHEDRON < 0, 0.2, 1.0),
        },
    }
    return [
        ScanCase(
            model, {"d": d, "sigma_w": 1.0, "sigma_b": 0.0 if model == "relu_net" else 1.0}, points, f"{model}-d{d}"
        )
        for d, by_model in inputs.items()
        for model, points in by_model.items()
    ]


def _hms20_coupling() -> list[ScanCase]:
    """HMS20's EFT fit and "RG" experiment (PHYSICS.md H.1): the quartic coupling at one
    non-Gaussian width per architecture, inputs {0.2..1.2} (x 0.01 for Erf and Gauss).

    The width is in ``params``.  HMS20 fit Erf at cutoff 100 and Gauss without one;
    here every case gets the whole cutoff list (the Gauss-net's integral has converged
    long before the largest cutoff).  Their train/test split over scaled inputs and the
    x^2-dependent and non-local couplings are not reproduced.
    """
    cases = [
        ("relu_net", 0.0, 20, _RELU_1D),
        ("erf_net", 1.0, 5, 0.01 * _RELU_1D),
        ("gauss_net", 1.0, 1000, 0.01 * _RELU_1D),
    ]
    return [
        ScanCase(model, {"d": 1, "sigma_w": 1.0, "sigma_b": sigma_b, "width": width}, points, f"{model}-N{width}")
        for model, sigma_b, width, points in cases
    ]


PRESETS = {"hms20": _hms20}
COUPLING_PRESETS = {"hms20": _hms20_coupling}


def get_preset(name: str, d: int | None = None, presets: dict = PRESETS) -> list[ScanCase]:
    """The cases of a preset (of :data:`PRESETS`, or e.g. :data:`COUPLING_PRESETS`),
    optionally only those in dimension ``d``."""
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(presets)}")
    cases = presets[name]()
    if d is not None:
        cases = [case for case in cases if case.params["d"] == d]
        if not cases:
            raise ValueError(f"preset {name!r} has no cases in d={d}")
    return cases
