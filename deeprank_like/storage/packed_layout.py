"""Packed file layout: format constants, source records and the staleness check.

Shared by the writer (:mod:`deeprank_like.storage.packed_writer`) and the reader
(:mod:`deeprank_like.storage.packed`); the layout itself is described in the latter's
module docstring.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from deeprank_like.errors import StorageError

__all__ = [
    "PACKED_FORMAT",
    "PACKED_VERSION",
    "StalePackedFileError",
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
