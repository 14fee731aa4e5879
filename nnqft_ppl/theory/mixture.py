r"""Scale mixtures: a field times one independent random scale per network (PHYSICS.md A.6.2, D.1).

If :math:`\phi = s\,\phi_0` with :math:`s \ge 0` independent of the field :math:`\phi_0`, every
moment factorises,

.. math::  G^{(n)}(x_1..x_n) = \mathbb E[s^n]\,G^{(n)}_0(x_1..x_n),

so the theory of :math:`\phi` follows, order by order, from that of :math:`\phi_0` and the moments
of :math:`s`; connected correlators then come from the full ones.  With
:math:`\mathbb E s^2 = 1` and :math:`\mathrm{Var}\,s^2 = v` (and :math:`\phi_0` mean-zero, even)

.. math::  G^{(2)} = G^{(2)}_0,\qquad G^{(4)}_c = (1+v)\,G^{(4)}_{c,0} + v\,[GG]_{1234}

at every width: the scale couples all neurons, and the second term survives
:math:`N \to \infty` (independence breaking, PHYSICS.md §1.4).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Callable

import numpy as np

from ..moments import MonomialBasis, cumulants_from_moments, moments_from_cumulants
from .finite_width import FieldTheory, FiniteWidthTheory

__all__ = ["ScaleMixtureTheory", "gamma_scale_moment"]


def gamma_scale_moment(k: int, variance: float) -> float:
    r"""E[s^k] for :math:`s^2 \sim \mathrm{Gamma}(\text{shape}=1/v, \text{rate}=1/v)`, :math:`v` = ``variance``.

    :math:`\mathbb E s^2 = 1`, :math:`\mathrm{Var}\,s^2 = v`, and

    .. math::  \mathbb E[s^k] = v^{k/2}\,\frac{\Gamma(1/v + k/2)}{\Gamma(1/v)},\qquad
               \mathbb E[(s^2)^m] = \prod_{j=0}^{m-1}(1 + j v)

    (the product for even k); ``variance = 0`` is the constant scale s = 1.
    """
    if isinstance(variance, bool) or not isinstance(variance, numbers.Real) or not variance >= 0:
        raise ValueError(f"the scale variance must be a number >= 0, got {variance!r}")
    if k % 2 == 0:
        return float(math.prod(1.0 + j * variance for j in range(k // 2)))
    if variance == 0:
        return 1.0
    shape = 1.0 / variance
    return float(math.exp(math.lgamma(shape + k / 2) - math.lgamma(shape) + k / 2 * math.log(variance)))


@dataclasses.dataclass(frozen=True)
class ScaleMixtureTheory:
    r"""The theory of :math:`\phi = s\,\phi_0`: ``base`` is the theory of :math:`\phi_0`,
    ``scale_moment(k)`` is :math:`\mathbb E[s^k]`, s independent of :math:`\phi_0`.

    Cumulants of the base -> its moments -> times :math:`\mathbb E[s^n]` order by order -> cumulants.
    """

    base: FieldTheory
    scale_moment: Callable[[int], float]

    @classmethod
    def gamma(cls, base: FieldTheory, variance: float) -> "ScaleMixtureTheory":
        """The mixture over :math:`s^2\\sim` Gamma, mean 1, variance ``variance`` (:func:`gamma_scale_moment`)."""
        gamma_scale_moment(2, variance)  # validates
        return cls(base, lambda k: gamma_scale_moment(k, variance))

    def cumulants(self, points, max_order):
        points = np.asarray(points, dtype=np.float64)
        basis = MonomialBasis(len(points), max_order)
        moments = moments_from_cumulants(self.base.cumulants(points, max_order), basis)
        for order in range(1, max_order + 1):
            moments[basis.order_slice(order)] *= self.scale_moment(order)
        return cumulants_from_moments(moments, basis)

    def product_of_marginals(self) -> FiniteWidthTheory:
        r"""The theory under the product of the neurons' marginals, :math:`P_\perp = \prod_i P_i` (PHYSICS.md D.1).

        For a base :class:`FiniteWidthTheory` without output bias, neuron i's term is
        :math:`s\,a_i h_i`; its marginal is that of a neuron with its own scale :math:`s_i`, so
        :math:`P_\perp` has i.i.d. neurons with weight moments :math:`\mathbb E[s^k]\,\mu_k`:

        .. math::  G^{(4)}_c\big|_{P_\perp} = \frac1N\Big(\mathbb E[s^4]\mu_4\,\mathbb E[h_1h_2h_3h_4]
                   - \mu_2^2\sum_{\rm pairings}\mathbb E[hh]\,\mathbb E[hh]\Big).

        Raises ``ValueError`` for other bases (a scaled output bias is not Gaussian).
        """
        base = self.base
        if not isinstance(base, FiniteWidthTheory) or base.bias_variance != 0:
            raise ValueError(
                "the product-of-marginals theory is known for a scale mixture of a FiniteWidthTheory without bias"
            )
        return FiniteWidthTheory(base.width, base.neuron_moment, lambda k: self.scale_moment(k) * base.weight_moment(k))
