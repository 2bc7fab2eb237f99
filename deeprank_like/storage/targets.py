"""Add or replace target values of existing entries from a table, without refeaturising.

A row of the table is joined to entries in one of two ways:

* **by entry id**: the table has an ``entry_id`` (or ``query_id``) column holding entry ids as
  ``deeprank-like inspect`` lists them (e.g. ``residue-srv:A:25:Glycine->Alanine:101M``);
* **by query fields** otherwise: every query field the table has a column for (``pdb_path``,
  ``kind``, ``chain_ids``, ``residue``, ``wildtype``, ``variant``, ``resolution``, ``model``,
  ``model_id``; names and formats as in ``docs/tables.md``) must equal the entry's stored query;
  fields without a column match anything. ``pdb_path`` matches when both name the same file
  after resolving (relative table paths against the table's folder, stored paths against the
  current directory) or, when no entry has that file, when the file names are equal (files
  featurised on another machine). Interface sides match in any order (``A,B`` = ``B,A``) and
  amino acids in any code (``G`` = ``GLY``).

A row may match several entries (e.g. a ``pdb_path``-only table labels every entry of that
structure); a row matching none is reported, as is a row with a bad value. Entries with an
integrity checksum are verified before and re-sealed after the change.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage.schema import (
    ATTR_FEATURE_COUNTS,
    ATTR_FEATURE_SPECS,
    ATTR_QUERY,
    TARGETS,
)

__all__ = ["AddTargetsResult", "add_targets"]

log = logging.getLogger(__name__)

#: Query fields compared in a join on query fields.
JOIN_FIELDS = (
    "kind",
    "pdb_path",
    "chain_ids",
    "variant_residue_number",
    "insertion_code",
    "wildtype_amino_acid",
    "variant_amino_acid",
    "resolution",
    "model",
    "model_id",
)


@dataclass
class AddTargetsResult:
    """What :func:`add_targets` did.

    Attributes
    ----------
    path : str
        The feature file.
    join : {"entry_id", "query"}
        How rows were matched to entries.
    entries : int
        Entries that received at least one value.
    values : int
        Target values written (entries × targets).
    targets : list of str
        Target names written.
    replaced : int
        Values that replaced an existing value of the same name.
    unmatched : list of (int, str)
        Rows (0-based) that matched no entry, with the reason.
    invalid : list of (int, str)
        Rows with a bad value (unparsable field, empty or non-numeric target), with the reason.
    conflicts : list of (int, str)
        Rows whose entries an earlier row of the table already set (the first row wins).
    """

    path: str
    join: str
    entries: int = 0
    values: int = 0
    targets: list[str] = field(default_factory=list)
    replaced: int = 0
    unmatched: list[tuple[int, str]] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    conflicts: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every row was used."""
        return not (self.unmatched or self.invalid or self.conflicts)

    def line(self) -> str:
        """One-line summary."""
        problems = [
            f"{len(x)} {word}"
            for x, word in (
                (self.unmatched, "rows matched no entry"),
                (self.invalid, "rows invalid"),
                (self.conflicts, "rows conflicting"),
            )
            if x
        ]
        tail = f"; {', '.join(problems)}" if problems else ""
        return (
            f"{self.values} values of {len(self.targets)} target(s) {self.targets} written to "
            f"{self.entries} entries of {self.path} (joined on {self.join}, "
            f"{self.replaced} replaced){tail}"
        )

    def __str__(self) -> str:
        return self.line()


def _real(path: str) -> str:
    return os.path.realpath(Path(os.path.expanduser(path)))


def _chain_key(chain_ids: Any, kind: str | None) -> Any:
    """Srv: the chain; ppi: the set of sides (each a set of chains), so order does not count."""
    items = [chain_ids] if isinstance(chain_ids, str) else list(chain_ids)
    if kind == "srv":
        return str(items[0]) if len(items) == 1 else None
    return frozenset(frozenset([s] if isinstance(s, str) else map(str, s)) for s in items)


def _aa(value: Any) -> int | None:
    from deeprank_like.domain.aminoacids import amino_acid_index

    try:
        return amino_acid_index(str(value))
    except ValueError:
        return None


def _entry_keys(query: Mapping[str, Any]) -> dict[str, Any]:
    kind = query.get("kind")
    keys: dict[str, Any] = {"kind": kind}
    for name in ("resolution", "model", "model_id", "variant_residue_number"):
        if name in query:
            keys[name] = query[name]
    if "insertion_code" in query or kind == "srv":
        keys["insertion_code"] = (query.get("insertion_code") or "").strip()
    if "chain_ids" in query:
        keys["chain_ids"] = _chain_key(query["chain_ids"], kind)
    for name in ("wildtype_amino_acid", "variant_amino_acid"):
        if name in query:
            keys[name] = _aa(query[name])
    return keys


def _row_keys(values: Mapping[str, Any], fields_present: set[str]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    kind = values.get("kind")
    if "kind" in fields_present:
        keys["kind"] = kind
    for name in ("resolution", "model", "model_id", "variant_residue_number"):
        if name in values:
            keys[name] = values[name]
    if "variant_residue_number" in values:
        keys["insertion_code"] = (values.get("insertion_code") or "").strip()
    if "chain_ids" in values:
        keys["chain_ids"] = _chain_key(values["chain_ids"], kind)
    for name in ("wildtype_amino_acid", "variant_amino_acid"):
        if name in values:
            code = _aa(values[name])
            if code is None:
                raise ValueError(f"{name}: unknown amino acid {values[name]!r}")
            keys[name] = code
    return keys


def _target_spec(name: str, value: int | float, source: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "target",
        "width": 1,
        "unit": "-",
        "description": f"added from {source}",
        "dtype": "int64" if isinstance(value, int) else "float64",
        "module": "",
    }


def add_targets(
    path: str | os.PathLike,
    table: Any,
    *,
    target_columns: Sequence[str] | Mapping[str, str] | str | None = None,
    columns: Mapping[str, str] | None = None,
    kind: str | None = None,
    base_dir: str | os.PathLike | None = None,
    sep: str | None = None,
    overwrite: bool = False,
    missing_targets: str = "omit",
    dry_run: bool = False,
) -> AddTargetsResult:
    """Add target values from a table to the existing entries of a feature file.

    Parameters
    ----------
    path : str or PathLike
        A feature file (``process`` output or a merged file); changed in place.
    table : str, PathLike or pandas.DataFrame
        CSV/TSV file or DataFrame with an ``entry_id`` column, or query-field columns (see the
        module docstring and ``docs/tables.md``), plus target columns.
    target_columns : list of str, dict of str to str, str, optional
        Columns to add (a dict renames: column → target name). Default: every column that is
        not a join field and holds only numbers. Integer columns are stored as int64 (class
        labels), others as float64.
    columns : dict of str to str, optional
        Your column name → field name, e.g. ``{"id": "entry_id"}``.
    kind : {"ppi", "srv"}, optional
        Only join entries of this kind.
    base_dir : str or PathLike, optional
        Folder of relative ``pdb_path`` values; default the table's folder.
    sep : str, optional
        Column separator, overriding the guess from the suffix.
    overwrite : bool
        Replace values of targets an entry already has. Without it, any such value is an
        error and nothing is written.
    missing_targets : {"omit", "error"}
        An empty target cell writes nothing for that entry (default) or makes the row invalid.
    dry_run : bool
        Match and report, write nothing.

    Returns
    -------
    AddTargetsResult

    Raises
    ------
    StorageError
        The file cannot be opened for writing or is locked by a running writer; a value
        would replace an existing one without ``overwrite``; an entry fails its integrity
        check.
    TableError
        The table has no join column, or a requested column does not exist.
    """
    from deeprank_like.query.table import TableError, parse_table
    from deeprank_like.storage.entries import stored_id
    from deeprank_like.storage.files import json_attr, open_h5, write_summary
    from deeprank_like.storage.integrity import CHECKSUM_ATTR, check_entry, entry_checksum
    from deeprank_like.storage.lock import OutputLock
    from deeprank_like.storage.reader import complete_entry_names

    path = os.fspath(path)
    if not Path(path).is_file():
        raise StorageError(f"{path}: no such file")
    parsed = parse_table(
        table,
        kind=kind,
        columns=columns,
        target_columns=target_columns,
        base_dir=base_dir,
        sep=sep,
        missing_targets=missing_targets,
        require=("entry_id", "pdb_path", "chain_ids", "variant_residue_number", "model_id"),
        complete=False,
    )
    if not parsed.targets:
        raise TableError(f"{parsed.where}: no target columns (give target_columns)")
    join = "entry_id" if "entry_id" in parsed.fields else "query"
    result = AddTargetsResult(path=path, join=join, targets=sorted(set(parsed.targets.values())))
    lock = contextlib.nullcontext() if dry_run else OutputLock(path, "targets add")
    with lock, open_h5(path, "r" if dry_run else "a") as f:
        names = complete_entry_names(f)
        entries: dict[str, dict[str, Any]] = {}
        by_id: dict[str, str] = {}
        by_real: dict[str, list[str]] = {}
        by_base: dict[str, list[str]] = {}
        for name in names:
            group = f[name]
            qid = stored_id(group, name)
            query = json_attr(group, ATTR_QUERY, {}) or {}
            if kind is not None and query.get("kind") != kind:
                continue
            by_id[qid] = name
            entries[name] = _entry_keys(query)
            pdb = query.get("pdb_path")
            if pdb:
                by_real.setdefault(_real(str(pdb)), []).append(name)
                by_base.setdefault(Path(str(pdb)).name, []).append(name)

        # ---- match rows to entries -------------------------------------------------
        plan: dict[str, dict[str, Any]] = {}  # entry name → target → value
        set_by: dict[tuple[str, str], int] = {}
        for item in parsed.rows:
            if item.error is not None:
                result.invalid.append((item.row, str(item.error)))
                continue
            values = item.values
            try:
                matched = _match(values, parsed.fields, join, entries, by_id, by_real, by_base)
            except ValueError as exc:
                result.invalid.append((item.row, str(exc)))
                continue
            if not matched:
                result.unmatched.append((item.row, _describe_row(values, join)))
                continue
            taken = [(n, t) for n in matched for t in values["targets"] if (n, t) in set_by]
            if taken:
                n, t = taken[0]
                result.conflicts.append(
                    (item.row, f"{t!r} of {stored_id(f[n], n)} already set by row "
                     f"{set_by[(n, t)]}")
                )  # fmt: skip
                continue
            for n in matched:
                for t, v in values["targets"].items():
                    plan.setdefault(n, {})[t] = v
                    set_by[(n, t)] = item.row

        # ---- check, then write ------------------------------------------------------
        existing = [(n, t) for n, vals in plan.items() for t in vals if t in f[n].get(TARGETS, {})]
        if existing and not overwrite:
            n, t = existing[0]
            raise StorageError(
                f"{path}: {len(existing)} value(s) would replace existing targets (e.g. {t!r} "
                f"of {stored_id(f[n], n)}); pass overwrite=True (--overwrite) to replace them"
            )
        result.replaced = len(existing)
        for n in plan:
            if CHECKSUM_ATTR in f[n].attrs:
                check = check_entry(f[n])
                if not check.ok:
                    raise StorageError(
                        f"{path}: entry {stored_id(f[n], n)} fails its integrity check "
                        f"({check.reason}); nothing written. Run 'deeprank-like inspect "
                        "--verify' and recompute it"
                    )
        result.entries = len(plan)
        result.values = sum(len(v) for v in plan.values())
        if dry_run:
            return result
        source = parsed.label
        root_specs = json_attr(f, ATTR_FEATURE_SPECS, {}) or {}
        counts = json_attr(f, ATTR_FEATURE_COUNTS, {}) or {}
        for n, vals in plan.items():
            group = f[n]
            tg = group.require_group(TARGETS)
            specs = json_attr(group, ATTR_FEATURE_SPECS, {}) or {}
            for t, v in vals.items():
                if t in tg:
                    del tg[t]
                else:
                    counts[t] = int(counts.get(t, 0)) + 1
                tg.create_dataset(t, data=np.int64(v) if isinstance(v, int) else np.float64(v))
                specs[t] = _target_spec(t, v, source)
                root_specs.setdefault(t, specs[t])
            group.attrs[ATTR_FEATURE_SPECS] = json.dumps(specs, sort_keys=True)
            if CHECKSUM_ATTR in group.attrs:
                group.attrs[CHECKSUM_ATTR] = entry_checksum(group)
        write_summary(f, root_specs, counts)
        f.flush()
    if result.unmatched:
        log.warning("%s: %d table rows matched no entry", path, len(result.unmatched))
    return result


def _match(
    values: Mapping[str, Any],
    fields_present: set[str],
    join: str,
    entries: Mapping[str, Mapping[str, Any]],
    by_id: Mapping[str, str],
    by_real: Mapping[str, list[str]],
    by_base: Mapping[str, list[str]],
) -> list[str]:
    if join == "entry_id":
        entry = values.get("entry_id")
        if not entry:
            raise ValueError("empty entry_id")
        return [by_id[entry]] if entry in by_id else []
    keys = _row_keys(values, fields_present)
    pdb = values.get("pdb_path")
    if pdb:
        candidates = by_real.get(os.path.realpath(pdb)) or by_base.get(Path(pdb).name, [])
    else:
        candidates = list(entries)
    if not keys and not pdb:
        raise ValueError("no join field given in this row")
    return [n for n in candidates if all(entries[n].get(k) == v for k, v in keys.items())]


def _describe_row(values: Mapping[str, Any], join: str) -> str:
    if join == "entry_id":
        return f"no entry {values.get('entry_id')!r}"
    shown = {
        k: values[k]
        for k in JOIN_FIELDS
        if k in values and (k != "kind" or "variant_residue_number" in values)
    }
    return f"no entry with {shown}"
