"""Deprecated: the datasets' HDF5 access moved to :mod:`deeprank_like.storage.entries`.

Every name here is a re-export (or a thin wrapper) kept so that old imports work; the file
format, its schema version and the rule of what a complete entry is belong to
:mod:`deeprank_like.storage`.
"""

from __future__ import annotations

import h5py

from deeprank_like.storage.entries import (
    FileCache,
    has_link,
    iter_complete_groups,
    open_group,
    read_array,
    width_of,
)
from deeprank_like.storage.files import check_root
from deeprank_like.storage.schema import SCHEMA_VERSION

__all__ = [
    "FileCache",
    "check_feature_file",
    "has_link",
    "list_complete_entries",
    "open_group",
    "read_array",
    "width_of",
]

#: Deprecated alias of :data:`deeprank_like.storage.schema.SCHEMA_VERSION`.
SUPPORTED_SCHEMA = SCHEMA_VERSION


def check_feature_file(f: h5py.File, path: str) -> None:
    """Deprecated: :func:`deeprank_like.storage.files.check_root`."""
    check_root(f, path)


def list_complete_entries(f: h5py.File) -> list[str]:
    """Deprecated: group names of :func:`deeprank_like.storage.entries.scan_entries`."""
    return [name for name, _ in iter_complete_groups(f)]
