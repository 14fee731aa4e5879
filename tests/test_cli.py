"""The `nnqft` command: the JSON contract, output files, and one-line errors with status 2."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from nnqft_ppl.cli import main


def test_models_lists_every_registered_model(capsys):
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    for name in ("cos_net", "gauss_net", "erf_net", "relu_net"):
        assert name in listed


def test_sample_round_trip_json_and_outputs(tmp_path, capsys):
    record_path, out = tmp_path / "run.json", tmp_path / "out"
    status = main(
        [
            "sample",
            "cos_net",
            "--points",
            "0,0;1,0;0,0.5",
            "--set",
            "width=5",
            "--set",
            "sigma_b=0.8",
            "--nets",
            "3000",
            "--orders",
            "2,4",
            "--seed",
            "4",
            "--json",
            str(record_path),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    record = json.loads(record_path.read_text())
    assert record["model"] == "cos_net" and record["method"] == "ensemble" and record["seed"] == 4
    assert record["params"] == {"width": 5, "d": 2, "sigma_a": 1.0, "sigma_b": 0.8}
    assert record["points"] == [[0.0, 0.0], [1.0, 0.0], [0.0, 0.5]] and record["nets"] == 3000
    assert set(record["correlators"]) == {"G2", "G4", "G4c"} == set(record["theory"])
    g4c = np.array(record["correlators"]["G4c"]["mean"])
    assert g4c.shape == (3, 3, 3, 3) and np.array(record["correlators"]["G4c"]["stderr"]).shape == (3, 3, 3, 3)
    assert np.allclose(g4c, g4c.transpose(2, 3, 0, 1))
    assert {p.name for p in out.iterdir()} == {"correlators.nc", "result.json", "g2.png"}
    assert json.loads((out / "result.json").read_text()) == record
    printed = capsys.readouterr()
    assert "G4c" in printed.out and "dev/σ" in printed.out
    # the batch plan (memory per device is bounded by the batch, whatever the number of networks)
    assert printed.err.startswith("nnqft: batches of ") and "MB of values per device" in printed.err


def test_theory_is_null_for_a_model_without_theory(tmp_path):
    model_file = tmp_path / "my_models.py"
    model_file.write_text(
        "import numpyro\n"
        "from nnqft_ppl.nets import cos_neurons, linear_readout\n"
        "def my_net(x, width=4, d=1):\n"
        "    '''A user's own Cos-net variant.'''\n"
        "    linear_readout(cos_neurons(x, width, 0.5), 2.0)\n"
    )
    record_path = tmp_path / "run.json"
    assert (
        main(
            [
                "sample",
                f"{model_file}:my_net",
                "--points",
                "0;1",
                "--nets",
                "600",
                "--method",
                "neurons",
                "--json",
                str(record_path),
                "--quiet",
            ]
        )
        == 0
    )
    record = json.loads(record_path.read_text())
    assert record["model"] == "my_net" and record["theory"] == {"G2": None, "G4": None, "G4c": None}


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["sample", "no_such_net", "--points", "0"], "unknown model 'no_such_net'"),
        (["sample", "cos_net", "--points", "0", "--set", "depth=3"], "unknown hyperparameter 'depth'"),
        (["sample", "cos_net", "--points", "0", "--set", "width"], "KEY=VALUE"),
        (["sample", "cos_net", "--points", "0", "--set", "width=0"], "width must be a positive integer"),
        (["sample", "cos_net", "--points", "0", "--set", "width=2.5"], "must be an integer"),
        (["sample", "cos_net", "--points", "0", "--set", "sigma_b=nan"], "must be finite"),
        (["sample", "cos_net", "--points", "0;1,2"], "different numbers of coordinates"),
        (["sample", "cos_net", "--points", "0;x"], "coordinates must be numbers"),
        (["sample", "cos_net", "--points", "0;inf"], "NaN or inf"),
        (["sample", "cos_net", "--points", "0", "--set", "d=2"], "dimension mismatch"),
        (["sample", "cos_net", "--points", "0", "--nets", "0"], "positive integer"),
        (["sample", "cos_net", "--points", "0", "--orders", "2,7"], "order 7 is not supported"),
        (["sample", "cos_net", "--points", "0", "--method", "magic"], "invalid choice"),
        (["sample", "cos_net", "--points-file", "missing.npy"], "does not exist"),
        (["sample", "cos_net"], "--points"),
    ],
)
def test_bad_input_is_one_line_with_status_2(arguments, message, capsys):
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error and "Traceback" not in error


def test_negative_first_coordinate_and_unwritable_outputs(tmp_path, capsys):
    record = tmp_path / "run.json"
    assert main(["sample", "cos_net", "--points", "-1;0", "--nets", "300", "--json", str(record), "--quiet"]) == 0
    assert json.loads(record.read_text())["points"] == [[-1.0], [0.0]]
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["sample", "cos_net", "--points", "0", "--nets", "300", "--out", str(blocked), "--quiet"]) == 2
    assert (
        main(
            [
                "sample",
                "cos_net",
                "--points",
                "0",
                "--orders",
                "1",
                "--nets",
                "300",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 0
    )
    broken = tmp_path / "broken.py"
    broken.write_text("def my_net(x:\n")
    assert main(["sample", f"{broken}:my_net", "--points", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 2 and "SyntaxError" in error and "Traceback" not in error


def test_console_script_exit_status_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "nnqft_ppl.cli", "sample", "cos_net", "--points", "0;;1"], capture_output=True, text=True
    )
    assert result.returncode == 2 and result.stderr.startswith("nnqft: error: malformed points")
    assert "Traceback" not in result.stderr


def test_points_file(tmp_path):
    np.save(tmp_path / "points.npy", np.array([[0.0], [0.5]]))
    (tmp_path / "points.txt").write_text("0.0\n0.5\n")
    (tmp_path / "one_point_2d.txt").write_text("0.5 1.0\n")
    out = tmp_path / "one.json"
    assert (
        main(
            [
                "sample",
                "cos_net",
                "--points-file",
                str(tmp_path / "one_point_2d.txt"),
                "--nets",
                "300",
                "--json",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["points"] == [[0.5, 1.0]]
    for name in ("points.npy", "points.txt"):
        out = tmp_path / f"{name}.json"
        assert (
            main(
                [
                    "sample",
                    "cos_net",
                    "--points-file",
                    str(tmp_path / name),
                    "--nets",
                    "300",
                    "--json",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
        assert json.loads(out.read_text())["points"] == [[0.0], [0.5]]


def test_installed_console_script_exists():
    assert (Path(sys.executable).parent / "nnqft").exists()


def test_action_writes_couplings_result_and_plot(tmp_path, capsys):
    """`nnqft action`: couplings with jackknife errors and locality lengths; bad input exits 2 with one line."""
    import json as _json

    out = tmp_path / "action"
    argv = ["action", "cos_net", "--points", "0;1;2", "--set", "width=3", "--nets", "5000", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "g4: locality length" in printed and "+-" in printed
    record = _json.loads((out / "result.json").read_text())
    assert record["locality"]["g2"]["range"] == 2.0 and record["couplings"]["g4"][0]["stderr"] > 0
    assert (out / "couplings.nc").stat().st_size > 0 and (out / "locality.png").stat().st_size > 0
    assert main(["action", "cos_net", "--points", "0;0", "--nets", "2000", "--quiet"]) == 2
    assert main(["action", "cos_net", "--points", "0;1", "--order", "3"]) == 2
    assert main(["action", "cos_net", "--points", "0;0", "--regularisation", "-1", "--quiet"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 3 and "positive definite" in error and "--regularisation EPS" in error
    assert "regularisation must be a finite eps > 0" in error


@pytest.mark.parametrize(
    ("points", "extra", "options"),
    [("0;1;2", ["--order", "2"], {"order": 2}), ("0;0", ["--regularisation", "0.01"], {"regularisation": 0.01})],
)
def test_action_options_reach_the_reconstruction(tmp_path, points, extra, options):
    """`--order 2` (sextic couplings from G6c) and `--regularisation EPS` (a singular G2 from repeated points):
    the command's couplings are the library's on the same networks (seed), entry by entry."""
    from nnqft_ppl.action import reconstruct_action
    from nnqft_ppl.sampling import sample
    from nnqft_ppl.spacetime import parse_points

    out = tmp_path / "action"
    argv = ["action", "cos_net", "--points", points, "--set", "width=3", "--nets", "3000", "--quiet", "--out", str(out)]
    assert main(argv + extra) == 0
    orders = (2, 4, 6) if options.get("order") == 2 else (2, 4)
    run = sample("cos_net", parse_points(points), n_nets=3000, orders=orders, params={"width": 3}, progress=False)
    expected = reconstruct_action(run, **options)
    written = xr.open_dataset(out / "couplings.nc", engine="h5netcdf")
    names = ("g2", "g4", "g6") if options.get("order") == 2 else ("g2", "g4")
    for name in names:
        np.testing.assert_allclose(written[name].values, expected[name].values, rtol=1e-10, atol=0)
    assert written.attrs["regularisation"] == options.get("regularisation", 0.0)
