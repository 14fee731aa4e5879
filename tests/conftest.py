"""Shared test configuration: CPU, strict promotion rules, fixed seeds.

Rank promotion raises and dtype promotion is strict (as in Equinox's suite), so
implicit broadcasting or silent float64 upcasts in the library fail the tests.
Set in the environment, so subprocesses started by tests inherit them.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")
os.environ.setdefault("JAX_NUMPY_DTYPE_PROMOTION", "strict")

import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# ArviZ 0.23.4 warns once a day, on import, of its coming 1.0 refactor, and only stamps the day as
# warned when the warning is not an error.  Importing it here with that warning silenced stamps the
# day, so neither this suite (warnings are errors) nor the CLI subprocesses it starts see it.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", r"\s*ArviZ is undergoing a major refactor", FutureWarning)
    import arviz  # noqa: E402, F401


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)
