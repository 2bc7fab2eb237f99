"""Queries and targets from a table (CSV/TSV file or pandas DataFrame).

One row is one query. Columns name query fields; the other columns can become targets.
Column names are matched case-insensitively, with spaces and ``-`` read as ``_``; a user
mapping (``columns={"PDB file": "pdb_path"}``) renames columns before matching.

Query columns (canonical name first, then the accepted aliases):

===========================  ===============================================================
``kind``                     ``ppi`` or ``srv`` (else the ``kind`` argument, else guessed:
                             ``srv`` when a residue/wild-type/variant column exists)
``pdb_path``                 ``pdb``, ``structure``, ``pdb_file``: the structure file
``chain_ids``                ``chains``, ``chain``: ``A`` (srv), ``A,B`` or ``H+L,A`` (ppi)
``residue``                  ``52`` or ``52A`` (number with insertion code), or the two
                             columns ``variant_residue_number`` (``residue_number``,
                             ``position``) and ``insertion_code`` (``icode``)
``wildtype_amino_acid``      ``wildtype``, ``wild_type``, ``wt``: one- or three-letter code
``variant_amino_acid``       ``variant``, ``mutant``, ``mut``
``pssm_paths``               ``pssm``: ``A=a.pssm,B=b.pssm``; or one ``pssm_<CHAIN>`` column
                             per chain
``reference_path``           native structure of a ppi (docking targets)
``resolution``, ``influence_radius``, ``max_edge_length``, ``model``, ``model_id``,
``include_hydrogens``, ``suppress_pssm_errors``: as the :class:`Query` fields
``entry_id``                 ``query_id``: never a target (used by ``add_targets`` joins)
===========================  ===============================================================

Relative paths are relative to the table's folder (``base_dir`` for a DataFrame). Cell values
(empty markers, numbers, booleans) are parsed in :mod:`deeprank_like.query.table_cells`.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deeprank_like.domain.chains import query_chain_ids
from deeprank_like.errors import DeeprankLikeError
from deeprank_like.query.checks import StructureCache as _StructureCache
from deeprank_like.query.checks import check_query
from deeprank_like.query.table_cells import (
    _bool,
    _int,
    _is_numeric_column,
    _missing,
    _number,
    _target_value,
)

__all__ = [
    "QUERY_COLUMNS",
    "ParsedTable",
    "RowQuery",
    "TableError",
    "parse_chains",
    "parse_residue",
    "parse_table",
    "read_table",
    "table_queries",
]

log = logging.getLogger(__name__)


class TableError(DeeprankLikeError, ValueError):
    """The table itself cannot be used (unreadable, missing columns, bad column mapping)."""


#: canonical column → accepted aliases (lower case, ``_`` for spaces and ``-``).
QUERY_COLUMNS: dict[str, tuple[str, ...]] = {
    "kind": ("query_kind",),
    "pdb_path": ("pdb", "structure", "pdb_file", "structure_path"),
    "chain_ids": ("chains", "chain", "chain_id"),
    "residue": ("residue_id",),
    "variant_residue_number": ("residue_number", "position", "resnum"),
    "insertion_code": ("icode", "insertion"),
    "wildtype_amino_acid": ("wildtype", "wild_type", "wt"),
    "variant_amino_acid": ("variant", "mutant", "mut"),
    "pssm_paths": ("pssm",),
    "reference_path": ("reference", "native"),
    "resolution": (),
    "influence_radius": (),
    "max_edge_length": (),
    "model": (),
    "model_id": (),
    "include_hydrogens": (),
    "suppress_pssm_errors": (),
    "entry_id": ("query_id",),
}
_ALIAS = {alias: canon for canon, aliases in QUERY_COLUMNS.items() for alias in (canon, *aliases)}
_SRV_COLUMNS = {
    "residue",
    "variant_residue_number",
    "insertion_code",
    "wildtype_amino_acid",
    "variant_amino_acid",
}
_PATH_COLUMNS = ("pdb_path", "reference_path")
_RESIDUE_RE = re.compile(r"\s*(-?\d+)\s*([A-Za-z]?)\s*")


@dataclass
class RowQuery:
    """The outcome of one table row: a query, or why there is none.

    Attributes
    ----------
    row : int
        0-based position of the row in the table (``DataFrame.iloc[row]``; line ``row + 2`` of
        a file with a header line).
    query : Query or None
    error : Exception or None
        Set when the row cannot become a query.
    values : dict
        The row's query fields as parsed (for joins, e.g. :func:`add_targets`).
    target_error : Exception or None
        Set (and also ``error``) when the query fields parse but a target value does not
        (empty, not a number): :func:`table_queries` still checks the query against its
        structure first, so a structural error is the one reported.
    """

    row: int
    query: Any = None
    error: BaseException | None = None
    values: dict[str, Any] = field(default_factory=dict)
    target_error: BaseException | None = None


def _norm(name: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip()).lower()


def read_table(source: Any, sep: str | None = None) -> tuple[Any, Path | None]:
    """Read a CSV/TSV file (every cell as text) or copy a DataFrame.

    Parameters
    ----------
    source : str, PathLike or pandas.DataFrame
        ``.tsv``/``.tab`` files are tab-separated, ``.csv`` comma-separated, anything else
        sniffed (``.gz``/``.bz2``/``.xz``/``.zip`` compression is handled).
    sep : str, optional
        Column separator, overriding the guess.

    Returns
    -------
    (DataFrame, Path or None)
        The table and the file it came from.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source.reset_index(drop=True).copy(), None
    path = Path(os.fspath(source))
    if not path.is_file():
        raise TableError(f"{path}: no such table file")
    name = path.name.lower()
    for ext in (".gz", ".bz2", ".xz", ".zip"):
        name = name.removesuffix(ext)
    if sep is None:
        sep = "\t" if name.endswith((".tsv", ".tab")) else "," if name.endswith(".csv") else None
    try:
        df = pd.read_csv(
            path,
            sep=sep,
            engine="python" if sep is None else "c",
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except Exception as exc:  # pandas parser errors of many kinds
        raise TableError(f"{path}: cannot read the table: {exc}") from exc
    return df, path


def parse_residue(value: Any) -> tuple[int, str]:
    """``"52A"`` → ``(52, "A")``; ``52`` / ``"52"`` / ``52.0`` → ``(52, "")``.

    Raises
    ------
    ValueError
        If the value is not a residue number with an optional one-letter insertion code.
    """
    if isinstance(value, bool):
        raise ValueError(f"residue {value!r} is not a residue number")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"residue {value!r} is not an integer residue number")
        return int(value), ""
    m = _RESIDUE_RE.fullmatch(str(value))
    if not m:
        raise ValueError(
            f"residue {value!r} is not a residue number with an optional insertion code "
            "(e.g. 52 or 52A)"
        )
    return int(m.group(1)), m.group(2)


def parse_chains(value: Any, kind: str) -> Any:
    """Chain column text → ``chain_ids``: ``"A"`` (srv); ``"A,B"`` / ``"H+L,A"`` (ppi)."""
    text = str(value).strip()
    if not text:
        raise ValueError("no chain given")
    if kind == "srv":
        if "," in text or "+" in text:
            raise ValueError(f"a single-residue variant needs exactly one chain, got {text!r}")
        return text
    return query_chain_ids(text)


def _resolve(base: Path, value: Any) -> str:
    p = Path(os.path.expanduser(str(value).strip()))
    return str(p if p.is_absolute() else base / p)


def _parse_pssms(text: str, base: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in re.split(r"[;,]", text):
        if not part.strip():
            continue
        chain, eq, path = part.partition("=")
        if not eq or not chain.strip() or not path.strip():
            raise ValueError(f"PSSM entries must look like CHAIN=FILE, got {part.strip()!r}")
        out[chain.strip()] = _resolve(base, path)
    return out


def _target_map(
    df: Any, used: set[str], target_columns: Any, where: str
) -> tuple[dict[str, str], list[str]]:
    """(column → target name, ignored non-numeric columns)."""
    columns = [str(c) for c in df.columns]
    if target_columns is None:
        free = [c for c in columns if c not in used]
        chosen = {c: c for c in free if _is_numeric_column(df[c])}
        return chosen, [c for c in free if c not in chosen]
    if isinstance(target_columns, str):
        target_columns = [target_columns]
    if isinstance(target_columns, Mapping):
        chosen = {str(k): str(v) for k, v in target_columns.items()}
    else:
        chosen = {str(c): str(c) for c in target_columns}
    absent = [c for c in chosen if c not in columns]
    if absent:
        raise TableError(
            f"{where}: target column(s) {absent} not in the table (columns: {columns})"
        )
    clash = [c for c in chosen if c in used]
    if clash:
        raise TableError(f"{where}: column(s) {clash} are query fields and cannot be targets")
    return chosen, [c for c in columns if c not in used and c not in chosen]


@dataclass
class ParsedTable:
    """A table with its columns mapped to query fields and targets (see :func:`parse_table`).

    Attributes
    ----------
    rows : list of RowQuery
        One per table row, with ``values`` (query fields and ``targets``) or ``error``; no
        queries yet.
    label : str
        The table's file name (``"table"`` for a DataFrame), used in failure ids.
    where : str
        The table's path (or ``"table"``), used in error messages.
    fields : set of str
        The query fields the table has columns for.
    targets : dict of str to str
        Target column → target name.
    """

    rows: list[RowQuery]
    label: str
    where: str
    fields: set[str]
    targets: dict[str, str]


def parse_table(
    source: Any,
    *,
    kind: str | None = None,
    columns: Mapping[str, str] | None = None,
    target_columns: Sequence[str] | Mapping[str, str] | str | None = None,
    base_dir: str | os.PathLike | None = None,
    sep: str | None = None,
    missing_targets: str = "error",
    require: Sequence[str] = ("pdb_path",),
    complete: bool = True,
) -> ParsedTable:
    """Read a table and parse every row's query fields and targets (no queries are made).

    Parameters
    ----------
    source, kind, columns, target_columns, base_dir, sep, missing_targets
        As :meth:`QueryCollection.from_table`.
    require : sequence of str
        Fields the table must have a column for (at least one of them).
    complete : bool
        Rows must give every field their query kind needs (False for joins, where absent
        fields match anything).

    Raises
    ------
    TableError
        For the table as a whole.
    """
    from deeprank_like.query.base import _KINDS

    if missing_targets not in ("error", "omit"):
        raise TableError(f"missing_targets must be 'error' or 'omit', got {missing_targets!r}")
    if kind is not None and kind not in _KINDS:
        raise TableError(f"kind must be one of {sorted(_KINDS)} or None, got {kind!r}")
    df, path = read_table(source, sep=sep)
    where = str(path) if path is not None else "table"
    label = path.name if path is not None else "table"
    base = Path(base_dir) if base_dir is not None else (path.parent if path else Path.cwd())

    # ---- map the table's columns to query fields -----------------------------------
    user = {str(k): _norm(v) for k, v in (columns or {}).items()}
    for col, target in user.items():
        if col not in map(str, df.columns):
            raise TableError(
                f"{where}: mapped column {col!r} not in the table ({list(df.columns)})"
            )
        if target not in _ALIAS and not target.startswith("pssm_"):
            raise TableError(
                f"{where}: column {col!r} mapped to unknown field {target!r}; "
                f"fields: {sorted(QUERY_COLUMNS)}"
            )
    field_of: dict[str, str] = {}  # table column → canonical field (or pssm_<chain>)
    for col in map(str, df.columns):
        name = user.get(col, _norm(col))
        if name in _ALIAS:
            canon = _ALIAS[name]
        elif name.startswith("pssm_") and len(name) > 5:
            original = str(columns[col]) if col in user else col  # type: ignore[index]
            canon = "pssm_" + original[5:].strip()
        else:
            continue
        if canon in field_of.values() and not canon.startswith("pssm_"):
            other = next(c for c, f in field_of.items() if f == canon)
            raise TableError(f"{where}: columns {other!r} and {col!r} both give {canon!r}")
        field_of[col] = canon
    present = set(field_of.values())
    if require and not present & set(require):
        names = " or ".join(repr(r) for r in require)
        raise TableError(
            f"{where}: no structure column; name one {names} (or map yours with "
            f"columns={{'<your column>': '{require[0]}'}}); columns: {list(df.columns)}"
        )
    if "residue" in present and "variant_residue_number" in present:
        raise TableError(f"{where}: give 'residue' or 'variant_residue_number', not both")
    default_kind = kind
    if default_kind is None and "kind" not in present:
        default_kind = "srv" if present & _SRV_COLUMNS else "ppi"
    targets, ignored = _target_map(df, set(field_of), target_columns, where)
    if ignored:
        log.info("%s: column(s) %s are neither query fields nor targets; ignored", where, ignored)

    rows: list[RowQuery] = []
    for i, record in enumerate(df.to_dict("records")):
        item = RowQuery(row=i)
        rows.append(item)
        try:
            item.values = _row_fields(record, field_of, default_kind, base, complete)
        except (DeeprankLikeError, ValueError, TypeError, KeyError) as exc:
            item.error = exc
            continue
        try:
            item.values["targets"] = _row_targets(record, targets, missing_targets)
        except (ValueError, TypeError, KeyError) as exc:
            item.error = item.target_error = exc
    fields_present = {"pssm_paths" if f.startswith("pssm_") else f for f in present}
    if "residue" in fields_present:
        fields_present = (fields_present - {"residue"}) | {"variant_residue_number"}
    return ParsedTable(rows, label, where, fields_present, targets)


def table_queries(
    source: Any,
    *,
    kind: str | None = None,
    columns: Mapping[str, str] | None = None,
    target_columns: Sequence[str] | Mapping[str, str] | str | None = None,
    base_dir: str | os.PathLike | None = None,
    sep: str | None = None,
    check_structures: bool = True,
    missing_targets: str = "error",
    defaults: Mapping[str, Any] | None = None,
) -> tuple[list[RowQuery], str]:
    """Turn every row of a table into a query, or into the reason it cannot be one.

    Parameters are those of :meth:`QueryCollection.from_table`.

    Returns
    -------
    (list of RowQuery, str)
        One item per row, in table order, and a short label of the table (its file name, or
        ``"table"``) used in failure ids.
    """
    from dataclasses import fields

    from deeprank_like.query.base import _KINDS

    valid = {f.name for cls in _KINDS.values() for f in fields(cls)} - {"pdb_path"}
    unknown = sorted(set(defaults or {}) - valid)
    if unknown:
        raise TypeError(
            f"unknown query field(s) {unknown} given as defaults; valid: {sorted(valid)}"
        )
    table = parse_table(
        source,
        kind=kind,
        columns=columns,
        target_columns=target_columns,
        base_dir=base_dir,
        sep=sep,
        missing_targets=missing_targets,
    )
    cache = _StructureCache() if check_structures else None
    # Check the rows of one structure together (each structure is read once), keep table order.
    # A row whose only fault is its target is checked too: the query's own error (missing
    # structure, residue not found, ...) is the one to report; the target error stays otherwise.
    order = sorted(
        (item for item in table.rows if item.error is None or item.error is item.target_error),
        key=lambda item: (str(item.values.get("pdb_path")), str(item.values.get("model", 0))),
    )
    for item in order:
        try:
            query = _make_query(item.values, defaults or {})
            check_query(query, cache)
        except (DeeprankLikeError, ValueError, TypeError, KeyError) as exc:
            item.error = exc
            item.query = None
            continue
        if item.target_error is None:
            item.query = query
    return table.rows, table.label


def _row_fields(
    record: Mapping[str, Any],
    field_of: Mapping[str, str],
    default_kind: str | None,
    base: Path,
    complete: bool = True,
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    pssms: dict[str, str] = {}
    raw = {canon: record[col] for col, canon in field_of.items()}
    kind = default_kind
    if "kind" in raw and not _missing(raw["kind"]):
        kind = str(raw["kind"]).strip().lower()
    if kind not in ("ppi", "srv"):
        raise ValueError(f"kind must be 'ppi' or 'srv', got {raw.get('kind')!r}")
    values["kind"] = kind
    for canon, value in raw.items():
        if canon == "kind" or _missing(value):
            continue
        if canon in _PATH_COLUMNS:
            values[canon] = _resolve(base, value)
        elif canon == "chain_ids":
            values[canon] = parse_chains(value, kind)
        elif canon == "residue":
            number, icode = parse_residue(value)
            values["variant_residue_number"] = number
            if icode:
                values["insertion_code"] = icode
        elif canon == "variant_residue_number":
            values[canon] = _int(value, "residue number")
        elif canon == "insertion_code":
            text = str(value).strip()
            if len(text) > 1:
                raise ValueError(f"insertion code must be one character, got {value!r}")
            values[canon] = text
        elif canon in ("wildtype_amino_acid", "variant_amino_acid"):
            values[canon] = str(value).strip()
        elif canon == "pssm_paths":
            pssms.update(_parse_pssms(str(value), base))
        elif canon.startswith("pssm_"):
            pssms[canon[5:]] = _resolve(base, value)
        elif canon in ("influence_radius", "max_edge_length"):
            values[canon] = _number(value)
        elif canon == "model":
            values[canon] = _int(value, "model")
        elif canon in ("include_hydrogens", "suppress_pssm_errors"):
            values[canon] = _bool(value, canon)
        elif canon == "resolution":
            values[canon] = str(value).strip().lower()
        else:  # model_id, entry_id
            values[canon] = str(value).strip()
    if pssms:
        values["pssm_paths"] = pssms
    if not complete:
        return values
    if "pdb_path" not in values:
        raise ValueError("no structure file given (empty pdb_path)")
    if "chain_ids" not in values:
        raise ValueError("no chain given (empty chain_ids)")
    if kind == "srv":
        for key, what in (
            ("variant_residue_number", "residue"),
            ("wildtype_amino_acid", "wild type"),
            ("variant_amino_acid", "variant"),
        ):
            if key not in values:
                raise ValueError(
                    f"a single-residue variant needs a {what} (column empty or absent)"
                )
    return values


def _row_targets(
    record: Mapping[str, Any], targets: Mapping[str, str], missing: str
) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for col, name in targets.items():
        value = record[col]
        if _missing(value):
            if missing == "omit":
                continue
            raise ValueError(f"target {name!r} (column {col!r}) is empty")
        try:
            number = _target_value(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"target {name!r} (column {col!r}) is not a number: {value!r}"
            ) from None
        if not math.isfinite(number):
            raise ValueError(f"target {name!r} (column {col!r}) is not finite: {value!r}")
        out[name] = number
    return out


def _make_query(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> Any:
    from deeprank_like.query.base import _KINDS

    cls = _KINDS[values["kind"]]
    data = {**defaults, **{k: v for k, v in values.items() if k not in ("kind", "entry_id")}}
    if values["kind"] == "ppi":
        stray = sorted(set(data) & _SRV_COLUMNS)
        if stray:
            raise ValueError(f"a ppi query takes no {stray} (did you mean kind 'srv'?)")
    elif "reference_path" in data:
        raise ValueError("a single-residue variant takes no reference_path")
    merged_targets = {**dict(defaults.get("targets") or {}), **values.get("targets", {})}
    data["targets"] = merged_targets
    return cls(**data)
