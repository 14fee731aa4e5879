r"""Landscapes of classical configurations: the local maxima of the parameter density (PHYSICS.md G.1).

With no action at hand, the classical configurations of an NN-FT are the fields
:math:`\phi_{\theta_*}` at local maxima :math:`\theta_*` of :math:`P(\theta)` (H21's definition).
:func:`landscape` climbs :math:`\log P` from many starts at once
(:func:`~nnqft_ppl.inference.map_search`: Adam, vmapped over starts, one compiled scan), then

- classifies every end point by the Hessian of :math:`-\log P` in the parameters: all eigenvalues
  positive (beyond a relative tolerance) is a maximum, a negative one a saddle (or an unconverged
  climb), zeros are flat directions, the dimension of a moduli space of maxima;
- de-duplicates them by what is physical and invariant under the model's symmetries (neuron
  permutations, phase shifts, sign flips of a cos-type neuron): two end points are the same
  configuration when their log-densities agree and their fields on the grid agree;
- groups configurations into families of equal log-density and Hessian signature: a family with
  flat directions and many distinct fields is a continuum (a landscape of vacua).

Caveat (G.1): the density of φ integrates :math:`P(\theta)` over the fibres of
:math:`\theta \mapsto \phi_\theta`, with a Jacobian; the maxima of :math:`P(\theta)` need not be maxima of
the density of φ (:mod:`models.double_well_net` measures this).
"""

from __future__ import annotations

import numpy as np

from .inference import hessian_spectra, map_search
from .registry import get_model
from .spacetime import as_points

__all__ = ["landscape", "plot_landscape", "FLAT_TOLERANCE"]

FLAT_TOLERANCE = 1e-4
"""Hessian eigenvalues below this fraction of the largest |eigenvalue| count as flat (single precision)."""


def _classify(eigenvalues: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of positive, flat and negative Hessian eigenvalues per end point."""
    scale = np.max(np.abs(eigenvalues), axis=1, keepdims=True)
    flat = np.abs(eigenvalues) <= tolerance * scale
    return np.sum((eigenvalues > 0) & ~flat, axis=1), np.sum(flat, axis=1), np.sum((eigenvalues < 0) & ~flat, axis=1)


def _group(keys: np.ndarray, atol: np.ndarray) -> np.ndarray:
    """Label rows of ``keys`` (sorted best first) so that rows within ``atol`` (per column) of a group's
    first row share its label: a greedy clustering, exact for well-separated configurations."""
    labels = np.full(len(keys), -1)
    leaders = []
    for row in range(len(keys)):
        for label, leader in enumerate(leaders):
            if np.all(np.abs(keys[row] - keys[leader]) <= atol):
                labels[row] = label
                break
        else:
            labels[row] = len(leaders)
            leaders.append(row)
    return labels


def landscape(
    model,
    grid,
    *,
    params: dict | None = None,
    starts: int = 256,
    steps: int = 2000,
    learning_rate: float = 0.01,
    seed: int = 0,
    rtol: float = 1e-3,
    flat_tolerance: float = FLAT_TOLERANCE,
    gradient_tolerance: float = 1e-3,
):
    r"""Local maxima of :math:`\log P(\theta)` from ``starts`` prior draws, each with its field on ``grid``.

    Returns an ``xarray.Dataset`` with

    - per start (dim ``start``, best first): ``log_density``, ``gradient_norm``, ``converged``,
      ``configuration`` (the label of the distinct configuration it reached, -1 if it did not
      converge) and every latent site;
    - per distinct configuration (dim ``configuration``, best first): ``phi`` on the grid,
      ``log_density``, ``hessian_eigenvalues`` (dim ``direction``), ``n_positive``/``n_flat``/``n_negative``
      eigenvalue counts, ``kind`` ("maximum" or "saddle"), ``share`` (fraction of the starts that
      reached it) and ``family`` (configurations with the same log-density and Hessian signature);
    - per family (dim ``family``): ``family_log_density``, ``family_share``, ``family_size`` (its
      distinct configurations: more than one with flat directions is a continuum of vacua).

    Configurations are the same when their log-densities agree to ``rtol`` (relative, at least 1e-4
    absolute) and their fields on the grid agree to ``rtol`` times the largest |φ| (at least 1e-4).
    Only converged climbs count (gradient norm below ``gradient_tolerance``; per start ``converged``);
    shares are fractions of those.
    """
    import xarray as xr

    grid = as_points(grid)
    spec = get_model(model)
    found = map_search(spec, grid, params=params, starts=starts, steps=steps, learning_rate=learning_rate, seed=seed)
    converged = found["gradient_norm"].values <= gradient_tolerance
    if not np.any(converged):
        raise ValueError(
            f"no climb converged (smallest gradient norm {found['gradient_norm'].values.min():.3g} > "
            f"{gradient_tolerance:g}): raise steps or learning_rate"
        )
    log_p = found["log_density"].values[converged].astype(np.float64)
    phi = found["phi"].values[converged].astype(np.float64)
    density_tolerance = max(1e-4, rtol * float(np.max(np.abs(log_p))))
    field_tolerance = max(1e-4, rtol * float(np.max(np.abs(phi), initial=0.0)))
    keys = np.column_stack([log_p, phi])
    labels = _group(keys, np.concatenate([[density_tolerance], np.full(phi.shape[1], field_tolerance)]))
    leaders = np.array([int(np.argmax(labels == label)) for label in range(labels.max() + 1)])
    # Hessians at one start per configuration (its best, the leader): the expensive part of a search
    spectra = hessian_spectra(found, spec.model, np.flatnonzero(converged)[leaders])
    spectra = spectra.astype(np.float64)
    positive, flat, negative = _classify(spectra, flat_tolerance)
    signature = np.column_stack([log_p[leaders], positive, flat, negative])
    families = _group(signature, np.array([density_tolerance, 0, 0, 0]))
    share = np.bincount(labels, minlength=len(leaders)) / len(labels)
    family_leaders = np.array([int(np.argmax(families == f)) for f in range(families.max() + 1)])
    per_start = np.full(len(converged), -1)  # -1: the climb did not converge
    per_start[converged] = labels
    data = {name: found[name] for name in found.data_vars}
    data.update(
        {
            "converged": ("start", converged),
            "configuration": ("start", per_start),
            "phi_configuration": (("configuration", "point"), phi[leaders]),
            "configuration_log_density": ("configuration", log_p[leaders]),
            "hessian_eigenvalues": (("configuration", "direction"), spectra),
            "n_positive": ("configuration", positive),
            "n_flat": ("configuration", flat),
            "n_negative": ("configuration", negative),
            "kind": ("configuration", np.where(negative == 0, "maximum", "saddle")),
            "share": ("configuration", share),
            "family": ("configuration", families),
            "family_log_density": ("family", log_p[leaders][family_leaders]),
            "family_share": ("family", np.bincount(families, weights=share)),
            "family_size": ("family", np.bincount(families)),
            "grid": (("point", "coordinate"), grid),
        }
    )
    attrs = {**found.attrs, "method": "landscape", "rtol": float(rtol), "flat_tolerance": float(flat_tolerance)}
    return xr.Dataset(data, attrs=attrs)


def plot_landscape(result, axes=None):
    """The distinct configurations on the grid (d = 1: φ against x; else φ against the grid index),
    coloured by log-density, and each family's log-density against the share of starts it drew."""
    from matplotlib import cm
    from matplotlib.figure import Figure

    if axes is None:
        axes = Figure(figsize=(10, 3.8), layout="tight").subplots(1, 2)
    left, right = axes
    grid = result["grid"].values
    x = grid[:, 0] if grid.shape[1] == 1 else np.arange(len(grid))
    densities = result["configuration_log_density"].values
    span = np.ptp(densities) or 1.0
    for phi, density, kind in zip(result["phi_configuration"].values, densities, result["kind"].values, strict=True):
        colour = cm.viridis((density - densities.min()) / span)
        left.plot(x, phi, color=colour, lw=1.2, ls="-" if kind == "maximum" else ":")
    left.set_xlabel("x" if grid.shape[1] == 1 else "grid point")
    left.set_ylabel(r"$\phi_{\theta_*}$")
    left.set_title(f"{result.sizes['configuration']} configurations (dotted: saddles)")
    right.scatter(result["family_share"].values, result["family_log_density"].values, s=20 + 4 * result["family_size"])
    right.set_xlabel("share of starts")
    right.set_ylabel(r"$\log P(\theta_*)$")
    right.set_title("families (marker size: distinct configurations)")
    return axes
