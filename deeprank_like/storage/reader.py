"""Read feature files: list entries, validate requested features, rebuild graphs."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import h5py
import numpy as np

from deeprank_like.domain.specs import FeatureSpec
from deeprank_like.errors import StorageError
from deeprank_like.storage.entries import is_complete, iter_complete_groups, stored_id
from deeprank_like.storage.files import entry_summary, json_attr, open_h5
from deeprank_like.storage.schema import (
    ATOM_INDEX,
    ATTR_CONFIG,
    ATTR_FEATURE_COUNTS,
    ATTR_FEATURE_SPECS,
    ATTR_KIND,
    ATTR_METADATA,
    ATTR_NUM_EDGES,
    ATTR_NUM_NODES,
    ATTR_QUERY,
    ATTR_RESOLUTION,
    CENTER,
    EDGE_FEATURES,
    EDGE_INDEX,
    FEATURE_GROUPS,
    GRIDS,
    NODE_FEATURES,
    NODE_IDS,
    POSITIONS,
    RESIDUE_INDEX,
    TARGETS,
    entry_name,
)
from deeprank_like.storage.writer import read_failure_rows

__all__ = [
    "FeatureFile",
    "list_entries",
    "open_feature_file",
    "read_failures",
    "read_graph",
]

_KIND_WORDS = {"node": "node feature", "edge": "edge feature", "target": "target"}


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def complete_entry_names(f: h5py.File) -> list[str]:
    """Group names of the complete entries of an open file (sorted)."""
    return [name for name, _ in iter_complete_groups(f)]


class FeatureFile:
    """A read-only view of one feature file (see docs/hdf5.md).

    Use :func:`open_feature_file` to open one with validation. Entries are addressed by
    query id. The object is a context manager; :attr:`h5` is the underlying ``h5py.File``.
    """

    def __init__(self, path: str | os.PathLike, *, repair: bool = False) -> None:
        self.path = os.fspath(path)
        self.h5 = open_h5(self.path, "r", repair=repair)
        self._names: dict[str, str] | None = None

    # ---- context / lifetime -------------------------------------------------------------
    def close(self) -> None:
        """Close the file."""
        self.h5.close()

    def __enter__(self) -> FeatureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FeatureFile({self.path!r}, entries={len(self)})"

    # ---- entries ------------------------------------------------------------------------
    @property
    def _entry_names(self) -> dict[str, str]:
        if self._names is None:
            self._names = {
                stored_id(group, name): name for name, group in iter_complete_groups(self.h5)
            }
        return self._names

    @property
    def entries(self) -> list[str]:
        """Ids of the complete entries, sorted by group name."""
        return list(self._entry_names)

    def __len__(self) -> int:
        return len(self._entry_names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __contains__(self, query_id: object) -> bool:
        return query_id in self._entry_names

    def entry(self, query_id: str) -> h5py.Group:
        """The h5py group of entry ``query_id`` (StorageError if absent or incomplete)."""
        if self._names is None:  # one entry asked for: look it up by name, not by indexing all
            direct = self._direct_entry(query_id)
            if direct is not None:
                return direct
        name = self._entry_names.get(query_id)
        if name is None:
            hint = ""
            if entry_name(query_id) in self.h5:
                hint = " (an incomplete entry of that name exists)"
            raise StorageError(f"{self.path}: no entry {query_id!r}{hint}")
        return self.h5[name]

    def _direct_entry(self, query_id: str) -> h5py.Group | None:
        """The complete group named after ``query_id`` whose ``id`` is ``query_id``, else None."""
        try:
            name = entry_name(query_id)
            obj = self.h5.get(name)
        except (ValueError, TypeError):
            return None
        if not is_complete(obj):
            return None
        return obj if stored_id(obj, name) == query_id else None

    # ---- file-level metadata ------------------------------------------------------------
    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes (``config`` decoded from JSON)."""
        out: dict[str, Any] = {}
        for key, value in self.h5.attrs.items():
            out[key] = value.decode() if isinstance(value, bytes) else value
        for key in (ATTR_CONFIG, ATTR_FEATURE_SPECS, ATTR_FEATURE_COUNTS):
            if key in out:
                out[key] = json_attr(self.h5, key, {})
        return out

    def entry_specs(self, query_id: str) -> dict[str, Any]:
        """Feature specs of one entry: name → :class:`FeatureSpec`."""
        raw = json_attr(self.entry(query_id), ATTR_FEATURE_SPECS, {}) or {}
        return {k: FeatureSpec.from_dict(v) for k, v in raw.items()}

    def _summary(self) -> tuple[dict[str, dict], dict[str, int]]:
        """(specs, counts) over complete entries; root attributes when consistent, else a scan."""
        return entry_summary(self.h5, list(self._entry_names.values()))

    @property
    def feature_specs(self) -> dict[str, Any]:
        """Specs of every feature and target in the file: name → :class:`FeatureSpec`."""
        specs, _ = self._summary()
        return {k: FeatureSpec.from_dict(v) for k, v in sorted(specs.items())}

    @property
    def feature_counts(self) -> dict[str, int]:
        """Number of entries holding each feature/target."""
        return dict(sorted(self._summary()[1].items()))

    def names(self, kind: str) -> list[str]:
        """Sorted names of the features of ``kind`` ("node", "edge" or "target")."""
        specs, _ = self._summary()
        return sorted(k for k, s in specs.items() if s.get("kind") == kind)

    def require(
        self,
        node_features: Iterable[str] | str | None = None,
        edge_features: Iterable[str] | str | None = None,
        targets: Iterable[str] | str | None = None,
    ) -> None:
        """Raise :class:`StorageError` unless every entry holds every requested name.

        The message names what is missing and what the file holds.
        """
        specs, counts = self._summary()
        n = len(self)
        problems: list[str] = []
        for kind, wanted in (("node", node_features), ("edge", edge_features), ("target", targets)):
            if wanted is None:
                continue
            names = [wanted] if isinstance(wanted, str) else list(wanted)
            word = _KIND_WORDS[kind]
            present = sorted(k for k, s in specs.items() if s.get("kind") == kind)
            missing = []
            for name in names:
                spec = specs.get(name)
                if spec is None:
                    missing.append(name)
                elif spec.get("kind") != kind:
                    other = _KIND_WORDS.get(spec.get("kind"), "feature of unknown kind")
                    problems.append(f"{name!r} is {_a(other)}, not {_a(word)}")
                elif counts.get(name, 0) < n:
                    lacking = self._entries_lacking(name)
                    problems.append(
                        f"{word} {name!r} is missing in {len(lacking)} of {n} entries "
                        f"(e.g. {lacking[:3]})"
                    )
            if missing:
                problems.append(f"missing {word}(s) {missing} (present: {present})")
        if problems:
            detail = "; ".join(problems)
            if n == 0:
                detail += " — the file has no complete entries"
            raise StorageError(f"{self.path}: {detail}")

    def _entries_lacking(self, feature: str) -> list[str]:
        out = []
        for qid, name in self._entry_names.items():
            if feature not in (json_attr(self.h5[name], ATTR_FEATURE_SPECS, {}) or {}):
                out.append(qid)
        return out

    # ---- data ---------------------------------------------------------------------------
    def _features(self, query_id: str, kind: str, names: list[str] | None) -> dict[str, np.ndarray]:
        g = self.entry(query_id)[FEATURE_GROUPS[kind]]
        keys = sorted(g) if names is None else list(names)
        missing = [k for k in keys if k not in g]
        if missing:
            raise StorageError(
                f"{self.path}: entry {query_id!r} has no {kind} feature(s) {missing} "
                f"(present: {sorted(g)})"
            )
        return {k: g[k][()] for k in keys}

    def node_features(self, query_id: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Node feature arrays of one entry (all when ``names`` is None), stored dtype."""
        return self._features(query_id, "node", names)

    def edge_features(self, query_id: str, names: list[str] | None = None) -> dict[str, np.ndarray]:
        """Edge feature arrays of one entry (all when ``names`` is None), stored dtype."""
        return self._features(query_id, "edge", names)

    def node_feature_matrix(self, query_id: str, names: list[str] | None = None) -> np.ndarray:
        """Node features stacked column-wise in ``names`` order (default sorted): (N, F)."""
        feats = self.node_features(query_id, names)
        n = int(self.entry(query_id).attrs[ATTR_NUM_NODES])
        return _stack(feats, n)

    def edge_feature_matrix(self, query_id: str, names: list[str] | None = None) -> np.ndarray:
        """Edge features stacked column-wise in ``names`` order (default sorted): (E, F)."""
        feats = self.edge_features(query_id, names)
        e = int(self.entry(query_id).attrs[ATTR_NUM_EDGES])
        return _stack(feats, e)

    def edge_index(self, query_id: str) -> np.ndarray:
        """(2, E) int64, one direction per edge."""
        return self.entry(query_id)[EDGE_INDEX][()].astype(np.int64)

    def targets(self, query_id: str) -> dict[str, Any]:
        """Targets of one entry: float/int for scalars, arrays for vectors."""
        g = self.entry(query_id).get(TARGETS)
        out: dict[str, Any] = {}
        if g is None:
            return out
        for key in g:
            value = g[key][()]
            out[key] = value.item() if np.ndim(value) == 0 else np.asarray(value)
        return out

    def read_graph(self, query_id: str) -> Any:
        """Rebuild the :class:`~deeprank_like.graph.Graph` of one entry.

        Feature arrays keep their stored dtype (float32 by default); positions are float64.
        """
        from deeprank_like.graph.graph import NODE_ID_DTYPE, Graph

        g = self.entry(query_id)
        try:
            raw_ids = g[NODE_IDS][()]
            node_ids = np.zeros(len(raw_ids), dtype=NODE_ID_DTYPE)
            for field in NODE_ID_DTYPE.names:
                col = raw_ids[field]
                node_ids[field] = np.char.decode(col, "utf-8") if col.dtype.kind == "S" else col
            specs = json_attr(g, ATTR_FEATURE_SPECS, {}) or {}
            metadata = json_attr(g, ATTR_METADATA, {}) or {}
            metadata["query"] = json_attr(g, ATTR_QUERY, {}) or {}
            return Graph(
                id=query_id,
                resolution=str(g.attrs[ATTR_RESOLUTION]),
                node_ids=node_ids,
                positions=g[POSITIONS][()].astype(np.float64),
                edge_index=g[EDGE_INDEX][()].astype(np.int64).reshape(2, -1),
                center=g[CENTER][()].astype(np.float64),
                residue_index=(
                    g[RESIDUE_INDEX][()].astype(np.int64)
                    if RESIDUE_INDEX in g
                    else np.arange(len(node_ids), dtype=np.int64)
                ),
                atom_index=g[ATOM_INDEX][()].astype(np.int64) if ATOM_INDEX in g else None,
                node_features={k: v[()] for k, v in g[NODE_FEATURES].items()},
                edge_features={k: v[()] for k, v in g[EDGE_FEATURES].items()},
                targets=self.targets(query_id),
                feature_specs={k: FeatureSpec.from_dict(v) for k, v in specs.items()},
                metadata=metadata,
            )
        except (KeyError, OSError, ValueError) as exc:
            raise StorageError(f"{self.path}: entry {query_id!r} is damaged ({exc})") from exc

    def describe_entry(self, query_id: str) -> dict[str, Any]:
        """``kind``, ``resolution``, ``nodes``, ``edges`` and ``grids`` (count) of one entry."""
        g = self.entry(query_id)
        return {
            "kind": str(g.attrs.get(ATTR_KIND, "")),
            "resolution": str(g.attrs.get(ATTR_RESOLUTION, "")),
            "nodes": int(g.attrs.get(ATTR_NUM_NODES, 0)),
            "edges": int(g.attrs.get(ATTR_NUM_EDGES, 0)),
            "grids": len(g[GRIDS]) if GRIDS in g else 0,
        }

    def query(self, query_id: str) -> dict[str, Any]:
        """The stored query of one entry (its ``to_dict()``; ``{}`` if none)."""
        return json_attr(self.entry(query_id), ATTR_QUERY, {}) or {}

    def arrays(self, query_id: str) -> dict[str, dict[str, Any]]:
        """Every dataset of one entry: path inside the entry → shape, dtype, compression."""
        out: dict[str, dict[str, Any]] = {}

        def visit(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                names = obj.dtype.names
                out[name] = {
                    "shape": list(obj.shape),
                    "dtype": f"compound({','.join(names)})" if names else str(obj.dtype),
                    "compression": obj.compression,
                }

        self.entry(query_id).visititems(visit)
        return out

    def failures(self) -> list[dict[str, str]]:
        """The failure table: dicts with query_id, stage, exc_type, message."""
        keys = ("query_id", "stage", "exc_type", "message")
        return [dict(zip(keys, row, strict=True)) for row in read_failure_rows(self.h5)]


def _stack(feats: dict[str, np.ndarray], rows: int) -> np.ndarray:
    if not feats:
        return np.zeros((rows, 0), dtype=np.float32)
    return np.hstack([np.asarray(v).reshape(rows, -1) for v in feats.values()])


def open_feature_file(
    path: str | os.PathLike,
    node_features: Iterable[str] | str | None = None,
    edge_features: Iterable[str] | str | None = None,
    targets: Iterable[str] | str | None = None,
    *,
    repair: bool = False,
) -> FeatureFile:
    """Open a feature file and check that every entry holds the requested names.

    Raises
    ------
    StorageError
        Unreadable, foreign or newer-schema file, or a requested feature/target that is
        missing (the message lists what is missing and what is present).
    """
    ff = FeatureFile(path, repair=repair)
    try:
        ff.require(node_features, edge_features, targets)
    except BaseException:
        ff.close()
        raise
    return ff


def _with_file(path_or_file: Any, fn: Any) -> Any:
    if isinstance(path_or_file, FeatureFile):
        return fn(path_or_file)
    if isinstance(path_or_file, h5py.File):
        ff = FeatureFile.__new__(FeatureFile)
        ff.path, ff.h5, ff._names = path_or_file.filename, path_or_file, None
        return fn(ff)
    with FeatureFile(path_or_file) as ff:
        return fn(ff)


def read_graph(path_or_file: Any, entry: str) -> Any:
    """The :class:`~deeprank_like.graph.Graph` stored as entry ``entry`` (a query id)."""
    return _with_file(path_or_file, lambda ff: ff.read_graph(entry))


def list_entries(path_or_file: Any) -> list[str]:
    """Ids of the complete entries of a feature file."""
    return _with_file(path_or_file, lambda ff: ff.entries)


def read_failures(path_or_file: Any) -> list[dict[str, str]]:
    """The failure table of a feature file (empty list if none)."""
    return _with_file(path_or_file, lambda ff: ff.failures())
