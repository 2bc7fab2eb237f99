"""Resolve feature-module names and objects.

Built-in modules are registered by name below and imported lazily. Third-party packages
register theirs through the entry-point group ``deeprank_like.features``::

    [project.entry-points."deeprank_like.features"]
    hydrophobicity = "my_package.features:Hydrophobicity"

An entry point may name a :class:`~deeprank_like.features.base.FeatureModule` subclass, an
instance, or a Python module exposing ``FEATURE_MODULE``. Users can also pass such objects
directly to ``query.build([...])`` or :func:`register`.
"""

from __future__ import annotations

import base64
import importlib
import logging
import pickle
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from deeprank_like.errors import RegistryError

__all__ = [
    "BUILTIN_MODULES",
    "DEFAULT_MODULES",
    "available_modules",
    "register",
    "resolve_module",
    "resolve_modules",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "deeprank_like.features"

#: name -> "module.path:ClassName" of the built-in modules.
BUILTIN_MODULES: dict[str, str] = {
    "components": "deeprank_like.features.components:Components",
    "contact": "deeprank_like.features.contact:Contact",
    "betagm": "deeprank_like.enm.target:BetaGM",
    "surfacearea": "deeprank_like.features.surfacearea:SurfaceArea",
    "secondary_structure": "deeprank_like.features.secondary_structure:SecondaryStructure",
    "exposure": "deeprank_like.features.exposure:Exposure",
    "conservation": "deeprank_like.features.conservation:Conservation",
    "irc": "deeprank_like.features.irc:InterfaceContacts",
    "docking": "deeprank_like.targets.docking:DockingScores",
}

#: Modules used when none are named.
DEFAULT_MODULES: tuple[str, ...] = ("components", "contact")

_user_modules: dict[str, Any] = {}
_instances: dict[str, Any] = {}


def register(module: Any, *, replace: bool = False) -> Any:
    """Register a feature module object (or class) under its ``name`` for this process.

    Returns the resolved module instance.
    """
    instance = _instantiate(module, origin="register()")
    name = instance.name
    if not replace and (name in BUILTIN_MODULES or name in _user_modules):
        existing = _user_modules.get(name)
        if existing is not None and type(existing) is type(instance):
            return existing
        raise RegistryError(f"a feature module named {name!r} is already registered")
    _user_modules[name] = instance
    return instance


_entry_point_memo: dict[tuple[str, ...], dict[str, Any]] = {}


def _entry_points() -> dict[str, Any]:
    # Scanning the installed distributions costs ~50 ms, once per query with "all" (issue
    # #17); rescan only when sys.path changes (a plugin put on the path at run time).
    import sys

    key = tuple(sys.path)
    if key not in _entry_point_memo:
        _entry_point_memo.clear()
        _entry_point_memo[key] = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return dict(_entry_point_memo[key])


def available_modules() -> list[str]:
    """Names of every resolvable module: built-in, entry points and registered ones."""
    return sorted(set(BUILTIN_MODULES) | set(_entry_points()) | set(_user_modules))


def _instantiate(obj: Any, origin: str) -> Any:
    if isinstance(obj, ModuleType):
        if hasattr(obj, "FEATURE_MODULE"):
            obj = obj.FEATURE_MODULE
        else:
            raise RegistryError(
                f"{origin}: Python module {obj.__name__!r} has no FEATURE_MODULE attribute"
            )
    if isinstance(obj, type):
        obj = obj()
    for attr in ("name", "specs", "compute"):
        if not hasattr(obj, attr):
            raise RegistryError(
                f"{origin}: {obj!r} is not a feature module (missing {attr!r}); see docs/features.md"
            )
    return obj


def resolve_module(spec: str | Any) -> Any:
    """Turn a name or a module object into a feature-module instance.

    Raises
    ------
    RegistryError
        For an unknown name; the message lists the valid names.
    """
    if not isinstance(spec, str):
        return _instantiate(spec, origin=repr(spec))
    name = spec.strip()
    if name in _instances:
        return _instances[name]
    if name in _user_modules:
        return _user_modules[name]
    if name in BUILTIN_MODULES:
        mod_path, cls_name = BUILTIN_MODULES[name].split(":")
        instance = _instantiate(getattr(importlib.import_module(mod_path), cls_name), name)
    else:
        eps = _entry_points()
        if name not in eps:
            raise RegistryError(
                f"unknown feature module {name!r}; valid names: {', '.join(available_modules())}"
            )
        instance = _instantiate(eps[name].load(), origin=f"entry point {name!r}")
    _instances[name] = instance
    return instance


def resolve_modules(
    modules: str | Any | list[str | Any] | tuple | None,
) -> tuple[list[Any], bool]:
    """Resolve the ``feature_modules`` argument of ``build``/``process``.

    Parameters
    ----------
    modules : None, "all", a name, a module object, or a list of those
        None means :data:`DEFAULT_MODULES`; ``"all"`` means every available feature module
        (target-only modules such as ``docking`` and ``betagm`` must be named).

    Returns
    -------
    modules : list
        Module instances, duplicates removed, order kept.
    skip_inapplicable : bool
        True for ``"all"``: modules that do not apply to a query are skipped, not errors.
    """
    if modules is None:
        names: list[Any] = list(DEFAULT_MODULES)
        lenient = False
    elif isinstance(modules, str) and modules.strip().lower() == "all":
        names = [
            m for m in available_modules() if not getattr(resolve_module(m), "target_module", False)
        ]
        lenient = True
    elif isinstance(modules, str | ModuleType) or not isinstance(modules, list | tuple):
        names = [modules]
        lenient = False
    else:
        names = list(modules)
        lenient = False
    out: list[Any] = []
    seen: set[str] = set()
    for item in names:
        inst = resolve_module(item)
        if inst.name in seen:
            continue
        seen.add(inst.name)
        out.append(inst)
    return out, lenient


_PICKLED = "pickle:"


def module_reference(module: Any) -> str:
    """A string that re-creates ``module`` in another process.

    The registry name for the registered instance of a built-in or entry-point module; the
    import path ``"pkg.mod:Class"`` for an instance without per-instance settings; otherwise
    (e.g. ``BetaGM(chains=["A"])``) the pickled instance, so its settings reach the workers.
    """
    name = module.name
    if (name in BUILTIN_MODULES or name in _entry_points()) and module is resolve_module(name):
        return name
    if not getattr(module, "__dict__", None):
        cls = type(module)
        return f"{cls.__module__}:{cls.__qualname__}"
    return _PICKLED + base64.b64encode(pickle.dumps(module)).decode("ascii")


def describe_reference(ref: str) -> str:
    """A readable form of a :func:`module_reference` string (for logs and file attributes)."""
    if ref.startswith(_PICKLED):
        module = resolve_reference(ref)
        cls = type(module)
        return f"{cls.__module__}:{cls.__qualname__} (configured instance {module.name!r})"
    return ref


def resolve_reference(ref: str) -> Any:
    """Inverse of :func:`module_reference` (also accepts ``"pkg.mod:Class"`` import paths)."""
    if ref.startswith(_PICKLED):
        try:
            return _instantiate(pickle.loads(base64.b64decode(ref[len(_PICKLED) :])), "pickled")
        except (pickle.UnpicklingError, AttributeError, ImportError, ValueError) as exc:
            raise RegistryError(f"cannot unpickle a configured feature module: {exc}") from exc
    if ":" in ref:
        mod_path, attr = ref.split(":", 1)
        try:
            obj = importlib.import_module(mod_path)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"cannot import feature module {ref!r}: {exc}") from exc
        return _instantiate(obj, origin=ref)
    return resolve_module(ref)
