"""The papers' NN-FTs, one file each; importing this package registers them by name."""

from . import cauchy_net, cos_net, erf_net, fourier_net, gauss_net, relu_net, scalar_net  # noqa: F401  (registration)
