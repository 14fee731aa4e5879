"""Width scans: how fast an NN-FT approaches its Gaussian (infinite-width) limit.

For each width N the correlators are measured (brute-force ensemble and/or the
exact finite-width engine) and compared with the Gaussian-process prediction
G^{(n)}_GP = sum over Wick pairings of the kernel (PHYSICS.md B.1, HMS20):

    m_n = |G^{(n)} - G^{(n)}_GP| / |G^{(n)}_GP|          per unique tensor element,
    r_n = G^{(n)}_c / G^{(n)}_GP                          (connected ratios, n = 4, 6),
    background_n = sqrt(K) stderr(G^{(n)}) / |G^{(n)}_GP| (block-to-block spread of K blocks).

Expected: m_2 sits at the background (G2 is exact at every N), m_4, m_6 and r_4
fall like 1/N, r_6 like 1/N^2 (PHYSICS.md §1.1).  Each quantity comes with the
exact finite-width prediction of the model's theory beside it.
"""

from __future__ import annotations

import json

import numpy as np

from .combinatorics import unique_tuples
from .registry import get_model
from .sampling import METHODS
from .spacetime import as_points
from .theory import GaussianTheory, predict
from .tracing import NETS_PER_CHUNK, NETS_PER_GROUP

__all__ = ["width_scan", "fit_power_law", "validate_widths", "neuron_nets"]


def validate_widths(widths) -> tuple[int, ...]:
    """Sorted distinct positive integer widths; ``ValueError`` otherwise."""
    try:
        values = [int(w) for w in widths]
    except (TypeError, ValueError):
        raise ValueError(f"widths must be integers, got {widths!r}") from None
    if not values:
        raise ValueError("widths must not be empty")
    if any(w < 1 or w != float(original) for w, original in zip(values, widths, strict=True)):
        raise ValueError(f"widths must be positive integers, got {list(widths)}")
    return tuple(sorted(set(values)))


def fit_power_law(widths, values, errors) -> tuple[float, float]:
    """Power p and its standard error from a weighted least-squares fit of A N^p.

    Fitted in linear space: a straight-line fit of log|value| is biased by Jensen's
    inequality (E log|X| < log|E X|) where relative errors are large.  Needs at
    least three widths; returns NaNs otherwise.
    """
    from scipy.optimize import curve_fit

    widths, values, errors = (np.asarray(a, dtype=np.float64) for a in (widths, values, errors))
    if len(widths) < 3:
        return float("nan"), float("nan")
    guess = (values[0] * widths[0], -1.0)
    (_, power), covariance = curve_fit(
        lambda n, amplitude, p: amplitude * n**p, widths, values, p0=guess, sigma=errors, absolute_sigma=True
    )
    return float(power), float(np.sqrt(covariance[1, 1]))


def neuron_nets(width: int, neuron_samples: int, n_blocks: int = 10) -> int:
    """Networks the exact engine traces at ``width`` for at least ``neuron_samples`` neuron samples.

    With output weights a ~ sigma_a / sqrt(N) (:func:`nnqft_ppl.nets.linear_readout`)
    sqrt(N) a h has the same law at every width, so the relative error of
    N kappa_r[a h] (G4c, G6c and their ratios to G_GP) depends on the number of
    neuron samples n_nets * N alone: a fixed number gives every width the same
    precision.  The count is ceil(neuron_samples / width), at least one group of
    ``NETS_PER_GROUP`` networks per jackknife block, rounded up to whole chunks of
    ``NETS_PER_CHUNK`` networks (a partly used chunk costs as much as a full one).
    The network-level term (an output bias) has only n_nets samples: at large
    widths it sets the precision of G2 and so of m_n.
    """
    if isinstance(neuron_samples, bool) or not isinstance(neuron_samples, (int, np.integer)) or neuron_samples < 1:
        raise ValueError(f"neuron_samples must be a positive integer, got {neuron_samples!r}")
    nets = max(-(-int(neuron_samples) // int(width)), n_blocks * NETS_PER_GROUP)
    return -(-nets // NETS_PER_CHUNK) * NETS_PER_CHUNK


def _gaussian_limit(spec, params, points, orders, widest):
    """G_GP tensors: the theory's infinite-width kernel, else the measured G2 of the widest run."""
    if spec.theory is not None:
        theory = spec.theory(**params)
        if hasattr(theory, "infinite_width"):
            return predict(theory.infinite_width(), points, orders)
    measured = widest["G2"].values
    return predict(GaussianTheory(lambda _: measured), points, orders)


def width_scan(
    model,
    points,
    widths,
    *,
    n_nets: int = 100_000,
    orders=(2, 4, 6),
    method: str = "ensemble",
    seed: int = 0,
    params: dict | None = None,
    n_blocks: int = 10,
    progress: bool | None = None,
    neuron_samples: int | None = None,
):
    """Measure m_n, the connected ratios and the background at every width.

    ``method`` is ``"ensemble"``, ``"neurons"`` or ``"both"``; ``orders`` must be even
    (the fields are Z2 symmetric, so odd G_GP vanish and m_n is undefined).  The
    hyperparameter ``width`` is set by the scan.  ``n_nets`` networks are drawn at
    every width; with ``neuron_samples`` the exact engine instead traces
    :func:`neuron_nets` networks at each width (the same number of neuron samples,
    so the same precision of G4c/G4_GP, at every width: n_nets * N samples would
    spend ~N times more work on the widest networks than on the narrowest).
    Every run draws its own networks (seeds ``seed``, ``seed + 1``, ... over the
    methods and widths): a width-4 and a width-8 run with one seed would share their
    first four neurons, correlating the points of the fits and the two engines.
    Returns an ``xarray.Dataset`` with dims ``method``, ``width`` and one element dim
    ``e<n>`` per order (labelled by the point-index tuple), the networks of each run
    in ``nets``, and the power-law fits of the element means in ``slope_*`` variables.
    """
    import xarray as xr

    spec = get_model(model)
    widths = validate_widths(widths)
    orders = tuple(sorted({int(order) for order in orders}))
    odd = [order for order in orders if order % 2]
    if odd:
        raise ValueError(
            f"scan orders must be even: G{odd[0]}_GP vanishes for these Z2-symmetric fields, so m_{odd[0]} is undefined"
        )
    methods = ["ensemble", "neurons"] if method == "both" else [method]
    if any(m not in ("ensemble", "neurons") for m in methods):
        raise ValueError(f"unknown method {method!r}; choose ensemble, neurons or both")
    params = {k: v for k, v in dict(params or {}).items() if k != "width"}
    points = as_points(points)
    if neuron_samples is not None:
        neuron_nets(1, neuron_samples)  # validate early

    def nets(m, width):
        return neuron_nets(width, neuron_samples, n_blocks) if m == "neurons" and neuron_samples else n_nets

    runs = {  # independent networks for every run: seed + its position in the (method, width) grid
        (m, width): METHODS[m](
            spec,
            points,
            n_nets=nets(m, width),
            orders=orders,
            seed=seed + k * len(widths) + j,
            params={**params, "width": width},
            n_blocks=n_blocks,
            progress=progress,
        )
        for k, m in enumerate(methods)
        for j, width in enumerate(widths)
    }
    first = runs[methods[0], widths[0]]
    resolved = {k: v for k, v in json.loads(first.attrs["params"]).items() if k != "width"}
    gaussian = _gaussian_limit(spec, {**resolved, "width": widths[-1]}, points, orders, runs[methods[0], widths[-1]])

    def gather(variable, index):  # (method, width, element)
        return np.array([[runs[m, w][variable].values[index] for w in widths] for m in methods])

    data, coords = {}, {"method": methods, "width": list(widths)}
    for order in orders:
        tuples = unique_tuples(len(points), order)
        index = tuple(tuples.T)
        coords[f"e{order}"] = [",".join(map(str, t)) for t in tuples]
        dims = ("method", "width", f"e{order}")
        gp = gaussian[f"G{order}"][index]
        scale = np.abs(gp)
        name = f"G{order}"
        with np.errstate(divide="ignore", invalid="ignore"):
            data[f"m{order}"] = (dims, np.abs(gather(name, index) - gp) / scale)
            data[f"m{order}_stderr"] = (dims, gather(f"{name}_stderr", index) / scale)
            data[f"background{order}"] = (dims, np.sqrt(n_blocks) * gather(f"{name}_stderr", index) / scale)
            if f"{name}_theory" in first:
                data[f"m{order}_theory"] = (dims, np.abs(gather(f"{name}_theory", index) - gp) / scale)
            if order >= 4:
                data[f"r{order}"] = (dims, gather(f"{name}c", index) / gp)
                data[f"r{order}_stderr"] = (dims, gather(f"{name}c_stderr", index) / scale)
                if f"{name}c_theory" in first:
                    data[f"r{order}_theory"] = (dims, gather(f"{name}c_theory", index) / gp)
    dataset = xr.Dataset(data, coords=coords)
    dataset["points"] = (("point", "coordinate"), points)
    dataset["nets"] = (("method", "width"), [[nets(m, w) for w in widths] for m in methods])
    dataset.attrs.update(
        model=spec.name, params=json.dumps(resolved), nets=int(n_nets), seed=int(seed), n_blocks=int(n_blocks)
    )
    if neuron_samples is not None and "neurons" in methods:
        dataset.attrs["neuron_samples"] = int(neuron_samples)
    return _add_fits(dataset, orders)


def _add_fits(dataset, orders):
    """Element means per width, and the fitted power of N of each quantity.

    The power is fitted on the best-resolved element (most widths where the signal,
    the theory's if known, exceeds 3 standard errors; then the largest total
    signal-to-noise), using only those widths: noise-dominated points would flatten
    it.  Elements share networks, so their fits are not averaged.  NaN when fewer
    than three widths are resolved.
    """
    widths = dataset["width"].values
    for quantity in [f"m{o}" for o in orders] + [f"r{o}" for o in orders if o >= 4]:
        element = dataset[quantity].dims[-1]
        dataset[f"{quantity}_mean"] = np.abs(dataset[quantity]).mean(dim=element, skipna=True)
        dataset[f"{quantity}_mean_stderr"] = dataset[f"{quantity}_stderr"].mean(dim=element, skipna=True)
        signal = dataset[f"{quantity}_theory"] if f"{quantity}_theory" in dataset else dataset[quantity]
        fits = []
        for m in range(dataset.sizes["method"]):
            values, errors = dataset[quantity][m].values, dataset[f"{quantity}_stderr"][m].values
            with np.errstate(divide="ignore", invalid="ignore"):
                strength = np.abs(signal[m].values) / errors
            resolved = np.isfinite(strength) & (strength > 3) & np.isfinite(values)
            best = max(range(values.shape[1]), key=lambda e: (resolved[:, e].sum(), np.nansum(strength[:, e])))
            use = resolved[:, best]
            slope, error = fit_power_law(widths[use], values[use, best], errors[use, best])
            fits.append((slope, error, str(dataset[element].values[best])))
        dataset[f"slope_{quantity}"] = ("method", [f[0] for f in fits])
        dataset[f"slope_{quantity}_stderr"] = ("method", [f[1] for f in fits])
        dataset[f"slope_{quantity}_element"] = ("method", [f[2] for f in fits])
    return dataset


def _run_size(dataset, method: str) -> str:
    if method == "neurons" and "neuron_samples" in dataset.attrs:
        return f"{dataset.attrs['neuron_samples']:,} neuron samples/width"
    return f"{dataset.attrs['nets']:,} nets"


def plot_width_scan(dataset, method: str | None = None, axes=None):
    """HMS20-style figure: log m_n against log N with the background band and the
    exact finite-width prediction (left), and the connected ratios |r_n| (right)."""
    if axes is None:
        from matplotlib.figure import Figure

        axes = Figure(figsize=(10, 3.8), layout="tight").subplots(1, 2)
    methods = [str(m) for m in dataset["method"].values]
    method = method or methods[0]
    view = dataset.isel(method=methods.index(method))
    widths = view["width"].values
    left, right = axes
    shown = {left: [], right: []}
    bands = []
    for quantity, ax in [(q, left) for q in ("m2", "m4", "m6")] + [(q, right) for q in ("r4", "r6")]:
        if f"{quantity}_mean" not in view:
            continue
        mean = view[f"{quantity}_mean"].values
        slope = float(view[f"slope_{quantity}"])
        label = f"{quantity} (N^{slope:.2f})" if np.isfinite(slope) else quantity
        line = ax.errorbar(widths, mean, view[f"{quantity}_mean_stderr"], fmt="o", ms=4, capsize=2, label=label)
        color = line[0].get_color()
        shown[ax].append(mean)
        if f"{quantity}_theory" in view:
            theory = np.abs(view[f"{quantity}_theory"]).mean(view[f"{quantity}_theory"].dims[-1]).values
            if np.all(theory > 1e-12):  # m2's theory is exactly zero: nothing to draw
                ax.plot(widths, theory, "-", color=color, lw=1)
                shown[ax].append(theory)
        if quantity.startswith("m"):
            background = view[f"background{quantity[1:]}"]
            background = background.mean(background.dims[-1]).values
            bands.append((background, color))
            shown[ax].append(background)
    for ax, label in ((left, r"$m_n=|G^{(n)}-G^{(n)}_{GP}|/G^{(n)}_{GP}$"), (right, r"$|G^{(n)}_c/G^{(n)}_{GP}|$")):
        values = np.concatenate(shown[ax]) if shown[ax] else np.ones(1)
        values = values[np.isfinite(values) & (values > 0)]
        ax.set(xscale="log", yscale="log", xlabel="width N", ylabel=label)
        ax.set_ylim(0.3 * values.min(), 3 * values.max())
        ax.legend(fontsize=7)
    for background, color in bands:
        left.fill_between(widths, left.get_ylim()[0], background, color=color, alpha=0.12)
    left.set_title(f"{dataset.attrs['model']} ({method}, {_run_size(dataset, method)}; band: background)")
    right.set_title("connected ratios; lines: exact finite N")
    return axes


EXPECTED_POWER = {"m4": -1, "m6": -1, "r4": -1, "r6": -2}
"""Leading large-N behaviour of each scanned quantity (PHYSICS.md §1.1); m2 sits at the background.

m4 = |G4c| / G4_GP and r4, r6 are exact powers for i.i.d. neurons; m6 is not:
G6 - G6_GP = G6c + sum_15 G4c G2 mixes 1/N and 1/N^2, so a fit over small widths
is steeper than -1 (HMS20 ReLU-net, d = 1: -1.25), as its exact-theory line shows."""


def scan_record(dataset) -> dict:
    """JSON-friendly summary: element means per width, theory, the fitted powers, and the
    networks of every run (``nets_per_width``; ``nets`` is the scan's ``n_nets``)."""
    record = {
        "model": dataset.attrs["model"],
        "params": json.loads(dataset.attrs["params"]),
        "points": dataset["points"].values.tolist(),
        "widths": dataset["width"].values.tolist(),
        "nets": int(dataset.attrs["nets"]),
        "methods": {},
    }
    if "nets" in dataset:  # networks of each run, per method and width
        record["nets_per_width"] = {
            str(method): dataset["nets"].isel(method=k).values.tolist()
            for k, method in enumerate(dataset["method"].values)
        }
    if "neuron_samples" in dataset.attrs:
        record["neuron_samples"] = int(dataset.attrs["neuron_samples"])
    for k, method in enumerate(dataset["method"].values):
        view = dataset.isel(method=k)
        entry = {}
        for name in [v[: -len("_mean")] for v in view.data_vars if v.endswith("_mean")]:
            theory = None
            if f"{name}_theory" in view:
                theory = np.abs(view[f"{name}_theory"]).mean(view[f"{name}_theory"].dims[-1]).values.tolist()
            entry[name] = {
                "mean": view[f"{name}_mean"].values.tolist(),
                "stderr": view[f"{name}_mean_stderr"].values.tolist(),
                "theory": theory,
                "slope": _finite_or_none(view[f"slope_{name}"]),
                "slope_stderr": _finite_or_none(view[f"slope_{name}_stderr"]),
                "expected_slope": EXPECTED_POWER.get(name),
            }
        record["methods"][str(method)] = entry
    return record


def _finite_or_none(value):
    value = float(value)
    return value if np.isfinite(value) else None


def slope_table(dataset) -> str:
    """One line per method and quantity: fitted power of N against the expected one."""
    lines = [f"{'method':9} {'quantity':8} {'slope':>16} {'expected':>9}"]
    for k, method in enumerate(dataset["method"].values):
        view = dataset.isel(method=k)
        for name, expected in EXPECTED_POWER.items():
            if f"slope_{name}" in view:
                slope, error = float(view[f"slope_{name}"]), float(view[f"slope_{name}_stderr"])
                shown = f"{slope:.3f} ± {error:.3f}" if np.isfinite(slope) else "unresolved"
                lines.append(f"{method:9} {name:8} {shown:>16} {expected:>9}")
    return "\n".join(lines)
