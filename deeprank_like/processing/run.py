"""`process()`: featurise a query collection into HDF5, in parallel, failure-tolerant, resumable.

The steps, one function each: settings (:func:`_settings`: a :class:`FeaturizeConfig`, or the
deprecated keywords mapped onto one), the modules the workers rebuild (:func:`_worker_modules`),
the queries of this shard (:func:`_queries`), the output files (:mod:`.output`), running the
tasks (:func:`_run_tasks`), and the final merge (:func:`~.output.finish_output`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

from deeprank_like.errors import DeeprankLikeError
from deeprank_like.processing.executors import WorkerCrash, available_cpus, get_executor
from deeprank_like.processing.executors_mpi import MPIWorldExecutor, mpi_world
from deeprank_like.processing.featurize_config import FeaturizeConfig
from deeprank_like.processing.legacy import LEGACY_POSITIONAL, config_from_keywords
from deeprank_like.processing.output import (
    finish_output,
    make_folder,
    output_paths,
    prepare_output,
    select_shard,
    strip_prefix,
)
from deeprank_like.processing.summary import ProcessSummary, QueryFailure
from deeprank_like.processing.worker import file_signature, run_query
from deeprank_like.storage.files import DiskFullError, open_h5
from deeprank_like.storage.integrity import FileCheck
from deeprank_like.storage.lock import OutputLock
from deeprank_like.storage.schema import entry_name

__all__ = ["output_paths", "process", "progress_bar", "select_shard"]

log = logging.getLogger(__name__)


def process(
    collection: Any,
    config: FeaturizeConfig | None = None,
    *args: Any,
    executor: Any = None,
    **kwargs: Any,
) -> ProcessSummary:
    """Featurise every query and write the graphs (and grids) to HDF5.

    Parameters
    ----------
    collection : QueryCollection, or iterable of queries or query dicts
    config : FeaturizeConfig, optional
        Output, feature modules, execution, storage and grid settings (default
        ``FeaturizeConfig()``); written as the ``config`` attribute of the output file.
        Outputs: ``<config.output>.hdf5`` (a trailing ``.hdf5`` is ignored); workers write
        ``<output>.shard-<run>-<host>-<pid>.hdf5`` first.
    executor : str or executor object, optional
        Replaces ``config.processing.executor`` for this run: a name (``"processes"``,
        ``"serial"``, ``"mpi"``, ``"dask"``, a dask scheduler address), an
        :class:`~deeprank_like.processing.executors.Executor`, a ``concurrent.futures``
        executor or a dask ``Client``. An executor object passed in is not closed, so it can
        be reused; it is not recorded in the file (it is not data).
    *args, **kwargs
        Deprecated: the keywords of the earlier signature (``prefix``, ``feature_modules``,
        ``cpu_count``, ``combine_output``, ``grid_settings``, ``grid_map_method``,
        ``grid_augmentation_count``, ``grid_seed``, ``on_error``, ``resume``, ``overwrite``,
        ``shard``, ``float_dtype``, ``compression``, ``progress``, ``verbose``,
        ``log_error_traceback``), mapped onto a ``FeaturizeConfig`` with a
        ``DeprecationWarning``. See docs/processing.md for each setting.

    Returns
    -------
    ProcessSummary
        Also behaves like the list of output files.

    Raises
    ------
    ConfigError
        A bad setting (naming it), before anything is read or written.
    StorageError
        The output exists without ``resume``/``overwrite``, or cannot be written.
    """
    t0 = time.perf_counter()
    config, executor = _settings(config, args, kwargs, executor)
    world = mpi_world(executor)  # ranks of `mpiexec -n N python script.py`: all featurise
    if world is None:
        return _process(collection, config, executor, t0)
    if world.rank != 0:
        return world.follow()
    try:
        summary = _process(collection, config, world, t0)
    except BaseException as exc:
        world.finish(error=exc)
        raise
    world.finish(summary)
    return summary


def _process(collection: Any, config: FeaturizeConfig, executor: Any, t0: float) -> ProcessSummary:
    """The body of :func:`process` once the settings are resolved."""
    run = config.processing
    modules = _worker_modules(config, executor)
    queries, pre_failures = _queries(collection, run.shard, run.on_error)
    base = strip_prefix(config.output)
    make_folder(base)
    with OutputLock(base + ".hdf5", "featurize run"):
        done, run_no = prepare_output(base, run.resume, run.overwrite)
        todo = [(qid, d) for qid, d in queries if entry_name(qid) not in done]
        if not queries:
            log.warning("no queries to process%s", f" in shard {run.shard}" if run.shard else "")
        template = f"{base}.shard-{run_no}-{{host}}-{{pid}}.hdf5"
        file_config = config.to_dict()
        task_config = {
            "settings": config,
            "modules": modules,
            "shard_template": template,
            "file_config": file_config,
        }
        # Largest structures first: fewer idle workers at the end of a run (LPT scheduling).
        todo.sort(key=lambda item: -_file_size(item[1].get("pdb_path")))
        tasks = [{"id": qid, "query": d, "config": task_config} for qid, d in todo]
        summary = ProcessSummary(
            total=len(queries) + len(pre_failures), skipped=len(queries) - len(todo)
        )
        outcome = _run_tasks(
            tasks, executor, run.cpu_count, run.progress, summary, (base, template)
        )
        outcome.failures[:0] = pre_failures
        if outcome.disk_full:
            raise DiskFullError(
                f"disk full: {outcome.disk_full}. The run stopped; the {summary.processed} "
                "entries it wrote are complete and kept: free space (or raise the quota), then "
                "run again with resume=True (--resume)"
            )
        summary.files, summary.output = finish_output(
            base,
            template,
            outcome.failures,
            file_config,
            config.storage.combine_output,
            verified=outcome.verified(),
        )
        summary.failures = outcome.failures
        summary.skipped_modules = _describe_skips(outcome.skips, summary.processed)
        for name, why in summary.skipped_modules.items():
            log.warning("feature module %r skipped for %s", name, why)
        summary.seconds = time.perf_counter() - t0
        if run.verbose:
            print(summary.line(), file=sys.stderr)
        log.info("%s", summary.line())
        return summary


def _settings(
    config: Any, args: tuple, kwargs: dict[str, Any], executor: Any
) -> tuple[FeaturizeConfig, Any]:
    """``(config, executor to run on)``; the deprecated keywords become a config here."""
    legacy = dict(kwargs)
    if config is not None and not isinstance(config, FeaturizeConfig):
        if isinstance(config, str | os.PathLike):  # the earlier positional prefix
            args, config = (config, *args), None
        else:
            raise TypeError(
                f"process(collection, config): config must be a FeaturizeConfig, got "
                f"{type(config).__name__}"
            )
    if len(args) > len(LEGACY_POSITIONAL):
        raise TypeError(
            f"process() takes at most {len(LEGACY_POSITIONAL) + 2} positional arguments"
        )
    for name, value in zip(LEGACY_POSITIONAL, args, strict=False):
        if name in legacy:
            raise TypeError(f"process() got multiple values for argument {name!r}")
        legacy[name] = value
    if legacy:
        if config is not None:
            raise TypeError(
                f"process(collection, config) takes no other settings (got {sorted(legacy)}): "
                "change the config with dataclasses.replace"
            )
        warnings.warn(
            f"process(..., {', '.join(f'{k}=' for k in legacy)}) is deprecated: pass a "
            "FeaturizeConfig, e.g. process(queries, FeaturizeConfig(output=..., "
            "feature_modules=[...])) (see docs/processing.md)",
            DeprecationWarning,
            stacklevel=3,
        )
        config = config_from_keywords(**legacy)
    config = config if config is not None else FeaturizeConfig()
    if isinstance(executor, str):
        config = config.replace(processing=replace(config.processing, executor=executor))
        executor = None
    return config, executor if executor is not None else config.processing.executor


def _worker_modules(config: FeaturizeConfig, executor: Any) -> Any:
    """What workers rebuild the modules from: ``"all"`` or spec dicts (JSON data).

    Names are resolved here (an unknown one fails at once, listing the valid names) and each
    module is recorded by its constructor arguments (:func:`~deeprank_like.features.registry.
    module_spec`), so a module registered only in this process still reaches the workers.
    """
    from deeprank_like.features.registry import module_spec, resolve_modules

    if config.feature_modules == "all":
        resolve_modules("all")  # fail fast on broken plugins
        return "all"
    _check_importable([spec.name for spec in config.feature_modules], executor)
    instances, _ = resolve_modules([spec.build() for spec in config.feature_modules])
    specs = [module_spec(m) for m in instances]
    _check_importable([s.name for s in specs], executor)
    return [s.to_dict() for s in specs]


def _check_importable(names: list[str], executor: Any) -> None:
    """Fail at once when worker processes could not import a module defined in ``__main__``."""
    serial = isinstance(executor, str) and executor.strip().lower() == "serial"
    if serial or not isinstance(executor, str):
        return
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None):
        return  # a script: spawned workers re-import it as __mp_main__
    local = [n for n in names if n.startswith("__main__:")]
    if local:
        raise DeeprankLikeError(
            f"feature module(s) {', '.join(local)} are defined interactively (a notebook or the "
            "Python prompt) and cannot be imported by worker processes: move them to an "
            "importable .py file, or use executor='serial'"
        )


def _queries(
    collection: Any, shard: tuple[int, int] | None, on_error: str
) -> tuple[list[tuple[str, dict[str, Any]]], list[QueryFailure]]:
    """``((query id, query dict) of this shard, failures of queries that could not be made)``."""
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
    pre_failures = _pre_failures(collection, shard, on_error)
    wanted = select_shard([qid for qid, _ in out], shard)
    return [(qid, d) for qid, d in out if qid in wanted], pre_failures


@dataclass
class _Outcome:
    """What running the tasks gave besides the counts kept in the summary."""

    failures: list[QueryFailure] = field(default_factory=list)
    skips: dict[str, dict[str, int]] = field(default_factory=dict)  # module -> reason -> n
    disk_full: str = ""
    #: shard path -> [number of check tasks, their (FileCheck, file signature) results]
    checks: dict[str, list[Any]] = field(default_factory=dict)

    def add_check(self, record: Any) -> None:
        """Keep the result of one shard-check task (:func:`~.worker.check_shard`)."""
        if not isinstance(record, dict) or "path" not in record:  # a crashed check task
            return
        entry = self.checks.setdefault(record["path"], [1, []])
        entry[1].append((record["check"], record["signature"]))

    def verified(self) -> dict[str, tuple[FileCheck, tuple[int, int]]]:
        """Shard path -> (its listing, the file signature it holds for).

        Only shards whose every check task came back, all with the same signature.
        """
        out = {}
        for path, (expected, parts) in self.checks.items():
            signatures = {sig for _, sig in parts}
            if len(parts) != expected or None in signatures or len(signatures) != 1:
                continue
            checks = [check for check, _ in parts]
            out[path] = (_combine_checks(path, checks), signatures.pop())
        return out


def _run_tasks(
    tasks: list[dict[str, Any]],
    executor: Any,
    cpu_count: int | None,
    progress: bool | None,
    summary: ProcessSummary,
    output: tuple[str, str] | None = None,
) -> _Outcome:
    """Run every task on the executor; count results into ``summary``; collect failures.

    With ``output`` (``(base, shard template)``) and more than one worker, the workers then
    verify the shards (:func:`_check_shards`), so that the final merge, which runs in one
    process, need not.
    """
    outcome = _Outcome()
    if not tasks:
        summary.executor = executor if isinstance(executor, str) else "custom"
        summary.workers = 0
        return outcome
    n = cpu_count
    if executor in (None, "processes") and cpu_count is None:
        n = min(available_cpus(), len(tasks))  # no idle processes for tiny jobs
    ex, owned = get_executor(executor, n)
    summary.executor, summary.workers = ex.name, ex.n_workers
    bar = _progress_bar(len(tasks), progress)
    items = tasks
    if not WORKERS_CHECK_SHARDS:
        output = None
    if output is not None and isinstance(ex, MPIWorldExecutor):
        # The last item of every rank's share: verify its own shard (rank r runs the items
        # r, r + N, ...; the N items after the tasks go to N different ranks).
        items = tasks + [_check_task(None, None, output[1])] * ex.n_workers
    try:
        for i, result in ex.imap_unordered(run_query, items):
            if i >= len(tasks):
                outcome.add_check(result)
                continue
            if isinstance(result, WorkerCrash):
                qid = tasks[i]["id"]
                outcome.failures.append(
                    QueryFailure(qid, "worker", result.exc_type, result.message)
                )
                log.warning(
                    "query %s failed in a worker process: %s: %s",
                    qid,
                    result.exc_type,
                    result.message,
                )
            elif result["ok"]:
                summary.processed += 1
                for name, reason in result.get("skipped_modules", {}).items():
                    counts = outcome.skips.setdefault(name, {})
                    counts[reason] = counts.get(reason, 0) + 1
            elif result["exc_type"] == "DiskFullError":
                outcome.disk_full = str(result["message"])
                break  # a problem of the run: stop submitting, keep what is written
            else:
                keys = ("query_id", "stage", "exc_type", "message")
                outcome.failures.append(QueryFailure(*(result[k] for k in keys)))
                log.warning("query %s failed at %s: %s: %s", *(result[k] for k in keys))
            bar.update(1)
            bar.set_postfix(failed=len(outcome.failures), refresh=False)
        if output is not None and not outcome.disk_full and items is tasks and ex.n_workers > 1:
            _check_shards(ex, output, outcome)
    finally:
        bar.close()
        if owned:
            ex.close()
    return outcome


#: The workers verify the shards before the merge (False: the merge verifies them, in one
#: process, as before; ``benchmarks/scale_out.py`` measures both).
WORKERS_CHECK_SHARDS = True
#: Fewest entries of one shard-check task (a task opens the file once).
CHECK_MIN_ENTRIES = 16


def _check_task(path: str | None, names: list[str] | None, template: str) -> dict[str, Any]:
    """A task for :func:`~.worker.run_query`: verify ``names`` of shard ``path``."""
    return {"check_shard": path, "names": names, "shard_template": template}


def _check_shards(ex: Any, output: tuple[str, str], outcome: _Outcome) -> None:
    """Verify the shards of ``output`` on the workers of ``ex``, about two tasks per worker.

    The final merge verifies every entry before it copies it (a checksum over all its
    arrays: two thirds of the merge). Run here, that check uses every worker instead of the
    one process that merges; a shard the workers could not check is verified by the merge.
    """
    base, template = output
    _, shards = output_paths(base)
    _run_checks(ex, shards, template, outcome)


def _run_checks(ex: Any, paths: list[str], template: str, outcome: _Outcome) -> None:
    """Verify the feature files ``paths`` on the workers of ``ex``, about two tasks per worker.

    Files that cannot be listed here are left out (the merge verifies, and where asked
    repairs, them); a failure of the executor leaves every file to the merge.
    """
    names: dict[str, list[str]] = {}
    for path in paths:
        try:
            with open_h5(path, "r") as f:
                names[path] = sorted(f.keys())
        except Exception as exc:  # the merge deals with it (repair)
            log.debug("%s: not checked by the workers (%s)", path, exc)
    total = sum(len(v) for v in names.values())
    size = max(CHECK_MIN_ENTRIES, -(-total // (2 * ex.n_workers)))
    checks = []
    for path, keys in names.items():
        parts = [keys[i : i + size] for i in range(0, len(keys), size)] or [[]]
        outcome.checks[path] = [len(parts), []]
        checks += [_check_task(path, part, template) for part in parts]
    try:
        for _, record in ex.imap_unordered(run_query, checks):
            outcome.add_check(record)
    except Exception as exc:  # a check is an optimisation: the merge verifies
        log.warning("the workers could not verify the files (%s); the merge will", exc)
        outcome.checks = {}


def verify_files(
    paths: list[str | os.PathLike], executor: Any = "processes", cpu_count: int | None = None
) -> dict[str, FileCheck]:
    """Verify feature files in parallel, for :func:`~deeprank_like.storage.merge_files`.

    Every complete entry is checked (readability, checksum) on the workers of ``executor``
    (as ``process`` does with its shards), parts of each file in about two tasks per worker.

    Parameters
    ----------
    paths : list of paths
    executor : str or executor object
        As ``process(executor=...)`` (default: local processes).
    cpu_count : int, optional
        Workers of an executor made here (default: every available CPU).

    Returns
    -------
    dict
        Path (as given, ``os.fspath``) -> its :class:`~deeprank_like.storage.integrity.FileCheck`,
        for the files whose every check came back and that did not change since (same size
        and modification time). A file missing from the result is verified by the merge.
    """
    wanted = [os.fspath(p) for p in paths]
    ex, owned = get_executor(executor, cpu_count)
    outcome = _Outcome()
    try:
        _run_checks(ex, wanted, "", outcome)
    finally:
        if owned:
            ex.close()
    return {
        path: check
        for path, (check, signature) in outcome.verified().items()
        if file_signature(path) == signature
    }


def _combine_checks(path: str, checks: list[FileCheck]) -> FileCheck:
    """One :class:`FileCheck` of ``path`` from the checks of parts of its entries."""
    out = FileCheck(path=path)
    for check in checks:
        out.good += check.good
        out.bad.update(check.bad)
        out.unchecked += check.unchecked
        out.incomplete += check.incomplete
    out.good.sort()
    out.incomplete.sort()
    return out


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
