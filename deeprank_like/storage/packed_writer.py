"""Packed file writer: :class:`PackedWriter` and :func:`pack_graphs` with its input checks.

Reads feature files entry by entry and writes the packed training view described in
:mod:`deeprank_like.storage.packed` (written to a temporary name, renamed when complete).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import h5py
import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage.files import open_h5, package_version
from deeprank_like.storage.packed_layout import (
    _ARRAYS,
    _BUFFER_BYTES,
    PACKED_FORMAT,
    PACKED_VERSION,
    source_record,
)
from deeprank_like.storage.reader import complete_entry_names
from deeprank_like.storage.schema import entry_id as _entry_id_of

__all__ = ["PackedWriter", "pack_graphs"]


class PackedWriter:
    """Low-level writer of a packed file; :func:`pack_graphs` is the usual entry point.

    The sizes are declared up front so that every data array is contiguous. Entries are added
    in order with :meth:`add`; :meth:`commit` checks that the declared sizes were filled,
    marks the file complete, flushes it to disk and renames it into place. Used as a context
    manager, an exception (or a kill) leaves no file under ``path``.

    Parameters
    ----------
    path : str or PathLike
        Final file name (replaced atomically when committed).
    num_entries, num_nodes, num_edges : int
        Totals over all entries.
    node_columns, edge_columns : list of (name, width)
    float_dtype : numpy dtype
        Of the feature matrices (float32, or float64 when the sources store float64).
    sources : list of dict
        Source records (:func:`source_record`).
    resolution : str or None
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        num_entries: int,
        num_nodes: int,
        num_edges: int,
        node_columns: Sequence[tuple[str, int]],
        edge_columns: Sequence[tuple[str, int]],
        float_dtype: Any = np.float32,
        sources: Sequence[dict[str, Any]] = (),
        resolution: str | None = None,
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self.tmp = f"{self.path}.tmp-{os.getpid()}"
        self.n, self.num_nodes, self.num_edges = int(num_entries), int(num_nodes), int(num_edges)
        self.node_columns = [(str(a), int(b)) for a, b in node_columns]
        self.edge_columns = [(str(a), int(b)) for a, b in edge_columns]
        self.dtype = np.dtype(float_dtype)
        nf = sum(w for _, w in self.node_columns)
        ef = sum(w for _, w in self.edge_columns)
        self._f = h5py.File(self.tmp, "w", libver="v110")
        try:
            a = self._f.attrs
            a["format"] = PACKED_FORMAT
            a["packed_version"] = PACKED_VERSION
            a["package_version"] = package_version()
            a["complete"] = 0
            a["sources"] = json.dumps(list(sources))
            a["resolution"] = json.dumps(resolution)
            a["node_columns"] = json.dumps(self.node_columns)
            a["edge_columns"] = json.dumps(self.edge_columns)
            shapes = {
                "node_features": ((self.num_nodes, nf), self.dtype),
                "edge_features": ((self.num_edges, ef), self.dtype),
                "edge_index": ((self.num_edges, 2), np.int32),
                "positions": ((self.num_nodes, 3), np.float32),
            }
            self._ds = {
                k: self._f.create_dataset(k, shape=s, dtype=d) for k, (s, d) in shapes.items()
            }
        except BaseException:
            self.abort()
            raise
        self._buf: dict[str, list[np.ndarray]] = {k: [] for k in _ARRAYS}
        self._buf_bytes = 0
        self._written = {"node": 0, "edge": 0}  # rows flushed
        self._rows = {"node": 0, "edge": 0}  # rows added
        self.node_offsets = [0]
        self.edge_offsets = [0]
        self.entry_ids: list[str] = []
        self.queries: list[str] = []
        self.source: list[int] = []
        self._targets: dict[str, list[tuple[int, Any]]] = {}

    def add(
        self,
        entry_id: str,
        node_features: np.ndarray,
        edge_features: np.ndarray,
        edge_index: np.ndarray,
        positions: np.ndarray,
        targets: dict[str, Any] | None = None,
        query: str = "",
        source: int = 0,
    ) -> None:
        """Append one entry (entries are written in the order they are added).

        Parameters
        ----------
        entry_id : str
        node_features : numpy.ndarray
            (N, F) node feature matrix.
        edge_features : numpy.ndarray
            (E, Fe) edge feature matrix.
        edge_index : numpy.ndarray
            (E, 2) local node numbers (one direction).
        positions : numpy.ndarray
            (N, 3) node positions, Å.
        targets : dict, optional
            Target name → scalar or 1-D array.
        query : str
            The entry's query as JSON text.
        source : int
            Index of the entry's source file in ``sources``.
        """
        n = int(positions.shape[0])
        ei = np.asarray(edge_index)
        if ei.ndim != 2 or ei.shape[1] != 2:
            raise StorageError(f"entry {entry_id!r}: edge_index must be (E, 2), got {ei.shape}")
        e = int(ei.shape[0])
        if node_features.shape[0] != n or edge_features.shape[0] != e:
            raise StorageError(
                f"entry {entry_id!r}: {node_features.shape[0]} node-feature rows for {n} nodes, "
                f"{edge_features.shape[0]} edge-feature rows for {e} edges"
            )
        if len(self.entry_ids) >= self.n:
            raise StorageError(f"{self.path}: more entries than the {self.n} declared")
        i = len(self.entry_ids)
        self.entry_ids.append(str(entry_id))
        self.queries.append(str(query or ""))
        self.source.append(int(source))
        for name, value in (targets or {}).items():
            self._targets.setdefault(name, []).append((i, value))
        for key, arr in (
            ("node_features", node_features),
            ("edge_features", edge_features),
            ("edge_index", ei),
            ("positions", positions),
        ):
            arr = np.ascontiguousarray(arr, dtype=self._ds[key].dtype)
            self._buf[key].append(arr.reshape(arr.shape[0], -1))
            self._buf_bytes += arr.nbytes
        self._rows["node"] += n
        self._rows["edge"] += e
        self.node_offsets.append(self._rows["node"])
        self.edge_offsets.append(self._rows["edge"])
        if self._rows["node"] > self.num_nodes or self._rows["edge"] > self.num_edges:
            raise StorageError(
                f"{self.path}: entries hold more nodes/edges than declared "
                f"({self.num_nodes} nodes, {self.num_edges} edges)"
            )
        if self._buf_bytes >= _BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        for key in _ARRAYS:
            if not self._buf[key]:
                continue
            block = np.concatenate(self._buf[key])
            kind = "node" if key in ("node_features", "positions") else "edge"
            start = self._written[kind]
            if len(block):
                self._ds[key][start : start + len(block)] = block
            self._buf[key] = []
        self._written = dict(self._rows)
        self._buf_bytes = 0

    def commit(self) -> str:
        """Finish: write the index, mark complete, fsync, rename into place; the final path."""
        self._flush()
        if (len(self.entry_ids), self._rows["node"], self._rows["edge"]) != (
            self.n,
            self.num_nodes,
            self.num_edges,
        ):
            self.abort()
            raise StorageError(
                f"{self.path}: {len(self.entry_ids)} entries, {self._rows['node']} nodes, "
                f"{self._rows['edge']} edges written; {self.n}, {self.num_nodes}, "
                f"{self.num_edges} declared"
            )
        try:
            f = self._f
            f.create_dataset("node_offsets", data=np.asarray(self.node_offsets, dtype=np.int64))
            f.create_dataset("edge_offsets", data=np.asarray(self.edge_offsets, dtype=np.int64))
            f.create_dataset("entry_ids", data=self.entry_ids, dtype=h5py.string_dtype())
            f.create_dataset("queries", data=self.queries, dtype=h5py.string_dtype())
            f.create_dataset("source", data=np.asarray(self.source, dtype=np.int32))
            tg = f.create_group("targets")
            for name, rows in sorted(self._targets.items()):
                present = np.zeros(self.n, dtype=bool)
                scalar = np.zeros(self.n, dtype=bool)
                sizes = np.zeros(self.n, dtype=np.int64)
                chunks = []
                for i, value in rows:
                    arr = np.asarray(value, dtype=np.float64)
                    present[i] = True
                    scalar[i] = arr.ndim == 0
                    sizes[i] = arr.size
                    chunks.append((i, arr.ravel()))
                values = np.concatenate([c for _, c in chunks]) if chunks else np.zeros(0)
                g = tg.create_group(name)
                g.create_dataset("values", data=values)
                g.create_dataset("offsets", data=np.concatenate([[0], np.cumsum(sizes)]))
                g.create_dataset("present", data=present)
                g.create_dataset("scalar", data=scalar)
            f.attrs["complete"] = 1
            f.flush()
            f.close()
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
            dfd = os.open(os.path.dirname(self.path), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the temporary file (nothing is left under the final name)."""
        with contextlib.suppress(Exception):
            self._f.close()
        with contextlib.suppress(OSError):
            os.remove(self.tmp)

    def __enter__(self) -> PackedWriter:
        return self

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        if exc_type is not None:
            self.abort()


# ---- packing feature files ----------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _width(shape: tuple[int, ...]) -> int:
    return 1 if len(shape) <= 1 else int(np.prod(shape[1:]))


def _select(kind: str, requested: Any, available: dict[str, int], where: str) -> list[str]:
    if requested is None:
        return []
    if requested == "all":
        return sorted(available)
    names = [requested] if isinstance(requested, str) else list(requested)
    missing = [n for n in names if n not in available]
    if missing:
        raise StorageError(
            f"{where}: {kind} feature(s) {missing} are not in every entry; present in every "
            f"entry: {sorted(available)}"
        )
    return sorted(set(names))


def pack_graphs(
    sources: str | os.PathLike | Iterable[str | os.PathLike],
    output: str | os.PathLike,
    *,
    subset: Iterable[str] | None = None,
    node_features: str | Sequence[str] | None = "all",
    edge_features: str | Sequence[str] | None = "all",
    resolution: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Write the packed training view of feature files (read once, entry by entry).

    Parameters
    ----------
    sources : path or list of paths
        deeprank_like feature files (docs/hdf5.md); entries in file order, each file's
        complete entries sorted by group name (the order of ``GraphDataset``).
    output : path
        The packed file; replaced atomically when done (see the module docstring).
    subset : iterable of str, optional
        Entry ids to pack (default: all complete entries).
    node_features, edge_features : "all", list of str or None
        Features to store. ``"all"``: those in every entry (as ``GraphDataset``'s "all").
        A dataset on the packed file may select any of the stored ones.
    resolution : {"residue", "atom"}, optional
        Pack only entries of this resolution; required when the files mix both.
    progress : callable(done, total), optional
        Called after each entry.

    Returns
    -------
    str
        The absolute path of the packed file.

    Raises
    ------
    StorageError
        A source is missing or not a feature file, an entry is damaged, holds non-finite
        values or edges to missing nodes, features differ in width between entries, or
        a source changed while being packed.
    """
    paths = (
        [os.fspath(sources)]
        if isinstance(sources, str | os.PathLike)
        else [os.fspath(p) for p in sources]
    )
    if not paths:
        raise StorageError("pack_graphs: no source file given")
    if resolution not in (None, "residue", "atom"):
        raise StorageError(f"resolution must be 'residue', 'atom' or None, got {resolution!r}")
    output = os.path.abspath(os.fspath(output))
    if output in {os.path.abspath(p) for p in paths}:
        raise StorageError(f"pack_graphs: output {output} is one of the sources")
    wanted = None if subset is None else set(subset)
    records = [source_record(p) for p in paths]
    handles = [open_h5(p, "r") for p in paths]
    try:
        # pass 1: entries, sizes, features present in every entry (attributes and link names)
        entries: list[tuple[int, str, str]] = []
        node_avail: dict[str, int] | None = None
        edge_avail: dict[str, int] | None = None
        resolutions: set[str | None] = set()
        total_n = total_e = 0
        for fi, f in enumerate(handles):
            for name in complete_entry_names(f):
                g = f[name]
                eid = _text(g.attrs.get("id")) or _entry_id_of(name)
                if wanted is not None and eid not in wanted and name not in wanted:
                    continue
                res = _text(g.attrs.get("resolution"))
                if resolution is not None and res != resolution:
                    continue
                resolutions.add(res)
                entries.append((fi, name, eid))
                gid = g.id
                n = int(h5py.h5d.open(gid, b"positions").shape[0])
                ei_shape = h5py.h5d.open(gid, b"edge_index").shape
                total_n += n
                total_e += int(ei_shape[1]) if len(ei_shape) == 2 else 0
                here_n = set(_names(_gid(gid, "node_features")))
                here_e = set(_names(_gid(gid, "edge_features")))
                if node_avail is None:
                    node_avail = {k: _width(g["node_features"][k].shape) for k in here_n}
                    edge_avail = {k: _width(g["edge_features"][k].shape) for k in here_e}
                else:
                    node_avail = {k: v for k, v in node_avail.items() if k in here_n}
                    edge_avail = {k: v for k, v in (edge_avail or {}).items() if k in here_e}
        if not entries:
            raise StorageError(f"pack_graphs: no entries to pack in {paths}")
        if wanted is not None:
            found = {e for _, _, e in entries} | {n for _, n, _ in entries}
            missing = sorted(wanted - found)
            if missing:
                raise StorageError(
                    f"{len(missing)} subset entries not found in {paths}: {missing[:5]}"
                )
        if len(resolutions) > 1:
            raise StorageError(
                f"{paths}: the files mix {sorted(map(str, resolutions))} graphs; pass "
                f"resolution='residue' or 'atom'"
            )
        where = ", ".join(paths)
        node_names = _select("node", node_features, node_avail or {}, where)
        edge_names = _select("edge", edge_features, edge_avail or {}, where)
        node_cols = [(k, (node_avail or {})[k]) for k in node_names]
        edge_cols = [(k, (edge_avail or {})[k]) for k in edge_names]
        fi0, name0, _ = entries[0]
        g0 = handles[fi0][name0]
        dtypes = [g0["node_features"][k].dtype for k in node_names]
        dtypes += [g0["edge_features"][k].dtype for k in edge_names]
        float_dtype = np.float64 if any(d == np.float64 for d in dtypes) else np.float32

        # pass 2: copy
        writer = PackedWriter(
            output,
            num_entries=len(entries),
            num_nodes=total_n,
            num_edges=total_e,
            node_columns=node_cols,
            edge_columns=edge_cols,
            float_dtype=float_dtype,
            sources=records,
            resolution=next(iter(resolutions)),
        )
        with writer:
            for k, (fi, name, eid) in enumerate(entries):
                g = handles[fi][name]
                at = f"{paths[fi]}: entry {eid!r}"
                try:
                    arrays = _entry_arrays(g, node_cols, edge_cols, float_dtype, at)
                except (KeyError, OSError, RuntimeError) as exc:
                    raise StorageError(f"{at} is damaged ({exc})") from exc
                writer.add(eid, *arrays, query=_text(g.attrs.get("query")) or "", source=fi)
                if progress is not None:
                    progress(k + 1, len(entries))
            for rec in records:
                st = os.stat(rec["path"])
                if (st.st_size, st.st_mtime_ns) != (rec["size"], rec["mtime_ns"]):
                    raise StorageError(
                        f"pack_graphs: {rec['path']} changed while it was being packed; run again"
                    )
            return writer.commit()
    finally:
        for f in handles:
            with contextlib.suppress(Exception):
                f.close()


def _gid(parent: Any, name: str) -> Any:
    """Low-level group id (the high-level objects cost more than reading a residue graph)."""
    pid = parent.id if isinstance(parent, h5py.HLObject) else parent
    return h5py.h5g.open(pid, name.encode())


def _read(gid: Any, name: str) -> np.ndarray:
    """Whole dataset ``name`` of a low-level group (KeyError if absent)."""
    key = name.encode()
    if not gid.links.exists(key):
        raise KeyError(name)
    did = h5py.h5d.open(gid, key)
    out = np.empty(did.shape, dtype=did.dtype)
    if out.size:
        did.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def _names(gid: Any) -> list[str]:
    out: list[str] = []
    gid.links.iterate(lambda n: out.append(n.decode()))
    return out


def _entry_arrays(
    g: h5py.Group,
    node_cols: list[tuple[str, int]],
    edge_cols: list[tuple[str, int]],
    float_dtype: Any,
    at: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    gid = g.id
    pos = _read(gid, "positions")
    n = int(pos.shape[0])
    ei = _read(gid, "edge_index").astype(np.int64)
    e = int(ei.shape[1]) if ei.ndim == 2 else 0
    ei = ei.reshape(2, e)
    if not np.isfinite(pos).all():
        raise StorageError(
            f"{at}: positions hold non-finite values; recompute the entry or leave it out "
            f"with subset="
        )
    if e and (int(ei.min()) < 0 or int(ei.max()) >= n):
        raise StorageError(
            f"{at}: edge_index refers to nodes outside the {n} nodes; the entry is damaged"
        )

    def matrix(group: Any, cols: list[tuple[str, int]], rows: int, kind: str) -> np.ndarray:
        out = np.empty((rows, sum(w for _, w in cols)), dtype=float_dtype)
        c = 0
        for name, width in cols:
            values = _read(group, name)
            if values.dtype == np.float64 and float_dtype == np.float32:
                narrowed = values.astype(np.float32)
                if not np.array_equal(narrowed.astype(np.float64), values, equal_nan=True):
                    raise StorageError(
                        f"{at}: {kind} feature {name!r} is float64 where the first entry stores "
                        f"float32; pack float32 and float64 files separately"
                    )
            values = values.reshape(rows, -1)
            if values.shape[1] != width:
                raise StorageError(
                    f"{at}: {kind} feature {name!r} has {values.shape[1]} columns, other "
                    f"entries {width}; the files were made with different settings"
                )
            if not np.isfinite(values).all():
                raise StorageError(
                    f"{at}: {kind} feature {name!r} holds non-finite values; non-finite values "
                    f"are not accepted: recompute the entry, or leave it out with subset="
                )
            out[:, c : c + width] = values
            c += width
        return out

    x = matrix(_gid(gid, "node_features"), node_cols, n, "node")
    if edge_cols:
        ea = matrix(_gid(gid, "edge_features"), edge_cols, e, "edge")
    else:
        ea = np.zeros((e, 0), float_dtype)
    targets: dict[str, Any] = {}
    if gid.links.exists(b"targets"):
        tid = _gid(gid, "targets")
        for key in _names(tid):
            value = _read(tid, key)
            targets[key] = float(value) if np.ndim(value) == 0 else np.asarray(value, np.float64)
    return x, ea, ei.T.astype(np.int32), pos.astype(np.float32), targets
