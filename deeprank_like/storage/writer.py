"""Write graphs (and failure records) into a feature file, one complete entry at a time."""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import h5py
import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage._superblock import end_of_file_address
from deeprank_like.storage.files import (
    FAILED_WRITES,
    NO_SPACE_TEXT,
    DiskFullError,
    disk_full_errno,
    free_bytes,
    init_root,
    json_attr,
    open_h5,
    package_version,
    write_summary,
)
from deeprank_like.storage.integrity import (
    CHECKSUM_ATTR,
    combine_digests,
    dataset_digest,
    entry_checksum,
)
from deeprank_like.storage.schema import (
    ATOM_INDEX,
    ATTR_COMPLETE,
    ATTR_ENTRY_COUNT,
    ATTR_FEATURE_COUNTS,
    ATTR_FEATURE_SPECS,
    ATTR_FLOAT_DTYPE,
    ATTR_FORMAT,
    ATTR_ID,
    ATTR_KIND,
    ATTR_METADATA,
    ATTR_NUM_EDGES,
    ATTR_NUM_NODES,
    ATTR_PACKAGE_VERSION,
    ATTR_QUERY,
    ATTR_RESOLUTION,
    ATTR_SCHEMA_VERSION,
    CENTER,
    EDGE_FEATURES,
    EDGE_INDEX,
    FAILURE_DTYPE,
    FAILURES,
    MAX_MESSAGE,
    NODE_FEATURES,
    NODE_ID_H5_DTYPE,
    NODE_IDS,
    POSITIONS,
    RESIDUE_INDEX,
    SCHEMA_VERSION,
    TARGETS,
    TMP,
    dataset_options,
    entry_name,
)

__all__ = ["FLOAT_DTYPES", "SPACE_MARGIN_ENV", "remove_failures", "write_failures", "write_graph"]

log = logging.getLogger(__name__)

FLOAT_DTYPES = {"float32": np.float32, "float64": np.float64}

#: Environment variable: bytes that must stay free beyond an entry's raw size (default 1 MiB;
#: 0 disables the check before each entry).
SPACE_MARGIN_ENV = "DEEPRANK_LIKE_SPACE_MARGIN"
_DEFAULT_MARGIN = 1 << 20


def _float_dtype(float_dtype: Any) -> np.dtype:
    name = np.dtype(float_dtype).name if not isinstance(float_dtype, str) else float_dtype
    if name not in FLOAT_DTYPES:
        raise ValueError(f"float_dtype must be 'float32' or 'float64', got {float_dtype!r}")
    return np.dtype(FLOAT_DTYPES[name])


def _feature_array(value: Any, float_dtype: np.dtype) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr, dtype=float_dtype)
    if arr.dtype.kind == "b":
        return np.ascontiguousarray(arr, dtype=np.int8)
    if arr.dtype.kind in "iu":
        return np.ascontiguousarray(arr)
    raise StorageError(f"feature arrays must be numeric, got dtype {arr.dtype}")


def _target_array(name: str, value: Any, qid: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind in "biu":
        return arr.astype(np.int64)
    if arr.dtype.kind == "f":
        return arr.astype(np.float64)
    raise StorageError(f"query {qid}: target {name!r} must be numeric, got {value!r}")


def _node_ids(graph: Any) -> np.ndarray:
    src = graph.node_ids
    out = np.zeros(len(src), dtype=NODE_ID_H5_DTYPE)
    for field in NODE_ID_H5_DTYPE.names:
        col = src[field]
        target = NODE_ID_H5_DTYPE[field]
        if target.kind == "S":
            encoded = np.char.encode(np.asarray(col, dtype=str), "utf-8")
            if encoded.size and np.char.str_len(encoded).max() > target.itemsize:
                raise StorageError(
                    f"query {graph.id}: node_ids field {field!r} has values longer than "
                    f"{target.itemsize} bytes (e.g. {col[np.argmax(np.char.str_len(encoded))]!r})"
                )
            out[field] = encoded
        else:
            values = np.asarray(col, dtype=np.int64)
            if values.size and (values.min() < -(2**31) or values.max() >= 2**31):
                raise StorageError(f"query {graph.id}: residue numbers out of int32 range")
            out[field] = values
    return out


class _Datasets:
    """Creates the datasets of one entry and keeps their digests (for the entry checksum)."""

    def __init__(self, entry: h5py.Group, compression: str) -> None:
        self.prefix = entry.name.rstrip("/") + "/"
        self.compression = compression
        self.digests: dict[str, bytes] = {}

    def __call__(
        self, group: h5py.Group, name: str, array: np.ndarray, compressed: bool = True
    ) -> h5py.Dataset:
        opts = dataset_options(array, self.compression) if compressed else {}
        ds = group.create_dataset(name, data=array, **opts)
        rel = ds.name[len(self.prefix) :]
        self.digests[rel] = dataset_digest(rel, array)
        return ds


def _update_root(f: h5py.File, specs: Mapping[str, Any], sign: int) -> None:
    all_specs = json_attr(f, ATTR_FEATURE_SPECS, {}) or {}
    counts = json_attr(f, ATTR_FEATURE_COUNTS, {}) or {}
    for name, spec in specs.items():
        counts[name] = int(counts.get(name, 0)) + sign
        if counts[name] <= 0:
            counts.pop(name)
        elif sign > 0:
            all_specs.setdefault(name, spec)
    write_summary(f, all_specs, counts, int(f.attrs.get(ATTR_ENTRY_COUNT, 0)) + sign)


def _entry_specs(graph: Any) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, spec in graph.feature_specs.items():
        out[name] = spec.to_dict() if hasattr(spec, "to_dict") else dict(spec)
    # Features or targets without a declared spec (hand-made graphs) get a minimal one.
    for kind, values in (
        ("node", graph.node_features),
        ("edge", graph.edge_features),
        ("target", graph.targets),
    ):
        for name, value in values.items():
            if name not in out:
                arr = np.asarray(value)
                if kind == "target":
                    width = int(arr.size)
                else:
                    width = 1 if arr.ndim <= 1 else int(np.prod(arr.shape[1:]))
                out[name] = {
                    "name": name,
                    "kind": kind,
                    "width": max(width, 1),
                    "unit": "-",
                    "description": "",
                    "dtype": str(arr.dtype),
                    "module": "",
                }
    return out


def write_graph(
    h5file: h5py.File | str | os.PathLike,
    graph: Any,
    float_dtype: Any = "float32",
    *,
    compression: str = "gzip",
    overwrite: bool = False,
    extra: Callable[[h5py.Group], None] | None = None,
) -> h5py.Group | str:
    """Write ``graph`` as one complete entry.

    The entry is built under ``/_tmp/<name>``, marked ``complete=1``, then moved to
    ``/<name>`` and the file flushed, so readers never see a half-written entry.

    Parameters
    ----------
    h5file : h5py.File or path
        An open, writable feature file, or a path (opened in append mode, created if needed).
    graph : Graph
    float_dtype : {"float32", "float64"}
        Storage dtype of floating-point features and positions.
    compression : {"gzip", "lzf", "none"}
    overwrite : bool
        Replace an existing entry with the same id (default: StorageError).
    extra : callable, optional
        ``extra(group)`` is called on the temporary entry group before it is committed (used
        to add grids); an exception there discards the entry.

    Returns
    -------
    h5py.Group
        The committed entry group; the entry id (str) when ``h5file`` was a path.
    """
    if not isinstance(h5file, h5py.Group):
        with open_h5(h5file, "a") as f:
            write_graph(
                f, graph, float_dtype, compression=compression, overwrite=overwrite, extra=extra
            )
        return str(graph.id)
    f = h5file.file
    if ATTR_FORMAT not in f.attrs:
        if len(f) == 0:
            init_root(f)
        else:
            raise StorageError(
                f"{f.filename}: not a deeprank_like feature file; cannot write to it"
            )
    dtype = _float_dtype(float_dtype)
    qid = str(graph.id)
    name = entry_name(qid)
    on_disk = f.driver in ("sec2", "stdio") and os.path.isfile(f.filename)
    if on_disk:  # in-memory, family, MPI-IO... drivers: no space management here
        _check_space(f, graph, qid)
        _reserve_space(f, graph, qid)
    with _no_space_guard(f, qid):
        if name in f:
            if not overwrite:
                raise StorageError(f"{f.filename}: entry {qid!r} already exists")
            _update_root(f, json_attr(f[name], ATTR_FEATURE_SPECS, {}) or {}, -1)
            del f[name]
        tmp = f.require_group(TMP)
        if name in tmp:
            del tmp[name]
        group = tmp.create_group(name)
        try:
            put = _Datasets(group, compression)
            specs = _write_entry(group, graph, dtype, put, qid)
            if extra is not None:
                extra(group)
            # every dataset went through `put` unless `extra` added some: then walk the group
            group.attrs[CHECKSUM_ATTR] = (
                combine_digests(put.digests)
                if extra is None
                else entry_checksum(group, put.digests)
            )
            group.attrs[ATTR_COMPLETE] = 1
            f.move(f"{TMP}/{name}", name)
        except BaseException as exc:
            if disk_full_errno(exc) is None and name in tmp:
                del tmp[name]
            raise
        _update_root(f, specs, +1)
        f.flush()
    if on_disk:
        _trim_reservation(f.filename)
    return f[name]


def _trim_reservation(path: str) -> None:
    """Cut the unused part of the space reserved by :func:`_reserve_space` (after a flush).

    HDF5 only truncates a file to its end of allocated space when it saw the file grow;
    the blocks reserved behind its back would otherwise stay as a tail of zeros.
    """
    eoa = end_of_file_address(path)
    try:
        if eoa is not None and os.path.getsize(path) > eoa:
            os.truncate(path, eoa)
    except OSError as exc:  # pragma: no cover - the tail only wastes space
        log.debug("cannot trim %s: %s", path, exc)


def _space_margin() -> int:
    raw = os.environ.get(SPACE_MARGIN_ENV, "").strip()
    if not raw:
        return _DEFAULT_MARGIN
    try:
        value = int(raw)
    except ValueError:
        raise StorageError(
            f"{SPACE_MARGIN_ENV}={raw!r}: expected a number of bytes (0 disables the check)"
        ) from None
    return max(value, 0)


def _raw_bytes(graph: Any) -> int:
    total = 0
    for values in (graph.node_features, graph.edge_features):
        total += sum(np.asarray(v).nbytes for v in values.values())
    n, e = graph.num_nodes, graph.num_edges
    return total + n * (3 * 8 + 16 + 8) + e * 8


def _check_space(f: h5py.File, graph: Any, qid: str) -> None:
    """DiskFullError before writing when the entry would leave less than the margin free.

    A write that fails half-way leaves HDF5 structures half-flushed; refusing early keeps
    the file intact. Quotas are invisible here: the guard around the write handles them.
    """
    margin = _space_margin()
    if margin == 0:
        return
    free = free_bytes(f.filename)
    if free is None:
        return
    need = _raw_bytes(graph) + margin
    if free < need:
        size = os.path.getsize(f.filename) if os.path.isfile(f.filename) else 0
        raise DiskFullError(
            f"{f.filename}: not enough space to write entry {qid!r}: {free:,} bytes free, "
            f"{need:,} needed (entry data + {margin:,} margin, {SPACE_MARGIN_ENV}); the file "
            f"holds {size:,} bytes ({int(f.attrs.get(ATTR_ENTRY_COUNT, 0))} entries), all complete"
        )


#: Bytes reserved per entry for HDF5 metadata, on top of the in-memory size of its arrays
#: (float64 in memory, float32 and compressed on disk: a generous bound for the data).
_METADATA_RESERVE = 128 * 1024


def _reserve_space(f: h5py.File, graph: Any, qid: str) -> None:
    """Allocate the blocks the entry will be written to before HDF5 writes anything.

    HDF5 appends new objects at the end of its allocated space (the superblock's
    end-of-file address, EOA); ``posix_fallocate`` of the range after it makes a full disk,
    an exhausted quota or a file size limit fail *here*, with the file untouched, instead
    of half-way through a metadata flush that would damage the entries already written.
    HDF5 truncates the unused part when it closes the file.
    """
    path = f.filename
    need = _raw_bytes(graph) + _METADATA_RESERVE
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return  # e.g. an in-memory or custom driver: the guard still applies
    try:
        start = end_of_file_address(path)
        if start is None:
            start = os.fstat(fd).st_size
        os.posix_fallocate(fd, start, need)
    except OSError as exc:
        code = disk_full_errno(exc)
        if code is None:  # fallocate unsupported here: nothing reserved, the guard applies
            log.debug("cannot reserve space in %s: %s", path, exc)
            return
        free = free_bytes(path)
        size = os.path.getsize(path)
        raise DiskFullError(
            f"{path}: {NO_SPACE_TEXT[code]}: cannot reserve {need:,} bytes for entry {qid!r} "
            f"(the file holds {size:,} bytes, {int(f.attrs.get(ATTR_ENTRY_COUNT, 0))} entries, all "
            f"complete; {'unknown' if free is None else f'{free:,}'} bytes free on its file "
            "system)"
        ) from exc
    finally:
        os.close(fd)


@contextlib.contextmanager
def _no_space_guard(f: h5py.File, qid: str) -> Any:
    """Turn a failed write for lack of space into one :class:`DiskFullError`.

    h5py reports a failed write partly as exceptions and partly as "Exception ignored"
    tracebacks printed while it frees objects (hundreds of lines); those are silenced here.
    On such a failure the file is frozen (its descriptor reopened read-only, so closing it
    cannot scribble half of HDF5's cached metadata over the entries already on disk) and
    closed; the caller's file object is then closed.
    """
    seen: list[BaseException] = []
    old_unraisable, old_excepthook = sys.unraisablehook, sys.excepthook

    def unraisable(info: Any) -> None:
        if disk_full_errno(info.exc_value) is not None or seen:
            seen.append(info.exc_value)
            return
        old_unraisable(info)

    def excepthook(tp: Any, value: BaseException, tb: Any) -> None:
        if disk_full_errno(value) is not None or seen:
            seen.append(value)
            return
        old_excepthook(tp, value, tb)

    sys.unraisablehook, sys.excepthook = unraisable, excepthook
    path = f.filename
    entries = int(f.attrs.get(ATTR_ENTRY_COUNT, 0))
    try:
        try:
            yield
        except BaseException as exc:
            if disk_full_errno(exc) is None and not seen:
                raise
            seen.insert(0, exc)
        if not seen:
            return
        cause = seen[0]
        _freeze_and_close(f, path)
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        free = free_bytes(path)
        code = disk_full_errno(cause) or errno.ENOSPC
        reason = NO_SPACE_TEXT.get(code, os.strerror(code))
        FAILED_WRITES[os.path.abspath(path)] = reason
        raise DiskFullError(
            f"{path}: {reason} while writing entry {qid!r}; the file holds {size:,} bytes and "
            f"{entries} complete entries written before ({'unknown' if free is None else f'{free:,}'}"
            " bytes free on its file system)"
        ) from cause
    finally:
        sys.unraisablehook, sys.excepthook = old_unraisable, old_excepthook


def _freeze_and_close(f: h5py.File, path: str) -> None:
    """Close a file whose writes fail without letting HDF5 write anything more to it.

    ``f`` must not be touched after the close attempt (HDF5 may have half-closed it).
    """
    try:
        if f.driver != "sec2":  # only sec2's handle is a file descriptor
            raise TypeError(f"driver {f.driver!r}")
        fd = int(f.id.get_vfd_handle())
        ro = os.open(path, os.O_RDONLY)
        try:
            os.dup2(ro, fd)
        finally:
            os.close(ro)
    except (OSError, TypeError, ValueError, RuntimeError) as exc:  # other drivers: best effort
        log.debug("could not freeze %s: %s", path, exc)
    try:
        f.close()
    except Exception as exc:  # the close itself fails to flush: expected
        log.debug("closing %s after a failed write: %s", path, exc)
    gc.collect()


def _write_entry(group: h5py.Group, graph: Any, dtype: np.dtype, put: _Datasets, qid: str) -> dict:
    n, e = graph.num_nodes, graph.num_edges
    nf = group.create_group(NODE_FEATURES)
    for key in sorted(graph.node_features):
        arr = _feature_array(graph.node_features[key], dtype)
        if arr.shape[:1] != (n,):
            raise StorageError(
                f"query {qid}: node feature {key!r} has {arr.shape[:1]} rows, expected {n}"
            )
        put(nf, key, arr)
    ef = group.create_group(EDGE_FEATURES)
    for key in sorted(graph.edge_features):
        arr = _feature_array(graph.edge_features[key], dtype)
        if arr.shape[:1] != (e,):
            raise StorageError(
                f"query {qid}: edge feature {key!r} has {arr.shape[:1]} rows, expected {e}"
            )
        put(ef, key, arr)
    edge_index = np.asarray(graph.edge_index).reshape(2, -1)
    if edge_index.size and (edge_index.min() < 0 or edge_index.max() >= n):
        raise StorageError(f"query {qid}: edge_index refers to nodes outside 0..{n - 1}")
    put(group, EDGE_INDEX, np.ascontiguousarray(edge_index, dtype=np.int32))
    put(group, POSITIONS, np.ascontiguousarray(graph.positions, dtype=dtype).reshape(n, 3))
    put(group, CENTER, np.asarray(graph.center, dtype=np.float64).reshape(3), compressed=False)
    put(group, NODE_IDS, _node_ids(graph))
    if graph.residue_index is not None:
        put(group, RESIDUE_INDEX, np.asarray(graph.residue_index, dtype=np.int32))
    if graph.atom_index is not None:
        put(group, ATOM_INDEX, np.asarray(graph.atom_index, dtype=np.int32))
    tg = group.create_group(TARGETS)
    for key in sorted(graph.targets):
        put(tg, key, _target_array(key, graph.targets[key], qid), compressed=False)
    specs = _entry_specs(graph)
    metadata = {k: v for k, v in graph.metadata.items() if k != "query"}
    query = graph.metadata.get("query", {})
    a = group.attrs
    a[ATTR_ID] = qid
    a[ATTR_KIND] = str(query.get("kind", ""))
    a[ATTR_RESOLUTION] = str(graph.resolution)
    a[ATTR_NUM_NODES] = n
    a[ATTR_NUM_EDGES] = e
    a[ATTR_FLOAT_DTYPE] = dtype.name
    a[ATTR_QUERY] = json.dumps(query, sort_keys=True, default=str)
    a[ATTR_FEATURE_SPECS] = json.dumps(specs, sort_keys=True)
    a[ATTR_METADATA] = json.dumps(metadata, sort_keys=True, default=_json_default)
    a[ATTR_PACKAGE_VERSION] = package_version()
    a[ATTR_SCHEMA_VERSION] = SCHEMA_VERSION
    return specs


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _failure_rows(records: Iterable[Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for r in records:
        if isinstance(r, Mapping):
            row = (r["query_id"], r["stage"], r["exc_type"], r["message"])
        else:
            row = tuple(r)
        qid, stage, exc_type, message = (str(x) for x in row)
        rows.append((qid, stage, exc_type, message[:MAX_MESSAGE]))
    return rows


def read_failure_rows(f: h5py.File) -> list[tuple[str, str, str, str]]:
    """The failure table of an open file as tuples of str."""
    if FAILURES not in f:
        return []
    data = f[FAILURES][()]
    out = []
    for row in data:
        out.append(tuple(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in row))
    return out


def _store_failures(f: h5py.File, rows: list[tuple[str, str, str, str]]) -> None:
    if FAILURES in f:
        del f[FAILURES]
    if not rows:
        return
    table = np.array(rows, dtype=FAILURE_DTYPE)
    f.create_dataset(FAILURES, data=table, chunks=True, maxshape=(None,), compression="gzip")


def write_failures(f: h5py.File, records: Iterable[Any]) -> None:
    """Add failure records (dicts or ``(query_id, stage, exc_type, message)`` tuples).

    A new record replaces an older one of the same query id.
    """
    new = _failure_rows(records)
    if not new:
        return
    ids = {r[0] for r in new}
    rows = [r for r in read_failure_rows(f) if r[0] not in ids] + new
    _store_failures(f, rows)
    f.flush()


def remove_failures(f: h5py.File, query_ids: Iterable[str]) -> None:
    """Drop the failure records of ``query_ids`` (e.g. once they succeeded)."""
    ids = set(query_ids)
    rows = read_failure_rows(f)
    kept = [r for r in rows if r[0] not in ids]
    if len(kept) != len(rows):
        _store_failures(f, kept)
