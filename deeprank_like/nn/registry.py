"""Name → network class registry, and the constructor record that checkpoints store.

Every network in :mod:`deeprank_like.nn` is built from sizes and plain keyword arguments
(ints, floats, strings, lists), records them in ``model.config`` and registers under a short
name. A checkpoint stores ``(name, config)``; :func:`build_model` re-instantiates it.

Third-party networks join with :func:`register_model`::

    @register_model("my_net")
    class MyNet(torch.nn.Module):
        def __init__(self, num_node_features, num_edge_features, output_size=1, width=16):
            super().__init__()
            record_config(self, locals())
            ...
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from deeprank_like.errors import TrainingError

__all__ = [
    "available_models",
    "build_model",
    "get_model_class",
    "model_config",
    "model_name",
    "record_config",
    "register_model",
]

_MODELS: dict[str, type[nn.Module]] = {}


def register_model(name: str, *, replace: bool = False):
    """Class decorator: register a network class under ``name``."""

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        if not replace and name in _MODELS and _MODELS[name] is not cls:
            raise TrainingError(f"a network named {name!r} is already registered")
        _MODELS[name] = cls
        cls.registry_name = name
        return cls

    return decorator


def available_models() -> list[str]:
    """Registered network names."""
    return sorted(_MODELS)


def get_model_class(name: str | type[nn.Module]) -> type[nn.Module]:
    """The class registered under ``name`` (a class is returned unchanged)."""
    if isinstance(name, type):
        return name
    try:
        return _MODELS[name]
    except KeyError:
        raise TrainingError(
            f"unknown network {name!r}; available: {', '.join(available_models())}"
        ) from None


def record_config(module: nn.Module, local_vars: dict[str, Any]) -> None:
    """Store the constructor arguments (from ``locals()`` in ``__init__``) as ``module.config``."""
    sig = inspect.signature(type(module).__init__)
    config: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        value = local_vars[pname]
        config[pname] = list(value) if isinstance(value, tuple) else value
    module.config = config


def model_config(model: nn.Module) -> dict[str, Any]:
    """The recorded constructor kwargs of ``model`` (TrainingError if it has none)."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TrainingError(
            f"{type(model).__name__} has no recorded constructor arguments: call "
            "deeprank_like.nn.record_config(self, locals()) in its __init__ so that "
            "checkpoints can re-create it"
        )
    return dict(config)


def model_name(model: nn.Module) -> str:
    """Registry name of the model's class, or ``"module.path:ClassName"`` if unregistered."""
    cls = type(model)
    for name, registered in _MODELS.items():
        if registered is cls:
            return name
    return f"{cls.__module__}:{cls.__qualname__}"


def build_model(name: str, config: dict[str, Any]) -> nn.Module:
    """Instantiate a registered network (or ``"module.path:ClassName"``) from its config."""
    if ":" in name and name not in _MODELS:
        import importlib

        module_path, _, qualname = name.partition(":")
        try:
            obj: Any = importlib.import_module(module_path)
            for part in qualname.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise TrainingError(f"cannot import network class {name!r}: {exc}") from exc
        cls = obj
    else:
        cls = get_model_class(name)
    try:
        return cls(**config)
    except TypeError as exc:
        raise TrainingError(f"cannot build network {name!r} from {config}: {exc}") from exc
