"""Shared test configuration: CPU, strict promotion rules, fixed seeds.

Rank promotion raises and dtype promotion is strict (as in Equinox's suite), so
implicit broadcasting or silent float64 upcasts in the library fail the tests.
Set in the environment, so subprocesses started by tests inherit them.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")
os.environ.setdefault("JAX_NUMPY_DTYPE_PROMOTION", "strict")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(20261123)
