"""What a worker does for one query: load → build → features → (grid) → write.

Runs in worker processes: everything it receives is plain data (the query's ``to_dict()``,
the feature modules as ``{name, kwargs}`` specs, the frozen
:class:`~deeprank_like.processing.featurize_config.FeaturizeConfig`), and it writes its entry
into its own shard file, opened only while writing.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from typing import Any

from deeprank_like.errors import FeatureError, PssmError
from deeprank_like.storage.files import init_root, open_h5

__all__ = ["check_shard", "run_query", "shard_path"]

_module_cache: dict[str, Any] = {}


def shard_path(template: str) -> str:
    """The shard file of this process: ``template`` with ``{host}`` and ``{pid}`` filled in."""
    host = socket.gethostname().split(".")[0].replace("-", "_") or "host"
    return template.format(host=host, pid=os.getpid())


def _modules(specs: Any) -> Any:
    """``"all"``/None unchanged, else the module instances rebuilt from their specs (cached)."""
    if specs is None or isinstance(specs, str):
        return specs
    key = json.dumps(specs, sort_keys=True)
    if key not in _module_cache:
        from deeprank_like.features.registry import ModuleSpec

        _module_cache[key] = [ModuleSpec.from_dict(s).build() for s in specs]
    return _module_cache[key]


def run_query(task: dict[str, Any]) -> dict[str, Any]:
    """Process one query; return a result record (never raises unless ``on_error="raise"``).

    ``task`` keys: ``id``, ``query`` (dict), ``config``: ``settings`` (FeaturizeConfig),
    ``modules`` (``"all"`` or module spec dicts), ``shard_template``, ``file_config``.
    The record has ``query_id``, ``ok``, ``seconds`` and either ``file`` or ``stage``,
    ``exc_type``, ``message``.
    """
    if "check_shard" in task:
        return check_shard(task)
    t0 = time.perf_counter()
    cfg = task["config"]
    settings = cfg["settings"]
    storage, grid = settings.storage, settings.grid
    qid = task["id"]
    state = {"stage": "load"}
    try:
        from deeprank_like.query import query_from_dict

        query = query_from_dict(task["query"])
        structure = query.load_structure()
        state["stage"] = "build"
        graph = query.build(_modules(cfg["modules"]), structure=structure)
        state["stage"] = "write"
        extra = None
        if grid is not None:

            def extra(group: Any) -> None:
                state["stage"] = "grid"
                from deeprank_like.grid.hdf5 import add_grids

                add_grids(
                    group,
                    graph,
                    **grid.map_kwargs(),
                    compression=storage.compression if storage.compression != "none" else None,
                    compression_opts=4 if storage.compression == "gzip" else None,
                )
                state["stage"] = "write"

        from deeprank_like.storage.writer import write_graph

        path = shard_path(cfg["shard_template"])
        with open_h5(path, "a") as f:
            if int(f.attrs.get("entry_count", 0)) == 0 and f.attrs.get("created_by") != "process":
                init_root(f, cfg.get("file_config"), created_by="process")
            write_graph(f, graph, storage.float_dtype, compression=storage.compression, extra=extra)
        return {
            "query_id": qid,
            "ok": True,
            "file": path,
            "seconds": time.perf_counter() - t0,
            "skipped_modules": dict(graph.metadata.get("skipped_modules", {})),
        }
    except Exception as exc:
        stage = state["stage"]
        if stage == "build" and isinstance(exc, FeatureError | PssmError):
            stage = "features"
        if settings.processing.on_error == "raise":
            raise
        message = str(exc) or type(exc).__name__
        if settings.processing.log_error_traceback:
            message += "\n" + "".join(traceback.format_exception(exc))
        return {
            "query_id": qid,
            "ok": False,
            "stage": stage,
            "exc_type": type(exc).__name__,
            "message": message,
            "seconds": time.perf_counter() - t0,
        }


def file_signature(path: str) -> tuple[int, int] | None:
    """``(size, modification time in ns)`` of ``path``, None if it cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def check_shard(task: dict[str, Any]) -> dict[str, Any]:
    """Verify (part of) a shard in a worker, so that the final merge need not; never raises.

    ``task`` keys: ``check_shard`` (the shard's path, or None for this process's own shard,
    ``shard_template`` filled in), ``names`` (entry group names to verify, None: all) and
    ``shard_template``. The record has ``path``, ``check`` (a
    :class:`~deeprank_like.storage.integrity.FileCheck`, None when there is nothing to check
    or the file cannot be opened: the merge verifies it then) and ``signature``
    (:func:`file_signature` before and after the check; None if the file changed meanwhile).
    """
    from deeprank_like.storage.integrity import check_file

    path = task["check_shard"] or shard_path(task["shard_template"])
    record: dict[str, Any] = {"path": path, "check": None, "signature": None}
    before = file_signature(path)
    if before is None:
        return record
    try:
        with open_h5(path, "r") as f:
            check = check_file(f, names=task.get("names"))
    except Exception as exc:  # the merge verifies (and, where it can, repairs) it itself
        record["message"] = f"{type(exc).__name__}: {exc}"
        return record
    if not check.error and file_signature(path) == before:
        record["check"], record["signature"] = check, before
    return record
