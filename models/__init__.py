"""The papers' NN-FTs, one file each; importing this package registers them by name."""

from . import (  # noqa: F401  (registration)
    cauchy_net,
    complex_net,
    cos_doublet_net,
    cos_net,
    double_well_net,
    erf_net,
    fourier_net,
    gauss_net,
    pair_coupled_net,
    relu_net,
    ring_cos_net,
    scalar_net,
    shared_scale_net,
)
