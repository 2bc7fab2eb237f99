"""Name → network class registry, and the constructor record that checkpoints store.

Every network in :mod:`deeprank_like.nn` is built from sizes and plain keyword arguments
(ints, floats, strings, lists), records them in ``model.config`` and registers under a short
name. A checkpoint stores ``(name, config)``; :func:`build_model` re-instantiates it.

**A model file is data.** A checkpoint or a training config can only name a *registered*
network; nothing named in a file is ever imported. The registered networks are

* the built-ins (:data:`BUILTIN_NETWORKS`: a fixed table of this package's classes);
* networks registered in the running process with :func:`register_model`;
* networks exposed by installed packages through the entry-point group
  ``deeprank_like.networks`` (:data:`ENTRY_POINT_GROUP`).

Any other name, including a ``"module.path:Class"`` import path (checkpoints of unregistered
classes store one), is a :class:`~deeprank_like.errors.TrainingError` that names the class and
says how to register it. Third-party networks join with :func:`register_model`::

    @register_model("my_net")
    class MyNet(torch.nn.Module):
        def __init__(self, num_node_features, num_edge_features, output_size=1, width=16):
            super().__init__()
            record_config(self, locals())
            ...

or, to be loadable in any process without importing your module first, through an entry
point in your package's ``pyproject.toml``::

    [project.entry-points."deeprank_like.networks"]
    my_net = "my_package.networks:MyNet"
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from torch import nn

from deeprank_like.errors import TrainingError
from deeprank_like.resolve import resolve_name

__all__ = [
    "BUILTIN_NETWORKS",
    "ENTRY_POINT_GROUP",
    "available_models",
    "build_model",
    "get_model_class",
    "is_registered",
    "model_config",
    "model_name",
    "record_config",
    "register_model",
]

#: Entry-point group through which installed packages expose networks (name → "pkg.mod:Class").
ENTRY_POINT_GROUP = "deeprank_like.networks"

#: The package's own networks: registry name → fixed import path (imported only from this table).
BUILTIN_NETWORKS: dict[str, str] = {
    "gine": "deeprank_like.nn.gnn:GINENet",
    "gcn": "deeprank_like.nn.gnn:GCNNet",
    "cnn3d": "deeprank_like.nn.cnn:CNN3D",
    "cnn_regression": "deeprank_like.nn.cnn:CnnRegression",
    "cnn_classification": "deeprank_like.nn.cnn:CnnClassification",
    "coulomb_cnn": "deeprank_like.nn.coulomb_cnn:CoulombCNN",
    "residue_graph_gnn": "deeprank_like.nn.betagm_gnn:ResidueGraphGNN",
    "antisymmetric_variant": "deeprank_like.nn.antisymmetric:AntisymmetricVariantNet",
}

_MODELS: dict[str, type[nn.Module]] = {}


def _class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def register_model(
    name: str, *, replace: bool = False
) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: register a network class under ``name`` in this process.

    Parameters
    ----------
    name : str
        Registry name stored in checkpoints (``model.name``).
    replace : bool
        Allow re-registering ``name`` with another class.

    Raises
    ------
    TrainingError
        If ``name`` is taken by another class, or ``cls`` is not an ``nn.Module`` subclass.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise TrainingError(f"a network name must be a non-empty string without ':', got {name!r}")

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
            raise TrainingError(f"register_model({name!r}): {cls!r} is not an nn.Module subclass")
        if not replace and name in _MODELS and _MODELS[name] is not cls:
            raise TrainingError(f"a network named {name!r} is already registered")
        _MODELS[name] = cls
        cls.registry_name = name
        return cls

    return decorator


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_models() -> list[str]:
    """Registered network names: built-in, registered in this process, and entry points."""
    return sorted(set(BUILTIN_NETWORKS) | set(_MODELS) | set(_entry_points()))


def _checked(obj: Any, origin: str) -> type[nn.Module]:
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise TrainingError(f"{origin} does not name an nn.Module subclass: {obj!r}")
    return obj


def _builtin(name: str) -> type[nn.Module]:
    module_path, _, qualname = BUILTIN_NETWORKS[name].partition(":")
    obj: Any = importlib.import_module(module_path)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return _checked(obj, f"built-in network {name!r}")


def _not_registered(name: str) -> TrainingError:
    return TrainingError(
        f"network class {name!r} is not a registered network, so it cannot be built from a "
        f"checkpoint or config (a model file is data: nothing it names is imported). "
        f"Registered networks: {', '.join(available_models())}. To use your own class, "
        f"import its module and decorate the class with "
        f"@deeprank_like.nn.register_model('my_net') before loading, or expose it from your "
        f"package through the entry-point group {ENTRY_POINT_GROUP!r}"
    )


def _by_class_path(path: str) -> type[nn.Module] | None:
    """The registered class whose import path is ``path`` (compared as text, never imported)."""
    for cls in _MODELS.values():
        if _class_path(cls) == path:
            return cls
    for name, builtin in BUILTIN_NETWORKS.items():
        if builtin == path:
            return _builtin(name)
    for ep in _entry_points().values():
        if ep.value.strip() == path:
            return _checked(ep.load(), f"entry point {ep.name!r}")
    return None


def get_model_class(name: str | type[nn.Module]) -> type[nn.Module]:
    """The registered class named ``name`` (a class passed in Python is returned unchanged).

    ``name`` is a registry name, or the ``"module.path:Class"`` path of a class that is
    registered (in this process, as a built-in or as an entry point). Nothing is imported
    except the built-ins' fixed modules and installed entry points. Names resolve through
    :func:`deeprank_like.resolve.resolve_name`: case, ``_`` and ``-`` do not matter and the
    class name works too (``"GINE"``, ``"GINENet"`` and ``"gine"`` are one network).

    Raises
    ------
    TrainingError
        For any other name; the message lists the registered networks and how to register one.
    """
    if isinstance(name, type):
        return _checked(name, "network class")
    if not isinstance(name, str):
        raise TrainingError(f"a network name must be a string, got {name!r}")
    if name in _MODELS:
        return _MODELS[name]
    if name in BUILTIN_NETWORKS:
        return _builtin(name)
    if ":" in name:
        cls = _by_class_path(name.strip())
        if cls is None:
            raise _not_registered(name)
        return cls
    eps = _entry_points()
    table: dict[str, Any] = {n: ep.value for n, ep in eps.items()}
    table.update(BUILTIN_NETWORKS)
    table.update(_MODELS)
    key = resolve_name(
        name,
        table,
        what="network",
        suffixes=("net",),
        hint=f"register your own with @deeprank_like.nn.register_model or the entry-point "
        f"group {ENTRY_POINT_GROUP!r}",
        error=TrainingError,
    )
    if key in _MODELS:
        return _MODELS[key]
    if key in BUILTIN_NETWORKS:
        return _builtin(key)
    return _checked(eps[key].load(), f"entry point {key!r}")


def record_config(module: nn.Module, local_vars: dict[str, Any]) -> None:
    """Store the constructor arguments (from ``locals()`` in ``__init__``) as ``module.config``.

    A base class calling this from its own ``__init__`` records the arguments it knows; the
    subclass's own call (after ``super().__init__``) records the rest.
    """
    sig = inspect.signature(type(module).__init__)
    config: dict[str, Any] = {}
    for pname, param in sig.parameters.items():
        if pname == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if pname not in local_vars:  # a base class's call: the subclass's call records it
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
    """Registry name of the model's class, or ``"module.path:ClassName"`` if unregistered.

    A checkpoint of an unregistered class can be loaded only once that class is registered.
    """
    cls = type(model)
    for name, registered in _MODELS.items():
        if registered is cls:
            return name
    path = _class_path(cls)
    for name, builtin in BUILTIN_NETWORKS.items():
        if builtin == path:
            return name
    for name, ep in _entry_points().items():
        if ep.value.strip() == path:
            return name
    return path


def is_registered(model: nn.Module) -> bool:
    """True if a checkpoint of ``model`` can be re-created (its class is registered)."""
    return ":" not in model_name(model)


def build_model(name: str | type[nn.Module], config: dict[str, Any]) -> nn.Module:
    """Instantiate a registered network from its constructor kwargs.

    Parameters
    ----------
    name : str or class
        Registry name, the ``"module.path:Class"`` path of a registered class, or (from
        Python code) a class.
    config : dict
        Constructor keyword arguments (plain data: numbers, strings, lists).

    Raises
    ------
    TrainingError
        Unregistered name (see :func:`get_model_class`), config not a mapping of argument
        names, or a constructor that rejects the config.
    """
    cls = get_model_class(name)
    label = name if isinstance(name, str) else _class_path(name)
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise TrainingError(
            f"the config of network {label!r} must be a mapping of argument names to values, "
            f"got {config!r}"
        )
    try:
        return cls(**config)
    except TypeError as exc:
        raise TrainingError(f"cannot build network {label!r} from {config}: {exc}") from exc
