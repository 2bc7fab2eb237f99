"""The ``grids`` group of an entry: writer and readers (arrays and attributes only).

Layout (inside one entry group, next to the graph arrays, which are never touched)::

    grids/                  attrs: layout="C,x,y,z", count, method, sigma, truncate (σ units,
                                   NaN if unused), points_counts, sizes (Å), channel_names,
                                   augmentation_seed (JSON, when written by add_grids)
        000                 (C, nx, ny, nz) float32, gzip 4, chunks (1, nx, ny, nz)
                            attrs: rotation (3,3), center (3,), x, y, z, channel_names
        001, 002, ...       augmented copies (rotated positions), same attrs

``grids/000`` is the unrotated grid (rotation = identity). A grid dataset sees every
``grids/NNN`` as one sample of the same query, sharing the entry's targets; a graph dataset
ignores the ``grids`` group.

This module knows the file, not the mapping: it takes and returns :class:`StoredGrid` records
of plain arrays. :mod:`deeprank_like.grid.hdf5` converts them to and from
:class:`~deeprank_like.grid.Grid` objects (grid imports storage, never the reverse).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage.entries import open_group, read_array
from deeprank_like.storage.schema import GRIDS

__all__ = [
    "GRIDS",
    "GRID_LAYOUT",
    "StoredGrid",
    "grid_channels",
    "grid_indices",
    "grid_key",
    "read_grid",
    "read_grid_array",
    "read_stored_grid",
    "write_grid_group",
]

#: Axis order of a stored grid.
GRID_LAYOUT = "C,x,y,z"
_STR = h5py.string_dtype(encoding="utf-8")
_UNSET: Any = object()


@dataclass(frozen=True, eq=False)
class StoredGrid:
    """One grid as stored: the arrays and attributes of ``grids/NNN`` and its group.

    Attributes
    ----------
    data : ndarray (C, nx, ny, nz) float32
    channel_names : tuple of str
        C names (``name`` or ``name_000``… per feature column).
    center : ndarray (3,), Å
    x, y, z : ndarray (nx,), (ny,), (nz,), Å
        Voxel centre coordinates along each axis.
    rotation : ndarray (3, 3)
        Rotation applied to the positions before mapping (identity for ``000``).
    method : str
        Mapping method name (``MapMethod`` member name, e.g. ``"GAUSSIAN"``).
    sigma : float
        Gaussian width (Å).
    truncate : float or None
        Gaussian truncation in σ units (None: not truncated).
    points_counts : tuple of int, optional
        Grid points per axis of the settings used (None when unknown).
    sizes : tuple of float, optional
        Grid edge lengths (Å) of the settings used.
    """

    data: np.ndarray
    channel_names: tuple[str, ...]
    center: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    rotation: np.ndarray
    method: str
    sigma: float
    truncate: float | None = None
    points_counts: tuple[int, ...] | None = None
    sizes: tuple[float, ...] | None = None


def grid_key(index: int | str) -> str:
    """Dataset name of grid ``index`` inside ``grids/`` (``0`` → ``"000"``)."""
    return index if isinstance(index, str) else f"{int(index):03d}"


def _names_attr(names: Sequence[str]) -> np.ndarray:
    return np.array(list(names), dtype=_STR)


def _decode(values: Any) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in np.ravel(values)]


def write_grid_group(
    entry_group: h5py.Group,
    grids: Sequence[StoredGrid],
    *,
    compression: str = "gzip",
    compression_opts: int | None = 4,
    shuffle: bool = False,
    augmentation_seed: Any = _UNSET,
) -> h5py.Group:
    """Write ``grids`` as ``grids/000``, ``grids/001``… under ``entry_group``.

    Parameters
    ----------
    entry_group : h5py.Group
        The query's entry group. An existing ``grids`` group is replaced; nothing else changes.
    grids : sequence of StoredGrid
        ``grids[0]`` is the unrotated grid; all share channel names and shape. The group
        attributes (method, σ, truncation, settings) are taken from ``grids[0]``.
    compression, compression_opts, shuffle : h5py filter settings
        ``gzip`` level 4 without byte shuffle by default (on 1ATN grids shuffle made files 5 %
        larger and slower); ``"lzf"`` (no opts) is ~2x faster to write and ~20 % larger.
    augmentation_seed : int or None, optional
        Recorded (as JSON) when given: the seed the rotations were drawn with.

    Returns
    -------
    h5py.Group
        The ``grids`` group.

    Raises
    ------
    StorageError
        No grids, or grids with different channels or shapes.
    """
    if not grids:
        raise StorageError("write_grid_group needs at least one grid")
    first = grids[0]
    names = tuple(first.channel_names)
    shape = np.shape(first.data)
    for g in grids:
        if tuple(g.channel_names) != names or np.shape(g.data) != shape:
            raise StorageError("all grids of an entry must have the same channels and shape")
    if GRIDS in entry_group:
        del entry_group[GRIDS]
    group = entry_group.create_group(GRIDS)
    group.attrs["layout"] = GRID_LAYOUT
    group.attrs["count"] = len(grids)
    group.attrs["method"] = str(first.method)
    group.attrs["sigma"] = float(first.sigma)
    group.attrs["truncate"] = float("nan") if first.truncate is None else float(first.truncate)
    if first.points_counts is not None and first.sizes is not None:
        group.attrs["points_counts"] = np.asarray(first.points_counts, dtype=np.int64)
        group.attrs["sizes"] = np.asarray(first.sizes, dtype=np.float64)
    group.attrs["channel_names"] = _names_attr(names)
    if augmentation_seed is not _UNSET:
        group.attrs["augmentation_seed"] = json.dumps(augmentation_seed)
    opts: dict[str, Any] = {"compression": compression, "shuffle": shuffle}
    if compression == "gzip" and compression_opts is not None:
        opts["compression_opts"] = compression_opts
    chunks = (1, *shape[1:]) if shape[0] > 0 else None
    for i, g in enumerate(grids):
        ds = group.create_dataset(
            grid_key(i),
            data=np.ascontiguousarray(g.data, dtype=np.float32),
            chunks=chunks,
            **(opts if chunks else {}),
        )
        ds.attrs["rotation"] = np.asarray(g.rotation, dtype=np.float64)
        ds.attrs["center"] = np.asarray(g.center, dtype=np.float64)
        ds.attrs["x"] = np.asarray(g.x, dtype=np.float64)
        ds.attrs["y"] = np.asarray(g.y, dtype=np.float64)
        ds.attrs["z"] = np.asarray(g.z, dtype=np.float64)
        ds.attrs["channel_names"] = _names_attr(names)
    return group


def _entry(where: h5py.Group, name: str | None) -> h5py.Group:
    return where if name is None else where[name]


def grid_indices(where: h5py.Group, name: str | None = None) -> list[int]:
    """Indices of the grids stored in an entry (``[]`` if none); 0 is the unrotated grid.

    ``where`` is the entry group, or the file when ``name`` (the entry's group name) is given.
    """
    group = _entry(where, name).get(GRIDS)
    if group is None:
        return []
    return sorted(int(k) for k in group if k.isdigit())


def grid_channels(where: h5py.Group, name: str | None = None) -> tuple[list[str], tuple[int, ...]]:
    """``(channel names, (nx, ny, nz))`` of the first stored grid of an entry.

    ``where`` is the entry group, or the file when ``name`` (the entry's group name) is given.

    Raises
    ------
    StorageError
        The entry holds no grids (naming the file and the entry).
    """
    entry_group = _entry(where, name)
    indices = grid_indices(entry_group)
    if not indices:
        name = entry_group.name.rsplit("/", 1)[-1]
        raise StorageError(
            f"{entry_group.file.filename}: entry {name!r} holds no grids "
            "(process with grid settings)"
        )
    group = entry_group[GRIDS]
    first = group[grid_key(indices[0])]
    names = _decode(first.attrs.get("channel_names", group.attrs.get("channel_names", [])))
    return names, tuple(int(n) for n in first.shape[1:])


def read_grid_array(entry: Any, index: int) -> np.ndarray:
    """(C, nx, ny, nz) stored values of grid ``index`` (entry: h5py group or low-level id).

    Raises KeyError when the entry has no such grid (or no grids).
    """
    return read_array(open_group(entry, GRIDS), grid_key(index))


def _dataset(entry_group: h5py.Group, index: int | str) -> h5py.Dataset:
    key = grid_key(index)
    group = entry_group.get(GRIDS)
    if group is None:
        raise StorageError(f"entry {entry_group.name!r} holds no grids")
    if key not in group:
        raise StorageError(
            f"entry {entry_group.name!r} has no grid {key!r} (has {sorted(group.keys())})"
        )
    return group[key]


def read_grid(entry_group: h5py.Group, index: int | str = 0) -> tuple[np.ndarray, list[str]]:
    """One stored grid: ``(channels (C, nx, ny, nz) float32, channel names)``."""
    ds = _dataset(entry_group, index)
    return ds[()].astype(np.float32, copy=False), _decode(ds.attrs["channel_names"])


def read_stored_grid(entry_group: h5py.Group, index: int | str = 0) -> StoredGrid:
    """One stored grid with its axes, centre, rotation and mapping settings."""
    ds = _dataset(entry_group, index)
    group = ds.parent
    trunc = float(group.attrs.get("truncate", float("nan")))
    has_settings = "points_counts" in group.attrs and "sizes" in group.attrs
    return StoredGrid(
        data=ds[()].astype(np.float32, copy=False),
        channel_names=tuple(_decode(ds.attrs["channel_names"])),
        center=np.asarray(ds.attrs["center"], dtype=np.float64),
        x=np.asarray(ds.attrs["x"]),
        y=np.asarray(ds.attrs["y"]),
        z=np.asarray(ds.attrs["z"]),
        rotation=np.asarray(ds.attrs["rotation"], dtype=np.float64),
        method=str(group.attrs["method"]),
        sigma=float(group.attrs["sigma"]),
        truncate=None if np.isnan(trunc) else trunc,
        points_counts=(
            tuple(int(v) for v in group.attrs["points_counts"]) if has_settings else None
        ),
        sizes=tuple(float(v) for v in group.attrs["sizes"]) if has_settings else None,
    )
