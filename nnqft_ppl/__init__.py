"""nnqft_ppl: neural-network field theories as NumPyro models.

Public API (everything else is internal):
"""

from .registry import ModelSpec, get_model, list_models, register_model
from .ensemble import sample_ensemble

__all__ = ["ModelSpec", "get_model", "list_models", "register_model", "sample_ensemble"]
