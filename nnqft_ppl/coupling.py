"""The local quartic coupling of a finite-width NN-FT and its cutoff flow (HMS20).

HMS20 describe a net at finite width N by a local effective action
S = S_GP + int d^dz lambda phi^4 (no 1/4!, PHYSICS.md E.4).  At first order in lambda,

    Delta G4(x_1..x_4) = G4 - G4_GP = lambda_m T_L(x_1..x_4),
    T_L(x_1..x_4) = 24 int_{[-L, L]^d} d^dz prod_i K_EFT(z, x_i),

with lambda_m = -lambda (the sign the authors' code stores), L the cutoff and
K_EFT = K - var(output bias) the part of the kernel that propagates from the vertex.
Since G2 = K exactly at every width, Delta G4 = G4c.  lambda_m is fitted by least
squares over the unique 4-tuples t of the points (HMS20 fit it with an MSE loss),

    lambda_m(L) = sum_t T_L(t) Delta G4(t) / sum_t T_L(t)^2,

with a jackknife error over the measurement's blocks; the same estimator applied
to the exact finite-width G4c gives its prediction.

Six points (PHYSICS.md B.8): with cumulants kappa_2 = K, kappa_4 = lambda_m T_L and
kappa_6 = 0, the local EFT predicts

    G6_EFT = G6_GP + sum_{15 splittings (ab|cdef)} K(x_a, x_b) lambda_m T_L(x_c..x_f).

Cutoff flow.  Delta G4 does not depend on L, so lambda_m(L) is proportional to 1/T_L.
If K_EFT is homogeneous of degree p in its first argument, K_EFT(s z, x) =
s^p K_EFT(z, x) for s > 0, substituting z = L u gives

    T_L = L^{d + 4p} 24 int_{[-1, 1]^d} d^du prod_i K_EFT(u, x_i),   lambda_m(L) ~ L^{-(d + 4p)}.

The ReLU-net without biases has p = 1 exactly (its preactivation is linear in x and
max(0, s y) = s max(0, y)), so in d = 1 the log-log slope is -5 at every cutoff.
Where the homogeneity holds only asymptotically (biases; bounded activations have
p = 0) the slope tends to -(d + 4p) at large L, which may lie beyond the cutoffs
used: the Erf-net at inputs x ~ 0.01 has K_EFT ~ 1/|z| up to |z| ~ 1/x and T_L only
starts to grow like L once L x^4 is O(1), so its slope is ~0 over HMS20's cutoffs.
Where d + 4p < 0 (a kernel that decays, like the Gauss-net's) T_L converges and the
slope tends to 0.
:func:`kernel_degree` measures p from the kernel itself.
"""

from __future__ import annotations

import json

import numpy as np

from .combinatorics import unique_tuples
from .moments import MonomialBasis, jackknife_stderr, moments_from_cumulants
from .registry import get_model
from .sampling import sample
from .spacetime import as_points
from .theory import predict

__all__ = [
    "HMS20_CUTOFFS",
    "QUADRATURE_RTOL",
    "quartic_coupling",
    "vertex_integrals",
    "kernel_degree",
    "flow_slope_prediction",
]

HMS20_CUTOFFS = (7, 10, 15, 20, 30, 40, 50, 70, 100, 200, 500, 1e3, 2e3, 5e3, 7e3, 1e4, 2e4, 4e4, 6e4, 8e4, 1e5)
"""The 21 cutoffs of HMS20's "RG" experiment (PHYSICS.md H.1)."""

QUADRATURE_RTOL = 1e-8
"""Accuracy claimed for the vertex integrals: the largest accepted relative change
between Gauss-Legendre rules of NODES_PER_PANEL and 2/3 as many nodes per panel."""

NODES_PER_PANEL = 16
MAX_QUADRATURE_NODES = 2_000_000


def _eft_kernel(theory, z: np.ndarray, points: np.ndarray) -> np.ndarray:
    """K_EFT(z_a, x_i) = mu_2 E[h(z_a) h(x_i)] of shape (n_z, n_points): the kernel without the output bias."""
    pairs = np.stack(np.broadcast_arrays(z[:, None, :], points[None, :, :]), axis=2)  # (n_z, n_points, 2, d)
    moments = np.asarray(theory.neuron_moment(pairs.reshape(-1, 2, points.shape[1])))
    return theory.weight_moment(2) * moments.reshape(len(z), len(points))


def _check_theory(theory, name: str):
    if not (hasattr(theory, "neuron_moment") and hasattr(theory, "weight_moment")):
        raise ValueError(
            f"the vertex integrals need the kernel K(z, x) at any z: {name}'s theory is not a FiniteWidthTheory"
        )


def _axis_rule(cutoffs: np.ndarray, nodes: int):
    """Gauss-Legendre nodes and weights on [-max L, max L], in panels split at 0, at
    every cutoff and at 2^k (so each cube [-L, L]^d is a union of whole panels and a
    kink at 0, such as ReLU's, falls on a panel edge)."""
    top = float(cutoffs.max())
    geometric = 2.0 ** np.arange(-3, np.ceil(np.log2(top)))
    edges = np.unique(np.concatenate([[0.0], cutoffs, geometric[geometric < top]]))
    x, w = np.polynomial.legendre.leggauss(nodes)
    centre, half = (edges[1:] + edges[:-1]) / 2, (edges[1:] - edges[:-1]) / 2
    positive = (centre[:, None] + half[:, None] * x).ravel()
    weights = (half[:, None] * w).ravel()
    return np.concatenate([-positive[::-1], positive]), np.concatenate([weights[::-1], weights])


def _vertex_integrals_rule(theory, points, cutoffs, nodes):
    d = points.shape[1]
    axis, axis_weights = _axis_rule(cutoffs, nodes)
    if len(axis) ** d > MAX_QUADRATURE_NODES:
        raise ValueError(
            f"the vertex integral in d={d} up to cutoff {cutoffs.max():g} needs {len(axis) ** d:.1e} quadrature "
            f"nodes (limit {MAX_QUADRATURE_NODES:.0e}); use fewer dimensions or smaller cutoffs"
        )
    grid = np.stack(np.meshgrid(*[axis] * d, indexing="ij"), -1).reshape(-1, d)
    weights = np.prod(np.stack(np.meshgrid(*[axis_weights] * d, indexing="ij"), -1).reshape(-1, d), axis=1)
    inside = np.abs(grid).max(axis=1)[None, :] < cutoffs[:, None]  # (n_cutoffs, n_nodes)
    kernel = _eft_kernel(theory, grid, points)
    tuples = unique_tuples(len(points), 4)
    vertex = np.prod(kernel[:, tuples], axis=-1)  # (n_nodes, n_tuples)
    return 24.0 * (inside * weights) @ vertex


def vertex_integrals(theory, points, cutoffs, nodes_per_panel: int = NODES_PER_PANEL):
    """T_L(t) = 24 int_{[-L, L]^d} d^dz prod_{i in t} K_EFT(z, x_i) for every cutoff L and
    unique 4-tuple t of the points, with its quadrature error estimate.

    ``theory`` is a :class:`~nnqft_ppl.theory.FiniteWidthTheory` (its neuron moments give
    K_EFT).  Returns ``(values, errors)``, both of shape (n_cutoffs, n_tuples); the error
    is the change from a rule with 2/3 of the nodes.  Raises ``ValueError`` if that
    change exceeds :data:`QUADRATURE_RTOL` of the largest |T_L| at some cutoff.
    """
    points = as_points(points)
    cutoffs = _validate_cutoffs(cutoffs)
    _check_theory(theory, type(theory).__name__)
    fine = _vertex_integrals_rule(theory, points, cutoffs, nodes_per_panel)
    coarse = _vertex_integrals_rule(theory, points, cutoffs, max(2, 2 * nodes_per_panel // 3))
    errors = np.abs(fine - coarse)
    scale = np.abs(fine).max(axis=1, keepdims=True)
    if not np.all(np.isfinite(fine)) or np.any(errors > QUADRATURE_RTOL * scale):
        worst = np.nanmax(errors / scale)
        raise ValueError(
            f"the vertex integrals did not converge (relative change {worst:.1e} between quadrature rules, "
            f"tolerance {QUADRATURE_RTOL:.0e}); raise nodes_per_panel"
        )
    return fine, errors


def _validate_cutoffs(cutoffs) -> np.ndarray:
    try:
        values = np.atleast_1d(np.asarray(cutoffs, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"cutoffs must be positive numbers, got {cutoffs!r}") from None
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(f"cutoffs must be a non-empty list of positive finite numbers, got {cutoffs!r}")
    return np.unique(values)


def kernel_degree(theory, points, scale: float) -> float:
    """Degree p of K_EFT(z, x) in z at |z| ~ ``scale``: the median over the points x and
    the directions +-e_k of log2[K_EFT(2 s u, x) / K_EFT(s u, x)].

    Exact for a homogeneous kernel (ReLU without biases: p = 1); asymptotic otherwise.
    Returns -inf when the kernel vanishes at that scale in every direction (a decaying kernel).
    """
    points = as_points(points)
    d = points.shape[1]
    directions = np.concatenate([np.eye(d), -np.eye(d)])
    near = np.abs(_eft_kernel(theory, scale * directions, points))
    far = np.abs(_eft_kernel(theory, 2 * scale * directions, points))
    usable = (near > 0) & (far > 0)
    if not np.any(usable):
        return float("-inf")
    return float(np.median(np.log2(far[usable] / near[usable])))


def flow_slope_prediction(degree: float, d: int) -> float:
    """Log-log slope of lambda_m(L) for a kernel of degree p: -(d + 4p), or 0 when T_L converges (d + 4p < 0)."""
    return -(d + 4 * degree) if d + 4 * degree > 0 else 0.0


def _least_squares(vertex, delta):
    """lambda_m per cutoff (and per replica) from T (n_cutoffs, n_tuples) and Delta G4 (..., n_tuples)."""
    return np.einsum("ct,...t->...c", vertex, delta) / np.sum(vertex**2, axis=1)


def _eft_six_point(vertex_integral, coupling, kernel_pairs, n_points):
    """G6_EFT on the unique 6-tuples from kappa_2 = K, kappa_4 = lambda_m T, kappa_6 = 0 (B.8).

    ``coupling`` has leading axes (e.g. replicas) before the cutoff axis."""
    basis = MonomialBasis(n_points, 6)
    cumulants = np.zeros(np.shape(coupling) + (basis.size,))
    cumulants[..., basis.order_slice(2)] = kernel_pairs
    cumulants[..., basis.order_slice(4)] = np.asarray(coupling)[..., None] * vertex_integral
    return moments_from_cumulants(cumulants, basis)[..., basis.order_slice(6)]


def _log_slope(cutoffs, values, relative_errors):
    """OLS slope of log|values| against log L, its standard error from the relative errors, and R^2."""
    x, y = np.log(cutoffs), np.log(np.abs(values))
    coefficients = (x - x.mean()) / np.sum((x - x.mean()) ** 2)
    slope = coefficients @ (y - y.mean())
    residual = y - y.mean() - slope * (x - x.mean())
    r2 = 1.0 - np.sum(residual**2) / np.sum((y - y.mean()) ** 2) if np.ptp(y) > 0 else 1.0
    return slope, np.sqrt(np.sum((coefficients * relative_errors) ** 2)), r2


def quartic_coupling(
    model,
    points,
    *,
    width: int,
    cutoffs=HMS20_CUTOFFS,
    n_nets: int = 1_000_000,
    method: str = "ensemble",
    seed: int = 0,
    params: dict | None = None,
    n_blocks: int = 10,
    progress: bool | None = None,
):
    """Fit the local quartic coupling lambda_m(L) of ``model`` at ``width``, predict G6 from it,
    and measure the cutoff flow (HMS20's EFT fit and "RG" experiment; formulas in the module docstring).

    The vertex integrals are done first (a bad cutoff or an unconverged quadrature
    fails before any sampling), then G4 and G6 are measured at ``points`` with
    ``method`` (``"ensemble"`` or ``"neurons"``).  Returns an ``xarray.Dataset`` with
    dims ``cutoff``, ``e4`` and ``e6`` (unique index tuples):

    - ``vertex_integral`` T_L, ``delta_G4`` (with ``_stderr`` and the exact ``_theory``),
    - ``lambda_m`` with ``_stderr`` (jackknife) and ``_theory``,
    - ``G6``, ``G6_GP``, ``G6_eft`` (with ``_stderr`` from lambda_m's) and, if known, ``G6_theory``;
      ``six_point_eft_error`` = sum|G6 - G6_EFT| / sum|G6 - G6_GP|, the share of the
      non-Gaussian six-point function the local EFT misses (with ``_stderr``, and ``_theory``
      from the exact values),
    - attributes ``flow_slope`` (+- ``flow_slope_stderr``, ``flow_r2``) of log|lambda_m| against
      log L, ``kernel_degree`` p and ``flow_slope_predicted`` = -(d + 4p).
    """
    import xarray as xr

    spec = get_model(model)
    points = as_points(points)
    resolved = spec.resolve({**dict(params or {}), "width": width}, points)
    if spec.theory is None:
        raise ValueError(f"{spec.name} has no theory: the vertex integrals need its kernel K(z, x)")
    theory = spec.theory(**resolved)
    _check_theory(theory, spec.name)
    cutoffs = _validate_cutoffs(cutoffs)
    d = points.shape[1]
    vertex, vertex_error = vertex_integrals(theory, points, cutoffs)

    run = sample(
        spec,
        points,
        method=method,
        n_nets=n_nets,
        orders=(2, 4, 6),
        seed=seed,
        params=resolved,
        n_blocks=n_blocks,
        progress=progress,
        keep_replicas=True,
    )
    n = len(points)
    e4, e6, e2 = (tuple(unique_tuples(n, order).T) for order in (4, 6, 2))
    gaussian = _gaussian_tensors(theory, points)
    delta_replicas = run["G4_replicas"].values[(slice(None),) + e4] - gaussian["G4"][e4]
    delta = run["G4"].values[e4] - gaussian["G4"][e4]
    coupling, coupling_replicas = _least_squares(vertex, delta), _least_squares(vertex, delta_replicas)
    kernel_pairs = gaussian["G2"][e2]
    g6_eft = _eft_six_point(vertex, coupling, kernel_pairs, n)
    g6_eft_replicas = _eft_six_point(vertex, coupling_replicas, kernel_pairs, n)
    g6, g6_gp = run["G6"].values[e6], gaussian["G6"][e6]

    data = {
        "points": (("point", "coordinate"), points),
        "vertex_integral": (("cutoff", "e4"), vertex),
        "vertex_integral_error": (("cutoff", "e4"), vertex_error),
        "delta_G4": ("e4", delta),
        "delta_G4_stderr": ("e4", run["G4_stderr"].values[e4]),
        "lambda_m": ("cutoff", coupling),
        "lambda_m_stderr": ("cutoff", jackknife_stderr(coupling_replicas)),
        "G6": ("e6", g6),
        "G6_stderr": ("e6", run["G6_stderr"].values[e6]),
        "G6_GP": ("e6", g6_gp),
        "G6_eft": (("cutoff", "e6"), g6_eft),
        "G6_eft_stderr": (("cutoff", "e6"), jackknife_stderr(g6_eft_replicas)),
        "six_point_eft_error": ("cutoff", _eft_error(g6, g6_eft, g6_gp)),
        "six_point_eft_error_stderr": (
            "cutoff",
            jackknife_stderr(
                _eft_error(run["G6_replicas"].values[(slice(None),) + e6][:, None], g6_eft_replicas, g6_gp)
            ),
        ),
    }
    if "G4c_theory" in run:
        delta_theory = run["G4c_theory"].values[e4]
        coupling_theory = _least_squares(vertex, delta_theory)
        g6_theory = run["G6_theory"].values[e6]
        g6_eft_theory = _eft_six_point(vertex, coupling_theory, kernel_pairs, n)
        data.update(
            delta_G4_theory=("e4", delta_theory),
            lambda_m_theory=("cutoff", coupling_theory),
            G6_theory=("e6", g6_theory),
            G6_eft_theory=(("cutoff", "e6"), g6_eft_theory),
            six_point_eft_error_theory=("cutoff", _eft_error(g6_theory, g6_eft_theory, g6_gp)),
        )
    labels = lambda order: [",".join(map(str, t)) for t in unique_tuples(n, order)]  # noqa: E731
    dataset = xr.Dataset(data, coords={"cutoff": cutoffs, "e4": labels(4), "e6": labels(6), "point": np.arange(n)})

    degree = kernel_degree(theory, points, float(cutoffs.max()))
    attrs = {
        "model": spec.name,
        "params": json.dumps(resolved),
        "width": int(resolved["width"]),
        "method": method,
        "nets": int(n_nets),
        "seed": int(seed),
        "kernel_degree": degree,
        "flow_slope_predicted": flow_slope_prediction(degree, d),
    }
    if "heavy_tails" in run.attrs:
        attrs["heavy_tails"] = run.attrs["heavy_tails"]
    if len(cutoffs) >= 3:
        relative = np.maximum(vertex_error.max(axis=1) / np.abs(vertex).max(axis=1), QUADRATURE_RTOL)
        slope, quadrature_error, r2 = _log_slope(cutoffs, coupling, relative)
        replica_slopes = [_log_slope(cutoffs, c, relative)[0] for c in coupling_replicas]
        sampling_error = jackknife_stderr(np.array(replica_slopes))
        attrs.update(
            flow_slope=float(slope),
            flow_slope_stderr=float(np.hypot(quadrature_error, sampling_error)),
            flow_r2=float(r2),
        )
    dataset.attrs.update(attrs)
    return dataset


def _gaussian_tensors(theory, points):
    """G2, G4 and G6 of the infinite-width (GP) theory with the full kernel K."""
    return predict(theory.infinite_width(), points, (2, 4, 6))


def _eft_error(g6, g6_eft, g6_gp):
    return np.sum(np.abs(g6 - g6_eft), axis=-1) / np.sum(np.abs(g6 - g6_gp), axis=-1)


def plot_coupling(dataset, axes=None):
    """Left: the flow |lambda_m(L)| with its fit and the homogeneity prediction.  Right: the
    non-Gaussian six-point function G6 - G6_GP, measured against the local EFT's prediction."""
    if axes is None:
        from matplotlib.figure import Figure

        axes = Figure(figsize=(10, 3.8), layout="tight").subplots(1, 2)
    left, right = axes
    cutoffs = dataset["cutoff"].values
    coupling = np.abs(dataset["lambda_m"].values)
    left.errorbar(cutoffs, coupling, dataset["lambda_m_stderr"].values, fmt="o", ms=4, capsize=2, label="measured")
    if "lambda_m_theory" in dataset:
        left.plot(cutoffs, np.abs(dataset["lambda_m_theory"].values), "k-", lw=1, label="exact finite N")
    attrs = dataset.attrs
    if "flow_slope" in attrs:
        anchor = coupling[-1] * (cutoffs / cutoffs[-1]) ** attrs["flow_slope_predicted"]  # asymptotic: pin at large L
        left.plot(cutoffs, anchor, "r--", lw=1, label=f"L^{attrs['flow_slope_predicted']:.3g} (large-L homogeneity)")
        left.set_title(f"{attrs['model']} N={attrs['width']}: slope {attrs['flow_slope']:.4f}")
    left.set(xscale="log", yscale="log", xlabel="cutoff L", ylabel=r"$|\lambda_m(L)|$")
    left.legend(fontsize=7)

    reference = int(np.argmin(np.abs(np.log(cutoffs / 100.0))))  # the cutoff nearest HMS20's 100
    excess = dataset["G6"].values - dataset["G6_GP"].values
    predicted = dataset["G6_eft"].values[reference] - dataset["G6_GP"].values
    right.errorbar(predicted, excess, dataset["G6_stderr"].values, fmt="o", ms=3, capsize=1)
    span = np.array([min(predicted.min(), excess.min()), max(predicted.max(), excess.max())])
    right.plot(span, span, "k-", lw=0.8)
    share = float(dataset["six_point_eft_error"].values[reference])
    right.set(
        xlabel=r"local EFT: $G^{(6)}_{EFT}-G^{(6)}_{GP}$",
        ylabel=r"measured: $G^{(6)}-G^{(6)}_{GP}$",
        title=f"six points at L={cutoffs[reference]:g}: EFT misses {100 * share:.0f}%",
    )
    return axes


def coupling_record(dataset) -> dict:
    """JSON-friendly summary of :func:`quartic_coupling`."""
    record = {
        key: (json.loads(value) if key == "params" else value)
        for key, value in dataset.attrs.items()
        if isinstance(value, (str, int, float))
    }
    record["points"] = dataset["points"].values.tolist()
    record["cutoffs"] = dataset["cutoff"].values.tolist()
    for name in ("lambda_m", "lambda_m_stderr", "lambda_m_theory", "six_point_eft_error", "six_point_eft_error_stderr"):
        if name in dataset:
            record[name] = dataset[name].values.tolist()
    if "six_point_eft_error_theory" in dataset:
        record["six_point_eft_error_theory"] = dataset["six_point_eft_error_theory"].values.tolist()
    return record


def coupling_table(dataset) -> str:
    """One line per cutoff: lambda_m with its error against the exact value, and the six-point share."""
    has_theory = "lambda_m_theory" in dataset
    lines = [f"{'cutoff':>9} {'lambda_m':>24} {'exact':>11} {'dev':>6} {'G6 missed':>16}"]
    for k, cutoff in enumerate(dataset["cutoff"].values):
        value, error = float(dataset["lambda_m"][k]), float(dataset["lambda_m_stderr"][k])
        exact = float(dataset["lambda_m_theory"][k]) if has_theory else float("nan")
        share, share_error = float(dataset["six_point_eft_error"][k]), float(dataset["six_point_eft_error_stderr"][k])
        lines.append(
            f"{cutoff:9.4g} {value:12.4e} ± {error:9.2e} {exact:11.4e} {(value - exact) / error:6.2f}"
            f" {100 * share:6.1f} ± {100 * share_error:4.1f}%"
        )
    attrs = dataset.attrs
    if "flow_slope" in attrs:
        lines.append(
            f"flow: log|lambda_m| ~ {attrs['flow_slope']:.6f} ± {attrs['flow_slope_stderr']:.1e} log L "
            f"(R^2 = {attrs['flow_r2']:.6f}); large-L slope from the kernel's degree p = {attrs['kernel_degree']:.4g}: "
            f"{attrs['flow_slope_predicted']:.6g}"
        )
    return "\n".join(lines)
