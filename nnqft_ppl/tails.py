"""Heavy-tail detection for moment estimators.

The estimator of E[phi^k] is an average of phi^k over networks; when a few
networks carry a large share of the sum, both the estimate and its error bar are
unreliable (the Gauss-net with sigma_b = 1 is the standard example: log-normal
neurons, PHYSICS.md B.2).  The evidence used here is the share of
sum_i phi_i(x)^k carried by the single largest |phi_i(x)|, compared with the share
a Gaussian field with the same variance would give for the same number of
networks, max|z|^k / ((k-1)!! n) with max|z| the typical largest of n normal
draws, Phi^{-1}(1 - 1/(2n)).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .combinatorics import tuple_position
from .moments import BlockedSums, MonomialBasis
from .theory.neurons import gaussian_moment

__all__ = ["HeavyTailWarning", "heavy_tail_report", "TAIL_FACTOR"]

TAIL_FACTOR = 30.0
"""Warn when the largest network's share exceeds the Gaussian share by this factor.

Calibration (2e4-2e5 networks, orders 4 and 6): fields with light or product-normal
tails whose moments are well estimated (Cos-, Erf-, ReLU-nets down to width 1)
stay below ~15x; log-normal Gauss-nets with sigma_b = 1 reach 70-500x."""


class HeavyTailWarning(UserWarning):
    """The sample is dominated by a few networks: moments and error bars are unreliable."""


def heavy_tail_report(sums: BlockedSums, basis: MonomialBasis, unit: str = "networks") -> str | None:
    """A one-line description of the worst heavy tail, or ``None`` if the sample looks fine.

    Checked at the highest even order accumulated (centred at zero).
    """
    order = basis.max_order - basis.max_order % 2
    n = sums.total
    if order < 2 or n < 2:
        return None
    diagonal = basis.offsets[order] + tuple_position(
        basis.n_points, np.repeat(np.arange(basis.n_points)[:, None], order, axis=1)
    )
    power_sum = sums.sums[:, diagonal].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(power_sum > 0, sums.abs_max**order / power_sum, 0.0)
    typical_max = float(ndtri(1 - 1 / (2 * n)))
    gaussian_share = typical_max**order / (gaussian_moment(order) * n)
    worst = int(np.argmax(share))
    if share[worst] <= TAIL_FACTOR * gaussian_share:
        return None
    return (
        f"heavy tails at point {worst}: the largest of {int(n):,} {unit} carries "
        f"{100 * share[worst]:.2g}% of sum phi^{order} (a Gaussian field would give about "
        f"{100 * gaussian_share:.2g}%); G{order} and its error bar are unreliable"
    )
