"""Opening feature files: clear errors for foreign/corrupted files, root attributes."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import h5py

from deeprank_like.errors import StorageError
from deeprank_like.storage._superblock import repair_superblock, write_flag_set
from deeprank_like.storage.schema import (
    ATTR_CONFIG,
    ATTR_CREATED_BY,
    ATTR_ENTRY_COUNT,
    ATTR_FEATURE_COUNTS,
    ATTR_FEATURE_SPECS,
    ATTR_FORMAT,
    ATTR_PACKAGE_VERSION,
    ATTR_SCHEMA_VERSION,
    FORMAT,
    LIBVER,
    NODE_FEATURES,
    SCHEMA_VERSION,
)

__all__ = [
    "NO_SPACE_ERRNOS",
    "NO_SPACE_TEXT",
    "DiskFullError",
    "check_root",
    "copy_object",
    "disk_full_errno",
    "entry_summary",
    "free_bytes",
    "init_root",
    "is_feature_file",
    "open_h5",
    "os_error_message",
    "package_version",
    "scan_summary",
    "write_summary",
]

log = logging.getLogger(__name__)

#: errno values that mean "no room to write": full device, exhausted quota, file size limit.
NO_SPACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NO_SPACE_TEXT = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file size limit exceeded",
}


def copy_object(src: h5py.Group, name: str, dst: h5py.Group, dst_name: str | None = None) -> None:
    """Copy object ``name`` of ``src`` (a group: everything under it) to ``dst/dst_name``.

    One ``H5Ocopy``: chunks are copied as stored (no decompression), object headers are
    written at their final size, link names are UTF-8 (as h5py's own methods write them).
    """
    # a property list per call: one kept in a global outlives the HDF5 library at exit
    lcpl = h5py.h5p.create(h5py.h5p.LINK_CREATE)
    lcpl.set_char_encoding(h5py.h5t.CSET_UTF8)
    target = (name if dst_name is None else dst_name).encode("utf-8")
    h5py.h5o.copy(src.id, name.encode("utf-8"), dst.id, target, lcpl=lcpl)


#: Files whose writing failed in this process: path → reason (used to explain a later open).
FAILED_WRITES: dict[str, str] = {}


class DiskFullError(StorageError):
    """Writing a file failed for lack of space (full device, quota, or file size limit).

    A problem of the run, not of a query: ``process`` stops at the first one.
    """


def disk_full_errno(exc: BaseException) -> int | None:
    """The "no space" errno behind ``exc`` (an h5py/OS error), or None.

    h5py does not always set ``errno`` (errors raised while HDF5 frees an object carry
    it only in the text: ``errno = 28, error message = 'No space left on device'``).
    """
    code = getattr(exc, "errno", None)
    if code in NO_SPACE_ERRNOS:
        return int(code)
    text = str(exc)
    for code in NO_SPACE_ERRNOS:
        if f"errno = {code}," in text or os.strerror(code) in text:
            return code
    return None


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes for unprivileged users on the file system of ``path`` (or its folder)."""
    p = Path(path)
    for candidate in (p, *p.parents):
        if candidate.exists():
            try:
                return int(shutil.disk_usage(candidate).free)
            except OSError:
                return None
    return None


def os_error_message(path: str, exc: BaseException, action: str = "open") -> str | None:
    """A one-line explanation of an OS-level failure to write/create ``path``, or None.

    Covers a full disk/quota, a read-only file system, missing permission and a missing
    folder, whatever the wording of the HDF5 error stack.
    """
    code = disk_full_errno(exc)
    if code is not None:
        free = free_bytes(path)
        size = os.path.getsize(path) if os.path.isfile(path) else 0
        return (
            f"{path}: cannot {action}: {NO_SPACE_TEXT[code]} (the file holds {size:,} bytes; "
            f"{'unknown' if free is None else f'{free:,}'} bytes free on its file system)"
        )
    code = getattr(exc, "errno", None)
    text = str(exc)
    folder = os.path.dirname(os.path.abspath(path))
    if code == errno.EROFS or "Read-only file system" in text:
        return f"{path}: cannot {action}: {folder} is on a read-only file system"
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        where = path if os.path.exists(path) else folder
        return f"{path}: cannot {action}: permission denied ({where} is not writable for you)"
    if not os.path.isdir(folder):
        return f"{path}: cannot {action}: the folder {folder} does not exist"
    return None


def package_version() -> str:
    """Version of the installed deeprank_like."""
    try:
        from deeprank_like import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover - partial installs
        return "unknown"


def _repair(path: str) -> bool:
    changed = repair_superblock(path)
    if changed:
        log.warning(
            "%s: repaired the superblock left by a killed or disk-full writer (%s)",
            path,
            " and ".join(changed),
        )
    return bool(changed)


def _open_raw(path: str, mode: str, repair: bool) -> h5py.File:
    kwargs: dict[str, Any] = {"libver": LIBVER} if mode != "r" else {}
    try:
        return h5py.File(path, mode, **kwargs)
    except OSError as exc:
        text = str(exc)
        if mode != "r":
            explained = os_error_message(
                path, exc, "create" if not os.path.exists(path) else "open"
            )
            if explained is not None:
                cls = DiskFullError if disk_full_errno(exc) is not None else StorageError
                raise cls(explained) from exc
        if "consistency flags" in text or write_flag_set(path):
            if repair and _repair(path):
                try:
                    return h5py.File(path, mode, **kwargs)
                except OSError as exc2:
                    raise StorageError(_unreadable(path, exc2)) from exc2
            raise StorageError(f"{path}: {_flag_reason(path)}") from exc
        if repair and _repair(path):
            try:
                return h5py.File(path, mode, **kwargs)
            except OSError as exc2:
                raise StorageError(_unreadable(path, exc2)) from exc2
        if "unable to lock file" in text.lower():
            raise StorageError(
                f"{path}: cannot lock the file ({text}); another process has it open, or the "
                "file system does not support locking (set HDF5_USE_FILE_LOCKING=FALSE)"
            ) from exc
        raise StorageError(_unreadable(path, exc)) from exc


def _unreadable(path: str, exc: BaseException) -> str:
    """Why HDF5 cannot open ``path``, in words (empty, foreign, truncated, damaged)."""
    text = " ".join(str(exc).split())
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        size, head = -1, b""
    if size == 0:
        return f"{path}: empty file (0 bytes), not an HDF5 file"
    if "file signature not found" in text or (head and head != b"\x89HDF\r\n\x1a\n"):
        return (
            f"{path}: not an HDF5 file or corrupted (no HDF5 signature at its start; "
            f"{size:,} bytes, beginning {head[:8]!r})"
        )
    m = re.search(r"eof = (\d+).*stored_eof = (\d+)", text)
    if "truncated file" in text and m:
        return (
            f"{path}: not an HDF5 file or corrupted (truncated: {int(m.group(1)):,} of "
            f"{int(m.group(2)):,} bytes present; an interrupted copy or download?); copy it "
            "again, or resume=True sets it aside and recomputes its queries"
        )
    return f"{path}: not an HDF5 file or corrupted ({text})"


def _flag_reason(path: str) -> str:
    """Why a file may be marked "open for write", most likely cause first."""
    hint = (
        "if no process is writing it, open it with repair=True, `deeprank-like inspect "
        "--repair`, or run `h5clear -s`"
    )
    earlier = FAILED_WRITES.get(os.path.abspath(path))
    if earlier is not None:
        return (
            f"the file is marked as open for writing because an earlier write to it failed "
            f"({earlier}); {hint}"
        )
    free = free_bytes(path)
    if free is not None and free < (1 << 20):
        return (
            f"the file is marked as open for writing, and its file system is full ({free:,} "
            f"bytes free): a writer was most likely stopped by the full disk; free space, then "
            f"{hint}"
        )
    return (
        "the file is marked as open for writing: a writer was killed or stopped by a full "
        f"disk, or another process is writing it ({hint})"
    )


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
        Repair the superblock a killed or disk-full writer left (clear the "open for write"
        flag, raise a short end-of-file address; only when no process writes the file).

    Raises
    ------
    StorageError
        Missing, foreign, damaged or newer-schema file; :class:`DiskFullError` when a new
        file cannot be created for lack of space.
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
        _prepare(f, path, mode, check)
    except (OSError, KeyError, RuntimeError, ValueError) as exc:
        _close_quietly(f)
        if not (repair and _repair(path)):
            raise _damaged(path, exc) from exc
        f = _open_raw(path, mode, False)
        try:
            _prepare(f, path, mode, check)
        except (OSError, KeyError, RuntimeError, ValueError) as exc2:
            _close_quietly(f)
            raise _damaged(path, exc2) from exc2
        except BaseException:
            _close_quietly(f)
            raise
    except BaseException:
        _close_quietly(f)
        raise
    return f


def _prepare(f: h5py.File, path: str, mode: str, check: bool) -> None:
    if mode != "r" and ATTR_FORMAT not in f.attrs and len(f) == 0:
        init_root(f)
    if check:
        check_root(f, path)


def _damaged(path: str, exc: BaseException) -> StorageError:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError):
        text = text.strip("'\"")
    explained = os_error_message(path, exc, "write")
    if explained is not None:
        return DiskFullError(explained) if disk_full_errno(exc) else StorageError(explained)
    return StorageError(
        f"{path}: damaged HDF5 file ({text}); a writer may have been killed or stopped by a "
        "full disk: `deeprank-like inspect --repair --verify` checks it, resume=True salvages "
        "its complete entries"
    )


def _close_quietly(f: h5py.File) -> None:
    try:
        f.close()
    except Exception as exc:  # a damaged or frozen file may fail to flush on close
        log.debug("closing %s failed: %s", getattr(f, "filename", "?"), exc)


def check_root(f: h5py.File, path: str) -> None:
    """StorageError unless ``f`` is a deeprank_like feature file of a schema this package reads.

    The one check of the root attributes, used by every reader (:func:`open_h5` and the
    datasets' per-process handles).
    """
    fmt = f.attrs.get(ATTR_FORMAT)
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        hint = ""
        for key in list(f.keys())[:1]:
            item = f[key]
            if (
                isinstance(item, h5py.Group)
                and NODE_FEATURES in item
                and "_position" in item[NODE_FEATURES]
            ):
                hint = "; it looks like a DeepRank2 file"
        raise StorageError(
            f"{path}: not a deeprank_like feature file (no 'format' attribute"
            f"{'' if fmt is None else f', format={fmt!r}'}{hint})"
        )
    version = int(f.attrs.get(ATTR_SCHEMA_VERSION, -1))
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"{path}: schema version {version} is newer than this deeprank_like supports "
            f"({SCHEMA_VERSION}); upgrade deeprank_like"
        )
    if version < 1:
        raise StorageError(f"{path}: invalid schema_version attribute {version}")


_check_root = check_root  # old private name


def init_root(
    f: h5py.File, config: dict[str, Any] | None = None, created_by: str = "write_graph"
) -> None:
    """Write the root attributes of a new feature file."""
    f.attrs[ATTR_FORMAT] = FORMAT
    f.attrs[ATTR_SCHEMA_VERSION] = SCHEMA_VERSION
    f.attrs[ATTR_PACKAGE_VERSION] = package_version()
    f.attrs[ATTR_CREATED_BY] = created_by
    f.attrs[ATTR_CONFIG] = json.dumps(config or {}, sort_keys=True, default=str)
    f.attrs[ATTR_FEATURE_SPECS] = "{}"
    f.attrs[ATTR_FEATURE_COUNTS] = "{}"
    f.attrs[ATTR_ENTRY_COUNT] = 0


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


def scan_summary(f: h5py.File, names: Iterable[str]) -> tuple[dict[str, Any], dict[str, int]]:
    """``(specs, counts)`` over the entries ``names``: the union of their ``feature_specs``."""
    specs: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for name in names:
        for key, spec in (json_attr(f[name], ATTR_FEATURE_SPECS, {}) or {}).items():
            specs.setdefault(key, spec)
            counts[key] = counts.get(key, 0) + 1
    return specs, counts


def entry_summary(f: h5py.File, names: list[str]) -> tuple[dict[str, Any], dict[str, int]]:
    """``(specs, counts)`` of the complete entries ``names`` of a file.

    The root attributes when they are consistent with ``names`` (``entry_count`` equal to
    their number), else a scan of the entries (:func:`scan_summary`).
    """
    specs = json_attr(f, ATTR_FEATURE_SPECS, None)
    counts = json_attr(f, ATTR_FEATURE_COUNTS, None)
    if (
        specs is not None
        and counts is not None
        and int(f.attrs.get(ATTR_ENTRY_COUNT, -1)) == len(names)
    ):
        return dict(specs), dict(counts)
    return scan_summary(f, names)


def write_summary(
    f: h5py.File,
    specs: dict[str, Any],
    counts: dict[str, int],
    entry_count: int | None = None,
) -> None:
    """Write the root summary: ``feature_specs`` and ``feature_counts`` (and ``entry_count``).

    Only features with a count are listed; ``entry_count`` is left as is when None.
    """
    f.attrs[ATTR_FEATURE_SPECS] = json.dumps(
        {k: specs[k] for k in sorted(counts) if k in specs}, sort_keys=True
    )
    f.attrs[ATTR_FEATURE_COUNTS] = json.dumps(dict(sorted(counts.items())))
    if entry_count is not None:
        f.attrs[ATTR_ENTRY_COUNT] = int(entry_count)
