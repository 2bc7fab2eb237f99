"""Integrity of feature files: per-entry checksums, verification, salvage of damaged files.

Every entry written by this package carries a ``checksum`` attribute,
``"blake2b-128:<32 hex digits>"``, over the data of all its datasets (see docs/hdf5.md,
"Integrity"). HDF5 itself checksums the metadata of ``libver="v110"`` files (object headers,
attributes, group indexes) and, through the fletcher32 filter, every compressed chunk; the
entry checksum adds the uncompressed datasets and catches an entry whose bytes changed in
any way. Entries of older files without the attribute are verified by reading every array
(HDF5's own checksums still apply) and reported as *unchecked*.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from deeprank_like.errors import StorageError
from deeprank_like.storage.schema import (
    ATTR_COMPLETE,
    ATTR_CONFIG,
    ATTR_CREATED_BY,
    ATTR_NUM_NODES,
    CENTER,
    EDGE_FEATURES,
    EDGE_INDEX,
    FAILURES,
    NODE_FEATURES,
    NODE_IDS,
    POSITIONS,
    RESERVED_PREFIX,
)

__all__ = [
    "CHECKSUM_ALGORITHM",
    "CHECKSUM_ATTR",
    "REQUIRED_ARRAYS",
    "EntryCheck",
    "FileCheck",
    "check_entry",
    "check_file",
    "combine_digests",
    "dataset_digest",
    "describe_check",
    "entry_checksum",
    "require_ok",
    "salvage_file",
]

log = logging.getLogger(__name__)

#: Entry attribute holding the checksum.
CHECKSUM_ATTR = "checksum"
#: Hash of :func:`entry_checksum` (prefix of the attribute value).
CHECKSUM_ALGORITHM = "blake2b-128"
#: Datasets every entry has (``node_features``/``edge_features`` are groups).
REQUIRED_ARRAYS = (EDGE_INDEX, POSITIONS, CENTER, NODE_IDS)


def _dtype_key(dtype: np.dtype) -> str:
    """Dtype as text without h5py's metadata (string encodings), so reads match writes."""
    if dtype.names is None:
        return dtype.str
    return ",".join(f"{n}:{dtype.fields[n][0].str}@{dtype.fields[n][1]}" for n in dtype.names)


def dataset_digest(path: str, array: np.ndarray) -> bytes:
    """Digest of one dataset: its path inside the entry, dtype, shape and C-order bytes."""
    arr = np.asarray(array)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{path}\0{_dtype_key(arr.dtype)}\0{arr.shape}\0".encode())
    if arr.dtype.kind == "O":  # variable-length strings: hash the values, not the pointers
        h.update(repr(arr.tolist()).encode())
    else:
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.digest()


def combine_digests(digests: dict[str, bytes]) -> str:
    """The entry checksum from the digests of all its datasets (path → digest)."""
    h = hashlib.blake2b(digest_size=16)
    for path in sorted(digests):
        h.update(digests[path])
    return f"{CHECKSUM_ALGORITHM}:{h.hexdigest()}"


def _datasets(gid: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(path, low-level DatasetID) of every dataset under a low-level group, recursively.

    The low-level API costs a fraction of building h5py's high-level objects.
    """
    out: list[tuple[str, Any]] = []
    for raw in gid:
        obj = h5py.h5o.open(gid, raw)
        name = prefix + raw.decode("utf-8")
        if isinstance(obj, h5py.h5d.DatasetID):
            out.append((name, obj))
        elif isinstance(obj, h5py.h5g.GroupID):
            out.extend(_datasets(obj, name + "/"))
    return out


def _read(did: Any) -> np.ndarray:
    """Whole dataset of a low-level DatasetID."""
    out = np.empty(did.shape, dtype=did.dtype)
    if out.size:
        did.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def entry_checksum(group: h5py.Group, known: dict[str, bytes] | None = None) -> str:
    """The checksum of an entry group: every dataset under it, in sorted path order.

    Parameters
    ----------
    group : h5py.Group
        The entry group.
    known : dict, optional
        Digests (:func:`dataset_digest`) of datasets the caller has just written, by path
        relative to ``group``; the other datasets are read back.

    Returns
    -------
    str
        ``"blake2b-128:<hex>"``.
    """
    known = known or {}
    digests: dict[str, bytes] = {}
    for path, did in _datasets(group.id):
        digests[path] = known[path] if path in known else dataset_digest(path, _read(did))
    return combine_digests(digests)


@dataclass(frozen=True)
class EntryCheck:
    """Result of :func:`check_entry`.

    Attributes
    ----------
    ok : bool
        The entry can be read completely and (if it has one) matches its checksum.
    checked : bool
        The entry has a checksum attribute (False: only readability was tested).
    reason : str
        Why the entry is bad ("" when ok).
    """

    ok: bool
    checked: bool
    reason: str = ""


def check_entry(group: h5py.Group) -> EntryCheck:
    """Verify one complete entry: structure, readability of every array, checksum."""
    try:
        stored = group.attrs.get(CHECKSUM_ATTR)
        if isinstance(stored, bytes):
            stored = stored.decode()
        missing = [name for name in REQUIRED_ARRAYS if name not in group]
        missing += [name for name in (NODE_FEATURES, EDGE_FEATURES) if name not in group]
        if missing:
            return EntryCheck(False, stored is not None, f"missing {', '.join(missing)}")
        n = int(group.attrs.get(ATTR_NUM_NODES, -1))
        if n >= 0 and group[POSITIONS].shape[:1] != (n,):
            rows = group[POSITIONS].shape[0]
            return EntryCheck(
                False, stored is not None, f"positions has {rows} rows, num_nodes {n}"
            )
        computed = entry_checksum(group)
    except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
        text = " ".join(str(exc).split())
        if "filter" in text or "fletcher" in text.lower():
            return EntryCheck(False, False, f"a data chunk failed its checksum ({text})")
        return EntryCheck(False, False, f"unreadable ({text})")
    if stored is None:
        return EntryCheck(True, False)
    if str(stored) != computed:
        return EntryCheck(False, True, f"checksum mismatch ({stored} stored, {computed} computed)")
    return EntryCheck(True, True)


@dataclass
class FileCheck:
    """Result of :func:`check_file`: what is intact in one file.

    Attributes
    ----------
    path : str
    good : list of str
        Group names of the complete entries that verified.
    bad : dict
        Group name → reason, for complete entries that failed verification or could not be
        opened.
    unchecked : int
        Good entries without a checksum attribute (older files).
    incomplete : list of str
        Entry groups without ``complete == 1`` (ignored by every reader).
    error : str
        Why the file could not be listed at all ("" if it could).
    """

    path: str
    good: list[str] = field(default_factory=list)
    bad: dict[str, str] = field(default_factory=dict)
    unchecked: int = 0
    incomplete: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        """True if the file lists and every complete entry verified."""
        return not self.error and not self.bad


def check_file(f: h5py.File, names: Iterable[str] | None = None) -> FileCheck:
    """Verify the complete entries of an open file (or only ``names``); never raises on damage."""
    result = FileCheck(path=f.filename)
    try:
        keys = sorted(f.keys()) if names is None else sorted(names)
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        result.error = " ".join(str(exc).split())
        return result
    for name in keys:
        if name.startswith(RESERVED_PREFIX):
            continue
        try:
            obj = f.get(name)
            if not isinstance(obj, h5py.Group):
                result.bad[name] = "not a group"
                continue
            complete = int(obj.attrs.get(ATTR_COMPLETE, 0)) == 1
        except (OSError, KeyError, RuntimeError, ValueError, TypeError) as exc:
            result.bad[name] = f"unreadable ({' '.join(str(exc).split())})"
            continue
        if not complete:
            result.incomplete.append(name)
            continue
        check = check_entry(obj)
        if not check.ok:
            result.bad[name] = check.reason
            continue
        result.good.append(name)
        result.unchecked += not check.checked
    return result


def salvage_file(src: h5py.File, dst: h5py.File, check: FileCheck | None = None) -> list[str]:
    """Copy the entries of ``src`` that verify (and its failure table) into ``dst``.

    ``dst`` must be a new, writable feature file; its root summaries are recomputed.
    Returns the group names copied.
    """
    from deeprank_like.storage.files import copy_object, scan_summary, write_summary
    from deeprank_like.storage.writer import _store_failures, read_failure_rows

    check = check or check_file(src)
    for key in (ATTR_CONFIG, ATTR_CREATED_BY):
        try:
            if key in src.attrs:
                dst.attrs[key] = src.attrs[key]
        except (OSError, KeyError, RuntimeError):
            pass
    copied = []
    for name in check.good:
        try:
            copy_object(src, name, dst)
        except (OSError, KeyError, RuntimeError) as exc:
            log.warning("%s: entry %s could not be copied (%s)", src.filename, name, exc)
            if name in dst:
                del dst[name]
            continue
        copied.append(name)
    try:
        rows = read_failure_rows(src) if FAILURES in src else []
    except (OSError, KeyError, RuntimeError, ValueError):
        rows = []
    _store_failures(dst, rows)
    specs, counts = scan_summary(dst, copied)
    write_summary(dst, specs, counts, len(copied))
    dst.flush()
    return copied


def describe_check(check: FileCheck) -> str:
    """One line: ``"<path>: 12 entries verified, 1 bad, 2 incomplete"``."""
    parts = [f"{len(check.good)} entries verified"]
    if check.unchecked:
        parts.append(f"{check.unchecked} of them without checksum (readable)")
    if check.bad:
        parts.append(f"{len(check.bad)} bad")
    if check.incomplete:
        parts.append(f"{len(check.incomplete)} incomplete (ignored)")
    if check.error:
        parts = [f"cannot list entries ({check.error})"]
    return f"{os.fspath(check.path)}: " + ", ".join(parts)


def require_ok(check: FileCheck) -> None:
    """StorageError naming the bad entries of ``check``, if any."""
    if check.ok:
        return
    if check.error:
        raise StorageError(f"{check.path}: cannot list entries ({check.error})")
    shown = "; ".join(f"{k}: {v}" for k, v in list(check.bad.items())[:3])
    raise StorageError(f"{check.path}: {len(check.bad)} damaged entries ({shown})")
