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

See docs/processing.md for the full description.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from deeprank_like.errors import DeeprankLikeError

__all__ = ["ConfigError", "build_collection", "load_config", "run_config"]

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

    base = Path(base_dir)
    items = config.get("queries")
    if not items or not isinstance(items, list):
        raise ConfigError(
            "the config needs a non-empty 'queries' list ([[queries]] tables in TOML)"
        )
    defaults = {k: config[k] for k in QUERY_DEFAULT_KEYS if k in config}
    qc = QueryCollection()
    for n, item in enumerate(items, 1):
        where = f"queries[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table/mapping")
        item = dict(item)
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
                qc.add(cls(**data))
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where} ({path}): {exc}") from exc
    return qc


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
    """Keyword arguments of ``process`` from a config (everything but the queries)."""
    _check_keys("config", config, TOP_KEYS)
    kwargs: dict[str, Any] = {}
    if "output" in config:
        kwargs["prefix"] = _resolve(Path(base_dir), str(config["output"]))
    if "feature_modules" in config:
        kwargs["feature_modules"] = config["feature_modules"]
    proc = config.get("processing") or {}
    _check_keys("[processing]", proc, PROCESSING_KEYS)
    kwargs.update(proc)
    if "shard" in kwargs and kwargs["shard"] is not None:
        kwargs["shard"] = tuple(kwargs["shard"])
    grid = config.get("grid")
    if grid:
        _check_keys("[grid]", grid, GRID_KEYS)
        if "points_counts" not in grid or "sizes" not in grid:
            raise ConfigError("[grid]: needs 'points_counts' and 'sizes'")
        kwargs["grid_settings"] = {"points_counts": grid["points_counts"], "sizes": grid["sizes"]}
        kwargs["grid_map_method"] = grid.get("method", "gaussian")
        kwargs["grid_augmentation_count"] = int(grid.get("augmentation_count", 0))
        if "seed" in grid:
            kwargs["grid_seed"] = grid["seed"]
    return kwargs


def run_config(path: str | os.PathLike, **overrides: Any) -> Any:
    """Load a config file and run :func:`~deeprank_like.processing.process` (``overrides`` win)."""
    from deeprank_like.processing.run import process

    config = load_config(path)
    base = Path(path).resolve().parent
    kwargs = process_kwargs(config, base)
    kwargs.update({k: v for k, v in overrides.items() if v is not None})
    if "prefix" not in kwargs:
        raise ConfigError(f"{path}: no 'output' given (set output = \"...\" or pass -o)")
    return process(build_collection(config, base), **kwargs)
