"""Opening feature files: clear errors for foreign/corrupted files, root attributes."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import h5py

from deeprank_like.errors import StorageError
from deeprank_like.storage._superblock import clear_write_flag, write_flag_set
from deeprank_like.storage.schema import FORMAT, LIBVER, SCHEMA_VERSION

__all__ = ["init_root", "is_feature_file", "open_h5", "package_version"]

log = logging.getLogger(__name__)


def package_version() -> str:
    """Version of the installed deeprank_like."""
    try:
        from deeprank_like import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - partial installs
        return "unknown"


def _open_raw(path: str, mode: str, repair: bool) -> h5py.File:
    kwargs: dict[str, Any] = {"libver": LIBVER} if mode != "r" else {}
    try:
        return h5py.File(path, mode, **kwargs)
    except OSError as exc:
        text = str(exc)
        if "consistency flags" in text or write_flag_set(path):
            if repair and clear_write_flag(path):
                log.warning("%s: cleared the 'open for write' flag left by a killed writer", path)
                try:
                    return h5py.File(path, mode, **kwargs)
                except OSError as exc2:
                    raise StorageError(f"{path}: not an HDF5 file or corrupted ({exc2})") from exc2
            raise StorageError(
                f"{path}: the file is marked as open for writing: another process is writing it, "
                "or a writer was killed (if no process is writing it, open it with repair=True, "
                "`deeprank-like inspect --repair`, or run `h5clear -s`)"
            ) from exc
        if "unable to lock file" in text.lower():
            raise StorageError(
                f"{path}: cannot lock the file ({text}); another process has it open, or the "
                "file system does not support locking (set HDF5_USE_FILE_LOCKING=FALSE)"
            ) from exc
        raise StorageError(f"{path}: not an HDF5 file or corrupted ({text})") from exc


def open_h5(
    path: str | os.PathLike,
    mode: str = "r",
    *,
    check: bool = True,
    repair: bool = False,
) -> h5py.File:
    """Open a feature file, turning every failure into a one-line :class:`StorageError`.

    Parameters
    ----------
    path : str or PathLike
    mode : {"r", "a", "w"}
        ``"a"`` creates the file if needed; ``"w"`` truncates. New files are initialised
        (root attributes, ``libver="v110"``).
    check : bool
        Refuse files that are not deeprank_like feature files or have a newer schema.
    repair : bool
        Clear the "open for write" flag a killed writer left (only when no process writes it).
    """
    path = os.fspath(path)
    if mode not in ("r", "a", "w"):
        raise ValueError(f"mode must be 'r', 'a' or 'w', got {mode!r}")
    if mode == "r":
        if not Path(path).exists():
            raise StorageError(f"{path}: no such file")
        if Path(path).is_dir():
            raise StorageError(f"{path}: is a directory, not an HDF5 file")
    f = _open_raw(path, mode, repair)
    try:
        if mode != "r" and "format" not in f.attrs and len(f) == 0:
            init_root(f)
        if check:
            _check_root(f, path)
    except BaseException:
        f.close()
        raise
    return f


def _check_root(f: h5py.File, path: str) -> None:
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        hint = ""
        for key in list(f.keys())[:1]:
            item = f[key]
            if (
                isinstance(item, h5py.Group)
                and "node_features" in item
                and "_position" in item["node_features"]
            ):
                hint = "; it looks like a DeepRank2 file"
        raise StorageError(
            f"{path}: not a deeprank_like feature file (no 'format' attribute"
            f"{'' if fmt is None else f', format={fmt!r}'}{hint})"
        )
    version = int(f.attrs.get("schema_version", -1))
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"{path}: schema version {version} is newer than this deeprank_like supports "
            f"({SCHEMA_VERSION}); upgrade deeprank_like"
        )
    if version < 1:
        raise StorageError(f"{path}: invalid schema_version attribute {version}")


def init_root(
    f: h5py.File, config: dict[str, Any] | None = None, created_by: str = "write_graph"
) -> None:
    """Write the root attributes of a new feature file."""
    f.attrs["format"] = FORMAT
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["package_version"] = package_version()
    f.attrs["created_by"] = created_by
    f.attrs["config"] = json.dumps(config or {}, sort_keys=True, default=str)
    f.attrs["feature_specs"] = "{}"
    f.attrs["feature_counts"] = "{}"
    f.attrs["entry_count"] = 0


def is_feature_file(path: str | os.PathLike) -> bool:
    """True if ``path`` opens as a deeprank_like feature file."""
    try:
        open_h5(path).close()
    except StorageError:
        return False
    return True


def json_attr(obj: h5py.Group | h5py.Dataset, name: str, default: Any = None) -> Any:
    """Decode a JSON attribute (``default`` if absent)."""
    raw = obj.attrs.get(name)
    if raw is None:
        return default
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        return json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise StorageError(
            f"{obj.file.filename}:{obj.name}: attribute {name!r} is not JSON"
        ) from exc
