"""Tables (pandas) of what a :class:`~deeprank_like.data.GraphDataset` reads: per entry, node or edge.

The body of :meth:`GraphDataset.to_pandas <deeprank_like.data.GraphDataset.to_pandas>`; node
identifiers come from the entries through :mod:`deeprank_like.storage.entries`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from deeprank_like.errors import StorageError
from deeprank_like.storage.entries import open_entry, read_node_ids

if TYPE_CHECKING:
    from deeprank_like.data.graph_dataset import GraphDataset

__all__ = ["graph_table", "node_id_columns"]

#: Node identifier columns of residue graphs (atom graphs add ``atom_name``).
ID_FIELDS = ("chain", "residue_number", "insertion_code", "residue_name")


def graph_table(ds: GraphDataset, level: str = "entry", transformed: bool = False) -> pd.DataFrame:
    """Features and targets of every item of ``ds`` as a table (see ``GraphDataset.to_pandas``)."""
    if level not in ("entry", "node", "edge"):
        raise ValueError(f"level must be 'entry', 'node' or 'edge', got {level!r}")
    frames = []
    for i in range(len(ds._items)):
        key = ds._items[i]
        raw = ds._load(i) if transformed else ds._read_raw(key)
        target = raw["target"]
        head: dict[str, Any] = {"file": ds.files[key[0]], "entry": raw["entry"]}
        if ds.target is not None:
            head[ds.target] = target if target is None or np.ndim(target) == 0 else list(target)
        if level == "entry":
            head["num_nodes"] = raw["x"].shape[0]
            head["num_edges"] = raw["edge_attr"].shape[0]
            frames.append(pd.DataFrame([head]))
            continue
        ids = node_id_columns(ds, key, raw["x"].shape[0])
        if level == "node":
            values, columns = raw["x"], ds.node_columns
            if transformed:
                values = ds.get(i).x.numpy()
            ident = {"node": np.arange(len(values)), **ids}
        else:
            values, columns = raw["edge_attr"], ds.edge_columns
            if transformed:
                _, _, es, ed = ds._scales()
                if es is not None:
                    values = (values - es.numpy()) / ed.numpy()
            ei = np.asarray(raw["edge_index"], dtype=np.int64).reshape(2, -1)
            ident = {}
            for end, rows in (("1", ei[0]), ("2", ei[1])):
                ident[f"node_{end}"] = rows
                for name, column in ids.items():
                    ident[f"{name}_{end}"] = column[rows]
        frame = pd.DataFrame(values, columns=columns)
        for k, v in reversed(list(ident.items())):
            frame.insert(0, k, v)
        for k, v in reversed(head.items()):
            frame.insert(0, k, [v] * len(frame))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def node_id_columns(ds: GraphDataset, key: tuple, rows: int) -> dict[str, np.ndarray]:
    """chain, residue_number, insertion_code, residue_name (and atom_name) per node of an item.

    Raises
    ------
    StorageError
        The entry has no node identifiers, or not one per node.
    """
    where = f"{ds.files[key[0]]}: entry {ds._entry_ids[key[:2]]!r}"
    try:
        ids = read_node_ids(open_entry(ds._handles.get(key[0]), key[1]))
    except KeyError:
        raise StorageError(f"{where} has no node_ids") from None
    if ids.shape[0] != rows:
        raise StorageError(
            f"{where}: node_ids has {ids.shape[0]} rows for {rows} nodes; the entry is damaged"
        )
    out: dict[str, np.ndarray] = {}
    fields = [*ID_FIELDS, "atom_name"] if ds.resolution == "atom" else list(ID_FIELDS)
    names = ids.dtype.names or ()
    for name in fields:
        if name not in names:
            continue
        column = ids[name]
        if column.dtype.kind == "S":
            column = np.char.decode(column, "utf-8").astype(object)
        elif column.dtype.kind in "iu":
            column = column.astype(np.int64)
        out[name] = column
    return out
