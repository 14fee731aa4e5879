"""One entry point for both correlator engines."""

from __future__ import annotations

from .ensemble import sample_ensemble
from .neurons import sample_neurons
from .reweighting import sample_reweighted

__all__ = ["sample", "METHODS"]

METHODS = {"ensemble": sample_ensemble, "neurons": sample_neurons, "reweight": sample_reweighted}


def sample(model, points, *, method: str = "ensemble", **options):
    """Correlators of ``model`` at ``points``: ``method="ensemble"`` draws i.i.d. networks
    (:func:`~nnqft_ppl.ensemble.sample_ensemble`), ``method="neurons"`` uses the exact
    finite-width engine (:func:`~nnqft_ppl.neurons.sample_neurons`), ``method="reweight"``
    reweights the free networks of a deformed model by its deformation factor
    (:func:`~nnqft_ppl.reweighting.sample_reweighted`).  Same options and result (an
    ``xarray.Dataset``) for all.  ``shard=(K, M)`` (ensemble and neurons) computes shard K
    of M of the run and returns a :class:`~nnqft_ppl.shards.Shard` (see :mod:`nnqft_ppl.shards`)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if options.get("shard") is not None and method == "reweight":
        raise ValueError("shards (shard=(K, M)) are available for method='ensemble' and 'neurons' only")
    return METHODS[method](model, points, **options)
