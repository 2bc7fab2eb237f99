"""`process()`: featurise a query collection into HDF5, in parallel, failure-tolerant, resumable."""

from __future__ import annotations

import glob
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from deeprank_like.errors import DeeprankLikeError, StorageError
from deeprank_like.processing.executors import WorkerCrash, available_cpus, get_executor
from deeprank_like.processing.summary import ProcessSummary, QueryFailure
from deeprank_like.processing.worker import run_query, shard_path
from deeprank_like.storage.files import DiskFullError, init_root, open_h5
from deeprank_like.storage.integrity import check_file, describe_check, salvage_file
from deeprank_like.storage.lock import OutputLock
from deeprank_like.storage.merge import merge_files
from deeprank_like.storage.schema import COMPRESSIONS, entry_id
from deeprank_like.storage.writer import write_failures

__all__ = ["output_paths", "process", "select_shard"]

log = logging.getLogger(__name__)

_SHARD_RE = re.compile(r"\.shard-(\d+)-[^/]*\.hdf5$")


def _strip_prefix(prefix: str | os.PathLike) -> str:
    p = os.fspath(prefix)
    for suffix in (".hdf5", ".h5", ".hdf"):
        if p.endswith(suffix):
            return p[: -len(suffix)]
    return p


def output_paths(prefix: str | os.PathLike) -> tuple[str, list[str]]:
    """``(<prefix>.hdf5, existing shard files of that prefix, oldest run first)``."""
    base = _strip_prefix(prefix)
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


def _queries(collection: Any) -> list[tuple[str, dict[str, Any]]]:
    from deeprank_like.query import query_from_dict

    items = list(collection.queries if hasattr(collection, "queries") else collection)
    out = []
    seen: set[str] = set()
    for item in items:
        query = query_from_dict(item) if isinstance(item, dict) else item
        qid = query.get_query_id()
        if qid in seen:
            raise DeeprankLikeError(
                f"duplicate query id {qid!r}; add the queries to a QueryCollection, which renames duplicates"
            )
        seen.add(qid)
        out.append((qid, query.to_dict()))
    return out


def _module_refs(feature_modules: Any) -> Any:
    from deeprank_like.features.registry import module_reference, resolve_modules

    if isinstance(feature_modules, str) and feature_modules.strip().lower() == "all":
        resolve_modules("all")  # fail fast on broken plugins
        return "all"
    modules, _ = resolve_modules(feature_modules)
    return [module_reference(m) for m in modules]


def describe_reference(ref: str) -> str:
    """Readable module reference (see :func:`deeprank_like.features.registry.describe_reference`)."""
    from deeprank_like.features.registry import describe_reference as describe

    return describe(ref)


def _check_importable(refs: Any, executor: Any) -> None:
    """Fail at once when worker processes could not import a module defined in ``__main__``."""
    serial = isinstance(executor, str) and executor.strip().lower() == "serial"
    if serial or isinstance(refs, str) or not isinstance(executor, str | None):
        return
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None):
        return  # a script: spawned workers re-import it as __mp_main__
    local = [describe_reference(r) for r in refs if describe_reference(r).startswith("__main__:")]
    if local:
        raise DeeprankLikeError(
            f"feature module(s) {', '.join(local)} are defined interactively (a notebook or the "
            "Python prompt) and cannot be imported by worker processes: move them to an "
            "importable .py file, or use executor='serial'"
        )


def _grid_config(settings: Any, method: Any, count: int, seed: Any) -> dict[str, Any] | None:
    if int(count) < 0:
        raise ValueError(f"grid_augmentation_count must be >= 0, got {count}")
    if settings is None:
        if method is not None or count:
            raise ValueError("grid_map_method / grid_augmentation_count need grid_settings")
        return None
    from deeprank_like.grid.settings import GridSettings, MapMethod

    settings = GridSettings.coerce(settings)
    method = MapMethod.parse(method if method is not None else MapMethod.GAUSSIAN)
    return {"settings": settings, "method": method, "augmentations": int(count), "seed": seed}


def _make_folder(base: str) -> None:
    folder = Path(base).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(
            f"{base}.hdf5: cannot create the output folder {folder} ({exc.strerror or exc})"
        ) from exc


def _completed(out: str, shards: list[str]) -> tuple[set[str], list[str], list[str]]:
    """(verified complete entry names, usable files, files set aside) of earlier runs.

    Every complete entry is verified (:func:`~deeprank_like.storage.integrity.check_file`:
    readable, checksum). A file that is damaged, or holds an entry that fails, is salvaged:
    its good entries are copied into a new shard of the same run, the file is renamed
    ``*.unreadable`` (kept for inspection), and the bad entries are recomputed.
    """
    done: set[str] = set()
    usable, aside = [], []
    base = _strip_prefix(out)
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
                    salvaged = _salvage_path(base, path)
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


def _salvage_path(base: str, damaged: str) -> str:
    """A new shard path for the good entries of ``damaged`` (same run number, or 0)."""
    m = _SHARD_RE.search(damaged)
    run = m.group(1) if m else "0"
    k = 0
    while True:
        path = f"{base}.shard-{run}-salvaged{k}-{os.getpid()}.hdf5"
        if not Path(path).exists():
            return path
        k += 1


def process(
    collection: Any,
    prefix: str | os.PathLike = "processed-queries",
    feature_modules: Any = None,
    cpu_count: int | None = None,
    combine_output: bool = True,
    grid_settings: Any = None,
    grid_map_method: Any = None,
    grid_augmentation_count: int = 0,
    grid_seed: int | None = 0,
    *,
    executor: Any = "processes",
    on_error: str = "record",
    resume: bool = False,
    overwrite: bool = False,
    shard: tuple[int, int] | None = None,
    float_dtype: str = "float32",
    compression: str = "gzip",
    progress: bool | None = None,
    verbose: bool = True,
    log_error_traceback: bool = False,
) -> ProcessSummary:
    """Featurise every query and write the graphs (and grids) to HDF5.

    Parameters
    ----------
    collection : QueryCollection, or iterable of queries or query dicts
    prefix : str or PathLike
        Output path without extension: writes ``<prefix>.hdf5`` (a trailing ``.hdf5`` is
        ignored). Workers write ``<prefix>.shard-<run>-<host>-<pid>.hdf5`` first.
    feature_modules : None, "all", name, module, or list
        As ``Query.build``; None means ``["components", "contact"]``.
    cpu_count : int, optional
        Worker processes for the ``"processes"``/``"mpi"``/``"dask"`` executors (default: all
        available CPUs; more is capped with a warning).
    combine_output : bool
        Merge the worker shards into ``<prefix>.hdf5`` (default) or keep the shard files.
    grid_settings : GridSettings, optional
        Also map every graph to grids (``grids/000`` …, see deeprank_like.grid).
    grid_map_method : MapMethod or str, optional
        Default ``MapMethod.GAUSSIAN``.
    grid_augmentation_count : int
        Extra randomly rotated grids per query.
    grid_seed : int or None
        Augmentation rotations depend only on ``(grid_seed, query id)``; None: not reproducible.
    executor : "processes" (default), "serial", "mpi", "dask", a dask scheduler address,
        an :class:`~deeprank_like.processing.executors.Executor`, a
        ``concurrent.futures.Executor`` or a dask ``Client``
        An executor object passed in is not closed, so it can be reused.
    on_error : {"record", "raise"}
        ``"record"``: a failing query is recorded (summary and ``/_failures``) and the run
        goes on. ``"raise"``: re-raise the first exception (debugging; use with
        ``executor="serial"`` for a full traceback).
    resume : bool
        Keep the entries of an interrupted or earlier run with the same prefix and process
        only the missing queries (earlier failures are retried).
    overwrite : bool
        Delete earlier outputs of this prefix first. Without ``resume`` or ``overwrite``,
        existing outputs are an error.
    shard : (i, n), optional
        Process only slice i (0-based) of n: the queries whose rank in the sorted list of
        query ids is ``i`` modulo ``n``. Deterministic, independent of insertion order.
    float_dtype : {"float32", "float64"}
    compression : {"gzip", "lzf", "none"}
    progress : bool, optional
        tqdm progress bar; default: only when stderr is a terminal.
    verbose : bool
        Print the one-line summary to stderr at the end.
    log_error_traceback : bool
        Store the full traceback in failure messages.

    Returns
    -------
    ProcessSummary
        Also behaves like the list of output files.
    """
    t0 = time.perf_counter()
    if on_error not in ("record", "raise"):
        raise ValueError(f"on_error must be 'record' or 'raise', got {on_error!r}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}")
    if str(float_dtype) not in ("float32", "float64"):
        raise ValueError(f"float_dtype must be 'float32' or 'float64', got {float_dtype!r}")
    grid = _grid_config(grid_settings, grid_map_method, grid_augmentation_count, grid_seed)
    refs = _module_refs(feature_modules)
    _check_importable(refs, executor)
    queries = _queries(collection)
    pre_failures = _pre_failures(collection, shard, on_error)
    wanted = select_shard([qid for qid, _ in queries], shard)
    queries = [(qid, d) for qid, d in queries if qid in wanted]

    base = _strip_prefix(prefix)
    _make_folder(base)
    with OutputLock(base + ".hdf5", "featurize run"):
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
            existing, shards = [], []
        elif existing:
            done, existing, _ = _completed(out, shards)
        run_no = 1 + max(
            [int(_SHARD_RE.search(s).group(1)) for s in shards if _SHARD_RE.search(s)],
            default=-1,  # type: ignore[union-attr]
        )
        from deeprank_like.storage.schema import entry_name

        todo = [(qid, d) for qid, d in queries if entry_name(qid) not in done]
        skipped = len(queries) - len(todo)
        if not queries:
            log.warning("no queries to process%s", f" in shard {shard}" if shard else "")

        file_config = {
            "feature_modules": refs
            if isinstance(refs, str)
            else [describe_reference(r) for r in refs],
            "float_dtype": str(float_dtype),
            "compression": compression,
            "grid": None
            if grid is None
            else {
                "points_counts": list(grid["settings"].points_counts),
                "sizes": list(grid["settings"].sizes),
                "method": grid["method"].name,
                "augmentation_count": grid["augmentations"],
                "seed": grid["seed"],
            },
            "shard": list(shard) if shard else None,
        }
        template = f"{base}.shard-{run_no}-{{host}}-{{pid}}.hdf5"
        config = {
            "modules": refs,
            "float_dtype": str(float_dtype),
            "compression": compression,
            "grid": grid,
            "shard_template": template,
            "on_error": on_error,
            "traceback": log_error_traceback,
            "file_config": file_config,
        }
        # Largest structures first: fewer idle workers at the end of a run (LPT scheduling).
        todo.sort(key=lambda item: -_file_size(item[1].get("pdb_path")))
        tasks = [{"id": qid, "query": d, "config": config} for qid, d in todo]

        summary = ProcessSummary(total=len(queries) + len(pre_failures), skipped=skipped)
        failures: list[QueryFailure] = list(pre_failures)
        disk_full = ""
        skips: dict[str, dict[str, int]] = {}  # module -> reason -> queries
        if tasks:
            n = cpu_count
            if executor in (None, "processes") and cpu_count is None:
                n = min(available_cpus(), len(tasks))  # no idle processes for tiny jobs
            ex, owned = get_executor(executor, n)
            summary.executor, summary.workers = ex.name, ex.n_workers
            bar = _progress_bar(len(tasks), progress)
            try:
                for i, result in ex.imap_unordered(run_query, tasks):
                    if isinstance(result, WorkerCrash):
                        failures.append(
                            QueryFailure(tasks[i]["id"], "worker", result.exc_type, result.message)
                        )
                        log.warning(
                            "query %s failed in a worker process: %s: %s",
                            tasks[i]["id"],
                            result.exc_type,
                            result.message,
                        )
                    elif result["ok"]:
                        summary.processed += 1
                        for name, reason in result.get("skipped_modules", {}).items():
                            counts = skips.setdefault(name, {})
                            counts[reason] = counts.get(reason, 0) + 1
                    elif result["exc_type"] == "DiskFullError":
                        disk_full = str(result["message"])
                        break  # a problem of the run: stop submitting, keep what is written
                    else:
                        failures.append(
                            QueryFailure(
                                result["query_id"],
                                result["stage"],
                                result["exc_type"],
                                result["message"],
                            )
                        )
                        log.warning(
                            "query %s failed at %s: %s: %s",
                            *(result[k] for k in ("query_id", "stage", "exc_type", "message")),
                        )
                    bar.update(1)
                    bar.set_postfix(failed=len(failures), refresh=False)
            finally:
                bar.close()
                if owned:
                    ex.close()
        else:
            summary.executor, summary.workers = (
                (executor if isinstance(executor, str) else "custom"),
                0,
            )

        if disk_full:
            raise DiskFullError(
                f"disk full: {disk_full}. The run stopped; the {summary.processed} entries it wrote "
                "are complete and kept: free space (or raise the quota), then run again with "
                "resume=True (--resume)"
            )
        # Failures of this run go to a shard of the parent (so they survive with combine_output=False).
        if failures:
            path = shard_path(template)
            with open_h5(path, "a") as f:
                if (
                    f.attrs.get("created_by") != "process"
                    and int(f.attrs.get("entry_count", 0)) == 0
                ):
                    init_root(f, file_config, created_by="process")
                write_failures(f, [x.to_dict() for x in failures])
        _, shards_now = output_paths(base)
        if combine_output:
            inputs = list(shards_now)
            if inputs or not Path(out).exists():
                if not inputs:
                    with open_h5(out, "w") as f:
                        init_root(f, file_config, created_by="process")
                else:
                    merged = merge_files(
                        inputs,
                        out,
                        append=Path(out).exists(),
                        on_duplicate="skip",
                        delete_inputs=True,
                        repair=True,
                        created_by="process",
                    )
                    for qid, where, reason in merged.corrupt:
                        failures.append(
                            QueryFailure(qid, "write", "StorageError", f"{where}: {reason}")
                        )
            summary.files, summary.output = [out], out
        else:
            summary.files = shards_now
        summary.failures = failures
        summary.skipped_modules = _describe_skips(skips, summary.processed)
        for name, why in summary.skipped_modules.items():
            log.warning("feature module %r skipped for %s", name, why)
        summary.seconds = time.perf_counter() - t0
        if verbose:
            print(summary.line(), file=sys.stderr)
        log.info("%s", summary.line())
        return summary


def _pre_failures(collection: Any, shard: Any, on_error: str) -> list[QueryFailure]:
    """Queries the collection could not make (``QueryCollection.failures``); shard 0 owns them."""
    rows = list(getattr(collection, "failures", None) or ())
    if shard is not None and int(shard[0]) != 0:
        return []
    out = [
        QueryFailure(str(r["query_id"]), str(r["stage"]), str(r["exc_type"]), str(r["message"]))
        for r in rows
    ]
    if out and on_error == "raise":
        raise DeeprankLikeError(
            f"query {out[0].query_id} could not be made: {out[0].exc_type}: {out[0].message}"
        )
    return out


def _describe_skips(skips: dict[str, dict[str, int]], processed: int) -> dict[str, str]:
    """``module -> "<n> of <processed> queries: <most frequent reason>"`` (one line per module)."""
    out = {}
    for name, reasons in sorted(skips.items()):
        n = sum(reasons.values())
        reason = max(reasons, key=lambda r: reasons[r])
        others = f" (and {len(reasons) - 1} other reason(s))" if len(reasons) > 1 else ""
        out[name] = f"{n} of {processed} queries: {reason}{others}"
    return out


def _file_size(path: Any) -> int:
    try:
        return os.path.getsize(path) if path else 0
    except OSError:
        return 0


def _progress_bar(total: int, progress: bool | None) -> Any:
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return progress_bar(total=total, disable=disable, unit="query", desc="featurize")


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm bar that works everywhere: the notebook widget when ipywidgets is installed,
    plain text otherwise (never tqdm's ``IProgress not found`` warning).

    Parameters
    ----------
    **kwargs
        Passed to ``tqdm`` (``total``, ``desc``, ``disable``, ...); ``file`` defaults to stderr.
    """
    from importlib.util import find_spec

    kwargs.setdefault("file", sys.stderr)
    in_notebook = "ipykernel" in sys.modules
    if in_notebook and find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm(**kwargs)
