"""Run records: the JSON contract, netCDF files, the printed deviation table and the G2 figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .combinatorics import unique_tuples

__all__ = ["run_record", "deviation_table", "write_outputs", "plot_two_point"]


def _nested(array):
    """Nested lists with NaN/inf written as null (strict JSON)."""
    array = np.asarray(array, dtype=np.float64)
    return (
        np.where(np.isfinite(array), array, None).tolist()
        if array.ndim
        else (float(array) if math.isfinite(array) else None)
    )


def correlator_names_in(dataset) -> list[str]:
    return [name for name in dataset.data_vars if name.startswith("G") and "_" not in name]


def run_record(dataset) -> dict:
    """The stable JSON record of a run (DESIGN.md, command-line contract)."""
    names = correlator_names_in(dataset)
    return {
        "model": dataset.attrs["model"],
        "params": json.loads(dataset.attrs["params"]),
        "points": dataset["points"].values.tolist(),
        "nets": int(dataset.attrs["nets"]),
        "seed": int(dataset.attrs["seed"]),
        "method": dataset.attrs["method"],
        "correlators": {
            name: {"mean": _nested(dataset[name].values), "stderr": _nested(dataset[f"{name}_stderr"].values)}
            for name in names
        },
        "theory": {
            name: _nested(dataset[f"{name}_theory"].values) if f"{name}_theory" in dataset else None for name in names
        },
    }


def deviations(dataset, name: str) -> np.ndarray:
    """(measured - theory) / stderr on the unique entries; 0 where both difference and error vanish."""
    difference = dataset[name].values - dataset[f"{name}_theory"].values
    stderr = dataset[f"{name}_stderr"].values
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((difference == 0) & (stderr == 0), 0.0, difference / stderr)


def deviation_table(dataset, max_rows: int = 4) -> str:
    """A short text table: each correlator next to its theory and the deviation in standard errors."""
    n_points = dataset.sizes["point"]
    lines = [f"{'':6} {'points':>14} {'measured':>12} {'stderr':>10} {'theory':>12} {'dev/σ':>7}"]
    for name in correlator_names_in(dataset):
        order = dataset[name].ndim
        tuples = unique_tuples(n_points, order)
        values = dataset[name].values[tuple(tuples.T)]
        errors = dataset[f"{name}_stderr"].values[tuple(tuples.T)]
        has_theory = f"{name}_theory" in dataset
        theory = dataset[f"{name}_theory"].values[tuple(tuples.T)] if has_theory else np.full(len(tuples), np.nan)
        z = deviations(dataset, name)[tuple(tuples.T)] if has_theory else np.full(len(tuples), np.nan)
        shown = (
            np.argsort(-np.abs(np.nan_to_num(z)))[:max_rows] if has_theory else np.arange(min(max_rows, len(tuples)))
        )
        for k in sorted(shown):
            label = ",".join(map(str, tuples[k]))
            lines.append(f"{name:6} {label:>14} {values[k]:12.5g} {errors[k]:10.2g} {theory[k]:12.5g} {z[k]:7.2f}")
        finite = np.abs(z[np.isfinite(z)])
        summary = (
            "no theory"
            if not has_theory
            else (
                f"max |dev| {finite.max():.2f}σ over {finite.size} of {len(tuples)} entries"
                if finite.size
                else "no error bars"
            )
        )
        lines.append(f"{name:6} {'':>14} {summary}")
    return "\n".join(lines)


def plot_two_point(dataset, ax=None):
    """G2(x_i, x_j) against |x_i - x_j| with error bars, theory beside it."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5))
    points = dataset["points"].values
    i, j = unique_tuples(len(points), 2).T
    distance = np.linalg.norm(points[i] - points[j], axis=1)
    ax.errorbar(
        distance,
        dataset["G2"].values[i, j],
        dataset["G2_stderr"].values[i, j],
        fmt="o",
        ms=4,
        capsize=2,
        label=f"{dataset.attrs['method']} ({dataset.attrs['nets']:,} nets)",
    )
    if "G2_theory" in dataset:
        ax.plot(distance, dataset["G2_theory"].values[i, j], "x", color="k", label="theory")
    ax.set_xlabel(r"$|x_i - x_j|$")
    ax.set_ylabel(r"$G^{(2)}(x_i, x_j)$")
    ax.set_title(dataset.attrs["model"])
    ax.legend()
    return ax


def write_outputs(dataset, out_dir=None, json_path=None, extra: dict | None = None) -> None:
    """``--out DIR``: correlators.nc, result.json, g2.png (when G2 was computed); ``--json FILE``: the record
    (with the fields of ``extra`` added)."""
    record = {**run_record(dataset), **(extra or {})}
    if json_path is not None:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(record, indent=1))
    if out_dir is not None:
        from matplotlib.figure import Figure

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        dataset.to_netcdf(out / "correlators.nc", engine="h5netcdf")
        (out / "result.json").write_text(json.dumps(record, indent=1))
        if "G2" in dataset:
            figure = Figure(figsize=(5, 3.5), layout="tight")
            plot_two_point(dataset, figure.subplots())
            figure.savefig(out / "g2.png", dpi=120)
