"""Constants of the HDF5 layout (schema version 1; see docs/hdf5.md)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import h5py
import numpy as np

__all__ = [
    "COMPRESSIONS",
    "FAILURES",
    "FAILURE_DTYPE",
    "FORMAT",
    "LIBVER",
    "NODE_ID_H5_DTYPE",
    "RESERVED_PREFIX",
    "SCHEMA_VERSION",
    "STAGES",
    "TMP",
    "dataset_options",
    "entry_id",
    "entry_name",
]

#: Value of the root attribute ``format``.
FORMAT = "deeprank_like"
#: Layout version written by this package; readers refuse newer files.
SCHEMA_VERSION = 1
#: h5py ``libver`` of new files: compact groups, checksummed metadata (HDF5 >= 1.10 reads them).
LIBVER = "v110"
#: Root names starting with this are not entries.
RESERVED_PREFIX = "_"
#: Failure table at the root.
FAILURES = "_failures"
#: Scratch group of entries being written.
TMP = "_tmp"
#: Stages of a query a failure is attributed to.
STAGES = ("load", "build", "features", "grid", "write", "worker")
#: Longest stored failure message.
MAX_MESSAGE = 2000

_STR = h5py.string_dtype(encoding="utf-8")

#: On-disk node identifiers (ASCII bytes, NUL padded).
NODE_ID_H5_DTYPE = np.dtype(
    [
        ("chain", "S4"),
        ("residue_number", "<i4"),
        ("insertion_code", "S1"),
        ("residue_name", "S3"),
        ("atom_name", "S4"),
    ]
)

#: Rows of ``/_failures``.
FAILURE_DTYPE = np.dtype(
    [("query_id", _STR), ("stage", _STR), ("exc_type", _STR), ("message", _STR)]
)

#: Supported compressions and their h5py options (shuffle + fletcher32 always on).
COMPRESSIONS: dict[str, dict[str, Any]] = {
    "gzip": {"compression": "gzip", "compression_opts": 4},
    "lzf": {"compression": "lzf"},
    "none": {},
}


def dataset_options(array: np.ndarray, compression: str = "gzip") -> dict[str, Any]:
    """h5py ``create_dataset`` keywords for ``array``: one chunk, compressed, checksummed."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}")
    if array.size == 0 or array.ndim == 0 or compression == "none":
        return {}
    opts = dict(COMPRESSIONS[compression])
    opts.update(chunks=array.shape, shuffle=array.dtype.itemsize > 1, fletcher32=True)
    if array.dtype.kind == "V":  # compound: the shuffle filter works per byte, fine
        opts["shuffle"] = True
    return opts


def entry_name(query_id: str) -> str:
    """HDF5 group name of an entry: the id with ``%``, ``/`` and a leading ``_``/``.`` escaped."""
    name = str(query_id).replace("%", "%25").replace("/", "%2F")
    if name.startswith("_"):
        name = "%5F" + name[1:]
    elif name.startswith("."):
        name = "%2E" + name[1:]
    if not name:
        raise ValueError("an entry id must not be empty")
    return name


def entry_id(name: str) -> str:
    """Inverse of :func:`entry_name`."""
    return unquote(name)  # every "%" of an id is escaped, so plain unquoting inverts it
