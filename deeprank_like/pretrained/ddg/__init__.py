"""The shipped protein-stability (ΔΔG) model and the variant-table helpers around it.

Sign convention: **ΔΔG = ΔG_unfold(variant) − ΔG_unfold(wild type), in kcal/mol; negative =
destabilising** (the ProTherm sign). The Kortemme-Lab benchmark tables use the opposite sign
(positive = destabilising); :mod:`scripts/ddg_benchmark.py` flips it when it reads them.

A variant table has one row per substitution with the columns

``pdb_path``
    Structure file (PDB/mmCIF, optionally gzipped); relative paths resolve against ``base_dir``.
``chain``
    Chain id of the mutated residue.
``residue``
    Residue number with optional insertion code (``52``, ``52A``, ``-3``).
``wildtype``, ``variant``
    One- or three-letter amino-acid codes (or names).

>>> import pandas as pd
>>> from deeprank_like.pretrained import predict_ddg
>>> table = pd.DataFrame({"pdb_path": ["1crn.pdb"], "chain": ["A"], "residue": ["25"],
...                       "wildtype": ["A"], "variant": ["G"]})
>>> predict_ddg(table)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deeprank_like.errors import DeeprankLikeError
from deeprank_like.query import SingleResidueVariantQuery
from deeprank_like.query.table import parse_residue  # re-exported: one residue parser

__all__ = [
    "TABLE_COLUMNS",
    "VariantRows",
    "ddg_featurizers",
    "graph_to_data",
    "load_ddg_model",
    "parse_residue",
    "predict_ddg",
    "variant_queries",
]

#: Columns every variant table needs.
TABLE_COLUMNS: tuple[str, ...] = ("pdb_path", "chain", "residue", "wildtype", "variant")


@dataclass
class VariantRows:
    """Queries made from a variant table, and the rows that could not become one.

    Attributes
    ----------
    rows : list of int
        Table index of each query, in query order.
    queries : list of SingleResidueVariantQuery
    failures : pandas.DataFrame
        Columns ``row`` (table index) and ``reason`` (one line).
    """

    rows: list[Any] = field(default_factory=list)
    queries: list[SingleResidueVariantQuery] = field(default_factory=list)
    failures: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"row": pd.Series(dtype=object), "reason": pd.Series(dtype=object)}
        )
    )

    def reasons(self) -> pd.Series:
        """Count of failed rows per reason category (the reason up to its first ':')."""
        if self.failures.empty:
            return pd.Series(dtype=int)
        return self.failures["reason"].astype(str).str.split(":").str[0].value_counts()


def _check_columns(table: pd.DataFrame) -> None:
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise DeeprankLikeError(
            f"variant table lacks column(s) {missing}; needed: {list(TABLE_COLUMNS)}, "
            f"found: {list(table.columns)}"
        )


def variant_queries(
    table: pd.DataFrame,
    *,
    base_dir: str | os.PathLike | None = None,
    targets: dict[str, str] | None = None,
    missing_targets: str = "error",
    **query_kwargs: Any,
) -> VariantRows:
    """Turn a variant table into single-residue-variant queries, checked against the structures.

    The rows go through :meth:`deeprank_like.query.QueryCollection.from_table` (every
    structure is read once). A row that cannot become a query (missing file, unknown chain,
    residue not found, non-standard residue, wild type that does not match the structure,
    variant equal to the wild type, unknown amino-acid code, missing target) is recorded in
    ``failures`` with a reason that starts with its category (``"wild type mismatch: ..."``,
    counted by :meth:`VariantRows.reasons`); it never stops the others. A row is checked
    against its structure before its target, so a row with both faults reports the structural
    one; without ``targets`` (prediction) the ΔΔG column is never needed. A repeated row gets a
    renamed copy of its query (``model_id`` ``"<stem>_2"``), as in any ``QueryCollection``.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns :data:`TABLE_COLUMNS`; the others are ignored unless named in ``targets``.
    base_dir : path, optional
        Directory that relative ``pdb_path`` values are relative to (default: the current one).
    targets : dict of str to str, optional
        Target name → column; the value is stored in ``query.targets``. Optional: prediction
        needs none.
    missing_targets : {"error", "omit"}
        A row whose target cell is empty fails as ``"missing target"`` (``"error"``, after its
        query checked out) or keeps its query without that target (``"omit"``).
    **query_kwargs
        Passed to :class:`~deeprank_like.query.SingleResidueVariantQuery` (e.g. ``resolution``).

    Returns
    -------
    VariantRows
    """
    from deeprank_like.query import QueryCollection

    _check_columns(table)
    targets = targets or {}
    frame = table[list(dict.fromkeys([*TABLE_COLUMNS, *targets.values()]))]
    made = QueryCollection.from_table(
        frame,
        kind="srv",
        target_columns={column: name for name, column in targets.items()},
        base_dir=Path(base_dir) if base_dir is not None else Path.cwd(),
        missing_targets=missing_targets,
        **query_kwargs,
    )
    position = made.table_rows
    out = VariantRows(
        rows=[table.index[position[q.get_query_id()]] for q in made],
        queries=list(made),
    )
    out.failures = pd.DataFrame(
        {
            "row": pd.Series([table.index[f["row"]] for f in made.failures], dtype=object),
            "reason": pd.Series([_reason(f) for f in made.failures], dtype=object),
        }
    )
    return out


#: Failure category → pattern of the message :meth:`QueryCollection.from_table` gives (first
#: match wins); ``tests/core/test_ddg_variant_queries.py`` covers every one.
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("missing structure", r"no structure file given|^structure file .* not found"),
    ("unreadable structure", r"^StructureError:"),
    ("bad residue", r"^residue .* is not (a|an integer) residue number"),
    ("unknown amino-acid code", r"(wildtype|variant)_amino_acid: unknown amino acid"),
    ("variant equals wild type", r"equals wildtype_amino_acid|variant equals wild type"),
    ("chain not found", r": chain .* not found in |no chain given"),
    ("residue not found", r": residue .* not found in "),
    ("non-standard residue", r"is not a standard amino acid"),
    ("wild type mismatch", r": wild type .* does not match residue"),
    ("missing target", r"^target .* \(column .*\) is"),
)


def _reason(failure: dict[str, Any]) -> str:
    """``"<category>: <message>"`` for a :attr:`QueryCollection.failures` item."""
    message = str(failure["message"])
    typed = f"{failure['exc_type']}: {message}"
    for category, pattern in _CATEGORIES:
        if re.search(pattern, message) or re.search(pattern, typed):
            return f"{category}: {message}"
    return f"invalid row: {message}"


# ---- graphs → tensors -----------------------------------------------------------------------


def _columns(values: dict[str, np.ndarray], names: list[str], rows: int, what: str) -> np.ndarray:
    cols = []
    for name in names:
        if name not in values:
            raise DeeprankLikeError(f"graph lacks {what} feature {name!r}")
        v = np.asarray(values[name], dtype=np.float32)
        cols.append(v.reshape(rows, -1))
    return np.concatenate(cols, axis=1) if cols else np.zeros((rows, 0), np.float32)


def graph_to_data(
    graph: Any, node_features: list[str], edge_features: list[str], target: str | None = None
) -> Any:
    """A PyG ``Data`` of a graph, with the named features in the given order.

    Parameters
    ----------
    graph : deeprank_like.graph.Graph
    node_features, edge_features : list of str
        Feature names; multi-column features contribute all their columns, in order.
    target : str, optional
        Name in ``graph.targets`` stored as ``y`` (1, 1) float32.

    Returns
    -------
    torch_geometric.data.Data
        ``x`` (N, F) float32, ``edge_index`` (2, 2E) int64 (both directions),
        ``edge_attr`` (2E, Fe) float32, ``entry_id`` and optionally ``y``.
    """
    import torch
    from torch_geometric.data import Data

    n = int(graph.num_nodes)
    x = _columns(graph.node_features, node_features, n, "node")
    ei = np.asarray(graph.edge_index, dtype=np.int64)
    e = _columns(graph.edge_features, edge_features, ei.shape[1], "edge")
    edge_index = np.concatenate([ei, ei[::-1]], axis=1)
    edge_attr = np.concatenate([e, e], axis=0)
    data = Data(
        x=torch.from_numpy(np.ascontiguousarray(x)),
        edge_index=torch.from_numpy(np.ascontiguousarray(edge_index)),
        edge_attr=torch.from_numpy(np.ascontiguousarray(edge_attr)),
    )
    data.entry_id = graph.id
    if target is not None:
        data.y = torch.tensor([[float(graph.targets[target])]], dtype=torch.float32)
    return data


# ---- the shipped model ----------------------------------------------------------------------


def _default_dir() -> Path:
    return Path(str(resources.files("deeprank_like.pretrained.ddg")))


def load_ddg_model(directory: str | os.PathLike | None = None) -> tuple[Any, dict[str, Any]]:
    """Load the stability model: ``(network in eval mode, metadata dict)``.

    Parameters
    ----------
    directory : path, optional
        Folder with ``model.json`` and ``model.pt`` (default: the one shipped in the package).

    Raises
    ------
    DeeprankLikeError
        If a file is missing or does not describe a network.
    """
    import torch

    from deeprank_like.nn import build_model

    folder = Path(directory) if directory is not None else _default_dir()
    meta_path, weights_path = folder / "model.json", folder / "model.pt"
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise DeeprankLikeError(f"ΔΔG model file {p} not found")
    try:
        meta = json.loads(meta_path.read_text())
        network, config = meta["network"], meta["config"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise DeeprankLikeError(f"{meta_path}: not a ΔΔG model description ({exc})") from exc
    model = build_model(network, config)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model, meta


def ddg_featurizers(meta: dict[str, Any]) -> list[Any]:
    """The feature modules of a ΔΔG model's ``model.json``, ``contact`` with its force field.

    ``contact`` becomes ``Contact(forcefield_version=v)`` with ``v`` the top-level
    ``forcefield_version`` of ``model.json``, 1 when absent: every model written before versioned
    force-field tables (the shipped one included) was trained on version 1 (see
    :func:`deeprank_like.domain.forcefield.load_forcefield`).

    Parameters
    ----------
    meta : dict
        The content of ``model.json`` (``feature_modules``, optional ``forcefield_version``).

    Returns
    -------
    list
        Module names, and a :class:`~deeprank_like.features.contact.Contact` instance.

    Raises
    ------
    DeeprankLikeError
        ``forcefield_version`` is not 1 or 2.
    """
    from deeprank_like.domain.forcefield import check_forcefield_version
    from deeprank_like.features.contact import Contact

    try:
        version = check_forcefield_version(
            meta.get("forcefield_version", 1), "ΔΔG model.json forcefield_version"
        )
    except ValueError as exc:
        raise DeeprankLikeError(str(exc)) from None
    return [
        Contact(forcefield_version=version) if name == "contact" else name
        for name in meta["feature_modules"]
    ]


def predict_ddg(
    table: pd.DataFrame,
    *,
    model_dir: str | os.PathLike | None = None,
    base_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Predict the stability change of each substitution in a variant table.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns :data:`TABLE_COLUMNS` (more are kept).
    model_dir : path, optional
        A model folder (default: the shipped model).
    base_dir : path, optional
        Directory relative ``pdb_path`` values resolve against (default: current directory).
    batch_size : int
        Graphs per forward pass.

    Returns
    -------
    pandas.DataFrame
        The table with ``predicted_ddg`` (kcal/mol, negative = destabilising; NaN where no
        prediction) and ``reason`` (empty, or why the row could not be predicted).
    """
    import torch
    from torch_geometric.data import Batch

    model, meta = load_ddg_model(model_dir)
    modules = ddg_featurizers(meta)
    made = variant_queries(table, base_dir=base_dir, **meta.get("query", {}))
    out = table.copy()
    out["predicted_ddg"] = np.nan
    out["reason"] = ""
    for row, reason in zip(made.failures["row"], made.failures["reason"], strict=True):
        out.at[row, "reason"] = reason
    datas, rows = [], []
    for row, query in zip(made.rows, made.queries, strict=True):
        try:
            graph = query.build(modules)
            datas.append(graph_to_data(graph, meta["node_features"], meta["edge_features"]))
            rows.append(row)
        except DeeprankLikeError as exc:
            out.at[row, "reason"] = f"features failed: {exc}"
    with torch.no_grad():
        for i in range(0, len(datas), batch_size):
            batch = Batch.from_data_list(datas[i : i + batch_size])
            pred = model(batch)[:, 0].numpy().astype(np.float64)
            for row, value in zip(rows[i : i + batch_size], pred, strict=True):
                out.at[row, "predicted_ddg"] = float(value)
    return out
