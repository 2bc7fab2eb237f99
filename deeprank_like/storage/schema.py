"""Constants of the HDF5 layout (schema version 1; see docs/hdf5.md).

Every name of the file (root attributes, entry groups and arrays, entry attributes, the grid
group) is defined here once; the readers and writers of :mod:`deeprank_like.storage` are the
only code that uses them, and everything else reads and writes through those.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import h5py
import numpy as np

__all__ = [
    "ATOM_INDEX",
    "ATTR_COMPLETE",
    "ATTR_CONFIG",
    "ATTR_CREATED_BY",
    "ATTR_ENTRY_COUNT",
    "ATTR_FEATURE_COUNTS",
    "ATTR_FEATURE_SPECS",
    "ATTR_FLOAT_DTYPE",
    "ATTR_FORMAT",
    "ATTR_ID",
    "ATTR_KIND",
    "ATTR_METADATA",
    "ATTR_NUM_EDGES",
    "ATTR_NUM_NODES",
    "ATTR_PACKAGE_VERSION",
    "ATTR_QUERY",
    "ATTR_RESOLUTION",
    "ATTR_SCHEMA_VERSION",
    "CENTER",
    "COMPRESSIONS",
    "EDGE_FEATURES",
    "EDGE_INDEX",
    "FAILURES",
    "FAILURE_DTYPE",
    "FEATURE_GROUPS",
    "FORMAT",
    "GRIDS",
    "LIBVER",
    "NODE_FEATURES",
    "NODE_IDS",
    "NODE_ID_H5_DTYPE",
    "POSITIONS",
    "RESERVED_PREFIX",
    "RESIDUE_INDEX",
    "SCHEMA_VERSION",
    "STAGES",
    "TARGETS",
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
# ---- root attributes ------------------------------------------------------------------------
ATTR_FORMAT = "format"
ATTR_SCHEMA_VERSION = "schema_version"
ATTR_PACKAGE_VERSION = "package_version"
ATTR_CREATED_BY = "created_by"
#: JSON: the featurisation config of the run that made the file.
ATTR_CONFIG = "config"
#: JSON ``{name: spec}`` (root: union over the entries; entry: that entry's features).
ATTR_FEATURE_SPECS = "feature_specs"
#: JSON ``{name: number of complete entries holding it}`` (root only).
ATTR_FEATURE_COUNTS = "feature_counts"
#: Number of complete entries (root only).
ATTR_ENTRY_COUNT = "entry_count"

# ---- inside an entry group -------------------------------------------------------------------
#: Group of node feature arrays, (N,) or (N, k) each.
NODE_FEATURES = "node_features"
#: Group of edge feature arrays, (E,) or (E, k) each.
EDGE_FEATURES = "edge_features"
#: Feature group of each feature kind.
FEATURE_GROUPS = {"node": NODE_FEATURES, "edge": EDGE_FEATURES}
#: Group of target values (scalar or (k,)).
TARGETS = "targets"
#: Group of grids (``000`` unrotated, ``001``… augmented; see :mod:`deeprank_like.storage.grids`).
GRIDS = "grids"
EDGE_INDEX = "edge_index"
POSITIONS = "positions"
CENTER = "center"
NODE_IDS = "node_ids"
RESIDUE_INDEX = "residue_index"
ATOM_INDEX = "atom_index"

# ---- entry attributes ------------------------------------------------------------------------
#: 1 once the entry is fully written; readers ignore entries without it.
ATTR_COMPLETE = "complete"
#: The query id (the group name is its escaped form, see :func:`entry_name`).
ATTR_ID = "id"
ATTR_KIND = "kind"
ATTR_RESOLUTION = "resolution"
ATTR_NUM_NODES = "num_nodes"
ATTR_NUM_EDGES = "num_edges"
#: Storage dtype of the floating-point arrays ("float32" or "float64").
ATTR_FLOAT_DTYPE = "float_dtype"
#: JSON: the query's ``to_dict()``.
ATTR_QUERY = "query"
#: JSON: the graph's metadata (without the query).
ATTR_METADATA = "metadata"

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
