"""Combine feature files (e.g. worker shards) into one."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from deeprank_like.errors import StorageError
from deeprank_like.storage.files import json_attr, open_h5, package_version
from deeprank_like.storage.reader import complete_entry_names
from deeprank_like.storage.writer import _store_failures, read_failure_rows

__all__ = ["MergeResult", "merge_files"]

log = logging.getLogger(__name__)


@dataclass
class MergeResult:
    """What :func:`merge_files` did."""

    output: str
    entries: int = 0
    copied: int = 0
    duplicates: list[str] = field(default_factory=list)
    failures: int = 0

    def __str__(self) -> str:
        return (
            f"{self.output}: {self.entries} entries ({self.copied} copied, "
            f"{len(self.duplicates)} duplicates skipped), {self.failures} failures"
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
) -> MergeResult:
    """Copy the complete entries of ``inputs`` into ``out``.

    The result is written to a temporary file next to ``out`` and renamed at the end, so
    ``out`` is never left half-written. Compressed chunks are copied as they are.

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
        Clear the "open for write" flag of inputs left by killed writers.
    created_by : str
        Value of the root attribute ``created_by`` of the result.

    Returns
    -------
    MergeResult

    Raises
    ------
    StorageError
        Unreadable/foreign input, existing output, or a duplicate entry.
    """
    if on_duplicate not in ("error", "skip"):
        raise ValueError(f"on_duplicate must be 'error' or 'skip', got {on_duplicate!r}")
    out = os.fspath(out)
    paths = [os.fspath(p) for p in inputs]
    out_real = Path(out).resolve()
    if any(Path(p).resolve() == out_real for p in paths):
        raise StorageError(f"{out}: the output is also an input (use append=True to add to it)")
    exists = Path(out).exists()
    if exists and not (append or overwrite):
        raise StorageError(f"{out}: exists; pass overwrite=True (--overwrite) or append=True")
    for p in paths:
        if not Path(p).exists():
            raise StorageError(f"{p}: no such file")
    tmp = f"{out}.tmp-{os.getpid()}"
    if append and exists:
        open_h5(out, "r", repair=repair).close()  # validate before copying
        shutil.copyfile(out, tmp)
    elif Path(tmp).exists():
        os.remove(tmp)
    result = MergeResult(output=out)
    try:
        with open_h5(tmp, "a") as dst:
            fresh = int(dst.attrs.get("entry_count", 0)) == 0 and not complete_entry_names(dst)
            origin: dict[str, str] = {name: out for name in complete_entry_names(dst)}
            specs, counts = _summary(dst)
            failures = read_failure_rows(dst)
            config_set = not fresh
            for path in paths:
                with open_h5(path, "r", repair=repair) as src:
                    if not config_set:
                        dst.attrs["config"] = src.attrs.get("config", "{}")
                        config_set = True
                    for name in complete_entry_names(src):
                        if name in origin:
                            qid = str(src[name].attrs.get("id", name))
                            if on_duplicate == "error":
                                raise StorageError(
                                    f"entry {qid!r} is in both {origin[name]} and {path} "
                                    "(use on_duplicate='skip' / --skip-duplicates to keep the first)"
                                )
                            result.duplicates.append(qid)
                            continue
                        src.copy(src[name], dst, name=name)
                        origin[name] = path
                        result.copied += 1
                        for key, spec in (json_attr(src[name], "feature_specs", {}) or {}).items():
                            specs.setdefault(key, spec)
                            counts[key] = counts.get(key, 0) + 1
                    failures += read_failure_rows(src)
            ids = {str(dst[name].attrs.get("id", name)) for name in origin}
            latest: dict[str, tuple] = {}
            for row in failures:
                if row[0] not in ids:
                    latest[row[0]] = row
            _store_failures(dst, list(latest.values()))
            dst.attrs["feature_specs"] = json.dumps(
                {k: specs[k] for k in sorted(counts)}, sort_keys=True
            )
            dst.attrs["feature_counts"] = json.dumps(dict(sorted(counts.items())))
            dst.attrs["entry_count"] = len(origin)
            dst.attrs["created_by"] = created_by
            dst.attrs["package_version"] = package_version()
            result.entries = len(origin)
            result.failures = len(latest)
        os.replace(tmp, out)
    except BaseException:
        if Path(tmp).exists():
            os.remove(tmp)
        raise
    if delete_inputs:
        for p in paths:
            os.remove(p)
    log.info("%s", result)
    return result


def _summary(f) -> tuple[dict, dict]:
    names = complete_entry_names(f)
    if not names:
        return {}, {}
    specs = json_attr(f, "feature_specs", None)
    counts = json_attr(f, "feature_counts", None)
    if (
        specs is not None
        and counts is not None
        and int(f.attrs.get("entry_count", -1)) == len(names)
    ):
        return dict(specs), dict(counts)
    specs, counts = {}, {}
    for name in names:
        for key, spec in (json_attr(f[name], "feature_specs", {}) or {}).items():
            specs.setdefault(key, spec)
            counts[key] = counts.get(key, 0) + 1
    return specs, counts
