"""HDF5 persistence of featurised graphs (layout: docs/hdf5.md, schema version 1).

This package owns the feature-file format: every group, array and attribute name is in
:mod:`~deeprank_like.storage.schema`, and everything else reads and writes through its
modules.

Main entry points: :func:`write_graph`, :func:`read_graph`, :func:`list_entries`,
:func:`open_feature_file` (validated, read-only :class:`FeatureFile`), :func:`merge_files`;
the grid group: :func:`write_grid_group`, :func:`read_stored_grid` (:mod:`.grids`); the fast
per-entry readers under the datasets: :mod:`.entries`.
"""

from deeprank_like.storage.entries import EntryInfo, scan_entries
from deeprank_like.storage.files import is_feature_file, open_h5
from deeprank_like.storage.grids import StoredGrid, read_stored_grid, write_grid_group
from deeprank_like.storage.merge import MergeResult, merge_files
from deeprank_like.storage.reader import (
    FeatureFile,
    list_entries,
    open_feature_file,
    read_failures,
    read_graph,
)
from deeprank_like.storage.schema import FORMAT, SCHEMA_VERSION, entry_id, entry_name
from deeprank_like.storage.writer import remove_failures, write_failures, write_graph

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "EntryInfo",
    "FeatureFile",
    "MergeResult",
    "StoredGrid",
    "entry_id",
    "entry_name",
    "is_feature_file",
    "list_entries",
    "merge_files",
    "open_feature_file",
    "open_h5",
    "read_failures",
    "read_graph",
    "read_stored_grid",
    "remove_failures",
    "scan_entries",
    "write_failures",
    "write_graph",
    "write_grid_group",
]
