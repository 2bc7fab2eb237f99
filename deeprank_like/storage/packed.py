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

This module holds the reader, :class:`PackedFile`; the writer (:func:`pack_graphs`,
:class:`PackedWriter`) is in :mod:`deeprank_like.storage.packed_writer` and the shared
constants and source checks in :mod:`deeprank_like.storage.packed_layout` (all re-exported
here).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage.packed_layout import (
    _ARRAYS,
    PACKED_FORMAT,
    PACKED_VERSION,
    StalePackedFileError,
    _Block,
    _file_identity,
    source_record,
    verify_sources,
)
from deeprank_like.storage.packed_writer import PackedWriter, pack_graphs

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
    def _pread_into(self, fd: int, view: memoryview, pos: int, name: str) -> None:
        """Fill ``view`` with the bytes of the file from ``pos`` on."""
        done, nbytes = 0, len(view)
        while done < nbytes:
            got = os.preadv(fd, [view[done:]], pos + done)
            if got <= 0:
                raise StorageError(
                    f"{self.path}: short read in {name} (file truncated?); repack the file"
                )
            done += got

    def read_rows(self, name: str, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` of array ``name`` (one of node_features, edge_features,
        edge_index, positions) as a new writable (rows, width) array."""
        block = self._blocks[name]
        rows = max(0, int(stop) - int(start))
        out = np.empty((rows, block.width), dtype=block.dtype)
        if rows * block.row_bytes == 0:
            return out
        view = out.data.cast("B")  # out is a new C-contiguous array
        self._pread_into(
            self._descriptor(), view, block.offset + int(start) * block.row_bytes, name
        )
        return out

    def read_spans(
        self, name: str, starts: Sequence[int] | np.ndarray, stops: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """Rows ``starts[i]:stops[i]`` of array ``name`` for every ``i``, concatenated in order.

        Spans that follow each other in the file (``starts[i + 1] == stops[i]``: consecutive
        entries) are read with one ``pread``.

        Parameters
        ----------
        name : str
            node_features, edge_features, edge_index or positions.
        starts, stops : sequence of int
            Row ranges (``stops[i] >= starts[i]``).

        Returns
        -------
        numpy.ndarray
            (sum of the span lengths, width), a new writable C-contiguous array.
        """
        block = self._blocks[name]
        first = [int(v) for v in starts]
        last = [int(v) for v in stops]
        total = sum(b - a for a, b in zip(first, last, strict=True))
        out = np.empty((total, block.width), dtype=block.dtype)
        rb = block.row_bytes
        if total * rb == 0:
            return out
        fd = self._descriptor()
        view = out.data.cast("B")
        dest, i, n = 0, 0, len(first)
        while i < n:
            j = i
            while j + 1 < n and first[j + 1] == last[j]:
                j += 1
            rows = last[j] - first[i]
            if rows:
                chunk = view[dest * rb : (dest + rows) * rb]
                self._pread_into(fd, chunk, block.offset + first[i] * rb, name)
            dest += rows
            i = j + 1
        return out

    def read_entries(self, indices: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Arrays of several entries, each concatenated in the order of ``indices``.

        Parameters
        ----------
        indices : sequence of int
            Entry numbers (repeats allowed).

        Returns
        -------
        dict
            ``node_features`` (sum N, F), ``edge_features`` (sum E, Fe), ``edge_index``
            (sum E, 2) int32 (local node numbers), ``positions`` (sum N, 3), and
            ``node_counts`` / ``edge_counts`` (len(indices),) int64: the rows of each entry.
        """
        k = np.asarray(indices, dtype=np.int64)
        if k.size and (k.min() < 0 or k.max() >= len(self.entry_ids)):
            raise IndexError(f"{self.path}: entry numbers out of range 0..{len(self) - 1}")
        n0, n1 = self.node_offsets[k], self.node_offsets[k + 1]
        e0, e1 = self.edge_offsets[k], self.edge_offsets[k + 1]
        return {
            "node_features": self.read_spans("node_features", n0, n1),
            "edge_features": self.read_spans("edge_features", e0, e1),
            "edge_index": self.read_spans("edge_index", e0, e1),
            "positions": self.read_spans("positions", n0, n1),
            "node_counts": n1 - n0,
            "edge_counts": e1 - e0,
        }

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
