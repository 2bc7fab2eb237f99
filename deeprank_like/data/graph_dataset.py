"""`GraphDataset`: graphs from feature files as PyG ``Data`` objects.

Each item is one entry: ``x`` (N, F) float32 (the selected node features, in the given order,
multi-column features expanded), ``edge_index`` (2, 2E) int64 (both directions, sorted by
destination node then source), ``edge_attr`` (2E, Fe) float32, ``pos`` (N, 3), ``y`` (see
below) and ``entry_id`` (str).

``y``: regression → float32 (1, k) (k = 1 for scalar targets, so a batch has (B, k));
classification → int64 (1,) class index into ``classes``. Entries without the target get NaN /
-1 (allowed only in datasets with a ``train_source``: validation, test, inference).
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Data

from deeprank_like.data.base import HDF5Dataset, check_finite
from deeprank_like.data.data_config import is_names, is_widths
from deeprank_like.data.deeprank2_compat import check_dataset_kwargs
from deeprank_like.errors import StorageError
from deeprank_like.storage.entries import (
    feature_group,
    group_by_features,
    open_entry,
    read_array,
    read_edge_index,
    read_positions,
)

__all__ = ["GraphDataset", "column_names"]


def _resolution_counts(found: Mapping[str | None, list]) -> str:
    return ", ".join(
        f"{len(v)} {k or 'unknown'}-level"
        for k, v in sorted(found.items(), key=lambda kv: str(kv[0]))
    )


def _where(path: str, entry: str, count: int) -> str:
    others = f" and {count - 1} other entries like it" if count > 1 else ""
    return f"{path}: entry {entry!r}{others}"


def column_names(name: str, width: int) -> list[str]:
    """Column labels of a feature: ``name`` or ``name_000``, ``name_001``… (as grid channels)."""
    return [name] if width == 1 else [f"{name}_{i:03d}" for i in range(width)]


def _select(kind: str, requested: Any, available: dict[str, int], path: str) -> list[str]:
    if requested is None or requested == "all":
        return sorted(available)
    if isinstance(requested, str):
        requested = [requested]
    names = list(requested)
    missing = [n for n in names if n not in available]
    if missing:
        raise StorageError(
            f"{path}: unknown {kind} feature(s) {missing}; available {kind} features: "
            f"{sorted(available)}"
        )
    if len(set(names)) != len(names):
        raise StorageError(f"{kind} features listed twice: {names}")
    return names


def graph_stat_columns(ds: Any, raw: dict[str, Any]) -> dict[str, np.ndarray]:
    """Feature name → the rows that standardisation statistics count, for one graph.

    ``raw`` holds ``x`` (N, F) and ``edge_attr`` (E, Fe) as stored (one row per undirected
    edge: both directions would count each edge twice); ``ds`` gives ``node_features`` /
    ``edge_features`` and their column widths. A name that is both a node and an edge feature
    gets the node rows, then the edge rows. Shared by :class:`GraphDataset` and the packed view.
    """
    out: dict[str, np.ndarray] = {}
    col = 0
    for name in ds.node_features:
        out[name] = raw["x"][:, col : col + ds.node_widths[name]]
        col += ds.node_widths[name]
    col = 0
    for name in ds.edge_features:
        values = raw["edge_attr"][:, col : col + ds.edge_widths[name]]
        out[name] = np.vstack([out[name], values]) if name in out else values
        col += ds.edge_widths[name]
    return out


class GraphDataset(HDF5Dataset):
    """Graphs of one or more HDF5 feature files.

    Parameters
    ----------
    hdf5_path : path or list of paths
        Feature files (docs/hdf5.md).
    subset : list of str, optional
        Entry ids (or group names) to use; default all complete entries.
    train_source : GraphDataset, checkpoint path or data config, optional
        Inherit features, target, task, classes, transforms and the fitted standardisation
        (validation, test and inference sets). The arguments below are then ignored (with a
        warning when they differ).
    node_features, edge_features : "all", list of str, or [] / None
        Features by exact name, in the order given. ``"all"``: the features stored in
        *every* entry of every file, sorted (the intersection, so the file order never
        matters; features only some entries have are named in a warning). Unknown names,
        or names missing from some entries, raise StorageError naming the entries.
    resolution : {"residue", "atom"}, optional
        Use only the entries of this graph resolution. Without it, files mixing residue
        and atom entries are an error at construction.
    target : str, optional
        Name under ``targets/``; None for unlabelled data.
    task : {"regress", "classif"}, optional
        Inferred for known targets (irmsd, lrmsd, fnat, dockq → regress; binary,
        capri_class → classif).
    classes : list, optional
        Class values (classification); default [0, 1] for ``binary``, else the sorted distinct
        target values of this dataset.
    transforms : dict of str to transform
        Per-feature transform applied before standardisation: ``"log"``, ``"log1p"``,
        ``"sqrt"``, ``"abs"``, ``"signed_log1p"``, ``{"name": "clip", "min": a, "max": b}`` or
        a callable (see :mod:`deeprank_like.data.transforms`).
    standardize : bool or list of str
        Standardise all (True) or the named features with exact per-column means and
        population standard deviations of this (training) dataset; std 0 → column left as is.
    features_transform : dict, optional
        DeepRank2's form ``{name or "all": {"transform": f, "standardize": bool}}`` (a
        feature's own entry replaces the ``"all"`` one); instead of ``transforms``/``standardize``.
    in_memory : bool
        Keep every read (transformed, unstandardised) entry in memory after its first read;
        ``prepare()``/``preload()`` reads them all at once.
    transform : callable, optional
        PyG ``transform(data) -> data`` applied on access.
    **deeprank2_kwargs
        DeepRank2's ``use_tqdm``, ``root`` and ``check_integrity`` are accepted (no effect);
        ``clustering_method``, ``target_transform`` and ``target_filter`` with a value that
        would change the data are a TypeError saying what to do instead
        (:mod:`deeprank_like.data.deeprank2_compat`).
    """

    kind = "graph"

    def __init__(
        self,
        hdf5_path: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        subset: Iterable[str] | None = None,
        train_source: Any = None,
        node_features: str | Sequence[str] | None = "all",
        edge_features: str | Sequence[str] | None = "all",
        resolution: str | None = None,
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
        self._requested = (node_features, edge_features)
        if resolution not in (None, "residue", "atom"):
            raise StorageError(f"resolution must be 'residue', 'atom' or None, got {resolution!r}")
        self._resolution_arg = resolution
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
        self._shift_cache: tuple | None = None

    # ---- features ---------------------------------------------------------------------------
    def _filter_entries(
        self, entries: list[tuple[int, str, str]], config: dict | None
    ) -> list[tuple[int, str, str]]:
        """Keep the entries of one resolution; mixed resolutions without a choice are an error.

        Residue and atom graphs have different features and sizes: one network cannot take
        both, so a dataset holds one kind, decided here and not when an item is read.
        """
        wanted = self._resolution_arg
        if config is not None and config.get("resolution") is not None:
            inherited = config["resolution"]
            if wanted is not None and wanted != inherited:
                warnings.warn(
                    f"resolution={wanted!r} ignored: inherited {inherited!r} from train_source",
                    stacklevel=4,
                )
            wanted = inherited
        resolution_of = self._entry_resolution
        found: dict[str | None, list[tuple[int, str, str]]] = {}
        for entry in entries:
            found.setdefault(resolution_of.get(entry[:2]), []).append(entry)
        if wanted is not None:
            kept = found.get(wanted, [])
            if entries and not kept:
                raise StorageError(
                    f"no {wanted}-level entries in {self.files}; the entries are "
                    f"{_resolution_counts(found)}"
                )
            self.resolution: str | None = wanted
            return kept
        if len(found) > 1:
            examples = "; ".join(
                f"{res or 'unknown'}: e.g. {items[0][2]!r} in {self.files[items[0][0]]}"
                for res, items in sorted(found.items(), key=lambda kv: str(kv[0]))
            )
            raise StorageError(
                f"the files mix graph resolutions ({_resolution_counts(found)}; {examples}); "
                f"a network takes one kind of graph: pass resolution='residue' or "
                f"resolution='atom' (or subset=) to choose"
            )
        self.resolution = next(iter(found), None)
        return entries

    def _setup_features(self, entries: list[tuple[int, str, str]], config: dict | None) -> None:
        """Decide the features from every entry of every file (not from the first one).

        ``"all"`` selects the features stored in *every* entry (the intersection; the others
        are named in a warning): a network needs every column in every graph, and a feature
        missing from some entries would otherwise have to be made up (zeros look like real
        values). Names given explicitly must be in every entry.
        """
        if not entries:
            raise StorageError(f"no complete entries in {self.files}")
        groups = group_by_features(self._handles.get, entries, self._file_entry_counts)
        if config is not None:
            self._setup_from_config(config)
        else:
            req_node, req_edge = self._requested
            self.node_features, self.node_widths = self._choose(
                "node", req_node if req_node is not None else [], groups, 1
            )
            self.edge_features, self.edge_widths = self._choose(
                "edge", req_edge if req_edge is not None else [], groups, 2
            )
            if not self.node_features:
                raise StorageError("select at least one node feature")
        for members, node, edge in groups:
            fi, _, eid = members[0]
            for kind, wanted, have in (
                ("node", self.node_widths, node),
                ("edge", self.edge_widths, edge),
            ):
                missing = [n for n in wanted if n not in have]
                where = _where(self.files[fi], eid, len(members))
                if missing:
                    raise StorageError(
                        f"{where}: unknown {kind} feature(s) {missing}; available "
                        f"{kind} features: {sorted(have)}"
                    )
                bad = {n: (w, have[n]) for n, w in wanted.items() if have[n] != w}
                if bad:
                    raise StorageError(
                        f"{where}: {kind} feature widths differ from the training "
                        f"data (expected, found): {bad}"
                    )

    def _choose(
        self,
        kind: str,
        requested: Any,
        groups: list[tuple[list[tuple[int, str, str]], dict[str, int], dict[str, int]]],
        slot: int,
    ) -> tuple[list[str], dict[str, int]]:
        """Names and widths of the ``kind`` features to use (see :meth:`_setup_features`)."""
        everywhere = set.intersection(*(set(g[slot]) for g in groups))
        anywhere = set().union(*(set(g[slot]) for g in groups))
        members, first = groups[0][0], groups[0][slot]
        path = self.files[members[0][0]]
        if requested is None or requested == "all":
            names = sorted(everywhere)
            dropped = sorted(anywhere - everywhere)
            if dropped:
                lacking = [g for g in groups if not set(dropped) <= set(g[slot])]
                count = sum(len(g[0]) for g in lacking)
                fi, _, eid = lacking[0][0][0]
                warnings.warn(
                    f"{kind}_features='all' selects the {len(names)} {kind} features stored in "
                    f"every entry; {dropped} are left out: {count} of "
                    f"{sum(len(g[0]) for g in groups)} entries lack some of them (e.g. {eid!r} "
                    f"in {self.files[fi]}). Name the features to silence this, or leave those "
                    f"entries out with subset=",
                    UserWarning,
                    stacklevel=5,
                )
        else:
            names = _select(kind, requested, {n: 1 for n in anywhere}, path)
            partial = [n for n in names if n not in everywhere]
            if partial:
                lacking = [g for g in groups if not set(partial) <= set(g[slot])]
                count = sum(len(g[0]) for g in lacking)
                fi, _, eid = lacking[0][0][0]
                raise StorageError(
                    f"{kind} feature(s) {partial} are not stored in every entry: {count} "
                    f"entries lack them (e.g. {eid!r} in {self.files[fi]}); leave those "
                    f"entries out with subset=, or select features every entry has"
                )
        widths: dict[str, int] = {}
        for name in names:
            found = {g[slot][name] for g in groups}
            if len(found) > 1:
                raise StorageError(
                    f"{kind} feature {name!r} has different widths in different entries "
                    f"({sorted(found)}); the files were made with different settings"
                )
            widths[name] = first[name]
        return names, widths

    def _config_checks(self) -> dict[str, tuple[Any, str]]:
        return {
            "node_features": (is_names, "a list of feature names"),
            "edge_features": (is_names, "a list of feature names"),
            "node_widths": (is_widths, "{feature: positive width}"),
            "edge_widths": (is_widths, "{feature: positive width}"),
            "resolution": (lambda v: v in (None, "residue", "atom"), "'residue', 'atom' or null"),
        }

    def _setup_from_config(self, config: dict) -> None:
        self.node_features = list(config["node_features"])
        self.edge_features = list(config["edge_features"])
        self.node_widths = {k: int(v) for k, v in config["node_widths"].items()}
        self.edge_widths = {k: int(v) for k, v in config["edge_widths"].items()}
        for kind, names, widths in (
            ("node", self.node_features, self.node_widths),
            ("edge", self.edge_features, self.edge_widths),
        ):
            missing = [n for n in names if n not in widths]
            if missing:
                raise StorageError(f"data config: {kind} features {missing} have no width")

    def _build_items(self, entries: list[tuple[int, str, str]]) -> list[tuple]:
        return [(fi, name) for fi, name, _ in entries]

    def feature_names(self) -> list[str]:
        """Selected node and edge feature names."""
        return list(self.node_features) + [
            n for n in self.edge_features if n not in self.node_features
        ]

    def _feature_config(self) -> dict[str, Any]:
        return {
            "node_features": list(self.node_features),
            "edge_features": list(self.edge_features),
            "node_widths": dict(self.node_widths),
            "edge_widths": dict(self.edge_widths),
            "resolution": self.resolution,
        }

    @property
    def num_node_features(self) -> int:
        """Columns of ``x``."""
        return sum(self.node_widths.values())

    @property
    def num_edge_features(self) -> int:
        """Columns of ``edge_attr``."""
        return sum(self.edge_widths.values())

    @property
    def node_columns(self) -> list[str]:
        """Labels of the ``x`` columns."""
        return [c for n in self.node_features for c in column_names(n, self.node_widths[n])]

    @property
    def edge_columns(self) -> list[str]:
        """Labels of the ``edge_attr`` columns."""
        return [c for n in self.edge_features for c in column_names(n, self.edge_widths[n])]

    # ---- reading ------------------------------------------------------------------------------
    def _matrix(
        self,
        group: Any,
        names: list[str],
        widths: dict[str, int],
        rows: int,
        entry: str,
        kind: str,
        where: str = "",
    ) -> np.ndarray:
        out = np.empty((rows, sum(widths[n] for n in names)), dtype=np.float32)
        blocks: list[tuple[str, int, np.ndarray]] = []
        col = 0
        for name in names:
            try:
                values = read_array(group, name)
            except KeyError:
                raise StorageError(f"entry {entry!r} has no {kind} feature {name!r}") from None
            values = np.asarray(values, dtype=np.float64).reshape(rows, -1)
            if values.shape[1] != widths[name]:
                raise StorageError(
                    f"entry {entry!r}: {kind} feature {name!r} has {values.shape[1]} columns, "
                    f"expected {widths[name]}"
                )
            raw = values
            if name in self.transforms:
                values = self._apply_transforms(name, values)
            with np.errstate(over="ignore", invalid="ignore"):  # checked below
                out[:, col : col + widths[name]] = values
            blocks.append((name, col, raw))
            col += widths[name]
        if not np.isfinite(out).all():  # one pass; find the culprit only on failure
            for name, start, raw in blocks:
                block = out[:, start : start + widths[name]]
                if not np.isfinite(block).all():
                    check_finite(raw, where, f"{kind} feature {name!r}")
                    stage = " after its transform" if name in self.transforms else " in float32"
                    check_finite(block, where, f"{kind} feature {name!r}{stage}")
        return out

    def _read_item(self, f: Any, key: tuple) -> dict[str, Any]:
        group = open_entry(f, key[1])
        entry = self._entry_ids[key]
        ei = read_edge_index(group)
        num_edges = ei.shape[1]
        pos = read_positions(group).astype(np.float32, copy=False)
        num_nodes = pos.shape[0]
        where = f"{self.files[key[0]]}: entry {entry!r}"
        check_finite(pos, where, "positions")
        if num_edges and (int(ei.min()) < 0 or int(ei.max()) >= num_nodes):
            raise StorageError(
                f"{where}: edge_index refers to node {int(ei.min()) if ei.min() < 0 else int(ei.max())}"
                f", outside the {num_nodes} nodes; the entry is damaged"
            )
        x = self._matrix(
            feature_group(group, "node"),
            self.node_features,
            self.node_widths,
            num_nodes,
            entry,
            "node",
            where,
        )
        if self.edge_features:
            ea = self._matrix(
                feature_group(group, "edge"),
                self.edge_features,
                self.edge_widths,
                num_edges,
                entry,
                "edge",
                where,
            )
        else:
            ea = np.zeros((num_edges, 0), dtype=np.float32)
        # both directions, sorted by (destination, source): cache-friendly aggregation; kept
        # compact (one direction + int32 permutation) and expanded in get()
        both_dst = np.concatenate([ei[1], ei[0]])
        both_src = np.concatenate([ei[0], ei[1]])
        order = np.lexsort((both_src, both_dst)).astype(np.int32)
        target = self._read_target(group, where)
        self._targets_cache.setdefault(key, target)
        return {
            "x": x,
            "edge_index": ei.astype(np.int32),
            "edge_attr": ea,
            "order": order,
            "pos": pos,
            "target": target,
            "entry": entry,
        }

    def _stat_columns(self, raw: dict[str, Any]) -> dict[str, np.ndarray]:
        return graph_stat_columns(self, raw)

    def _scales(self) -> tuple:
        stats = self.standardizer
        if stats is None:
            return None, None, None, None
        if self._shift_cache is not None and self._shift_cache[0] is stats:
            return self._shift_cache[1:]

        def vectors(names: list[str], widths: dict[str, int]):
            shift, div = [], []
            for n in names:
                if n in stats:
                    s, d = stats.scale(n)
                    shift.append(np.broadcast_to(s, widths[n]))
                    div.append(np.broadcast_to(d, widths[n]))
                else:
                    shift.append(np.zeros(widths[n]))
                    div.append(np.ones(widths[n]))
            if not names:
                return None, None
            return (
                torch.from_numpy(np.concatenate(shift).astype(np.float32)),
                torch.from_numpy(np.concatenate(div).astype(np.float32)),
            )

        xs, xd = vectors(self.node_features, self.node_widths)
        es, ed = vectors(self.edge_features, self.edge_widths)
        self._shift_cache = (stats, xs, xd, es, ed)
        return xs, xd, es, ed

    def get(self, idx: int) -> Data:
        """Item ``idx`` as a PyG ``Data``."""
        raw = self._load(idx)
        x = torch.from_numpy(raw["x"])
        ei, order = raw["edge_index"], raw["order"]
        edge_index = torch.from_numpy(
            np.stack(
                [np.concatenate([ei[0], ei[1]])[order], np.concatenate([ei[1], ei[0]])[order]]
            ).astype(np.int64)
        )
        edge_attr = torch.from_numpy(np.concatenate([raw["edge_attr"], raw["edge_attr"]])[order])
        xs, xd, es, ed = self._scales()
        if xs is not None:
            x = (x - xs) / xd
            if es is not None:
                edge_attr = (edge_attr - es) / ed
        data = Data(
            x=x,
            edge_index=edge_index,
            edge_attr=edge_attr,
            pos=torch.from_numpy(raw["pos"]),
            entry_id=raw["entry"],
        )
        y = self._target_tensor(raw["target"], raw["entry"])
        if y is not None:
            data.y = y
        return data

    # ---- tables ----------------------------------------------------------------------------------
    def to_pandas(self, level: str = "entry", transformed: bool = False) -> pd.DataFrame:
        """Features and targets of every file as a table.

        Parameters
        ----------
        level : {"entry", "node", "edge"}
            ``"entry"``: one row per entry (file, entry, target, num_nodes, num_edges).
            ``"node"``: one row per node: file, entry, target, ``node`` (row index in the
            entry), ``chain``, ``residue_number``, ``insertion_code``, ``residue_name``
            (``atom_name`` too for atom graphs), then the node feature columns.
            ``"edge"``: one row per stored (one-direction) edge: file, entry, target, the
            endpoints ``node_1``/``node_2`` (node row indices) with their ``chain_1``,
            ``residue_number_1``, ``insertion_code_1``, ``residue_name_1`` (``atom_name_1``)
            and the same for ``_2``, then the edge feature columns.
        transformed : bool
            Apply the transforms and standardisation (as the network sees the values).

        Examples
        --------
        One interface, inter-chain edges only:

        >>> edges = ds.to_pandas("edge")
        >>> edges[(edges.entry == eid) & (edges.chain_1 != edges.chain_2)]
        """
        from deeprank_like.data.tables import graph_table

        return graph_table(self, level, transformed)

    def _read_raw(self, key: tuple) -> dict[str, Any]:
        saved = self.transforms
        self.transforms = {}
        try:
            return self._read_item(self._handles.get(key[0]), key)
        finally:
            self.transforms = saved
