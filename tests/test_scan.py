"""Width scans (HMS20's observable) on a model whose finite-width correlators are known in closed form."""

import json

import numpy as np
import pytest
from helpers import K_SIGMA

from nnqft_ppl.cli import main
from nnqft_ppl.presets import get_preset
from nnqft_ppl.scan import fit_power_law, width_scan

POINTS = [[0.0], [0.4], [0.9]]


@pytest.fixture(scope="module")
def cos_scan():
    return width_scan("cos_net", POINTS, [3, 7, 30, 200, 900], n_nets=6_000, method="neurons", params={"sigma_b": 1.3})


def test_connected_ratios_match_the_closed_form_at_every_width(cos_scan):
    """r4 = G4c/G4_GP with G4c = sigma_a^4/(8N)(3A - 2B) (PHYSICS B.3), element by element."""
    for name in ("r4", "r6"):
        deviation = (cos_scan[name] - cos_scan[f"{name}_theory"]) / cos_scan[f"{name}_stderr"]
        assert float(np.nanmax(np.abs(deviation))) < K_SIGMA, name


def test_fitted_powers_of_n(cos_scan):
    """G4c ∝ 1/N and G6c ∝ 1/N^2 exactly for i.i.d. neurons: the fits find them within their errors."""
    for name, power in (("r4", -1.0), ("r6", -2.0), ("m6", -1.0)):
        slope, error = float(cos_scan[f"slope_{name}"][0]), float(cos_scan[f"slope_{name}_stderr"][0])
        assert np.isfinite(slope) and abs(slope - power) < K_SIGMA * error, (name, slope, error)
        assert error < 0.1


def test_m2_sits_at_the_background(cos_scan):
    """G2 is exact at every N, so m2 is pure noise: within a few of its standard errors of zero."""
    assert float(np.nanmax(cos_scan["m2"] / cos_scan["m2_stderr"])) < K_SIGMA
    assert np.all(cos_scan["m2_theory"].values < 1e-12)


def test_ensemble_and_exact_engine_scan_side_by_side():
    scan = width_scan("erf_net", [[-0.5], [0.5]], [2, 3, 6], n_nets=60_000, orders=(2, 4), method="both")
    assert list(scan["method"].values) == ["ensemble", "neurons"]
    difference = scan["r4"].isel(method=0) - scan["r4"].isel(method=1)
    combined = np.hypot(scan["r4_stderr"].isel(method=0), scan["r4_stderr"].isel(method=1))
    assert float(np.max(np.abs(difference / combined))) < K_SIGMA


def test_power_law_fit_recovers_a_known_power():
    widths = np.array([2.0, 5, 10, 50, 100])
    values = 0.3 * widths**-1.5
    slope, error = fit_power_law(widths, values, 1e-3 * values)
    assert abs(slope + 1.5) < 1e-6 and error < 1e-2


@pytest.mark.parametrize(
    "widths, options, message",
    [
        ([], {}, "must not be empty"),
        ([0, 4], {}, "positive integers"),
        ([2.5], {}, "positive integers"),
        ([2, 4], {"orders": (2, 3)}, "scan orders must be even"),
        ([2, 4], {"orders": (2, 8)}, "between 1 and 6"),
        ([2, 4], {"method": "both-ways"}, "unknown method"),
    ],
)
def test_scan_rejects_bad_input(widths, options, message):
    with pytest.raises(ValueError, match=message):
        width_scan("cos_net", POINTS, widths, n_nets=300, **options)


def test_hms20_preset_has_the_papers_inputs():
    cases = get_preset("hms20")
    assert {case.label for case in cases} == {
        f"{m}-d{d}" for m in ("erf_net", "relu_net", "gauss_net") for d in (1, 2, 3)
    }
    relu_1d = next(case for case in get_preset("hms20", d=1) if case.model == "relu_net")
    np.testing.assert_allclose(relu_1d.points[:, 0], [0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    assert relu_1d.params["sigma_b"] == 0.0
    gauss_3d = next(case for case in get_preset("hms20", d=3) if case.model == "gauss_net")
    assert np.allclose(np.abs(gauss_3d.points), 0.01)
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("hms21")


def test_scan_command_writes_records_and_figures(tmp_path, capsys):
    out, record_path = tmp_path / "out", tmp_path / "scan.json"
    status = main(
        [
            "scan",
            "cos_net",
            "--points",
            "0;0.5",
            "--widths",
            "2,4,8",
            "--nets",
            "2000",
            "--orders",
            "2,4",
            "--method",
            "neurons",
            "--out",
            str(out),
            "--json",
            str(record_path),
        ]
    )
    assert status == 0
    record = json.loads(record_path.read_text())
    assert record["widths"] == [2, 4, 8] and set(record["methods"]["neurons"]) == {"m2", "m4", "r4"}
    assert record["methods"]["neurons"]["r4"]["expected_slope"] == -1
    assert {p.name for p in out.iterdir()} == {"cos_net.nc", "cos_net-neurons.png"}
    assert "r4" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["scan", "cos_net", "--points", "0", "--widths", "0,2"], "positive integers"),
        (["scan", "cos_net", "--points", "0", "--widths", ""], "must not be empty"),
        (["scan", "cos_net", "--points", "0", "--orders", "3"], "must be even"),
        (["scan", "cos_net"], "needs a MODEL and --points"),
        (["scan", "cos_net", "--preset", "hms20"], "--preset fixes the models"),
        (["scan", "--preset", "nope"], "unknown preset"),
    ],
)
def test_scan_command_bad_input(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
