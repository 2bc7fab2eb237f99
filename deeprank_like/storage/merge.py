"""Combine feature files (e.g. worker shards) into one."""

from __future__ import annotations

import glob
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py

from deeprank_like.errors import StorageError
from deeprank_like.storage.entries import stored_id
from deeprank_like.storage.files import (
    DiskFullError,
    copy_object,
    disk_full_errno,
    entry_summary,
    open_h5,
    os_error_message,
    package_version,
    scan_summary,
    write_summary,
)
from deeprank_like.storage.integrity import FileCheck, check_file
from deeprank_like.storage.lock import OutputLock
from deeprank_like.storage.reader import complete_entry_names
from deeprank_like.storage.schema import (
    ATTR_CONFIG,
    ATTR_CREATED_BY,
    ATTR_ENTRY_COUNT,
    ATTR_PACKAGE_VERSION,
    entry_id,
    entry_name,
)
from deeprank_like.storage.writer import _store_failures, read_failure_rows

__all__ = ["MergeResult", "merge_files"]

log = logging.getLogger(__name__)


@dataclass
class MergeResult:
    """What :func:`merge_files` did.

    ``corrupt`` lists ``(query id, input path, reason)`` of entries that failed verification
    and were not copied (they are added to the output's failure table); ``unreadable`` lists
    ``(input path, reason)`` of inputs skipped with ``repair=True``.
    """

    output: str
    entries: int = 0
    copied: int = 0
    duplicates: list[str] = field(default_factory=list)
    failures: int = 0
    corrupt: list[tuple[str, str, str]] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True if no entry was dropped as corrupt and every input could be read."""
        return not self.corrupt and not self.unreadable

    def __str__(self) -> str:
        dropped = f", {len(self.corrupt)} corrupt entries NOT copied" if self.corrupt else ""
        skipped = f", {len(self.unreadable)} unreadable inputs skipped" if self.unreadable else ""
        return (
            f"{self.output}: {self.entries} entries ({self.copied} copied, "
            f"{len(self.duplicates)} duplicates skipped{dropped}{skipped}), "
            f"{self.failures} failures"
        )


def merge_files(
    inputs: Iterable[str | os.PathLike],
    out: str | os.PathLike,
    *,
    overwrite: bool = False,
    append: bool = False,
    on_duplicate: str = "error",
    delete_inputs: bool = False,
    repair: bool = False,
    created_by: str = "merge",
    verified: Mapping[str, FileCheck] | None = None,
) -> MergeResult:
    """Copy the complete entries of ``inputs`` into ``out``.

    The result is written to a temporary file next to ``out`` and renamed at the end, so
    ``out`` is never left half-written. Every entry is verified before it is copied
    (checksum, readability; see :func:`~deeprank_like.storage.integrity.check_entry`): a bad
    entry is never copied, it is listed in ``MergeResult.corrupt`` and in the failure table
    of ``out``. Compressed chunks are copied as they are. ``out`` is locked
    (``<out>.lock``) while it is written.

    Parameters
    ----------
    inputs : paths
        Feature files (shards). Incomplete entries and ``/_tmp`` are ignored.
    out : path
    overwrite : bool
        Replace an existing ``out``.
    append : bool
        Keep the entries of an existing ``out`` and add the new ones.
    on_duplicate : {"error", "skip"}
        An entry id present in two inputs (or in ``out`` when appending): StorageError, or
        keep the first one.
    delete_inputs : bool
        Remove the input files after a successful merge.
    repair : bool
        Repair the superblock of inputs left by killed or disk-full writers, and skip (and
        report in ``MergeResult.unreadable``) inputs that stay unreadable, instead of
        failing.
    created_by : str
        Value of the root attribute ``created_by`` of the result.
    verified : mapping, optional
        Input path (as given in ``inputs``) → its :func:`check_file` listing, made after the
        input's last write (``process`` has the worker processes verify their shards in
        parallel); those inputs are not verified again, the others are.

    Returns
    -------
    MergeResult

    Raises
    ------
    StorageError
        Unreadable/foreign input (without ``repair``), existing output, a duplicate entry,
        or an output locked by another writer (:class:`~deeprank_like.storage.lock.OutputLockedError`);
        :class:`~deeprank_like.storage.files.DiskFullError` when the output does not fit.
    """
    if on_duplicate not in ("error", "skip"):
        raise ValueError(f"on_duplicate must be 'error' or 'skip', got {on_duplicate!r}")
    out = os.fspath(out)
    paths = [os.fspath(p) for p in inputs]
    out_real = Path(out).resolve()
    if any(Path(p).resolve() == out_real for p in paths):
        raise StorageError(f"{out}: the output is also an input (use append=True to add to it)")
    for p in paths:
        if not Path(p).exists():
            raise StorageError(f"{p}: no such file")
    with OutputLock(out, "merge"):
        result = _merge_locked(
            paths, out, overwrite, append, on_duplicate, repair, created_by, verified or {}
        )
    if delete_inputs:
        for p in paths:
            os.remove(p)
    log.info("%s", result)
    return result


def _merge_locked(
    paths: list[str],
    out: str,
    overwrite: bool,
    append: bool,
    on_duplicate: str,
    repair: bool,
    created_by: str,
    verified: Mapping[str, FileCheck],
) -> MergeResult:
    exists = Path(out).exists()
    if exists and not (append or overwrite):
        raise StorageError(f"{out}: exists; pass overwrite=True (--overwrite) or append=True")
    for stale in glob.glob(glob.escape(out) + ".tmp-*"):  # left by a killed merge; we hold the lock
        log.warning("%s: removing %s left by an interrupted merge", out, stale)
        os.remove(stale)
    tmp = f"{out}.tmp-{os.getpid()}"
    result = MergeResult(output=out)
    try:
        if append and exists:
            open_h5(out, "r", repair=repair).close()  # validate before copying
            shutil.copyfile(out, tmp)
        with open_h5(tmp, "a") as dst:
            _merge_into(dst, paths, out, on_duplicate, repair, created_by, result, verified)
        with open(tmp, "rb+") as fh:  # the data must be on disk before the rename
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException as exc:
        if Path(tmp).exists():
            os.remove(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, StorageError):
            message = os_error_message(tmp, exc, "write")
            if message is not None:
                cls = DiskFullError if disk_full_errno(exc) is not None else StorageError
                raise cls(f"merging into {out}: {message}") from exc
        raise
    return result


def _merge_into(
    dst: h5py.File,
    paths: list[str],
    out: str,
    on_duplicate: str,
    repair: bool,
    created_by: str,
    result: MergeResult,
    verified: Mapping[str, FileCheck],
) -> None:
    fresh = int(dst.attrs.get(ATTR_ENTRY_COUNT, 0)) == 0 and not complete_entry_names(dst)
    own = check_file(dst)  # the entries of an existing output (append) are verified too
    if own.error:
        raise StorageError(f"{out}: cannot list its entries ({own.error})")
    corrupt_rows = []
    for name in own.incomplete:  # never read; would block a copy of that name
        del dst[name]
    for name, reason in own.bad.items():
        qid = entry_id(name)
        result.corrupt.append((qid, out, reason))
        corrupt_rows.append(
            (qid, "write", "StorageError", f"{out}: entry failed verification: {reason}")
        )
        log.warning("%s: entry %r failed verification (%s); dropped", out, qid, reason)
        del dst[name]
    origin: dict[str, str] = {name: out for name in own.good}
    specs: dict[str, Any] = {}
    counts: dict[str, int] = {}
    if own.good and (own.bad or own.incomplete):
        specs, counts = scan_summary(dst, own.good)
    elif own.good:
        specs, counts = entry_summary(dst, own.good)
    failures = read_failure_rows(dst)
    config_set = not fresh
    for path in paths:
        try:
            src = open_h5(path, "r", repair=repair)
        except DiskFullError:
            raise
        except StorageError as exc:
            if not repair:
                raise
            result.unreadable.append((path, str(exc)))
            log.warning("%s; skipped", exc)
            continue
        with src:
            if not config_set:
                dst.attrs[ATTR_CONFIG] = src.attrs.get(ATTR_CONFIG, "{}")
                config_set = True
            listing = verified.get(path) or check_file(src, names=_names(src, path, repair, result))
            for name, reason in listing.bad.items():
                qid = entry_id(name)
                result.corrupt.append((qid, path, reason))
                corrupt_rows.append(
                    (qid, "write", "StorageError", f"{path}: entry failed verification: {reason}")
                )
                log.warning("%s: entry %r failed verification (%s); not copied", path, qid, reason)
            copied = []
            for name in listing.good:
                if name in origin:
                    qid = stored_id(src[name], name)
                    if on_duplicate == "error":
                        raise StorageError(
                            f"entry {qid!r} is in both {origin[name]} and {path} "
                            "(use on_duplicate='skip' / --skip-duplicates to keep the first)"
                        )
                    result.duplicates.append(qid)
                    continue
                copy_object(src, name, dst)  # chunks as stored
                origin[name] = path
                copied.append(name)
            result.copied += len(copied)
            # the input's root summary when it covers exactly the entries copied
            if len(copied) == len(listing.good) and not listing.bad:
                got = entry_summary(src, copied) if copied else ({}, {})
            else:
                got = scan_summary(src, copied)
            for key, spec in got[0].items():
                specs.setdefault(key, spec)
            for key, n in got[1].items():
                counts[key] = counts.get(key, 0) + int(n)
            try:
                failures += read_failure_rows(src)
            except (OSError, KeyError, RuntimeError, ValueError) as exc:
                log.warning("%s: failure table unreadable (%s); not copied", path, exc)
    failures += corrupt_rows
    stored = _stored(dst, origin, {row[0] for row in failures})
    latest: dict[str, tuple] = {}
    for row in failures:
        if row[0] not in stored:
            latest[row[0]] = row
    _store_failures(dst, list(latest.values()))
    write_summary(dst, specs, counts, len(origin))
    dst.attrs[ATTR_CREATED_BY] = created_by
    dst.attrs[ATTR_PACKAGE_VERSION] = package_version()
    result.entries = len(origin)
    result.failures = len(latest)


def _stored(dst: h5py.File, origin: Mapping[str, str], ids: set[str]) -> set[str]:
    """The ids among ``ids`` that an entry of ``dst`` (group names ``origin``) stores.

    Entries written by this package are named :func:`entry_name` of their id, so an id is
    looked up by its name (and its ``id`` attribute read); other names (files written by
    other tools) make it read the id of every entry.
    """
    if not ids:
        return set()
    if all(entry_name(entry_id(name)) == name for name in origin):
        found = set()
        for qid in ids:
            name = entry_name(qid) if qid else ""
            if name in origin and stored_id(dst[name], name) == qid:
                found.add(qid)
        return found
    return ids & {stored_id(dst[name], name) for name in origin}


def _names(src: h5py.File, path: str, repair: bool, result: MergeResult) -> list[str]:
    """Root names of ``src``; StorageError (or, with ``repair``, none) if it cannot be listed."""
    try:
        return sorted(src.keys())
    except (OSError, KeyError, RuntimeError) as exc:
        message = f"{path}: cannot list its entries ({' '.join(str(exc).split())})"
        if not repair:
            raise StorageError(message) from exc
        result.unreadable.append((path, message))
        return []
