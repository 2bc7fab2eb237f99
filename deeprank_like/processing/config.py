"""Featurisation config files (TOML, YAML or JSON; data only) → queries + a FeaturizeConfig.

A config file is :meth:`FeaturizeConfig.to_dict() <deeprank_like.processing.featurize_config.
FeaturizeConfig.to_dict>` (output, feature modules, graph settings, ``[processing]``,
``[storage]``, ``[grid]``; see :mod:`deeprank_like.processing.featurize_config`) plus the
queries; relative paths are relative to the config file::

    output = "features.hdf5"
    feature_modules = ["components", "contact"]
    resolution = "residue"                      # defaults applied to every query

    [processing]
    executor = "processes"

    [grid]                                      # optional grids
    points_counts = [20, 20, 20]
    sizes = [20.0, 20.0, 20.0]
    sigma = 1.0

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
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

from deeprank_like.errors import QueryError
from deeprank_like.processing.featurize_config import GRAPH_KEYS, ConfigError, FeaturizeConfig
from deeprank_like.processing.legacy import config_from_keywords

__all__ = [
    "ConfigError",
    "build_collection",
    "load_config",
    "read_config",
    "run_config",
]

PATH_FIELDS = ("pdb_path", "reference_path")
#: Keys of a ``[[queries]]`` item with ``table = ...`` besides the query fields (defaults).
TABLE_KEYS = {"table", "kind", "columns", "target_columns", "sep", "missing_targets"}
TABLE_KEYS |= {"check_structures"}


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


def build_collection(
    config: dict[str, Any],
    base_dir: str | os.PathLike = ".",
    defaults: dict[str, Any] | None = None,
) -> Any:
    """The :class:`QueryCollection` described by ``config["queries"]``.

    Parameters
    ----------
    config : dict
        A config file's mapping (see :func:`load_config`).
    base_dir : str or PathLike
        Relative paths of the queries are relative to this folder.
    defaults : dict, optional
        Query field defaults (:meth:`FeaturizeConfig.query_defaults`); default: the graph
        settings of ``config``.
    """
    from deeprank_like.query import QueryCollection
    from deeprank_like.query.base import _KINDS
    from deeprank_like.query.table import check_query

    base = Path(base_dir)
    items = config.get("queries")
    if not items or not isinstance(items, list):
        raise ConfigError(
            "the config needs a non-empty 'queries' list ([[queries]] tables in TOML)"
        )
    if defaults is None:
        graph = {k: config[k] for k in GRAPH_KEYS if k in config}
        defaults = FeaturizeConfig.from_dict(graph).query_defaults()
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


def read_config(
    path: str | os.PathLike, *, output: str | os.PathLike | None = None
) -> tuple[FeaturizeConfig, dict[str, Any], Path]:
    """``(settings, the file's mapping, its folder)`` of a config file.

    Everything but the queries is checked here (so run-level errors come before any
    structure is read); ``build_collection(mapping, folder, settings.query_defaults())``
    makes the queries.

    Parameters
    ----------
    path : str or PathLike
        A ``.toml``, ``.yaml``/``.yml`` or ``.json`` file.
    output : str or PathLike, optional
        Replaces the file's ``output`` (e.g. ``-o``); one of the two is required.

    Raises
    ------
    ConfigError
        Naming the file, the key and the value.
    """
    raw = load_config(path)
    base = Path(path).resolve().parent
    settings = {k: v for k, v in raw.items() if k != "queries"}
    if output is not None:
        settings["output"] = os.fspath(output)
    elif "output" not in settings:
        raise ConfigError(f"{path}: no 'output' given (set output = \"...\" or pass -o)")
    elif isinstance(settings["output"], str) and settings["output"].strip():
        settings["output"] = _resolve(base, settings["output"])
    try:
        return FeaturizeConfig.from_dict(settings), raw, base
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}", exc.field) from exc


def run_config(path: str | os.PathLike, *, executor: Any = None, **overrides: Any) -> Any:
    """Load a config file and run :func:`~deeprank_like.processing.process`.

    ``executor`` (a name or an executor object) replaces the file's. Other ``overrides``
    are the deprecated keywords of ``process`` (``prefix=``, ``cpu_count=``...); change a
    :class:`FeaturizeConfig` from :func:`read_config` instead.

    Queries that cannot be made are failures of the run (``/_failures``), not errors.
    """
    from deeprank_like.processing.run import process

    prefix = overrides.pop("prefix", None)
    config, raw, base = read_config(path, output=prefix)
    if overrides:
        warnings.warn(
            "run_config(path, **keywords) is deprecated: change the FeaturizeConfig of "
            "read_config(path) with dataclasses.replace and call process(queries, config)",
            DeprecationWarning,
            stacklevel=2,
        )
        config = config_from_keywords(config, **overrides)
    try:
        collection = build_collection(raw, base, config.query_defaults())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return process(collection, config, executor=executor)


def process_kwargs(config: dict[str, Any], base_dir: str | os.PathLike = ".") -> dict[str, Any]:
    """Deprecated: ``{"config": FeaturizeConfig}`` of a config mapping (for ``process(q, **kw)``)."""
    warnings.warn(
        "process_kwargs is deprecated: use FeaturizeConfig.from_dict or read_config",
        DeprecationWarning,
        stacklevel=2,
    )
    settings = {k: v for k, v in config.items() if k != "queries"}
    if isinstance(settings.get("output"), str):
        settings["output"] = _resolve(Path(base_dir), settings["output"])
    return {"config": FeaturizeConfig.from_dict(settings)}


def config_kwargs(
    path: str | os.PathLike, **overrides: Any
) -> tuple[dict[str, Any], Path, dict[str, Any]]:
    """Deprecated: ``(mapping, folder, {"config": FeaturizeConfig})``; use :func:`read_config`."""
    warnings.warn("config_kwargs is deprecated: use read_config", DeprecationWarning, stacklevel=2)
    prefix = overrides.pop("prefix", None)
    config, raw, base = read_config(path, output=prefix)
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        config = config_from_keywords(config, **overrides)
    return raw, base, {"config": config}
