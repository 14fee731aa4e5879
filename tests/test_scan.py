"""Width scans (HMS20's observable) on a model whose finite-width correlators are known in closed form."""

import json

import numpy as np
import pytest
from helpers import K_SIGMA

from nnqft_ppl.cli import main
from nnqft_ppl.presets import get_preset
from nnqft_ppl.scan import fit_power_law, neuron_nets, width_scan
from nnqft_ppl.tracing import NETS_PER_CHUNK

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
        assert error < 0.15  # tells -1 from -2 by > 6 errors


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
        (["scan", "cos_net", "--points", "0", "--method", "neurons", "--neuron-samples", "0"], "positive integer"),
    ],
)
def test_scan_command_bad_input(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error


@pytest.mark.parametrize(
    "width, samples, n_blocks, expected",
    [
        (1000, 250_000, 10, 256),  # 250 networks: one chunk
        (3, 250_000, 10, 83_456),  # ceil(250000 / 3) = 83334, rounded up to 326 chunks
        (1, 250_000, 10, 250_112),
        (100_000, 250_000, 10, 256),  # 3 networks: raised to a group per jackknife block, then a chunk
        (10, 1_000, 20, 512),  # 20 blocks x 16 networks = 320
    ],
)
def test_neuron_nets_rule(width, samples, n_blocks, expected):
    assert neuron_nets(width, samples, n_blocks) == expected


@pytest.mark.parametrize("width", [2, 7, 50, 999])
def test_neuron_nets_give_at_least_the_samples_in_whole_chunks(width):
    nets = neuron_nets(width, 250_000)
    assert nets % NETS_PER_CHUNK == 0
    assert nets * width >= 250_000 > (nets - NETS_PER_CHUNK) * width


def test_neuron_nets_rejects_a_bad_number_of_samples():
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            neuron_nets(4, bad)


def test_constant_neuron_samples_give_every_width_the_same_precision():
    """With a fixed number of neuron samples the relative error of G4c (= that of r4) is the
    same at every width, where a fixed number of networks would make it ~sqrt(N) smaller at
    large N (a factor 10 between N = 3 and 300).  Each jackknife error is itself uncertain
    by ~1/sqrt(2 (K - 1)) = 16% with K = 20 blocks, so the ratio of two is held to 2.5 (4 sigma)."""
    widths, samples = [3, 30, 300], 2**17
    scan = width_scan(
        "cos_net",
        POINTS,
        widths,
        orders=(2, 4),
        method="neurons",
        params={"sigma_b": 1.3},
        n_blocks=20,
        neuron_samples=samples,
    )
    assert scan["nets"].values.tolist() == [[neuron_nets(w, samples, 20) for w in widths]]
    assert scan.attrs["neuron_samples"] == samples
    theory = np.abs(scan["r4_theory"].isel(method=0).values)
    element = int(np.argmax(theory[0]))
    relative = scan["r4_stderr"].isel(method=0).values[:, element] / theory[:, element]
    assert relative.max() / relative.min() < 2.5, relative
    for name, power in (("r4", -1.0), ("r6", -2.0)):
        if f"slope_{name}" in scan:
            slope, error = float(scan[f"slope_{name}"][0]), float(scan[f"slope_{name}_stderr"][0])
            assert abs(slope - power) < K_SIGMA * error, (name, slope, error)


def test_scan_command_neuron_samples(tmp_path, monkeypatch):
    """--neuron-samples sets the exact engine's samples per width; without it (and without
    --nets) the default EXACT_ENGINE_SAMPLES applies; --nets keeps a fixed number of networks."""
    import nnqft_ppl.presets as presets

    monkeypatch.setattr(presets, "EXACT_ENGINE_SAMPLES", 4096)
    common = ["scan", "cos_net", "--points", "0;0.5", "--widths", "2,8", "--orders", "2,4", "--method", "neurons"]
    for extra, samples in (["--neuron-samples", "8192"], 8192), ([], 4096), (["--nets", "512"], None):
        path = tmp_path / f"scan-{samples}.json"
        assert main([*common, *extra, "--json", str(path), "--quiet"]) == 0
        record = json.loads(path.read_text())
        if samples is None:
            assert "neuron_samples" not in record and record["nets_per_width"]["neurons"] == [512, 512]
        else:
            assert record["neuron_samples"] == samples
            assert record["nets_per_width"]["neurons"] == [neuron_nets(2, samples), neuron_nets(8, samples)]
