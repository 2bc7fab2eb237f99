"""HDF5 persistence of featurised graphs (layout: docs/hdf5.md, schema version 1).

Main entry points: :func:`write_graph`, :func:`read_graph`, :func:`list_entries`,
:func:`open_feature_file` (validated, read-only :class:`FeatureFile`), :func:`merge_files`.
"""

from deeprank_like.storage.files import is_feature_file, open_h5
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
    "FeatureFile",
    "MergeResult",
    "entry_id",
    "entry_name",
    "is_feature_file",
    "list_entries",
    "merge_files",
    "open_feature_file",
    "open_h5",
    "read_failures",
    "read_graph",
    "remove_failures",
    "write_failures",
    "write_graph",
]
