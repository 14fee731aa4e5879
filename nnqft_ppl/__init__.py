"""nnqft_ppl: neural-network field theories as NumPyro models.

An NN-FT is a NumPyro model over network parameters whose field at the points is
the site ``"phi"`` (:mod:`nnqft_ppl.registry` states the contract).  From it the
library measures full and connected correlators with error bars, by brute force
(:func:`sample_ensemble`) or exactly at finite width from single neurons
(:func:`sample_neurons`), and sets them beside what is known analytically
(:mod:`nnqft_ppl.theory`).
"""

__version__ = "0.1.0"

from . import nets, theory  # noqa: E402
from .action import action_function, reconstruct_action
from .ensemble import sample_ensemble
from .independence import independence_breaking
from .mixed import mixed_correlators, mixed_from_draws
from .neurons import sample_neurons
from .output import deviation_table, plot_two_point, run_record
from .registry import ModelSpec, get_model, list_models, register_model
from .sampling import sample
from .shards import merge_shards, sample_distributed
from .tails import HeavyTailWarning

__all__ = [
    "HeavyTailWarning",
    "ModelSpec",
    "action_function",
    "deviation_table",
    "get_model",
    "independence_breaking",
    "list_models",
    "merge_shards",
    "mixed_correlators",
    "mixed_from_draws",
    "nets",
    "plot_two_point",
    "reconstruct_action",
    "register_model",
    "run_record",
    "sample",
    "sample_distributed",
    "sample_ensemble",
    "sample_neurons",
    "theory",
]
