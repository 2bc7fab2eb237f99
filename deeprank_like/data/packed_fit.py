"""Standardisation of a :class:`~deeprank_like.data.packed.PackedGraphDataset`: fit and scales.

The statistics are fitted on the training items in ``GraphDataset``'s order, so they are the
same to the last bit; :func:`scales` turns them into the shift/divisor vectors of an item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from deeprank_like.data.graph_dataset import graph_stat_columns
from deeprank_like.data.transforms import RunningStats, Standardizer

if TYPE_CHECKING:
    from deeprank_like.data.packed import PackedGraphDataset

__all__ = ["edge_scale", "fit_per_feature", "fit_standardizer", "fit_vectorised", "scales"]


def fit_standardizer(ds: PackedGraphDataset) -> Standardizer:
    """Fit the standardisation of ``ds.standardize`` on the items of ``ds`` (as ``GraphDataset``).

    Parameters
    ----------
    ds : PackedGraphDataset
        The training dataset.

    Returns
    -------
    Standardizer
        Per-feature mean and standard deviation, identical to ``GraphDataset``'s.
    """
    shared = set(ds.node_features) & set(ds.edge_features) & set(ds.standardize)
    if shared:  # a name both node and edge feature: stacked per entry, the general path
        return fit_per_feature(ds)
    return fit_vectorised(ds)


def fit_per_feature(ds: PackedGraphDataset) -> Standardizer:
    """Entry by entry and feature by feature, as ``GraphDataset`` (identical statistics)."""
    running: dict[str, RunningStats] = {}
    for i in range(len(ds._items)):
        for name, values in graph_stat_columns(ds, ds._raw(i)).items():
            if name in ds.standardize:
                if name not in running:
                    running[name] = RunningStats(values.shape[1] if values.ndim > 1 else 1)
                running[name].update(values)
    return Standardizer.from_running(running)


def fit_vectorised(ds: PackedGraphDataset) -> Standardizer:
    """The same statistics, bit for bit, with a few array operations per entry.

    ``RunningStats.update`` per feature computes the entry's column sums, then merges
    them (Chan) into the running values. The merge is elementwise, so one merge over all
    columns gives each column the same bits. The sums are reproduced in the same
    summation order: a one-column feature (rows, 1) is summed pairwise as a contiguous
    1-D run (here: rows of the transposed one-column features), a wider one row after
    row (here: the wider features side by side, summed over axis 0). The tests compare
    the result with GraphDataset's to the last bit.
    """
    plans: list[tuple[str, np.ndarray, np.ndarray, list[int], list[str]]] = []
    for kind, names, widths in (
        ("x", ds.node_features, ds.node_widths),
        ("edge_attr", ds.edge_features, ds.edge_widths),
    ):
        narrow: list[int] = []
        wide: list[int] = []
        owners: list[str] = []
        col = 0
        for name in names:
            w = widths[name]
            if name in ds.standardize:
                if w == 1:
                    narrow.append(col)
                else:
                    wide.extend(range(col, col + w))
            col += w
        # accumulator columns: the one-column features first, then the wide ones
        order = narrow + wide
        for name in names:
            if name in ds.standardize:
                owners.append(name)
        plans.append(
            (kind, np.asarray(narrow, np.int64), np.asarray(wide, np.int64), order, owners)
        )
    accumulators = [RunningStats(len(plan[3])) for plan in plans]
    for i in range(len(ds._items)):
        raw = ds._raw(i)
        for (kind, narrow_cols, wide_cols, _, _), acc in zip(plans, accumulators, strict=True):
            matrix = raw[kind]
            rows = matrix.shape[0]
            if rows == 0 or not acc.count.size:
                continue
            n_b = np.full(acc.count.size, float(rows))
            means, m2s = [], []
            if narrow_cols.size:
                v = np.ascontiguousarray(matrix[:, narrow_cols].T, dtype=np.float64)
                mean = v.sum(axis=1) / float(rows)
                means.append(mean)
                m2s.append(((v - mean[:, None]) ** 2).sum(axis=1))
            if wide_cols.size:
                v = np.ascontiguousarray(matrix[:, wide_cols], dtype=np.float64)
                mean = v.sum(axis=0) / float(rows)
                means.append(mean)
                m2s.append(((v - mean) ** 2).sum(axis=0))
            block = RunningStats(acc.count.size)
            block.count, block.mean, block.m2 = n_b, np.concatenate(means), np.concatenate(m2s)
            if not np.isfinite(block.mean).all():  # NaN rows: the per-feature rules apply
                return fit_per_feature(ds)
            acc.merge(block)
    running: dict[str, RunningStats] = {}
    for (kind, _, _, order, owners), acc in zip(plans, accumulators, strict=True):
        widths = ds.node_widths if kind == "x" else ds.edge_widths
        names = ds.node_features if kind == "x" else ds.edge_features
        start_of, col = {}, 0
        for name in names:
            start_of[name] = col
            col += widths[name]
        position = {c: k for k, c in enumerate(order)}
        for name in owners:
            idx = [position[c] for c in range(start_of[name], start_of[name] + widths[name])]
            r = RunningStats(widths[name])
            r.count, r.mean, r.m2 = acc.count[idx], acc.mean[idx], acc.m2[idx]
            running[name] = r
    return Standardizer.from_running(running)


def scales(ds: PackedGraphDataset) -> tuple:
    """The standardisation as shift and divisor vectors, cached on the dataset.

    Returns
    -------
    tuple
        ``(x_shift, x_div, edge_shift, edge_div)``: float32 tensors of shape (F,) and (Fe,),
        or None where nothing is standardised.
    """
    stats = ds.standardizer
    if stats is None:
        return None, None, None, None
    if ds._shift_cache is not None and ds._shift_cache[0] is stats:
        return ds._shift_cache[1:]

    def vectors(names: list[str], widths: dict[str, int]) -> tuple:
        if not names:
            return None, None
        shift, div = [], []
        for n in names:
            if n in stats:
                s, d = stats.scale(n)
                shift.append(np.broadcast_to(s, widths[n]))
                div.append(np.broadcast_to(d, widths[n]))
            else:
                shift.append(np.zeros(widths[n]))
                div.append(np.ones(widths[n]))
        return (
            torch.from_numpy(np.concatenate(shift).astype(np.float32)),
            torch.from_numpy(np.concatenate(div).astype(np.float32)),
        )

    xs, xd = vectors(ds.node_features, ds.node_widths)
    es, ed = vectors(ds.edge_features, ds.edge_widths)
    ds._shift_cache = (stats, xs, xd, es, ed)
    return xs, xd, es, ed


def edge_scale(
    ds: PackedGraphDataset, ea: np.ndarray, es: torch.Tensor, ed: torch.Tensor
) -> np.ndarray:
    """``(ea - es) / ed`` per column, as flat float32 arithmetic.

    The values are the broadcast's, which numpy and torch run slowly for a handful of
    columns; the tiled shift and divisor are cached on ``ds``.

    Parameters
    ----------
    ds : PackedGraphDataset
    ea : numpy.ndarray
        (E, Fe) float32 edge features.
    es, ed : torch.Tensor
        (Fe,) float32 shift and divisor (from :func:`scales`).

    Returns
    -------
    numpy.ndarray
        (E, Fe) float32 standardised edge features.
    """
    rows, width = ea.shape
    tiled = ds.__dict__.get("_edge_tiles")
    if tiled is None or tiled[0] is not es or len(tiled[1]) < rows * width:
        reps = max(rows, 4096)
        tiled = (es, np.tile(es.numpy(), reps), np.tile(ed.numpy(), reps))
        ds.__dict__["_edge_tiles"] = tiled
    size = rows * width
    flat = (ea.reshape(-1) - tiled[1][:size]) / tiled[2][:size]
    return flat.reshape(rows, width)
