"""Several items of a :class:`~deeprank_like.data.packed.PackedGraphDataset` at once.

A DataLoader with automatic batching asks a dataset that has ``__getitems__`` for the whole
batch in one call (``torch.utils.data``'s fetcher). Item by item, a residue graph of the
benchmark costs about 0.3 ms of Python and numpy calls (four reads, the column selection,
the standardisation, the stable sort of the 2E directed edges, the ``Data``), most of it fixed
per call rather than per value. :func:`get_many` does each step once for the batch:

* one ``pread`` per array for every run of consecutive entries
  (:meth:`~deeprank_like.storage.packed.PackedFile.read_entries`);
* the column selection and the standardisation on the concatenated rows (elementwise
  subtraction and division: the same float32 results as per item);
* one stable sort of all directed edges of the batch by (destination, source) in batch node
  numbers: the node ranges of the items are disjoint and increasing, so the sorted order is
  item after item, each in the order its own sort gives;
* per item only the ``Data`` of views into those arrays.

Items are the same, value for value, as :meth:`PackedGraphDataset.get` (tested). Named
transforms and Python callables are applied per item, on the item's own rows, exactly as
``get`` does (a callable need not be elementwise). A non-finite value sends the batch through
``get`` item by item, which raises naming the entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch_geometric.data import Data

from deeprank_like.data.packed_workers import _set_worker_strategy, _worker_strategy_pending
from deeprank_like.errors import StorageError, TrainingError

if TYPE_CHECKING:
    from deeprank_like.data.packed import PackedGraphDataset

__all__ = ["get_many"]


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _features(
    ds: PackedGraphDataset,
    stored: np.ndarray,
    offsets: np.ndarray,
    kind: str,
    entries: list[str],
) -> np.ndarray:
    """Selected (and transformed) feature columns of every row, as ``ds._features`` per item."""
    if kind == "node":
        cols, names, widths = ds._node_cols, ds.node_features, ds.node_widths
    else:
        cols, names, widths = ds._edge_cols, ds.edge_features, ds.edge_widths
    if not ds.transforms and stored.dtype == np.float32:
        return stored if cols is None else np.ascontiguousarray(stored[:, cols])
    parts = [
        ds._features(
            stored[offsets[i] : offsets[i + 1]],
            cols,
            names,
            widths,
            kind,
            f"{ds.path}: entry {entry!r}",
        )
        for i, entry in enumerate(entries)
    ]
    return np.concatenate(parts)


def _edge_order(
    edge_index: np.ndarray, node_off: np.ndarray, edge_counts: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Both directions of every edge, sorted per item by (destination, source), stable.

    Parameters
    ----------
    edge_index : numpy.ndarray
        (sum E, 2) local node numbers, the items' edges one after the other.
    node_off : numpy.ndarray
        (B + 1,) node offsets of the items in the batch.
    edge_counts : numpy.ndarray
        (B,) edges of each item.

    Returns
    -------
    edge_indices : list of numpy.ndarray
        Per item its (2, 2 E_i) int64 edge_index (local node numbers), C-contiguous.
    rows : numpy.ndarray
        (2 sum E,) the ``edge_index`` / edge-feature row of every sorted directed edge.

    Notes
    -----
    ``GraphDataset`` sorts ``concatenate([src, dst])`` of one item (its E edges, then the same
    reversed) stably. Here all forward edges of the batch come first, then all reversed ones,
    in batch node numbers: the node ranges of the items are disjoint and increasing, so the
    sorted order is item after item, and within an item the ties keep the same relative
    order (forward before reversed, each in stored order) as the per-item sort.
    """
    total = int(edge_index.shape[0])
    src = edge_index[:, 0].astype(np.int64)
    dst = edge_index[:, 1].astype(np.int64)
    base = np.repeat(node_off[:-1], edge_counts)
    gsrc, gdst = src + base, dst + base
    nodes = max(int(node_off[-1]), 1)
    key = np.concatenate([gdst * nodes + gsrc, gsrc * nodes + gdst])
    order = np.argsort(key, kind="stable")
    both_src = np.concatenate([src, dst]).take(order)
    both_dst = np.concatenate([dst, src]).take(order)
    rows = order - total * (order >= total)
    cut = (2 * np.cumsum(edge_counts)).tolist()
    edge_indices = [
        np.stack(pair)
        for pair in zip(np.split(both_src, cut[:-1]), np.split(both_dst, cut[:-1]), strict=True)
    ]
    return edge_indices, rows


def get_many(ds: PackedGraphDataset, positions: list[int]) -> list[Data]:
    """Items ``positions`` of ``ds`` (positions as :meth:`PackedGraphDataset.get` takes them).

    Parameters
    ----------
    ds : PackedGraphDataset
    positions : list of int
        Item numbers in ``0 .. len(ds._items) - 1`` (repeats allowed).

    Returns
    -------
    list of torch_geometric.data.Data
        The items, equal value for value to ``[ds.get(i) for i in positions]``.
    """
    if ds.worker_sharing_strategy and _worker_strategy_pending():
        _set_worker_strategy(ds.worker_sharing_strategy)
    if not positions:
        return []
    pos = np.asarray(positions, dtype=np.int64)
    if pos.min() < 0 or pos.max() >= len(ds._items):
        raise IndexError(f"item numbers out of range 0..{len(ds._items) - 1}: {positions}")
    keys = ds._items[pos]
    arrays = ds.packed.read_entries(keys)
    ids = ds.packed.entry_ids
    entries = [ids[int(k)] for k in keys]
    node_counts, edge_counts = arrays["node_counts"], arrays["edge_counts"]
    node_off, edge_off = _offsets(node_counts), _offsets(edge_counts)
    try:
        x = _features(ds, arrays["node_features"], node_off, "node", entries)
        if ds.edge_features:
            ea = _features(ds, arrays["edge_features"], edge_off, "edge", entries)
        else:
            ea = np.zeros((int(edge_off[-1]), 0), dtype=np.float32)
    except (StorageError, TrainingError):
        return [ds.get(int(i)) for i in positions]  # raises naming the entry
    xs, xd, es, ed = ds._scales()
    if xs is not None:
        x = (x - xs.numpy()) / xd.numpy()
        if es is not None:
            ea = ds._edge_scale(ea, es, ed)  # flat: faster than a broadcast of few columns
    edge_indices, rows = _edge_order(arrays["edge_index"], node_off, edge_counts)
    edge_attr = ea.take(rows, axis=0)
    x_t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    ea_t = torch.from_numpy(edge_attr)
    pos_t = torch.from_numpy(arrays["positions"])
    out = []
    for i, entry in enumerate(entries):
        n0, n1 = int(node_off[i]), int(node_off[i + 1])
        e0, e = int(edge_off[i]), int(edge_counts[i])
        data = Data(
            x=x_t[n0:n1],
            edge_index=torch.from_numpy(edge_indices[i]),
            edge_attr=ea_t[2 * e0 : 2 * e0 + 2 * e],
            pos=pos_t[n0:n1],
            entry_id=entry,
        )
        y = ds._target_tensor(ds._target_of(int(pos[i])), entry)
        if y is not None:
            data.y = y
        out.append(data)
    return out
