"""Packed training view: the graphs of feature files as a few contiguous arrays.

Why
---
The per-entry layout of feature files (docs/hdf5.md) stores every feature of every entry as
its own small compressed HDF5 dataset: a residue interface graph with 26 node and 5 edge
features is 37 datasets. Reading one entry costs about 120 µs per dataset (about 37 µs of it
only to open the dataset, the rest HDF5 selection, gzip and copies) plus the Python work of
stacking the columns: 4.4 ms of reads and 9.5 ms per item through ``GraphDataset`` (105-140
graphs/s for one process, measured in ``benchmarks/train.py``). That is per-dataset overhead,
not bytes: no layout of small datasets per entry gets to the ≥1,000 graphs/s that training
from disk needs. A packed file instead holds, for all its entries together::

    /node_features    (sum N, F)  float32 (float64 if the sources are), columns = features
    /edge_features    (sum E, Fe)
    /edge_index       (sum E, 2)  int32, node numbers local to the entry, one direction
    /positions        (sum N, 3)  float32
    /node_offsets     (n + 1,)    int64: entry i owns rows node_offsets[i]:node_offsets[i+1]
    /edge_offsets     (n + 1,)    int64
    /entry_ids        (n,)        str;  /source (n,) int32 index into the sources;
    /queries          (n,)        str, the entry's stored query (JSON)
    /targets/<name>/values, offsets, present, scalar   every target of every entry

so that one item is four ``pread`` calls at known byte offsets (the datasets are contiguous and
uncompressed; the offsets come from HDF5 once, when the file is opened), with no HDF5 call at
all in DataLoader workers. It is the same idea as PyTorch Geometric's on-disk datasets. The
file stays an ordinary HDF5 file (``h5ls`` and ``h5py`` read it). It is uncompressed: about
90 kB per residue graph of the benchmark (134 nodes, 1.8 k edges, 71 + 5 feature columns), which
is less than the gzip per-entry file of the same graphs (300 kB per entry: per-dataset overhead,
node ids, checksums).

Integrity
---------
* The root records every source file (absolute path, size, ``st_mtime_ns``, SHA-256).
  :class:`PackedFile` refuses a packed file whose sources changed (size or mtime differ and the
  checksum no longer matches) or vanished, with :class:`StalePackedFileError` saying which file
  and what to do; ``check_sources=False`` skips the check (at your own risk).
* :func:`pack_graphs` writes ``<output>.tmp-<pid>``, flushes it to disk and renames it over
  ``output`` only when complete (``os.replace``, atomic on POSIX): a killed packer leaves at
  most a ``.tmp-`` file that nothing reads, never a half file under the final name. The root
  attribute ``complete=1`` is written last and checked on open.
* A reader records the file's identity (inode, size, mtime) when opened; a worker that later
  finds another file under the path (repacked meanwhile) raises instead of reading rows at
  stale offsets.
* Non-finite feature values, positions and out-of-range edge indices are refused at packing
  time, naming the source file and entry (as ``GraphDataset`` refuses them on reading).

Values are the stored ones (no transform, no standardisation): the dataset on top
(:class:`deeprank_like.data.PackedGraphDataset`) applies those as ``GraphDataset`` does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage.files import open_h5, package_version
from deeprank_like.storage.reader import complete_entry_names
from deeprank_like.storage.schema import entry_id as _entry_id_of

__all__ = [
    "PACKED_FORMAT",
    "PACKED_VERSION",
    "PackedFile",
    "PackedWriter",
    "StalePackedFileError",
    "pack_graphs",
    "source_record",
    "verify_sources",
]

PACKED_FORMAT = "deeprank_like.packed"
PACKED_VERSION = 1
_ARRAYS = ("node_features", "edge_features", "edge_index", "positions")
#: rows buffered in memory before a block write (bounded writer memory: ~64 MB)
_BUFFER_BYTES = 64 * 2**20


class StalePackedFileError(StorageError):
    """A packed file's sources changed or vanished since it was written."""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * 2**20):
            h.update(block)
    return h.hexdigest()


def source_record(path: str | os.PathLike) -> dict[str, Any]:
    """``{"path", "size", "mtime_ns", "sha256"}`` of a source file (absolute path)."""
    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    return {
        "path": path,
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "sha256": _sha256(path),
    }


def verify_sources(records: Sequence[dict[str, Any]], packed: str) -> None:
    """Raise :class:`StalePackedFileError` unless every source is as recorded.

    A source whose size and mtime match is taken as unchanged; otherwise its SHA-256 decides
    (a copied or touched but identical file is still fresh).
    """
    for rec in records:
        path = rec["path"]
        fix = f"repack it: pack_graphs({[r['path'] for r in records]!r}, {packed!r})"
        try:
            st = os.stat(path)
        except OSError as exc:
            raise StalePackedFileError(
                f"{packed}: source file {path} is gone ({exc.strerror}); the packed view may "
                f"no longer match your data: {fix}, or open it with check_sources=False"
            ) from None
        if st.st_size == rec["size"] and st.st_mtime_ns == rec["mtime_ns"]:
            continue
        if st.st_size == rec["size"] and _sha256(path) == rec["sha256"]:
            continue
        raise StalePackedFileError(
            f"{packed} is stale: its source {path} changed after packing (size {rec['size']} "
            f"-> {st.st_size} bytes, mtime_ns {rec['mtime_ns']} -> {st.st_mtime_ns}, "
            f"checksum differs); {fix}"
        )


def _file_identity(st: os.stat_result) -> tuple[int, int, int]:
    return (int(st.st_ino), int(st.st_size), int(st.st_mtime_ns))


@dataclass(frozen=True)
class _Block:
    """Where one contiguous dataset lies in the file."""

    offset: int  # byte offset of row 0 (-1: no storage, zero rows)
    dtype: np.dtype
    width: int  # columns (1 for 1-D)
    row_bytes: int


class PackedFile:
    """Read-only view of a packed file (see the module docstring for the layout).

    Opening reads the index (offsets, entry ids, column table, targets on demand) and the byte
    offsets of the data arrays, then closes HDF5: rows are read with ``os.pread`` on a file
    descriptor opened lazily in each process (DataLoader workers open their own after fork).

    Parameters
    ----------
    path : str or PathLike
    check_sources : bool
        Refuse the file when a source changed or vanished (:class:`StalePackedFileError`).

    Attributes
    ----------
    entry_ids : list of str
        One per entry, in packing order (files in order, entries sorted by group name).
    node_columns, edge_columns : list of (name, width)
        The features stored as columns of ``node_features`` / ``edge_features``, in order.
    node_offsets, edge_offsets : ndarray (n + 1,) int64
    sources : list of dict
        The source records (path, size, mtime_ns, sha256).
    """

    def __init__(self, path: str | os.PathLike, *, check_sources: bool = True) -> None:
        self.path = os.path.abspath(os.fspath(path))
        if not os.path.isfile(self.path):
            raise StorageError(f"{self.path}: no such packed file (make it with pack_graphs)")
        st = os.stat(self.path)
        self._identity = _file_identity(st)
        try:
            f = h5py.File(self.path, "r")
        except OSError as exc:
            raise StorageError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        with f:
            self._read_header(f)
        if check_sources:
            verify_sources(self.sources, self.path)
        self._fd: int | None = None
        self._pid: int | None = None

    def _read_header(self, f: h5py.File) -> None:
        attrs = f.attrs
        fmt = attrs.get("format")
        fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
        if fmt != PACKED_FORMAT:
            raise StorageError(
                f"{self.path}: not a packed file (format {fmt!r}); a per-entry feature file "
                f"is read with GraphDataset, or packed with pack_graphs"
            )
        version = int(attrs.get("packed_version", -1))
        if version > PACKED_VERSION:
            raise StorageError(
                f"{self.path}: packed format version {version} is newer than this package "
                f"reads ({PACKED_VERSION}); upgrade deeprank_like or repack"
            )
        if int(attrs.get("complete", 0)) != 1:
            raise StorageError(f"{self.path}: incomplete packed file (its writer did not finish)")
        self.sources: list[dict[str, Any]] = json.loads(attrs["sources"])
        self.resolution: str | None = json.loads(attrs["resolution"])
        self.node_columns = [(str(n), int(w)) for n, w in json.loads(attrs["node_columns"])]
        self.edge_columns = [(str(n), int(w)) for n, w in json.loads(attrs["edge_columns"])]
        self.package_version = str(attrs.get("package_version", "unknown"))
        self.node_offsets = f["node_offsets"][()].astype(np.int64)
        self.edge_offsets = f["edge_offsets"][()].astype(np.int64)
        self.entry_ids = [e.decode() if isinstance(e, bytes) else str(e) for e in f["entry_ids"]]
        self.source_index = f["source"][()].astype(np.int32)
        self.target_names = sorted(f["targets"].keys()) if "targets" in f else []
        n = len(self.entry_ids)
        if len(self.node_offsets) != n + 1 or len(self.edge_offsets) != n + 1:
            raise StorageError(f"{self.path}: offsets do not match the {n} entries; damaged")
        self._blocks: dict[str, _Block] = {}
        for name in _ARRAYS:
            ds = f[name]
            if ds.chunks is not None or ds.compression is not None:
                raise StorageError(f"{self.path}: {name} is not contiguous; repack the file")
            rows = ds.shape[0]
            expected = int(
                self.node_offsets[-1]
                if name in ("node_features", "positions")
                else self.edge_offsets[-1]
            )
            if rows != expected:
                raise StorageError(
                    f"{self.path}: {name} has {rows} rows, the offsets say {expected}; damaged"
                )
            width = int(np.prod(ds.shape[1:])) if ds.ndim > 1 else 1
            offset = ds.id.get_offset()
            if offset is None:
                if rows and width:
                    raise StorageError(f"{self.path}: {name} has no stored data; damaged")
                offset = -1
            self._blocks[name] = _Block(
                int(offset), np.dtype(ds.dtype), width, width * ds.dtype.itemsize
            )

    # ---- lifetime ---------------------------------------------------------------------------
    def _descriptor(self) -> int:
        pid = os.getpid()
        if self._fd is None or self._pid != pid:
            # a descriptor inherited through fork is shared with the parent: open our own
            fd = os.open(self.path, os.O_RDONLY)
            identity = _file_identity(os.fstat(fd))
            if identity != self._identity:
                os.close(fd)
                raise StorageError(
                    f"{self.path} changed since it was opened (repacked or replaced); "
                    f"create the dataset again"
                )
            self._fd, self._pid = fd, pid
        return self._fd

    def close(self) -> None:
        """Close this process's descriptor (reopened on the next read)."""
        if self._fd is not None and self._pid == os.getpid():
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._pid = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fd"] = None
        state["_pid"] = None
        return state

    def __del__(self) -> None:  # pragma: no cover - interpreter shutdown order varies
        with contextlib.suppress(Exception):
            self.close()

    def __len__(self) -> int:
        return len(self.entry_ids)

    def __repr__(self) -> str:
        return (
            f"PackedFile({self.path!r}, entries={len(self)}, nodes={int(self.node_offsets[-1])}, "
            f"edges={int(self.edge_offsets[-1])})"
        )

    # ---- reading ----------------------------------------------------------------------------
    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of array ``name`` (one of node_features, edge_features,
        edge_index, positions) as a new writable (rows, width) array."""
        block = self._blocks[name]
        rows = max(0, int(stop) - int(start))
        out = np.empty((rows, block.width), dtype=block.dtype)
        nbytes = rows * block.row_bytes
        if nbytes == 0:
            return out
        fd = self._descriptor()
        view = out.data.cast("B")  # out is a new C-contiguous array
        pos = block.offset + int(start) * block.row_bytes
        done = 0
        while done < nbytes:
            got = os.preadv(fd, [view[done:]], pos + done)
            if got <= 0:
                raise StorageError(
                    f"{self.path}: short read in {name} (file truncated?); repack the file"
                )
            done += got
        return out

    def read_entry(self, index: int) -> dict[str, np.ndarray]:
        """Arrays of entry ``index``: ``node_features`` (N, F), ``edge_features`` (E, Fe),
        ``edge_index`` (E, 2) int32, ``positions`` (N, 3) float32."""
        n0, n1 = int(self.node_offsets[index]), int(self.node_offsets[index + 1])
        e0, e1 = int(self.edge_offsets[index]), int(self.edge_offsets[index + 1])
        return {
            "node_features": self.read_rows("node_features", n0, n1),
            "edge_features": self.read_rows("edge_features", e0, e1),
            "edge_index": self.read_rows("edge_index", e0, e1),
            "positions": self.read_rows("positions", n0, n1),
        }

    def targets(self, name: str) -> list[Any]:
        """Target ``name`` of every entry: float (scalar), float64 array, or None (absent)."""
        if name not in self.target_names:
            return [None] * len(self)
        with h5py.File(self.path, "r") as f:
            g = f["targets"][name]
            values = g["values"][()].astype(np.float64)
            offsets = g["offsets"][()].astype(np.int64)
            present = g["present"][()].astype(bool)
            scalar = g["scalar"][()].astype(bool)
        out: list[Any] = []
        for i in range(len(self)):
            if not present[i]:
                out.append(None)
            elif scalar[i]:
                out.append(float(values[offsets[i]]))
            else:
                out.append(values[offsets[i] : offsets[i + 1]].copy())
        return out

    def queries(self) -> list[str]:
        """The stored query (JSON text, ``""`` if none) of every entry."""
        with h5py.File(self.path, "r") as f:
            return [q.decode() if isinstance(q, bytes) else str(q) for q in f["queries"]]

    def source_path(self, index: int) -> str:
        """Path of the source file entry ``index`` came from."""
        return str(self.sources[int(self.source_index[index])]["path"])


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
        """Append one entry: node_features (N, F), edge_features (E, Fe), edge_index (E, 2)
        local node numbers (one direction), positions (N, 3) Å, targets name → scalar or
        1-D array, the query as JSON text, the index of its source file."""
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
