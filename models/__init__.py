"""The papers' NN-FTs, one file each; importing this package registers them by name."""

from . import cos_net, erf_net, gauss_net, relu_net  # noqa: F401  (registration)
