"""`GridDataset`: 3D feature grids from feature files.

Every stored grid of an entry (``grids/000`` unrotated, ``grids/001``… augmented copies; see
:mod:`deeprank_like.storage.grids`) is one item sharing the entry's target, so augmentation
multiplies the training items; :func:`~deeprank_like.data.split_dataset` always keeps the grids
of one entry in the same split.

An item is a :class:`GridData` with ``x`` (C, nx, ny, nz) float32 — collated to
(B, C, nx, ny, nz) — ``y`` (as :class:`~deeprank_like.data.GraphDataset`), ``entry_id`` and
``grid_number``.
"""

from __future__ import annotations

import inspect
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from deeprank_like.data.base import HDF5Dataset, check_finite
from deeprank_like.data.data_config import is_names
from deeprank_like.data.deeprank2_compat import check_dataset_kwargs
from deeprank_like.data.transforms import apply_transform
from deeprank_like.errors import StorageError
from deeprank_like.storage.entries import open_entry
from deeprank_like.storage.grids import grid_channels, grid_indices, read_grid_array

__all__ = ["GridData", "GridDataset"]

_CHANNEL = re.compile(r"^(?P<base>.+)_(?P<col>\d{3})$")


class GridData(Data):
    """``Data`` whose ``x`` is stacked (new batch dimension) instead of concatenated."""

    def __cat_dim__(self, key: str, value: Any, *args: Any, **kwargs: Any) -> Any:
        if key == "x":
            return None
        return super().__cat_dim__(key, value, *args, **kwargs)


def base_feature(channel: str, known: set[str] | None = None) -> str:
    """Feature name of a channel: ``res_type_003`` → ``res_type``; ``res_charge`` → itself."""
    if known is not None and channel in known:
        return channel
    m = _CHANNEL.match(channel)
    return m.group("base") if m else channel


class GridDataset(HDF5Dataset):
    """Grids of one or more HDF5 feature files.

    Parameters
    ----------
    hdf5_path, subset, train_source, target, task, classes, in_memory, transform
        As :class:`~deeprank_like.data.GraphDataset`.
    features : "all" or list of str
        Feature names (``res_type`` selects ``res_type_000``…``res_type_019``) or exact channel
        names, in the order given; ``"all"``: the channels stored in every file, in the first
        file's order (the others are named in a warning). Unknown names raise StorageError
        listing the available features.
    augment : bool
        Include the augmented (rotated) grids as extra items (default); False: ``grids/000`` only.
    transforms : dict of str to transform
        Per feature (all its channels) or per channel.
    standardize : bool or list of str
        Per-channel mean/std over all voxels of the training items (features or channels).
    **deeprank2_kwargs
        DeepRank2's other arguments, as for :class:`~deeprank_like.data.GraphDataset`.
    """

    kind = "grid"

    def __init__(
        self,
        hdf5_path: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        subset: Iterable[str] | None = None,
        train_source: Any = None,
        features: str | Sequence[str] | None = "all",
        augment: bool = True,
        target: str | None = None,
        task: str | None = None,
        classes: Sequence[Any] | None = None,
        transforms: Mapping[str, Any] | None = None,
        standardize: bool | Sequence[str] | None = None,
        features_transform: Mapping[str, Any] | None = None,
        in_memory: bool = False,
        transform: Callable | None = None,
        **deeprank2_kwargs: Any,
    ) -> None:
        if deeprank2_kwargs:
            check_dataset_kwargs(
                type(self).__name__,
                deeprank2_kwargs,
                list(inspect.signature(type(self).__init__).parameters)[1:-1],
            )
        self._requested = features
        self._augment_arg = bool(augment)
        super().__init__(
            hdf5_path,
            subset=subset,
            train_source=train_source,
            target=target,
            task=task,
            classes=classes,
            transforms=transforms,
            standardize=standardize,
            features_transform=features_transform,
            in_memory=in_memory,
            transform=transform,
        )
        self._scale_cache: tuple | None = None

    # ---- features ------------------------------------------------------------------------------
    def _stored_channels(self, fi: int, name: str) -> tuple[list[str], tuple[int, ...]]:
        return grid_channels(self._handles.get(fi), name)

    def _setup_features(self, entries: list[tuple[int, str, str]], config: dict | None) -> None:
        if not entries:
            raise StorageError(f"no complete entries in {self.files}")
        firsts: dict[int, str] = {}
        for fi, name, _ in entries:
            firsts.setdefault(fi, name)
        if config is not None:
            self.channels = list(config["channels"])
            self.features = list(config["features"])
            self.grid_shape = tuple(int(n) for n in config["grid_shape"])
            self.augment = self._augment_arg
        else:
            fi0, name0 = entries[0][0], entries[0][1]
            stored, shape = self._stored_channels(fi0, name0)
            if self._requested is None or self._requested == "all":
                # the channels of every file (as GraphDataset): the file order never matters
                others = [self._stored_channels(fi, n)[0] for fi, n in firsts.items() if fi != fi0]
                common = [c for c in stored if all(c in o for o in others)]
                dropped = sorted(
                    {base_feature(c) for o in [stored, *others] for c in o}
                    - {base_feature(c) for c in common}
                )
                if dropped:
                    warnings.warn(
                        f"features='all' selects the grid features stored in every file; "
                        f"{dropped} are left out (not in every file). Name the features to "
                        f"silence this",
                        UserWarning,
                        stacklevel=4,
                    )
                stored = common
            self.channels, self.features = self._select(self._requested, stored, self.files[fi0])
            self.grid_shape = shape
            self.augment = self._augment_arg
        self._channel_index: dict[int, np.ndarray | None] = {}
        for fi, name in firsts.items():
            stored, shape = self._stored_channels(fi, name)
            missing = [c for c in self.channels if c not in stored]
            if missing:
                raise StorageError(
                    f"{self.files[fi]}: grid channels {missing[:5]} missing; available features: "
                    f"{sorted({base_feature(c) for c in stored})}"
                )
            if shape != self.grid_shape:
                raise StorageError(
                    f"{self.files[fi]}: grid shape {shape} differs from the expected {self.grid_shape}"
                )
            index = np.array([stored.index(c) for c in self.channels], dtype=np.int64)
            whole = len(index) == len(stored) and bool((index == np.arange(len(stored))).all())
            self._channel_index[fi] = None if whole else index

    def _config_checks(self) -> dict[str, tuple[Any, str]]:
        def shape_ok(v: Any) -> bool:
            return (
                isinstance(v, list)
                and len(v) == 3
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in v)
            )

        return {
            "features": (is_names, "a list of feature names"),
            "channels": (is_names, "a list of channel names"),
            "grid_shape": (shape_ok, "three positive integers"),
        }

    @staticmethod
    def _select(requested: Any, stored: list[str], path: str) -> tuple[list[str], list[str]]:
        if requested is None or requested == "all":
            features: list[str] = []
            for c in stored:
                b = base_feature(c)
                if b not in features:
                    features.append(b)
            return list(stored), features
        if isinstance(requested, str):
            requested = [requested]
        channels: list[str] = []
        for name in requested:
            found = [
                c for c in stored if c == name or (_CHANNEL.match(c) and base_feature(c) == name)
            ]
            if not found:
                raise StorageError(
                    f"{path}: unknown grid feature {name!r}; available features: "
                    f"{sorted({base_feature(c) for c in stored})}"
                )
            channels += [c for c in found if c not in channels]
        return channels, list(requested)

    def _build_items(self, entries: list[tuple[int, str, str]]) -> list[tuple]:
        items = []
        for fi, name, _ in entries:
            if not self.augment:
                items.append((fi, name, 0))
                continue
            indices = grid_indices(self._handles.get(fi), name)
            if not indices:
                raise StorageError(f"{self.files[fi]}: entry {name!r} holds no grids")
            items += [(fi, name, i) for i in indices]
        self._handles.close()
        return items

    def feature_names(self) -> list[str]:
        """Selected features and channels (transform/standardise keys)."""
        return list(dict.fromkeys(list(self.features) + list(self.channels)))

    def _feature_config(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "channels": list(self.channels),
            "grid_shape": list(self.grid_shape),
        }

    @property
    def num_channels(self) -> int:
        """C."""
        return len(self.channels)

    def item_info(self, idx: int) -> dict[str, Any]:
        """``{"file", "entry", "grid_number"}`` of item ``idx``."""
        info = super().item_info(idx)
        info["grid_number"] = self._items[idx][2]
        return info

    # ---- reading -------------------------------------------------------------------------------
    def _transform_for(self, channel: str) -> Any:
        return self.transforms.get(channel, self.transforms.get(base_feature(channel)))

    def _read_item(self, f: Any, key: tuple) -> dict[str, Any]:
        fi, name, gidx = key
        entry = self._entry_ids[(fi, name)]
        group = open_entry(f, name)
        try:
            grid = read_grid_array(group, gidx)
        except KeyError:
            raise StorageError(f"entry {entry!r} has no grid {gidx:03d}") from None
        if fi not in self._channel_index:
            self._channel_index[fi] = None
        index = self._channel_index[fi]
        x = grid if index is None else grid[index]
        x = np.ascontiguousarray(x, dtype=np.float32)
        where = f"{self.files[fi]}: entry {entry!r}, grid {gidx:03d}"
        self._check_channels(x, where, "")
        if self.transforms:
            x = x.astype(np.float64)
            for c, channel in enumerate(self.channels):
                spec = self._transform_for(channel)
                if spec is not None:
                    x[c] = apply_transform(spec, x[c], channel)
            self._check_channels(x, where, " after its transform")
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                x = x.astype(np.float32)
            self._check_channels(x, where, " after its transform (float32 overflow)")
        target = self._read_target(group, where)
        self._targets_cache.setdefault((fi, name), target)
        return {"x": x, "target": target, "entry": entry, "grid_number": gidx}

    def _check_channels(self, x: np.ndarray, where: str, stage: str) -> None:
        if np.isfinite(x).all():
            return
        for c, channel in enumerate(self.channels):
            check_finite(x[c], where, f"grid channel {channel!r}{stage}")

    def _resolve_standardize(self, standardize: Any) -> list[str]:
        chosen = super()._resolve_standardize(standardize)
        # store per channel: a feature name stands for all its channels
        out: list[str] = []
        for name in chosen:
            channels = [c for c in self.channels if c == name or base_feature(c) == name]
            out += [c for c in channels if c not in out]
        return out

    def _stat_columns(self, raw: dict[str, Any]) -> dict[str, np.ndarray]:
        x = raw["x"]
        return {c: x[i].reshape(-1) for i, c in enumerate(self.channels) if c in self.standardize}

    def _scales(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        stats = self.standardizer
        if stats is None:
            return None, None
        if self._scale_cache is not None and self._scale_cache[0] is stats:
            return self._scale_cache[1:]
        shift = np.zeros(len(self.channels), dtype=np.float32)
        div = np.ones(len(self.channels), dtype=np.float32)
        for i, c in enumerate(self.channels):
            if c in stats:
                s, d = stats.scale(c)
                shift[i], div[i] = s[0], d[0]
        view = (-1, 1, 1, 1)
        self._scale_cache = (
            stats,
            torch.from_numpy(shift).view(view),
            torch.from_numpy(div).view(view),
        )
        return self._scale_cache[1:]

    def get(self, idx: int) -> GridData:
        """Item ``idx``: ``x`` (C, nx, ny, nz)."""
        raw = self._load(idx)
        x = torch.from_numpy(raw["x"])
        shift, div = self._scales()
        if shift is not None:
            x = (x - shift) / div
        data = GridData(x=x, entry_id=raw["entry"], grid_number=raw["grid_number"], num_nodes=1)
        y = self._target_tensor(raw["target"], raw["entry"])
        if y is not None:
            data.y = y
        return data

    def to_pandas(self, level: str = "entry") -> pd.DataFrame:
        """One row per item: file, entry, grid_number, target and each channel's mean value."""
        if level != "entry":
            raise ValueError("GridDataset.to_pandas supports level='entry' only")
        rows = []
        for i in range(len(self._items)):
            key = self._items[i]
            raw = self._load(i)
            row: dict[str, Any] = {
                "file": self.files[key[0]],
                "entry": raw["entry"],
                "grid_number": key[2],
            }
            if self.target is not None:
                t = raw["target"]
                row[self.target] = t if t is None or np.ndim(t) == 0 else list(t)
            for c, channel in enumerate(self.channels):
                row[f"mean_{channel}"] = float(raw["x"][c].mean())
            rows.append(row)
        return pd.DataFrame(rows)
