"""The model contract and the registry that finds models by name.

An NN-FT model is a plain NumPyro model function ``model(x, *, width=..., ...)``:

- ``x`` has shape ``(n_points, d)``; every other argument is a keyword
  hyperparameter with a default (``width``, ``d``, ``sigma_a``, ...);
- per-neuron parameters are sampled inside ``numpyro.plate("neurons", width)``;
- the field at the points is recorded as ``numpyro.deterministic("phi", ...)``
  (shape ``(n_points,)``), the neurons as ``numpyro.deterministic("h", ...)``
  (shape ``(n_points, width)``) and the output weights are the site ``"a"``,
  so that ``phi = h @ a + (neuron-independent terms)``: the exact finite-width
  engine and mixed correlators need these;
- deformations enter as ``numpyro.factor``.

Register a model (optionally with its known theory, see :mod:`nnqft_ppl.theory`)::

    @nnqft_ppl.register_model(theory=my_theory)
    def my_net(x, width=100, d=1, sigma=1.0):
        ...

after which ``nnqft_ppl.get_model("my_net")`` and every library function accept
it by name.  The command line also loads a model from a file or module:
``nnqft sample path/to/file.py:my_net`` or ``nnqft sample package.module:my_net``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import math
import numbers
from pathlib import Path
from typing import Any, Callable, Mapping

__all__ = ["ModelSpec", "register_model", "get_model", "list_models"]

_REGISTRY: dict[str, "ModelSpec"] = {}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A NumPyro NN-FT model, its name, and (optionally) its known theory.

    ``theory(**params)`` returns an object with a ``cumulants(points, max_order)``
    method (see :class:`nnqft_ppl.theory.FieldTheory`), or is ``None``.
    ``spectrum(**params)``, for Euclidean-invariant models whose power spectrum is known,
    returns ``(function of |p|, momenta)``: the infinite-width G~(p) and the momenta at
    which :func:`~nnqft_ppl.lorentzian.spectral_positivity` should examine it.
    """

    name: str
    model: Callable
    theory: Callable[..., Any] | None = None
    spectrum: Callable[..., Any] | None = None

    @property
    def description(self) -> str:
        doc = inspect.getdoc(self.model) or ""
        return doc.splitlines()[0] if doc else ""

    @property
    def defaults(self) -> dict[str, Any]:
        """Hyperparameters and their defaults, read from the model's signature."""
        parameters = list(inspect.signature(self.model).parameters.values())[1:]
        return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}

    def resolve(self, overrides: Mapping[str, Any] | None = None, points=None) -> dict[str, Any]:
        """All hyperparameters after defaults, validated.

        String values (from the command line) are converted to the type of the
        default.  When the model has a ``d`` hyperparameter that is not given, it
        is taken from the points.
        """
        params = self.defaults
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(params))
        if unknown:
            raise ValueError(
                f"unknown hyperparameter {unknown[0]!r} for model {self.name!r}; "
                f"valid: {', '.join(sorted(params)) or 'none'}"
            )
        if "d" in params and "d" not in overrides and points is not None:
            overrides["d"] = len(points[0])
        for key, value in overrides.items():
            params[key] = _convert(key, value, params[key])
        for key in ("width", "d"):
            if key in params:
                value = params[key]
                if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                    raise ValueError(f"{key} must be a positive integer, got {value!r}")
                params[key] = int(value)
        return params


def _convert(key: str, value: Any, default: Any) -> Any:
    if isinstance(value, str) and not isinstance(default, str):
        text = value.strip()
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value = text.lower() in ("true", "1")
            elif isinstance(default, int):
                value = int(text)
            else:
                value = float(text)
        except ValueError:
            kind = {bool: "true or false", int: "an integer"}.get(type(default), "a number")
            raise ValueError(f"hyperparameter {key}={value!r} must be {kind}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"hyperparameter {key}={value!r} must be finite")
    if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"hyperparameter {key}={value!r} must be an integer")
        value = int(value)
    return value


def register_model(model: Callable | None = None, *, name: str | None = None, theory=None, spectrum=None):
    """Register a NumPyro NN-FT model under ``name`` (default: the function's name).

    Usable as ``@register_model`` or ``@register_model(theory=..., spectrum=...)``
    (see :class:`ModelSpec`).  Returns the model function unchanged.
    """

    def decorate(function: Callable) -> Callable:
        spec = ModelSpec(name or function.__name__, function, theory, spectrum)
        _REGISTRY[spec.name] = spec
        return function

    return decorate(model) if model is not None else decorate


def _load_builtin_models() -> None:
    importlib.import_module("models")


def list_models() -> list[ModelSpec]:
    """All registered models (the built-in ``models`` package included), sorted by name."""
    _load_builtin_models()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def get_model(model: "str | Callable | ModelSpec") -> ModelSpec:
    """Find a model: a :class:`ModelSpec`, a registered name, a model function, or
    ``"file.py:function"`` / ``"package.module:function"``."""
    if isinstance(model, ModelSpec):
        return model
    if callable(model):
        registered = [spec for spec in _REGISTRY.values() if spec.model is model]
        if registered:
            return registered[0]
        return ModelSpec(getattr(model, "__name__", "model"), model, getattr(model, "theory", None))
    if not isinstance(model, str):
        raise TypeError(f"model must be a name or a NumPyro model function, got {type(model).__name__}")
    _load_builtin_models()
    if model in _REGISTRY:
        return _REGISTRY[model]
    if ":" in model:
        return _load_from_path(model)
    raise ValueError(f"unknown model {model!r}; available: {', '.join(sorted(_REGISTRY))}")


def _load_from_path(spec: str) -> ModelSpec:
    location, _, attribute = spec.rpartition(":")
    try:
        if location.endswith(".py"):
            path = Path(location)
            if not path.is_file():
                raise ValueError(f"model file {location!r} does not exist")
            module_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(location)
    except ValueError:
        raise
    except Exception as error:  # ImportError, SyntaxError, or anything the module raises on import
        raise ValueError(f"cannot import model module {location!r}: {type(error).__name__}: {error}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{location!r} has no model function {attribute!r}")
    return get_model(function)
