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

import importlib
import inspect
import json
import logging
import math
import typing
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import numpy as np

from deeprank_like.errors import RegistryError
from deeprank_like.resolve import resolve_name

__all__ = [
    "BUILTIN_MODULES",
    "DEFAULT_MODULES",
    "ModuleSpec",
    "available_modules",
    "module_spec",
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
    eps = {} if name in BUILTIN_MODULES else _entry_points()
    if name not in BUILTIN_MODULES and name not in eps:
        # one resolver for every name table: case/underscore-insensitive, lists the choices
        table = {**{n: ep.value for n, ep in eps.items()}, **BUILTIN_MODULES, **_user_modules}
        name = resolve_name(name, table, what="feature module", error=RegistryError)
        if name in _instances:
            return _instances[name]
        if name in _user_modules:
            return _user_modules[name]
    if name in BUILTIN_MODULES:
        mod_path, cls_name = BUILTIN_MODULES[name].split(":")
        instance = _instantiate(getattr(importlib.import_module(mod_path), cls_name), name)
    else:
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


#: Registry names and import paths of module classes are resolved by name; the arguments of a
#: configured instance are recorded as JSON data (never pickled) and rebuilt in each worker.
_SPEC_PREFIX = "spec:"


@dataclass(frozen=True)
class ModuleSpec:
    """A feature module as data: how to rebuild it in another process.

    Parameters
    ----------
    name : str
        A registry name (``"contact"``, an entry point) or an import path ``"pkg.mod:Class"``.
    kwargs : dict
        Constructor keyword arguments, JSON data only (numbers, strings, booleans, None, lists,
        string-keyed mappings). An argument annotated with a class that has ``from_dict`` (e.g.
        ``BetaGMConfig``) is recorded with its ``to_dict()`` and rebuilt with ``from_dict``.

    Examples
    --------
    >>> ModuleSpec("betagm", {"chains": ["A"]}).to_dict()
    {'name': 'betagm', 'kwargs': {'chains': ['A']}}
    >>> ModuleSpec("contact").to_dict()
    'contact'
    """

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise RegistryError(f"a feature module spec needs a name, got {self.name!r}")
        if not isinstance(self.kwargs, dict):
            raise RegistryError(
                f"feature module {self.name!r}: kwargs must be a mapping, got {self.kwargs!r}"
            )
        object.__setattr__(self, "name", self.name.strip())
        object.__setattr__(self, "kwargs", _json_data(self.kwargs, f"{self.name}.kwargs"))

    def to_dict(self) -> str | dict[str, Any]:
        """The name alone without arguments, else ``{"name": ..., "kwargs": {...}}``."""
        return self.name if not self.kwargs else {"name": self.name, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_dict(cls, data: Any) -> ModuleSpec:
        """Inverse of :meth:`to_dict` (a name, or a mapping with ``name`` and ``kwargs``)."""
        if isinstance(data, cls):
            return data
        if isinstance(data, str):
            return cls(data)
        if isinstance(data, dict):
            unknown = sorted(set(data) - {"name", "kwargs"})
            if unknown or "name" not in data:
                raise RegistryError(
                    f"a feature module entry must be a name or a table with 'name' and optional "
                    f"'kwargs', got {data!r}"
                )
            return cls(data["name"], dict(data.get("kwargs") or {}))
        raise RegistryError(
            f"a feature module entry must be a name or a table with 'name' and 'kwargs', got "
            f"{data!r}"
        )

    def build(self) -> Any:
        """The module instance (the shared registered instance when there are no arguments)."""
        if not self.kwargs and ":" not in self.name:
            return resolve_module(self.name)
        cls = _module_class(self.name)
        if cls is None:  # an instance without a class to call (an entry point instance, ...)
            if self.kwargs:
                raise RegistryError(
                    f"feature module {self.name!r} is an instance, not a class: it takes no "
                    f"arguments, got {sorted(self.kwargs)}"
                )
            return resolve_reference(self.name)
        try:
            values = _from_json_kwargs(cls, self.kwargs)
            return _instantiate(cls(**values), origin=self.name)
        except RegistryError:
            raise
        except Exception as exc:  # the module's own validation of its arguments
            raise RegistryError(
                f"cannot build feature module {self.name!r} with kwargs {self.kwargs!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


def _json_data(value: Any, where: str) -> Any:
    """``value`` as JSON data (tuples become lists); RegistryError naming ``where`` otherwise."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise RegistryError(f"{where} = {value!r} is not a finite number")
        return value
    if isinstance(value, list | tuple):
        return [_json_data(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise RegistryError(f"{where} has a non-string key {k!r}")
            out[k] = _json_data(v, f"{where}.{k}")
        return out
    raise RegistryError(
        f"{where} = {value!r} ({type(value).__name__}) is not JSON data (numbers, strings, "
        "booleans, None, lists, mappings); feature modules reach worker processes as their "
        "constructor arguments, so give the module plain-data arguments"
    )


def _module_class(name: str) -> type | None:
    """The class behind a registry name or import path (None when it names an instance)."""
    if ":" in name:
        mod_path, attr = name.split(":", 1)
        try:
            obj: Any = importlib.import_module(mod_path)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise RegistryError(f"cannot import feature module {name!r}: {exc}") from exc
    elif name in BUILTIN_MODULES:
        mod_path, cls_name = BUILTIN_MODULES[name].split(":")
        obj = getattr(importlib.import_module(mod_path), cls_name)
    elif name in _user_modules:
        obj = type(_user_modules[name])
    else:
        eps = _entry_points()
        if name not in eps:
            raise RegistryError(
                f"unknown feature module {name!r}; valid names: {', '.join(available_modules())}"
            )
        obj = eps[name].load()
    return obj if isinstance(obj, type) else None


def _parameters(cls: type) -> dict[str, inspect.Parameter]:
    """Named constructor parameters of ``cls`` (annotations evaluated when possible)."""
    init = typing.cast(Any, cls).__init__
    try:
        sig = inspect.signature(init, eval_str=True)
    except Exception:  # an annotation that cannot be evaluated: keep the strings
        sig = inspect.signature(init)
    return {
        n: p
        for n, p in sig.parameters.items()
        if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def _annotated_classes(annotation: Any) -> list[type]:
    """Classes with a ``from_dict`` in a parameter annotation (``X``, ``X | None``)."""
    args = typing.get_args(annotation) or (annotation,)
    return [a for a in args if isinstance(a, type) and hasattr(a, "from_dict")]


def _from_json_kwargs(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    params = _parameters(cls)
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        raise RegistryError(
            f"{cls.__module__}:{cls.__qualname__} has no argument(s) {unknown}; "
            f"valid: {sorted(params)}"
        )
    out = dict(kwargs)
    for name, value in kwargs.items():
        if isinstance(value, dict):
            for typ in _annotated_classes(params[name].annotation):
                out[name] = typing.cast(Any, typ).from_dict(value)
                break
    return out


def _class_name(module: Any) -> str:
    """Registry name when the class of ``module`` is the one registered under its name."""
    cls = type(module)
    path = f"{cls.__module__}:{cls.__qualname__}"
    name = getattr(module, "name", None)
    if isinstance(name, str):
        registered = BUILTIN_MODULES.get(name)
        if registered is None and name in _entry_points():
            registered = _entry_points()[name].value.strip()
        if registered == path:
            return name
    return path


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # == that raises or has no truth value: compare the text
        return repr(a) == repr(b)


def module_spec(module: Any) -> ModuleSpec:
    """Record a feature module (name or instance) as a :class:`ModuleSpec`.

    A name stays a name. For an instance, each constructor argument is read back from the
    instance attribute of the same name (a module may also store them itself as
    ``_init_kwargs``), converted to JSON data, and checked by rebuilding the module from the
    spec: the rebuilt instance must have the same attributes.

    Raises
    ------
    RegistryError
        When an argument is not JSON data, cannot be read back, or the rebuilt instance
        differs (e.g. an attribute set after construction): the message names the module
        and the argument. Modules are never pickled.
    """
    if isinstance(module, ModuleSpec):
        return module
    if isinstance(module, str | dict):
        return ModuleSpec.from_dict(module)
    instance = _instantiate(module, origin=repr(module))
    name = instance.name
    if (name in BUILTIN_MODULES or name in _entry_points()) and instance is resolve_module(name):
        return ModuleSpec(name)
    cls = type(instance)
    where = f"feature module {name!r} ({cls.__module__}:{cls.__qualname__})"
    recorded = getattr(instance, "_init_kwargs", None)
    kwargs: dict[str, Any] = {}
    if isinstance(recorded, dict):
        kwargs = dict(recorded)
    else:
        try:
            fresh: Any = cls()  # arguments equal to a default instance's need no recording
        except Exception:  # no default instance (required arguments): record every argument
            fresh = None
        for pname, param in _parameters(cls).items():
            if not hasattr(instance, pname):
                raise RegistryError(
                    f"{where}: cannot record constructor argument {pname!r} (the instance has "
                    f"no attribute {pname!r}); store it as self.{pname}, or the arguments as "
                    "self._init_kwargs, so that worker processes can rebuild the module"
                )
            value = getattr(instance, pname)
            if fresh is not None and hasattr(fresh, pname):
                if _same(value, getattr(fresh, pname)):
                    continue
            elif param.default is not inspect.Parameter.empty and _same(value, param.default):
                continue
            kwargs[pname] = value
    data = {}
    for key, value in kwargs.items():
        if hasattr(value, "to_dict") and not isinstance(value, dict):
            value = value.to_dict()
        data[key] = _json_data(value, f"{where}: argument {key}")
    spec = ModuleSpec(_class_name(instance), data)
    try:  # the class itself: importability by name is the caller's check (workers, __main__)
        rebuilt = cls(**_from_json_kwargs(cls, spec.kwargs))
    except RegistryError:
        raise
    except Exception as exc:
        raise RegistryError(
            f"{where}: cannot rebuild it from its constructor arguments {spec.kwargs!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    state, again = vars(instance), vars(rebuilt)
    diff = sorted(
        k
        for k in set(state) | set(again)
        if k not in state or k not in again or not _same(state[k], again[k])
    )
    if diff:
        raise RegistryError(
            f"{where}: rebuilding it from its constructor arguments {spec.kwargs!r} gives "
            f"different attribute(s) {diff}; set them through constructor arguments (stored "
            "under the same names) so that worker processes get the same module"
        )
    return spec


def module_reference(module: Any) -> str:
    """A string that re-creates ``module`` in another process (see :func:`module_spec`).

    The registry name for the registered instance of a built-in or entry-point module, the
    import path ``"pkg.mod:Class"`` for an instance without arguments, otherwise
    ``"spec:"`` + the JSON of :meth:`ModuleSpec.to_dict`.
    """
    instance = _instantiate(module, origin=repr(module))
    spec = module_spec(instance)
    if spec.kwargs:
        return _SPEC_PREFIX + json.dumps(spec.to_dict(), sort_keys=True)
    if ":" in spec.name or instance is resolve_module(spec.name):
        return spec.name
    cls = type(instance)
    return f"{cls.__module__}:{cls.__qualname__}"


def describe_reference(ref: str) -> str:
    """A readable form of a :func:`module_reference` string (for logs and file attributes)."""
    if ref.startswith(_SPEC_PREFIX):
        spec = ModuleSpec.from_dict(json.loads(ref[len(_SPEC_PREFIX) :]))
        args = ", ".join(f"{k}={v!r}" for k, v in spec.kwargs.items())
        return f"{spec.name}({args}) (configured instance {spec.build().name!r})"
    return ref


def resolve_reference(ref: str) -> Any:
    """Inverse of :func:`module_reference` (also accepts ``"pkg.mod:Class"`` import paths)."""
    if ref.startswith(_SPEC_PREFIX):
        try:
            data = json.loads(ref[len(_SPEC_PREFIX) :])
        except ValueError as exc:
            raise RegistryError(f"not a feature module spec: {ref!r} ({exc})") from exc
        return ModuleSpec.from_dict(data).build()
    if ":" in ref:
        cls = _module_class(ref)
        if cls is None:
            mod_path, attr = ref.split(":", 1)
            obj: Any = importlib.import_module(mod_path)
            for part in attr.split("."):
                obj = getattr(obj, part)
            return _instantiate(obj, origin=ref)
        return _instantiate(cls, origin=ref)
    return resolve_module(ref)
