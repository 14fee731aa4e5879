r"""Locality of reconstructed couplings (PHYSICS.md F.4, F.5): how the couplings of
:func:`~nnqft_ppl.action.reconstruct_action` spread over separations, in position and in momentum space.

Position space.  For a coupling :math:`g_m` (``g2``, ``g4``, ``g6``) at points :math:`x_1..x_n` (any d),
the *diameter* of an index tuple is :math:`\max_{a,b}|x_{i_a} - x_{i_b}|`.  The weight :math:`|g_m|`
summed over the tuples of each diameter, divided by the total, is the normalised **profile**; its mean is
the **locality length** :math:`\ell_m = \sum|g_m|\,{\rm diam} / \sum|g_m|` (jackknife error from the
couplings' ``_replicas``), and the **range** is the smallest diameter within which a fraction
``fraction`` (default 0.99) of the weight lies.  A local action on a lattice has a range of a few
lattice spacings whatever the number of points; a non-local one spreads over the whole point set.

What is exact on a finite point set (tested in ``tests/test_locality.py``):

- ``g2`` at order 0 is the inverse of the n x n matrix G.  For the Ornstein-Uhlenbeck correlator
  :math:`G = \frac{\sigma_a^2}2e^{-m|t|}` (``cauchy_net``: a Markov process) it is exactly tridiagonal on
  any increasing set of times: range = the largest nearest-neighbour spacing.  For the Gaussian kernel
  (``cos_net``, :math:`1/\tilde G\propto e^{+dp^2/2\sigma_b^2}`) it spreads over all the points.
- A :math:`\frac\lambda{4!}\phi^4` deformation at first order (PHYSICS.md E.3) amputated by the *free* G:
  :math:`\lambda_{ijkl} = \lambda\int_Vd^dz\,c_i(z)c_j(z)c_k(z)c_l(z)` with :math:`c(z) = G^{-1}G(\cdot, z)`
  the kriging (conditional-mean) coefficients of :math:`\phi(z)` on the points.  It is *not* a Kronecker
  delta at coincident points: it is supported where the :math:`c(z)` overlap.  For a Markov G the
  :math:`c(z)` live on the two points that bracket z, so :math:`\lambda_{ijkl}` vanishes beyond
  nearest neighbours; and :func:`local_coupling` (the sum over three indices per unit cell) is
  :math:`\lambda\int_Vc_i(\sum_ac_a)^3` ≈ λ (within 1 % at ma = 0.5).  Amputating with the deformed G adds
  :math:`O(\lambda^2)` leakage beyond nearest neighbours.

Momentum space.  On a periodic uniform grid a translation-invariant G is circulant, diagonal in
Fourier space, and the amputation is a division (F.2):
:math:`\tilde\lambda(p_1..p_4) = -\tilde G^{(4)}_c(p_1..p_4)/\prod_i\tilde G(p_i)`;
:func:`momentum_coupling` computes it from the correlators by FFT, :func:`fourier` transforms any
coupling tensor.  For cos-type neurons with momenta on the grid's reciprocal lattice, F.4's structure
holds exactly: :math:`\tilde G^{(4)}_c` lives on :math:`p_1 = p_2 = -p_3 = -p_4` (and permutations) and on
paired momenta :math:`p_1 = -p_2,\ p_3 = -p_4`; on the single-momentum set
:math:`\tilde\lambda(k, k, -k, -k) = -\frac{6}{N\sigma_a^4P_k^3} + \frac{8}{N\sigma_a^4P_k^2}` (F.4's
:math:`P^{-3}` term plus the :math:`S_G^2` part; :func:`cos_lattice_coupling` has the whole closed form).
The ``ring_cos_net`` model (``models/ring_cos_net.py``) draws such neurons, so the structure is also a Monte
Carlo check: with jackknife replicas (``sample(..., keep_replicas=True)``) :func:`momentum_coupling` returns
the errors of G~, G~4c and lambda~, and takes G~ from the translation average of G2 (a sampled G2 is
circulant only within errors).
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from .moments import jackknife_stderr

__all__ = [
    "diameters",
    "locality",
    "local_coupling",
    "fourier",
    "momentum_coupling",
    "cos_lattice_coupling",
    "plot_locality",
    "locality_record",
    "momenta",
    "DEFAULT_FRACTION",
]

DEFAULT_FRACTION = 0.99
"""Fraction of the weight |g| that the reported range contains."""

_COUPLINGS = ("g2", "g4", "g6")


def _points(points, n: int) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2 or points.shape[0] != n:
        raise ValueError(f"points must have shape ({n}, d) to match the couplings, got {points.shape}")
    if not np.all(np.isfinite(points)):
        raise ValueError("points must be finite")
    return points


def diameters(points, rank: int) -> np.ndarray:
    """The tensor ``diam[i1..irank] = max_ab |x_ia - x_ib|`` (shape (n,)*rank) of the points (n, d)."""
    points = np.asarray(points, dtype=np.float64)
    points = points[:, None] if points.ndim == 1 else points
    n = points.shape[0]
    distance = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    out = np.zeros((n,) * rank)
    for a, b in itertools.combinations(range(rank), 2):
        shape = [1] * rank
        shape[a], shape[b] = n, n
        out = np.maximum(out, distance.reshape(shape) if a < b else distance.T.reshape(shape))
    return out


def _profile(weights: np.ndarray, labels: np.ndarray, n_bins: int) -> np.ndarray:
    """Normalised weight per diameter bin; weights (..., n^rank), labels (n^rank,)."""
    flat = weights.reshape(weights.shape[: weights.ndim - labels.ndim] + (-1,))
    total = flat.sum(axis=-1, keepdims=True)
    sums = np.stack([flat[..., labels.ravel() == k].sum(axis=-1) for k in range(n_bins)], axis=-1)
    return sums / np.where(total > 0, total, 1.0)


def locality(couplings, points=None, *, names=None, fraction: float = DEFAULT_FRACTION):
    r"""Profiles, locality lengths and ranges of the couplings of :func:`~nnqft_ppl.action.reconstruct_action`.

    ``couplings``: its dataset (or a mapping of ``g2``, ``g4``, ... with optional ``<name>_replicas``);
    ``points`` (n, d): default the dataset's ``points``; ``names``: the couplings to analyse (default all of
    g2, g4, g6 present); ``fraction``: the weight the range contains.

    Returns an ``xarray.Dataset`` with, per name: ``<name>_profile`` (dim ``diameter_<name>``, the distinct
    diameters, rounded to 1e-9 of the largest), ``<name>_length`` (the weight-averaged diameter) with
    ``_stderr`` (jackknife, NaN without replicas), ``<name>_range``; attrs ``fraction``, ``spacing`` (the
    smallest distance between distinct points) and ``names``.
    """
    import xarray as xr

    if not hasattr(couplings, "data_vars") and not isinstance(couplings, dict):
        raise TypeError(f"couplings must be a reconstruct_action dataset or a mapping, got {couplings!r}")
    if not (isinstance(fraction, float) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be a float in (0, 1], got {fraction!r}")
    if names is None:
        names = [name for name in _COUPLINGS if name in couplings]
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError("no couplings to analyse: pass a reconstruct_action result (g2, g4, ...)")
    for name in names:
        if name not in couplings:
            raise ValueError(f"couplings lack {name!r}")
    n = np.asarray(couplings[names[0]]).shape[0]
    if points is None:
        if "points" not in couplings:
            raise ValueError("points are needed: the couplings carry none (pass points=...)")
        points = np.asarray(couplings["points"])
    points = _points(points, n)
    distance = np.linalg.norm(points[:, None] - points[None], axis=-1)
    positive = distance[distance > 0]
    scale = float(positive.max()) if positive.size else 1.0
    data, coords = {}, {}
    for name in names:
        tensor = np.asarray(couplings[name], dtype=np.float64)
        rank = tensor.ndim
        if tensor.shape != (n,) * rank:
            raise ValueError(f"{name} has shape {tensor.shape}, expected {(n,) * rank}")
        diam = diameters(points, rank)
        rounded = np.round(diam / scale, 9) * scale
        values, labels = np.unique(rounded, return_inverse=True)
        labels = labels.reshape(diam.shape)
        weight = np.abs(tensor)
        total = weight.sum()
        profile = _profile(weight, labels, len(values))
        length = float((weight * diam).sum() / total) if total > 0 else math.nan
        cumulative = np.cumsum(profile)
        reach = float(values[min(int(np.searchsorted(cumulative, fraction * (1 - 1e-12))), len(values) - 1)])
        stderr = math.nan
        replicas_name = f"{name}_replicas"
        if replicas_name in couplings:
            replicas = np.abs(np.asarray(couplings[replicas_name], dtype=np.float64))
            axes = tuple(range(1, replicas.ndim))
            lengths = (replicas * diam).sum(axis=axes) / replicas.sum(axis=axes)
            stderr = float(jackknife_stderr(lengths))
        dim = f"diameter_{name}"
        coords[dim] = values
        data[f"{name}_profile"] = ((dim,), profile)
        data[f"{name}_length"] = ((), length)
        data[f"{name}_length_stderr"] = ((), stderr)
        data[f"{name}_range"] = ((), reach)
    spacing = float(positive.min()) if positive.size else math.nan
    return xr.Dataset(data, coords=coords, attrs={"fraction": fraction, "spacing": spacing, "names": ", ".join(names)})


def local_coupling(g4, cell: float) -> np.ndarray:
    r""":math:`\Lambda_i = \sum_{jkl}\lambda_{ijkl}/\text{cell}`: the quartic coefficient per unit volume of a
    field constant near point i.  For a local :math:`\frac\lambda{4!}\int\phi^4` on a lattice with cell volume
    ``cell`` it is λ up to the discretisation (module docstring)."""
    g4 = np.asarray(g4, dtype=np.float64)
    if g4.ndim < 4 or g4.shape[-4:] != (g4.shape[-1],) * 4:
        raise ValueError(f"g4 must have shape (..., n, n, n, n), got {g4.shape}")
    if not (isinstance(cell, (int, float)) and cell > 0):
        raise ValueError(f"cell must be a volume > 0, got {cell!r}")
    return g4.sum(axis=(-1, -2, -3)) / cell


def fourier(tensor, spacing: float = 1.0) -> np.ndarray:
    r"""DFT over every axis of a tensor on a periodic uniform 1-D grid of ``n`` points:
    :math:`\tilde T(p_1..p_m) = \sum_{x}e^{-i\sum_ap_ax_a}T(x_1..x_m)`, :math:`p = 2\pi k/(n\,\text{spacing})`
    in :func:`numpy.fft.fftfreq` order (:func:`momenta`)."""
    tensor = np.asarray(tensor)
    del spacing  # the phases depend on the indices only; spacing sets the momenta's units
    return np.fft.fftn(tensor)


def momenta(n: int, spacing: float = 1.0) -> np.ndarray:
    """The grid's momenta 2 pi k / (n spacing) in FFT order."""
    return 2 * math.pi * np.fft.fftfreq(n, d=spacing)


def momentum_coupling(correlators, *, rtol: float = 1e-8, k_sigma: float = 5.0) -> dict[str, np.ndarray]:
    r"""F.2 in momentum space on a periodic grid:
    :math:`\tilde\lambda(p_1..p_4) = -\tilde G^{(4)}_c(p_1..p_4)/\prod_i\tilde G(p_i)`, with
    :math:`\tilde G^{(4)}_c` the DFT (:func:`fourier`) of G4c and :math:`\tilde G(p) = \sum_re^{-ipr}\bar G(r)`
    the DFT of the translation average :math:`\bar G(r) = \frac1n\sum_xG(x + r, x)` (indices mod n), i.e.
    :math:`\tilde G(p) = \frac1n\sum_{x,y}e^{-ip(x-y)}G(x, y)`: the natural estimator of a translation-invariant
    G on the ring, equal to :math:`\sum_xe^{-ipx}G(x, 0)` when G is circulant.  Only G2 is averaged: the
    division needs a G diagonal in momentum space, while G4c enters linearly and is transformed as it is (so
    for Monte Carlo data the entries off :math:`\sum p = 0` are noise around zero, a check of translation
    invariance).

    ``correlators``: a mapping or a :func:`~nnqft_ppl.sample` dataset with ``G2`` (n, n) and ``G4c`` (n,)*4 at
    the n points of a uniform periodic grid in ring order.  G must be translation invariant: refused with a
    ``ValueError`` unless :math:`|G - \bar G| \le` ``rtol`` :math:`\max|G|` entrywise, or, when the input has
    jackknife replicas (``G2_replicas`` and ``G4c_replicas``, leading replica axis:
    ``sample(..., keep_replicas=True)``), unless :math:`|G - \bar G| \le` ``k_sigma`` jackknife standard errors
    (+ ``rtol`` :math:`\max|G|`) entrywise.

    Returns ``{"G2": G~(p) (n,), "G4c": G~4c (n,)*4, "g4": lambda~ (n,)*4}``, the first-order quartic coupling
    in the DFT convention of :func:`fourier` (``fourier(reconstruct_action(...)["g4"])`` up to the O(G4c) shift
    of G2 that reconstruct_action does not include in the amputation, and up to the averaging of G2); with
    replicas also ``"G2_stderr"``, ``"G4c_stderr"``, ``"g4_stderr"``: the whole map applied to each
    delete-one-block replica, :func:`~nnqft_ppl.moments.jackknife_stderr` of the spread (of
    :math:`|z - \bar z|` for the complex entries: the real and imaginary errors added in quadrature).
    """
    from .action import _read, _read_replicas

    if not (isinstance(rtol, float) and rtol >= 0) or not (isinstance(k_sigma, (int, float)) and k_sigma > 0):
        raise ValueError(f"rtol must be a float >= 0 and k_sigma a number > 0, got {rtol!r} and {k_sigma!r}")
    g2, g4c = _read(correlators, "G2"), _read(correlators, "G4c")
    n = g2.shape[0]
    if g2.shape != (n, n) or g4c.shape != (n,) * 4:
        raise ValueError(f"G2 must be (n, n) and G4c (n,)*4, got {g2.shape} and {g4c.shape}")
    replicas = None
    if "G2_replicas" in correlators and "G4c_replicas" in correlators:
        replicas = _read_replicas(correlators, {"G2": 2, "G4c": 4}, n)
    _check_circulant(g2, None if replicas is None else replicas["G2"], rtol, k_sigma)
    result = _amputate(g2, g4c)
    if np.any(result["G2"] <= 0):
        raise ValueError("G2 is not positive definite (a Fourier mode has G~(p) <= 0)")
    if replicas is not None:
        spread = _amputate(replicas["G2"], replicas["G4c"])
        for name, values in spread.items():
            error = np.hypot(jackknife_stderr(values.real), jackknife_stderr(values.imag))
            result[f"{name}_stderr"] = error
    return result


def _translation_average(g2: np.ndarray) -> np.ndarray:
    r""":math:`\bar G(r) = \frac1n\sum_xG(x + r, x)` (indices mod n) of G2 (..., n, n): shape (..., n)."""
    n = g2.shape[-1]
    x = np.arange(n)
    return g2[..., (x[None, :] + x[:, None]) % n, x[None, :]].mean(axis=-1)


def _check_circulant(g2: np.ndarray, replicas: np.ndarray | None, rtol: float, k_sigma: float) -> None:
    """``ValueError`` unless G2 equals the circulant matrix of its translation average, within ``rtol``
    times its largest entry, plus ``k_sigma`` jackknife errors when ``replicas`` are given."""
    n = g2.shape[0]
    shift = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n

    def deviation(g):
        return g - _translation_average(g)[..., shift]

    tolerance = np.full_like(g2, rtol * np.max(np.abs(g2)))
    if replicas is not None:
        tolerance += k_sigma * jackknife_stderr(deviation(replicas))
    excess = np.abs(deviation(g2)) - tolerance
    if np.any(excess > 0):
        worst = np.unravel_index(np.argmax(excess), excess.shape)
        within = f"{k_sigma:g} jackknife errors + rtol" if replicas is not None else "rtol"
        hint = (
            "" if replicas is not None else "; for Monte Carlo input pass the jackknife replicas (keep_replicas=True)"
        )
        raise ValueError(
            f"G2 is not circulant: G2{tuple(int(i) for i in worst)} differs from its translation average by "
            f"{abs(deviation(g2)[worst]):.3g}, more than the tolerance {tolerance[worst]:.3g} ({within}): "
            f"momentum_coupling needs a translation-invariant G on a periodic grid{hint}"
        )


def _amputate(g2: np.ndarray, g4c: np.ndarray) -> dict[str, np.ndarray]:
    """G~ of the translation-averaged G2, G~4c and lambda~ = -G~4c / prod G~ (any leading batch axes)."""
    propagator = np.fft.fft(_translation_average(g2), axis=-1).real
    connected = np.fft.fftn(g4c, axes=(-4, -3, -2, -1))
    # lambda(x) = -sum_y prod_a G^-1(x_a, y_a) G4c(y): its DFT (e^{-ipx}) is -G4c~(p) / prod G~(-p_a) = / prod G~(p_a)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = 1.0 / propagator
    amputated = -connected * np.einsum("...a,...b,...c,...d->...abcd", inverse, inverse, inverse, inverse)
    return {"G2": propagator, "G4c": connected, "g4": amputated}


def cos_lattice_coupling(probabilities, width: int, sigma_a: float = 1.0, mu4: float | None = None):
    r"""Closed form (PHYSICS.md B.4 + F.2 on a ring of n sites) of the momentum-space G4c and quartic
    coupling of cos-type neurons :math:`a\cos(bx + c)` whose momenta b lie on the ring's reciprocal lattice
    with symmetric probabilities ``probabilities[k]`` (FFT order, :math:`P_k = P_{-k}`); Gaussian a
    (:math:`\mu_4 = 3\sigma_a^4`) unless ``mu4``.  Returns ``(G~(p), G~4c, lambda~)`` in :func:`fourier`'s
    convention:

    .. math::  \tilde G(p) = \frac{n\sigma_a^2}2P_p,\qquad
               \tilde G^{(4)}_c = \frac{n^4}{N}\Big[\frac{\mu_4}8\sum_{\rm 3\ pairings}\delta_{p_a=p_b=-p_c=-p_d}P_{p_a}
               - \frac{\sigma_a^4}4\sum_{\rm 3\ pairings}\delta_{p_a=-p_b}\delta_{p_c=-p_d}P_{p_a}P_{p_c}\Big]

    (each single-momentum pattern :math:`\delta(p_a = p_b = k)\delta(p_c = p_d = -k)` summed over k).  On the
    single-momentum set :math:`(k, k, -k, -k)`, :math:`k \ne -k`, that is
    :math:`\tilde\lambda = -\frac{16}{N\sigma_a^8P_k^4}\big(\frac{\mu_4}8P_k - \frac{\sigma_a^4}2P_k^2\big)`,
    i.e. :math:`-\frac{6}{N\sigma_a^4P_k^3} + \frac{8}{N\sigma_a^4P_k^2}`: F.4's :math:`P^{-3}` term and the
    :math:`S_G^2` part."""
    p = np.asarray(probabilities, dtype=np.float64)
    n = p.shape[0]
    if p.ndim != 1 or not np.allclose(p, p[(-np.arange(n)) % n]) or np.any(p < 0) or not math.isclose(p.sum(), 1.0):
        raise ValueError("probabilities must be a symmetric probability vector on the n momenta (FFT order)")
    mu4 = 3 * sigma_a**4 if mu4 is None else float(mu4)
    index = np.arange(n)
    minus = (-index) % n
    single = np.zeros((n,) * 4)
    paired = np.zeros((n,) * 4)
    for a, b, c, d in ((0, 1, 2, 3), (0, 2, 1, 3), (0, 3, 1, 2)):
        for k in range(n):  # p_a = p_b = k, p_c = p_d = -k
            where = [0] * 4
            where[a], where[b], where[c], where[d] = k, k, minus[k], minus[k]
            single[tuple(where)] += p[k]
        block = np.zeros((n,) * 4)  # p_a = -p_b, p_c = -p_d
        for k, q in itertools.product(range(n), repeat=2):
            where = [0] * 4
            where[a], where[b], where[c], where[d] = k, minus[k], q, minus[q]
            block[tuple(where)] += p[k] * p[q]
        paired += block
    connected = n**4 / width * (mu4 / 8 * single - sigma_a**4 / 4 * paired)
    propagator = n * sigma_a**2 / 2 * p
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse = np.where(propagator > 0, 1.0 / propagator, 0.0)
    coupling = -connected * np.einsum("a,b,c,d->abcd", inverse, inverse, inverse, inverse)
    return propagator, connected, coupling


def plot_locality(result, axes=None, title: str | None = None):
    """Bar chart of each coupling's profile (weight fraction against diameter), with its locality length."""
    names = [name.strip() for name in result.attrs["names"].split(",")]
    if axes is None:
        from matplotlib.figure import Figure

        axes = Figure(figsize=(4.2 * len(names), 3.4), layout="tight").subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        diam = result[f"diameter_{name}"].values
        width = 0.8 * (np.min(np.diff(diam)) if len(diam) > 1 else 1.0)
        ax.bar(diam, result[f"{name}_profile"].values, width=width, color="C0")
        length, error = float(result[f"{name}_length"]), float(result[f"{name}_length_stderr"])
        label = f"length {length:.3g}" + ("" if math.isnan(error) else f" ± {error:.2g}")
        ax.axvline(length, color="C3", lw=1, label=label)
        ax.set(xlabel="diameter max|x_a - x_b|", ylabel=f"|{name}| weight fraction", yscale="log")
        ax.legend(fontsize=7)
        if title:
            ax.set_title(f"{title}: {name}", fontsize=9)
    return axes[0].figure


def locality_record(couplings, result, max_entries: int = 20) -> dict:
    """JSON-ready summary: the unique entries of each coupling (up to ``max_entries`` largest by |value|) with
    errors, and each coupling's locality length, error and range (``nnqft action``'s result.json)."""
    from .combinatorics import unique_tuples

    record = {"attrs": {k: (v if isinstance(v, (int, float, str)) else str(v)) for k, v in couplings.attrs.items()}}
    record["couplings"] = {}
    for name in [n.strip() for n in result.attrs["names"].split(",")]:
        tensor, stderr = couplings[name].values, couplings[f"{name}_stderr"].values
        tuples = unique_tuples(tensor.shape[0], tensor.ndim)
        values = tensor[tuple(tuples.T)]
        keep = np.argsort(-np.abs(values))[:max_entries]
        record["couplings"][name] = [
            {"index": [int(i) for i in tuples[k]], "value": float(values[k]), "stderr": float(stderr[tuple(tuples[k])])}
            for k in keep
        ]
    record["locality"] = {
        name: {
            "length": float(result[f"{name}_length"]),
            "stderr": float(result[f"{name}_length_stderr"]),
            "range": float(result[f"{name}_range"]),
            "profile": dict(
                zip(
                    (f"{d:.6g}" for d in result[f"diameter_{name}"].values),
                    (float(v) for v in result[f"{name}_profile"].values),
                    strict=True,
                )
            ),
        }
        for name in record["couplings"]
    }
    record["spacing"] = float(result.attrs["spacing"])
    return record
