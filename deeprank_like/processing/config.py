"""Featurisation config files (TOML, YAML or JSON; data only) → queries + ``process`` arguments.

Schema (all keys optional except ``queries``; relative paths are relative to the config file)::

    output = "features.hdf5"                    # the prefix/output of process()
    feature_modules = ["components", "contact"] # or "all"
    resolution = "residue"                      # defaults applied to every query
    influence_radius = 10.0
    max_edge_length = 10.0

    [processing]                                # keywords of deeprank_like.processing.process
    executor = "processes"
    cpu_count = 4

    [grid]                                      # optional grids
    points_counts = [20, 20, 20]
    sizes = [20.0, 20.0, 20.0]
    method = "gaussian"
    augmentation_count = 0
    seed = 0

    [[queries]]                                 # one table per query, or per file pattern
    kind = "ppi"                                # "ppi" or "srv"
    files = "pdb/*.pdb"                         # glob / list of globs; or pdb_path = "x.pdb"
    chain_ids = ["A", "B"]
    targets = { binary = 1 }

    [[queries]]                                 # or: one query per row of a CSV/TSV table
    table = "variants.csv"                      # see docs/tables.md
    kind = "srv"                                # optional (else a 'kind' column, or guessed)
    columns = { "Mutation position" = "residue" }   # optional: your column -> field
    target_columns = ["ddg"]                    # optional (default: the numeric columns)
    missing_targets = "error"                   # or "omit"

Values are checked when the config is read; an error names the key. A query that cannot be
made (an unknown amino-acid code, the same chain on both sides of an interface, a bad table
row) is a failure of that query, recorded in the output's failure table; only problems of the
run itself (an unreadable config, a wrong value, an output that exists) stop it.

See docs/processing.md and docs/tables.md for the full description.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from deeprank_like.errors import DeeprankLikeError, QueryError

__all__ = [
    "ConfigError",
    "build_collection",
    "config_kwargs",
    "load_config",
    "process_kwargs",
    "run_config",
]

TOP_KEYS = {
    "output",
    "feature_modules",
    "resolution",
    "influence_radius",
    "max_edge_length",
    "include_hydrogens",
    "processing",
    "grid",
    "queries",
}
QUERY_DEFAULT_KEYS = ("resolution", "influence_radius", "max_edge_length", "include_hydrogens")
PROCESSING_KEYS = {
    "cpu_count",
    "combine_output",
    "executor",
    "on_error",
    "resume",
    "overwrite",
    "shard",
    "float_dtype",
    "compression",
    "progress",
    "verbose",
    "log_error_traceback",
}
GRID_KEYS = {"points_counts", "sizes", "method", "augmentation_count", "seed"}
PATH_FIELDS = ("pdb_path", "reference_path")
#: Keys of a ``[[queries]]`` item with ``table = ...`` besides the query fields (defaults).
TABLE_KEYS = {"table", "kind", "columns", "target_columns", "sep", "missing_targets"}
TABLE_KEYS |= {"check_structures"}


class ConfigError(DeeprankLikeError, ValueError):
    """A config file is unreadable or does not follow the schema."""


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON (``.json``) config as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib

            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        elif suffix in (".yaml", ".yml"):
            import yaml

            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh)
        elif suffix == ".json":
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        else:
            raise ConfigError(f"{path}: config files must end in .toml, .yaml, .yml or .json")
    except ConfigError:
        raise
    except Exception as exc:  # parser errors of three libraries
        raise ConfigError(f"{path}: cannot parse: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table/mapping")
    return data


def _check_keys(where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid: {sorted(allowed)}")


def _resolve(base: Path, value: str) -> str:
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else base / p)


def build_collection(config: dict[str, Any], base_dir: str | os.PathLike = ".") -> Any:
    """The :class:`QueryCollection` described by ``config["queries"]``."""
    from deeprank_like.query import QueryCollection
    from deeprank_like.query.base import _KINDS
    from deeprank_like.query.table import check_query

    base = Path(base_dir)
    items = config.get("queries")
    if not items or not isinstance(items, list):
        raise ConfigError(
            "the config needs a non-empty 'queries' list ([[queries]] tables in TOML)"
        )
    _check_values(config, TOP_VALUE_CHECKS, "config")
    defaults = {k: config[k] for k in QUERY_DEFAULT_KEYS if k in config}
    qc = QueryCollection()
    for n, item in enumerate(items, 1):
        where = f"queries[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table/mapping")
        item = dict(item)
        if "table" in item:
            _add_table(qc, where, item, defaults, base)
            continue
        kind = item.pop("kind", None)
        if kind not in _KINDS:
            raise ConfigError(f"{where}: 'kind' must be one of {sorted(_KINDS)}, got {kind!r}")
        cls = _KINDS[kind]
        valid = {f.name for f in fields(cls)} | {"files"}
        _check_keys(where, item, valid)
        files = item.pop("files", None)
        if files is not None and "pdb_path" in item:
            raise ConfigError(f"{where}: give 'files' or 'pdb_path', not both")
        if files is None and "pdb_path" not in item:
            raise ConfigError(f"{where}: needs 'pdb_path' or 'files'")
        for key in PATH_FIELDS:
            if item.get(key):
                item[key] = _resolve(base, item[key])
        if isinstance(item.get("pssm_paths"), dict):
            item["pssm_paths"] = {c: _resolve(base, p) for c, p in item["pssm_paths"].items()}
        paths = [item.pop("pdb_path")] if files is None else _expand(base, files, where)
        for path in paths:
            data = {**defaults, **item, "pdb_path": path}
            try:
                query = cls(**data)
            except TypeError as exc:  # a missing or wrongly typed field: the config is wrong
                raise ConfigError(f"{where} ({path}): {exc}") from exc
            except (QueryError, ValueError) as exc:  # this query is bad, not the run
                qc.add_failure(f"{where}:{Path(path).name}", exc)
                continue
            try:
                check_query(query)
            except QueryError as exc:
                qc.add_failure(query.get_query_id(), exc)
                continue
            qc.add(query)
    return qc


def _add_table(
    qc: Any, where: str, item: dict[str, Any], defaults: dict[str, Any], base: Path
) -> None:
    """Add the queries of a ``table = ...`` item; bad rows become failures of ``qc``."""
    from deeprank_like.query.base import _KINDS
    from deeprank_like.query.table import TableError, table_queries

    query_fields = {f.name for cls in _KINDS.values() for f in fields(cls)} - {"pdb_path"}
    _check_keys(where, item, TABLE_KEYS | query_fields)
    table = item.pop("table")
    if not isinstance(table, str) or not table.strip():
        raise ConfigError(f"{where}: 'table' must be a file name, got {table!r}")
    options = {k: item.pop(k) for k in TABLE_KEYS - {"table"} if k in item}
    if "columns" in options and not isinstance(options["columns"], dict):
        raise ConfigError(f"{where}: 'columns' must be a table/mapping of column -> field")
    tc = options.get("target_columns")
    if tc is not None and not isinstance(tc, str | list | dict):
        raise ConfigError(f"{where}: 'target_columns' must be a list or mapping, got {tc!r}")
    if "check_structures" in options and not isinstance(options["check_structures"], bool):
        raise ConfigError(f"{where}: 'check_structures' must be true or false")
    for key in PATH_FIELDS:
        if item.get(key):
            item[key] = _resolve(base, item[key])
    if isinstance(item.get("pssm_paths"), dict):
        item["pssm_paths"] = {c: _resolve(base, p) for c, p in item["pssm_paths"].items()}
    path = Path(_resolve(base, table))
    kind = options.pop("kind", None)
    if kind is not None and kind not in _KINDS:
        raise ConfigError(f"{where}: 'kind' must be one of {sorted(_KINDS)}, got {kind!r}")
    allowed = {f.name for f in fields(_KINDS[kind])} if kind else query_fields
    stray = sorted(set(item) - allowed)
    if stray:
        raise ConfigError(f"{where}: key(s) {stray} do not apply to {kind} queries")
    try:
        rows, label = table_queries(
            path, kind=kind, base_dir=path.parent, defaults={**defaults, **item}, **options
        )
    except TableError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    qc.extend_from_rows(rows, label)


def _expand(base: Path, files: Any, where: str) -> list[str]:
    patterns = [files] if isinstance(files, str) else list(files)
    out: list[str] = []
    for pattern in patterns:
        full = _resolve(base, pattern)
        matches = sorted(glob.glob(full, recursive=True))
        if not matches:
            raise ConfigError(f"{where}: no file matches {pattern!r} (looked for {full})")
        out += matches
    return out


def process_kwargs(config: dict[str, Any], base_dir: str | os.PathLike = ".") -> dict[str, Any]:
    """Keyword arguments of ``process`` from a config (everything but the queries).

    Raises
    ------
    ConfigError
        For an unknown key or a value of the wrong type or range, naming the key.
    """
    _check_keys("config", config, TOP_KEYS)
    _check_values(config, TOP_VALUE_CHECKS, "config")
    for section in ("processing", "grid"):
        if section in config and not isinstance(config[section], dict | None):
            raise ConfigError(f"[{section}]: must be a table/mapping, got {config[section]!r}")
    kwargs: dict[str, Any] = {}
    if "output" in config:
        kwargs["prefix"] = _resolve(Path(base_dir), str(config["output"]))
    if "feature_modules" in config:
        kwargs["feature_modules"] = config["feature_modules"]
    proc = config.get("processing") or {}
    _check_keys("[processing]", proc, PROCESSING_KEYS)
    _check_values(proc, PROCESSING_CHECKS, "[processing]")
    kwargs.update(proc)
    if "shard" in kwargs and kwargs["shard"] is not None:
        kwargs["shard"] = tuple(kwargs["shard"])
    grid = config.get("grid")
    if grid:
        _check_keys("[grid]", grid, GRID_KEYS)
        _check_values(grid, GRID_CHECKS, "[grid]")
        if "points_counts" not in grid or "sizes" not in grid:
            raise ConfigError("[grid]: needs 'points_counts' and 'sizes'")
        kwargs["grid_settings"] = {"points_counts": grid["points_counts"], "sizes": grid["sizes"]}
        kwargs["grid_map_method"] = grid.get("method", "gaussian")
        kwargs["grid_augmentation_count"] = int(grid.get("augmentation_count", 0))
        if "seed" in grid:
            kwargs["grid_seed"] = grid["seed"]
    return kwargs


def config_kwargs(
    path: str | os.PathLike, **overrides: Any
) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """``(config, folder of the config, process keywords)`` of a config file.

    ``overrides`` (not None) win over the file's values. Everything but the queries is checked
    here, so run-level errors come before any structure is read.

    Raises
    ------
    ConfigError
        Naming the file and the key.
    """
    config = load_config(path)
    base = Path(path).resolve().parent
    try:
        kwargs = process_kwargs(config, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    if "prefix" not in kwargs:
        raise ConfigError(f"{path}: no 'output' given (set output = \"...\" or pass -o)")
    return config, base, kwargs


def run_config(path: str | os.PathLike, **overrides: Any) -> Any:
    """Load a config file and run :func:`~deeprank_like.processing.process` (``overrides`` win).

    Queries that cannot be made are failures of the run (``/_failures``), not errors.
    """
    from deeprank_like.processing.run import process

    config, base, kwargs = config_kwargs(path, **overrides)
    try:
        collection = build_collection(config, base)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return process(collection, **kwargs)


# ---- value checks ----------------------------------------------------------------------
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_int(value: Any) -> str | None:
    return None if _is_int(value) and value >= 1 else "must be a positive integer"


def _optional_positive_int(value: Any) -> str | None:
    return None if value is None else _positive_int(value)


def _non_negative_int(value: Any) -> str | None:
    return None if _is_int(value) and value >= 0 else "must be an integer >= 0"


def _positive_number(value: Any) -> str | None:
    return None if _is_number(value) and value > 0 else "must be a number > 0 (Å)"


def _boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _optional_boolean(value: Any) -> str | None:
    return None if value is None else _boolean(value)


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "must be a non-empty string"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {list(choices)}"

    return check


def _modules(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return None
    return 'must be "all", a module name or a list of module names'


def _shard(value: Any) -> str | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(_is_int(v) for v in value)
        and 0 <= value[0] < value[1]
    ):
        return None
    return "must be [i, n] with 0 <= i < n"


def _triple(check: Callable[[Any], bool], what: str) -> Callable[[Any], str | None]:
    def run(value: Any) -> str | None:
        ok = isinstance(value, list | tuple) and len(value) == 3 and all(check(v) for v in value)
        return None if ok else f"must be a list of three {what}"

    return run


def _seed(value: Any) -> str | None:
    return None if value is None or _is_int(value) else "must be an integer (or absent)"


TOP_VALUE_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "output": _text,
    "feature_modules": _modules,
    "resolution": _one_of("residue", "atom"),
    "influence_radius": _positive_number,
    "max_edge_length": _positive_number,
    "include_hydrogens": _boolean,
}
PROCESSING_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "cpu_count": _optional_positive_int,
    "combine_output": _boolean,
    "executor": _text,
    "on_error": _one_of("record", "raise"),
    "resume": _boolean,
    "overwrite": _boolean,
    "shard": lambda v: None if v is None else _shard(v),
    "float_dtype": _one_of("float32", "float64"),
    "compression": _one_of("gzip", "lzf", "none"),
    "progress": _optional_boolean,
    "verbose": _boolean,
    "log_error_traceback": _boolean,
}
GRID_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "points_counts": _triple(lambda v: _is_int(v) and v >= 1, "positive integers"),
    "sizes": _triple(lambda v: _is_number(v) and v > 0, "positive numbers (Å)"),
    "method": _text,
    "augmentation_count": _non_negative_int,
    "seed": _seed,
}


def _check_values(
    data: dict[str, Any], checks: dict[str, Callable[[Any], str | None]], where: str
) -> None:
    for key, check in checks.items():
        if key in data:
            problem = check(data[key])
            if problem:
                raise ConfigError(f"{where}: {key} {problem}, got {data[key]!r}")
