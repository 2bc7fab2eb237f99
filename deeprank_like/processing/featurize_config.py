"""The featurisation settings as one typed, frozen, data-only object: :class:`FeaturizeConfig`.

Parsed once at the boundary (a TOML/YAML/JSON file, the command line, or Python), checked
when built, and written unchanged as the ``config`` attribute of every HDF5 file it makes.
:meth:`FeaturizeConfig.to_dict` *is* the config schema (a file's ``[[queries]]`` come on
top)::

    output = "features.hdf5"                     # process() writes <output> (.hdf5)
    feature_modules = ["components", "contact"]  # or "all"; a configured module:
                                                 # {name = "betagm", kwargs = {chains = ["A"]}}
    resolution = "residue"                       # graph settings: defaults of every query
    influence_radius = 10.0                      # made from the config (file or command
    max_edge_length = 10.0                       # line); queries passed as objects keep
    include_hydrogens = false                    # their own

    [processing]                                 # Execution: how the run is executed
    executor = "processes"                       # processes | serial | mpi | dask | address
    cpu_count = 4                                # default: all available CPUs
    on_error = "record"                          # record | raise
    resume = false
    overwrite = false
    shard = [0, 4]                               # slice i of n of the sorted query ids
    progress = true                              # default: when stderr is a terminal
    verbose = true
    log_error_traceback = false

    [storage]                                    # StorageOptions: how arrays are stored
    float_dtype = "float32"                      # float32 | float64
    compression = "gzip"                         # gzip | lzf | none
    combine_output = true                        # merge worker shards into one file

    [grid]                                       # GridConfig (optional): also write grids
    points_counts = [20, 20, 20]
    sizes = [20.0, 20.0, 20.0]                   # box edge lengths, Å
    method = "gaussian"                          # gaussian | fast_gaussian | nearest | ...
    sigma = 1.0                                  # Gaussian width, Å
    truncate = 4.0                               # kernel radius in σ (default: method's)
    augmentation_count = 0
    seed = 0

Every key is optional; a missing key takes the default shown by ``FeaturizeConfig()``. A wrong
key or value raises :class:`ConfigError` naming the section, the key and the value (an unknown
key lists the valid ones). Files of the earlier layout (``float_dtype``, ``compression`` and
``combine_output`` under ``[processing]``) are read with a :class:`DeprecationWarning`.

A new grid option is one field of :class:`GridConfig` (its check, its command-line flag in the
field's metadata, and its keyword in :meth:`GridConfig.map_kwargs`): the config file key, the
``featurize`` flag, the Python argument and the file attribute follow from it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from deeprank_like.errors import GridError, RegistryError
from deeprank_like.features.registry import DEFAULT_MODULES, ModuleSpec, module_spec
from deeprank_like.grid.mapping import DEFAULT_SIGMA, kernel_radius
from deeprank_like.grid.settings import GridSettings, MapMethod
from deeprank_like.processing.config_fields import (
    ConfigError,
    boolean,
    check_fields,
    executor_name,
    is_int,
    is_number,
    map_method,
    meta,
    non_negative_int,
    one_of,
    optional,
    parse_triple,
    positive_int,
    positive_number,
    positive_sigmas,
    section_from_dict,
    section_to_dict,
    seed_value,
    shard_pair,
    toml_value,
    triple,
)

__all__ = [
    "GRAPH_KEYS",
    "ConfigError",
    "Execution",
    "FeaturizeConfig",
    "GridConfig",
    "StorageOptions",
]


# ---- the sections --------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class GridConfig:
    """The ``[grid]`` section: map every graph onto grids (see :mod:`deeprank_like.grid`).

    Parameters
    ----------
    points_counts : 3 positive ints
        Grid points along x, y, z.
    sizes : 3 positive floats
        Box edge lengths, Å (spacing = ``sizes / points_counts``).
    method : MapMethod or its name
        How a value spreads over grid points (default ``gaussian``).
    sigma : float
        Width σ of the Gaussian kernels, Å (default 1.0; unused by ``nearest`` and
        ``exp_deeprank2``).
    truncate : float or None
        Gaussian kernel radius in units of σ; None: the method's default (4σ for
        ``gaussian``, 3σ for ``fast_gaussian``).
    augmentation_count : int
        Extra randomly rotated grids per query.
    seed : int or None
        Rotations depend only on ``(seed, query id)``; None: not reproducible.

    Raises
    ------
    ConfigError
        Naming the key and the value; also when σ truncated at ``truncate`` is too small for
        the grid spacing.
    """

    points_counts: tuple[int, int, int] = field(
        metadata=meta(
            check=triple(lambda v: is_int(v) and v >= 1, "positive integers"),
            doc="grid points along x, y, z",
            cli={
                "flag": "--grid",
                "metavar": "NX,NY,NZ",
                "parse": parse_triple(int),
                "help": "also map each graph to a grid of this many points",
            },
        ),
    )
    sizes: tuple[float, float, float] = field(
        metadata=meta(
            check=triple(
                lambda v: is_number(v) and math.isfinite(v) and v > 0, "positive numbers (Å)"
            ),
            doc="box edge lengths, Å",
            cli={
                "flag": "--grid-size",
                "metavar": "SX,SY,SZ",
                "parse": parse_triple(float),
                "help": "grid box edge lengths in Å (required with --grid)",
            },
        ),
    )
    method: MapMethod = field(
        default=MapMethod.GAUSSIAN,
        metadata=meta(
            check=map_method,
            doc="gaussian, fast_gaussian, nearest or exp_deeprank2",
            cli={
                "flag": "--grid-method",
                "metavar": "METHOD",
                "parse": str,
                "help": "gaussian (default), fast_gaussian, nearest, exp_deeprank2",
            },
        ),
    )
    sigma: float = field(
        default=DEFAULT_SIGMA,
        metadata=meta(
            check=positive_number,
            doc="Gaussian kernel width σ, Å",
            cli={
                "flag": "--grid-sigma",
                "metavar": "Å",
                "parse": float,
                "help": f"width σ of the Gaussian kernel in Å (default {DEFAULT_SIGMA})",
            },
        ),
    )
    truncate: float | None = field(
        default=None,
        metadata=meta(
            check=optional(positive_sigmas),
            doc="Gaussian kernel radius in σ (default: 4 for gaussian, 3 for fast_gaussian)",
            cli={
                "flag": "--grid-truncate",
                "metavar": "N_SIGMA",
                "parse": float,
                "help": "Gaussian kernel radius in units of σ (default 4 gaussian, 3 fast_gaussian)",
            },
        ),
    )
    augmentation_count: int = field(
        default=0,
        metadata=meta(
            check=non_negative_int,
            doc="extra randomly rotated grids per query",
            cli={
                "flag": "--grid-augment",
                "metavar": "N",
                "parse": int,
                "help": "extra randomly rotated grids per query",
            },
        ),
    )
    seed: int | None = field(
        default=0,
        metadata=meta(
            check=seed_value,
            doc="seed of the rotations (None: not reproducible)",
            cli={
                "flag": "--grid-seed",
                "metavar": "SEED",
                "parse": int,
                "help": "seed of the rotations (default 0)",
            },
        ),
    )

    def __post_init__(self) -> None:
        where = "[grid]"
        check_fields(self, where)
        set_ = object.__setattr__
        set_(self, "points_counts", tuple(int(v) for v in self.points_counts))
        set_(self, "sizes", tuple(float(v) for v in self.sizes))
        set_(self, "method", MapMethod.parse(self.method))
        set_(self, "sigma", float(self.sigma))
        if self.truncate is not None:
            set_(self, "truncate", float(self.truncate))
        set_(self, "augmentation_count", int(self.augmentation_count))
        if self.seed is not None:
            set_(self, "seed", int(self.seed))
        try:
            kernel_radius(self.method, self.sigma, self.truncate, self.settings.resolutions)
        except GridError as exc:
            raise ConfigError(f"{where}: sigma/truncate: {exc}", "sigma") from None

    @property
    def settings(self) -> GridSettings:
        """The box as :class:`~deeprank_like.grid.settings.GridSettings` (made once)."""
        cached = self.__dict__.get("_settings")
        if cached is None:  # warns once about a suspicious spacing, not once per query
            cached = GridSettings(self.points_counts, self.sizes)
            object.__setattr__(self, "_settings", cached)
        return cached

    def map_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`deeprank_like.grid.hdf5.add_grids` for this config."""
        return {
            "settings": self.settings,
            "method": self.method,
            "sigma": self.sigma,
            "truncate": self.truncate,
            "augmentations": self.augmentation_count,
            "seed": self.seed,
        }

    def to_dict(self) -> dict[str, Any]:
        """The ``[grid]`` table."""
        return section_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridConfig:
        """Inverse of :meth:`to_dict` (unknown keys are errors listing the valid ones)."""
        return section_from_dict(cls, data, "[grid]")


@dataclass(frozen=True, kw_only=True)
class StorageOptions:
    """The ``[storage]`` section: how arrays are written."""

    float_dtype: str = field(
        default="float32",
        metadata=meta(check=one_of("float32", "float64"), doc="float32 or float64"),
    )
    compression: str = field(
        default="gzip", metadata=meta(check=one_of("gzip", "lzf", "none"), doc="gzip, lzf, none")
    )
    combine_output: bool = field(
        default=True,
        metadata=meta(check=boolean, doc="merge the worker shards into <output>.hdf5"),
    )

    def __post_init__(self) -> None:
        check_fields(self, "[storage]")

    def to_dict(self) -> dict[str, Any]:
        """The ``[storage]`` table."""
        return section_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StorageOptions:
        """Inverse of :meth:`to_dict`."""
        return section_from_dict(cls, data, "[storage]")


@dataclass(frozen=True, kw_only=True)
class Execution:
    """The ``[processing]`` section: how a run is executed (not what it computes)."""

    executor: str = field(
        default="processes",
        metadata=meta(check=executor_name, doc="processes, serial, mpi, dask or a dask address"),
    )
    cpu_count: int | None = field(
        default=None,
        metadata=meta(check=optional(positive_int), doc="worker processes (default: all CPUs)"),
    )
    on_error: str = field(
        default="record", metadata=meta(check=one_of("record", "raise"), doc="record or raise")
    )
    resume: bool = field(
        default=False,
        metadata=meta(check=boolean, doc="finish an earlier run of the same output"),
    )
    overwrite: bool = field(
        default=False, metadata=meta(check=boolean, doc="delete earlier outputs first")
    )
    shard: tuple[int, int] | None = field(
        default=None,
        metadata=meta(
            check=optional(shard_pair), doc="process slice i of n of the sorted query ids"
        ),
    )
    progress: bool | None = field(
        default=None,
        metadata=meta(check=optional(boolean), doc="progress bar (default: stderr is a terminal)"),
    )
    verbose: bool = field(
        default=True, metadata=meta(check=boolean, doc="print the one-line summary")
    )
    log_error_traceback: bool = field(
        default=False, metadata=meta(check=boolean, doc="store full tracebacks in failures")
    )

    def __post_init__(self) -> None:
        check_fields(self, "[processing]")
        if self.shard is not None:
            object.__setattr__(self, "shard", tuple(int(v) for v in self.shard))
        if self.cpu_count is not None:
            object.__setattr__(self, "cpu_count", int(self.cpu_count))
        object.__setattr__(self, "executor", self.executor.strip())

    def to_dict(self) -> dict[str, Any]:
        """The ``[processing]`` table."""
        return section_to_dict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Execution:
        """Inverse of :meth:`to_dict`."""
        return section_from_dict(cls, data, "[processing]")


def _modules(value: Any) -> str | tuple[ModuleSpec, ...]:
    """``"all"`` or a tuple of :class:`ModuleSpec` from what users write."""
    bad = ConfigError(
        'config: feature_modules must be "all", a module name or a list of module names '
        f"(or {{name, kwargs}} tables), got {value!r}",
        "feature_modules",
    )
    if value is None:
        return tuple(ModuleSpec(n) for n in DEFAULT_MODULES)
    if isinstance(value, str):
        if not value.strip():
            raise bad
        return "all" if value.strip().lower() == "all" else (ModuleSpec(value),)
    if isinstance(value, bool | numbers.Number):
        raise bad
    # an empty list is valid: skeleton-only graphs (no feature module), as before the config
    items = list(value) if isinstance(value, list | tuple) else [value]
    try:
        return tuple(module_spec(item) for item in items)
    except RegistryError as exc:
        raise ConfigError(f"config: feature_modules: {exc.args[0]}", "feature_modules") from None


#: The top-level keys that are graph settings (query defaults).
GRAPH_KEYS = ("resolution", "influence_radius", "max_edge_length", "include_hydrogens")
_SECTIONS: dict[str, Any] = {
    "processing": Execution,
    "storage": StorageOptions,
    "grid": GridConfig,
}
#: Keys of the earlier ``[processing]`` layout that now live in ``[storage]``.
_MOVED_TO_STORAGE = ("float_dtype", "compression", "combine_output")


@dataclass(frozen=True, kw_only=True)
class FeaturizeConfig:
    """Everything a featurisation run needs besides its queries; plain data, frozen.

    Parameters
    ----------
    output : str or PathLike
        Output path: ``<output>`` without ``.hdf5`` is the prefix of every file written.
    feature_modules : "all", names, module objects, ``{name, kwargs}`` mappings, or ModuleSpecs
        Stored as :class:`~deeprank_like.features.registry.ModuleSpec` (module objects are
        recorded by their constructor arguments; a module whose arguments are not JSON data
        is refused here). Default ``("components", "contact")``.
    resolution, influence_radius, max_edge_length, include_hydrogens
        Graph settings applied to the queries made from this config (file, command line);
        None: the query's own default.
    processing : Execution
    storage : StorageOptions
    grid : GridConfig or None

    Examples
    --------
    >>> cfg = FeaturizeConfig(output="f.hdf5", grid=GridConfig(points_counts=(8, 8, 8),
    ...                       sizes=(16.0, 16.0, 16.0), sigma=2.0))
    >>> FeaturizeConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    output: str = "processed-queries"
    feature_modules: Any = None
    resolution: str | None = field(
        default=None,
        metadata=meta(check=optional(one_of("residue", "atom")), doc="residue or atom"),
    )
    influence_radius: float | None = field(
        default=None, metadata=meta(check=optional(positive_number), doc="influence radius, Å")
    )
    max_edge_length: float | None = field(
        default=None,
        metadata=meta(check=optional(positive_number), doc="maximum edge length, Å"),
    )
    include_hydrogens: bool | None = field(
        default=None, metadata=meta(check=optional(boolean), doc="keep hydrogen atoms")
    )
    processing: Execution = field(default_factory=Execution)
    storage: StorageOptions = field(default_factory=StorageOptions)
    grid: GridConfig | None = None

    def __post_init__(self) -> None:
        out = self.output
        if not isinstance(out, str | os.PathLike) or not os.fspath(out).strip():
            raise ConfigError(f"config: output must be a non-empty path, got {out!r}", "output")
        object.__setattr__(self, "output", os.fspath(out))
        check_fields(self, "config")
        for key in ("influence_radius", "max_edge_length"):
            if getattr(self, key) is not None:
                object.__setattr__(self, key, float(getattr(self, key)))
        object.__setattr__(self, "feature_modules", _modules(self.feature_modules))
        for name, cls in _SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                object.__setattr__(self, name, cls.from_dict(value))
            elif not isinstance(value, cls) and not (name == "grid" and value is None):
                raise ConfigError(
                    f"config: {name} must be a {cls.__name__} or a mapping, got {value!r}", name
                )

    # ---- conversions -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The config as JSON data: the config-file schema and the HDF5 ``config`` attribute."""
        out: dict[str, Any] = {
            "output": self.output,
            "feature_modules": self.feature_modules
            if isinstance(self.feature_modules, str)
            else [m.to_dict() for m in self.feature_modules],
        }
        out.update({k: getattr(self, k) for k in GRAPH_KEYS})
        out["processing"] = self.processing.to_dict()
        out["storage"] = self.storage.to_dict()
        out["grid"] = None if self.grid is None else self.grid.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "config") -> FeaturizeConfig:
        """Inverse of :meth:`to_dict` (also reads the earlier ``[processing]`` layout).

        Raises
        ------
        ConfigError
            An unknown key (listing the valid ones) or a bad value, naming both.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a table/mapping, got {data!r}")
        data = _upgrade_layout(data)
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {unknown}; valid: {sorted(valid)}")
        values = dict(data)
        for name, section in _SECTIONS.items():
            if name in values and values[name] is None and name != "grid":
                del values[name]  # an empty YAML section: the defaults
            elif name in values and isinstance(values[name], dict):
                values[name] = section.from_dict(values[name])
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> FeaturizeConfig:
        """Read a TOML/YAML/JSON config (its ``[[queries]]`` are ignored; see
        :func:`deeprank_like.processing.config.read_config`)."""
        from deeprank_like.processing.config import read_config

        return read_config(path)[0]

    @classmethod
    def from_file_attribute(cls, value: str | bytes | dict[str, Any]) -> FeaturizeConfig:
        """The config that made an HDF5 file, from its ``config`` attribute.

        Files written before this config existed record ``float_dtype``, ``compression`` and
        ``shard`` at the top level (and no output): those are read too.
        """
        data = json.loads(value) if isinstance(value, str | bytes) else dict(value)
        if any(k in data for k in ("float_dtype", "compression", "shard")):  # earlier files
            storage = {k: data.pop(k) for k in ("float_dtype", "compression") if k in data}
            shard = data.pop("shard", None)
            data["storage"] = {**storage, **(data.get("storage") or {})}
            data["processing"] = {"shard": shard, **(data.get("processing") or {})}
        return cls.from_dict(data, where="file attribute 'config'")

    def replace(self, **changes: Any) -> FeaturizeConfig:
        """A copy with fields changed (``dataclasses.replace``; checked again)."""
        return dataclasses.replace(self, **changes)

    def query_defaults(self) -> dict[str, Any]:
        """The graph settings that are set, as query keyword arguments."""
        return {k: getattr(self, k) for k in GRAPH_KEYS if getattr(self, k) is not None}

    def to_toml(self) -> str:
        """The config as a TOML document (None values are left out: they are defaults).

        Raises
        ------
        ConfigError
            When a None that is not the default (``grid.seed = None``) or a None inside module
            arguments must be written: TOML has no null (use :meth:`save` with .yaml/.json).
        """
        data = self.to_dict()
        lines = []
        for key, value in data.items():
            if key in _SECTIONS:
                continue
            if value is not None:
                lines.append(f"{key} = {toml_value(value, key)}")
        for name in _SECTIONS:
            table = data[name]
            if table is None:
                continue
            defaults = section_to_dict(_SECTIONS[name](**_required(name, table)))
            lines.append(f"\n[{name}]")
            for key, value in table.items():
                if value is None:
                    if defaults.get(key) is not None:
                        raise ConfigError(
                            f"[{name}]: {key} = None cannot be written to TOML (no null); "
                            "save the config as YAML or JSON",
                            key,
                        )
                    continue
                lines.append(f"{key} = {toml_value(value, f'{name}.{key}')}")
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write the config as ``.toml``, ``.yaml``/``.yml`` or ``.json`` (by suffix)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".toml":
            text = self.to_toml()
        elif suffix in (".yaml", ".yml"):
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        elif suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2) + "\n"
        else:
            raise ConfigError(f"{path}: config files must end in .toml, .yaml, .yml or .json")
        path.write_text(text, encoding="utf-8")
        return path


def _required(name: str, table: dict[str, Any]) -> dict[str, Any]:
    """The keys a section cannot be made without (for its defaults)."""
    return {k: table[k] for k in ("points_counts", "sizes")} if name == "grid" else {}


def _upgrade_layout(data: dict[str, Any]) -> dict[str, Any]:
    """Move ``[processing]`` storage keys of the earlier layout into ``[storage]``."""
    proc = data.get("processing")
    if not isinstance(proc, dict):
        return data
    moved = [k for k in _MOVED_TO_STORAGE if k in proc]
    if not moved:
        return data
    storage = data.get("storage") or {}
    if not isinstance(storage, dict):
        return data  # reported by StorageOptions.from_dict
    both = sorted(set(moved) & set(storage))
    if both:
        raise ConfigError(f"{both} given in both [processing] and [storage]; keep [storage]")
    warnings.warn(
        f"{moved} under [processing] are deprecated: put them under [storage]",
        DeprecationWarning,
        stacklevel=4,
    )
    out = dict(data)
    out["processing"] = {k: v for k, v in proc.items() if k not in moved}
    out["storage"] = {**storage, **{k: proc[k] for k in moved}}
    return out
