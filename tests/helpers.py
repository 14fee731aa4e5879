"""Statistical comparisons shared by the tests.

Tolerances are in standard errors: every entry of a correlator tensor must lie
within K_SIGMA jackknife standard errors of its reference.  The runs use fixed
seeds, so each check is deterministic; K_SIGMA = 5 keeps the chance that a
correct implementation fails at any of up to ~100 entries negligible.
"""

import numpy as np

K_SIGMA = 5.0


def max_deviation(dataset, name, reference=None):
    """max over entries of |measured - reference| / stderr (reference: the dataset's theory)."""
    reference = dataset[f"{name}_theory"].values if reference is None else reference
    return float(np.max(np.abs(dataset[name].values - reference) / dataset[f"{name}_stderr"].values))


def max_difference(first, second, name):
    """max over entries of |a - b| / sqrt(sa^2 + sb^2) for two independent measurements."""
    combined = np.hypot(first[f"{name}_stderr"].values, second[f"{name}_stderr"].values)
    return float(np.max(np.abs(first[name].values - second[name].values) / combined))
