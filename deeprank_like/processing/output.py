"""The output files of a run: paths, shards of earlier runs, resume, the final merge."""

from __future__ import annotations

import glob
import logging
import os
import re
from pathlib import Path
from typing import Any

from deeprank_like.errors import StorageError
from deeprank_like.processing.summary import QueryFailure
from deeprank_like.processing.worker import file_signature, shard_path
from deeprank_like.storage.files import DiskFullError, init_root, open_h5
from deeprank_like.storage.integrity import FileCheck, check_file, describe_check, salvage_file
from deeprank_like.storage.merge import merge_files
from deeprank_like.storage.schema import entry_id
from deeprank_like.storage.writer import write_failures

__all__ = ["finish_output", "output_paths", "prepare_output", "select_shard"]

log = logging.getLogger(__name__)

_SHARD_RE = re.compile(r"\.shard-(\d+)-[^/]*\.hdf5$")


def strip_prefix(prefix: str | os.PathLike) -> str:
    """``prefix`` without a ``.hdf5``/``.h5``/``.hdf`` suffix."""
    p = os.fspath(prefix)
    for suffix in (".hdf5", ".h5", ".hdf"):
        if p.endswith(suffix):
            return p[: -len(suffix)]
    return p


def output_paths(prefix: str | os.PathLike) -> tuple[str, list[str]]:
    """``(<prefix>.hdf5, existing shard files of that prefix, oldest run first)``."""
    base = strip_prefix(prefix)
    shards = glob.glob(glob.escape(base) + ".shard-*.hdf5")
    shards = [s for s in shards if _SHARD_RE.search(s)]
    shards.sort(key=lambda s: (int(_SHARD_RE.search(s).group(1)), s))  # type: ignore[union-attr]
    return base + ".hdf5", shards


def select_shard(ids: list[str], shard: tuple[int, int] | None) -> set[str]:
    """The ids of slice ``i`` of ``n``: every n-th id of the sorted ids, starting at i."""
    if shard is None:
        return set(ids)
    i, n = (int(x) for x in shard)
    if n < 1 or not 0 <= i < n:
        raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
    return set(sorted(ids)[i::n])


def make_folder(base: str) -> None:
    """Create the folder of ``<base>.hdf5`` (StorageError naming it when that fails)."""
    folder = Path(base).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"{base}.hdf5: cannot create the output folder {folder} ({exc.strerror or exc})"
        ) from exc


def prepare_output(base: str, resume: bool, overwrite: bool) -> tuple[set[str], int]:
    """``(entry names already complete, number of this run)`` for the outputs of ``base``.

    Without ``resume`` or ``overwrite``, existing outputs are an error; ``overwrite``
    deletes them; ``resume`` keeps their verified entries (see :func:`completed`).
    Call it while holding the output lock.
    """
    out, shards = output_paths(base)
    existing = ([out] if Path(out).exists() else []) + shards
    if resume or overwrite:  # merge temporaries of a run killed while merging
        for stale in glob.glob(glob.escape(out) + ".tmp-*"):
            os.remove(stale)
    done: set[str] = set()
    if existing and not resume:
        if not overwrite:
            raise StorageError(
                f"{existing[0]} exists (output of an earlier run); pass resume=True "
                "(--resume) to finish that run, or overwrite=True (--overwrite) to replace it"
            )
        for path in existing:
            os.remove(path)
        shards = []
    elif existing:
        done, _, _ = completed(out, shards)
    runs = [int(m.group(1)) for m in map(_SHARD_RE.search, shards) if m]
    return done, 1 + max(runs, default=-1)


def finish_output(
    base: str,
    template: str,
    failures: list[QueryFailure],
    file_config: dict[str, Any],
    combine: bool,
    verified: dict[str, tuple[FileCheck, tuple[int, int]]] | None = None,
) -> tuple[list[str], str | None]:
    """Write this run's failures and (``combine``) merge the shards into ``<base>.hdf5``.

    Entries found corrupt while merging are appended to ``failures``. ``verified``: shard
    path -> (its listing, made by a worker, and the file's ``(size, mtime_ns)`` then); the
    merge does not verify again a shard that has not changed since. Returns
    ``(output files, the combined file or None)``.
    """
    # Failures of this run go to a shard of the parent (so they survive with combine=False),
    # a file of their own: the shard this process may have written entries to (serial, MPI
    # rank 0) stays as its check left it (``verified``).
    if failures:
        with open_h5(shard_path(template.replace("{pid}", "{pid}-failures")), "a") as f:
            if f.attrs.get("created_by") != "process" and int(f.attrs.get("entry_count", 0)) == 0:
                init_root(f, file_config, created_by="process")
            write_failures(f, [x.to_dict() for x in failures])
    out, shards = output_paths(base)
    if not combine:
        return shards, None
    if shards:
        unchanged = {
            path: check
            for path, (check, signature) in (verified or {}).items()
            if path in shards and file_signature(path) == signature
        }
        merged = merge_files(
            shards,
            out,
            append=Path(out).exists(),
            on_duplicate="skip",
            delete_inputs=True,
            repair=True,
            created_by="process",
            verified=unchanged,
        )
        for qid, where, reason in merged.corrupt:
            failures.append(QueryFailure(qid, "write", "StorageError", f"{where}: {reason}"))
    elif not Path(out).exists():
        with open_h5(out, "w") as f:
            init_root(f, file_config, created_by="process")
    return [out], out


def completed(out: str, shards: list[str]) -> tuple[set[str], list[str], list[str]]:
    """(verified complete entry names, usable files, files set aside) of earlier runs.

    Every complete entry is verified (:func:`~deeprank_like.storage.integrity.check_file`:
    readable, checksum). A file that is damaged, or holds an entry that fails, is salvaged:
    its good entries are copied into a new shard of the same run, the file is renamed
    ``*.unreadable`` (kept for inspection), and the bad entries are recomputed.
    """
    done: set[str] = set()
    usable, aside = [], []
    base = strip_prefix(out)
    for path in ([out] if Path(out).exists() else []) + shards:
        kept: list[str] = []
        check = None
        salvaged = ""
        try:
            f = open_h5(path, "r", repair=True)
        except DiskFullError:
            raise
        except StorageError as exc:
            reason = str(exc)
        else:
            with f:
                check = check_file(f)
                if check.ok:
                    kept = check.good
                else:
                    salvaged = salvage_path(base, path)
                    try:
                        with open_h5(salvaged, "w") as dst:
                            kept = salvage_file(f, dst, check)
                    except BaseException:  # e.g. disk full: leave everything as it was
                        Path(salvaged).unlink(missing_ok=True)
                        raise
            if check is not None and check.ok:
                done.update(kept)
                usable.append(path)
                continue
            reason = describe_check(check)  # type: ignore[arg-type]
            bad = "; ".join(f"{entry_id(k)}: {v}" for k, v in list(check.bad.items())[:3])
            reason += f" ({bad})" if bad else ""
        if salvaged == "" and os.path.getsize(path) == 0:
            os.remove(path)  # nothing to keep or inspect (its creation failed, e.g. disk full)
            log.warning("%s: empty file (its creation failed); removed", path)
            continue
        bad_path = path + ".unreadable"
        k = 1
        while Path(bad_path).exists():
            bad_path, k = f"{path}.unreadable.{k}", k + 1
        os.replace(path, bad_path)
        aside.append(bad_path)
        if salvaged:
            done.update(kept)
            usable.append(salvaged)
            log.warning(
                "%s; its %d good entries were copied to %s, the file renamed to %s, the other "
                "queries will be recomputed",
                reason,
                len(kept),
                salvaged,
                bad_path,
            )
        else:
            log.warning("%s; renamed to %s, its queries will be recomputed", reason, bad_path)
    return done, usable, aside


def salvage_path(base: str, damaged: str) -> str:
    """A new shard path for the good entries of ``damaged`` (same run number, or 0)."""
    m = _SHARD_RE.search(damaged)
    run = m.group(1) if m else "0"
    k = 0
    while True:
        path = f"{base}.shard-{run}-salvaged{k}-{os.getpid()}.hdf5"
        if not Path(path).exists():
            return path
        k += 1
