"""Bad input to the library raises ValueError/TypeError naming the problem."""

import numpy as np
import numpyro
import pytest

import nnqft_ppl as nn
from nnqft_ppl.spacetime import parse_points


@pytest.mark.parametrize(
    "points, options, message",
    [
        ([[0.0], [np.nan]], {}, "NaN or inf"),
        ([], {}, "n_points, d >= 1"),
        ([[0.0]], {"n_nets": 0}, "positive integer"),
        ([[0.0]], {"n_nets": 10.5}, "positive integer"),
        ([[0.0]], {"params": {"width": -3}}, "width must be a positive integer"),
        ([[0.0]], {"params": {"d": 2}}, "dimension mismatch"),
        ([[0.0]], {"params": {"sigma_b": -1.0}}, "sigma_b must be > 0"),
        ([[0.0]], {"params": {"sigma_b": 0.0}}, "sigma_b must be > 0"),
        ([[0.0]], {"orders": "24"}, "sequence of integers"),
        ([[0.0]], {"n_blocks": 1}, "n_blocks must be an integer >= 2"),
        ([[0.0]], {"orders": (2, 8)}, "between 1 and 6"),
        ([[0.0]], {"orders": ()}, "must not be empty"),
        ([[0.0]], {"seed": -1}, "seed"),
        ([[0.0]] * 40, {"orders": (6,)}, "use fewer points"),
    ],
)
def test_sampling_rejects_bad_input(points, options, message):
    with pytest.raises(ValueError, match=message):
        nn.sample_ensemble("cos_net", points, **options)


def test_integer_like_hyperparameters_and_orders():
    dataset = nn.sample_ensemble("cos_net", [[0.0]], n_nets=64, orders=2, params={"width": np.int64(3)})
    assert dataset.attrs["params"] == '{"width": 3, "d": 1, "sigma_a": 1.0, "sigma_b": 1.0}'
    with pytest.raises(ValueError, match="width must be a positive integer"):
        nn.sample_ensemble("cos_net", [[0.0]], n_nets=64, params={"width": True})
    with pytest.raises(TypeError, match="sigma_b must be a number"):
        nn.sample_ensemble("cos_net", [[0.0]], n_nets=64, params={"sigma_b": None})


def test_unknown_model_and_method():
    with pytest.raises(ValueError, match="unknown model 'cosnet'; available: .*cos_net"):
        nn.get_model("cosnet")
    with pytest.raises(TypeError, match="model must be a name"):
        nn.get_model(3)
    with pytest.raises(ValueError, match="unknown method"):
        nn.sample("cos_net", [[0.0]], method="mcmc")


def test_model_contract_violations_are_named():
    def no_field(x, width=3):
        numpyro.deterministic("psi", x[:, 0])

    def wrong_shape(x, width=3):
        numpyro.deterministic("phi", x)

    with pytest.raises(ValueError, match="records no field"):
        nn.sample_ensemble(no_field, [[0.0]], n_nets=10)
    with pytest.raises(ValueError, match="'phi' has shape"):
        nn.sample_ensemble(wrong_shape, [[0.0], [1.0]], n_nets=10)


def test_points_parsing():
    np.testing.assert_array_equal(parse_points("0,0;1,0"), [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(parse_points(" 0 ; 0.5;1 "), [[0.0], [0.5], [1.0]])
    for bad in ("", ";", "0;;1", "0,1;2"):
        with pytest.raises(ValueError, match="malformed points"):
            parse_points(bad)


def test_user_model_registration_gets_every_feature():
    @nn.register_model(
        name="test_user_cos_net", theory=lambda width=4, d=1: nn.get_model("cos_net").theory(width=width, d=d)
    )
    def user_net(x, width=4, d=1):
        """A user's net."""
        nn.nets.linear_readout(nn.nets.cos_neurons(x, width, 1.0), 1.0)

    spec = nn.get_model("test_user_cos_net")
    assert spec.description == "A user's net." and spec.defaults == {"width": 4, "d": 1}
    dataset = nn.sample_neurons("test_user_cos_net", [[0.0], [0.3]], n_nets=256, orders=(2, 4))
    assert "G4c_theory" in dataset


def test_unsupported_theory_keeps_the_measurement():
    """Erf-net quadrature stops at d = 3 (+ bias): the run still returns, without theory."""
    with pytest.warns(UserWarning, match="no theory for erf_net"):
        dataset = nn.sample_ensemble("erf_net", [[0.1] * 4, [0.2] * 4], n_nets=512, orders=(2, 4))
    assert "G4_theory" not in dataset and "quadrature" in dataset.attrs["theory_note"]


def test_hyperparameters_must_be_serialisable():
    with pytest.raises(ValueError, match="hyperparameters must be numbers"):
        nn.sample_ensemble("cos_net", [[0.0]], n_nets=64, params={"sigma_b": np.array([1.0])})
