"""Executors: one small interface over serial, local processes, MPI and dask.

Every executor maps a picklable, module-level function over a list of picklable items and
yields ``(index, result)`` pairs as they complete::

    with ProcessExecutor(4) as ex:
        for i, result in ex.imap_unordered(fn, items):
            ...

An exception raised by ``fn`` propagates out of :meth:`Executor.imap_unordered`. If a worker
process dies (killed, out of memory, segfault), the pool is restarted, the items that were in
flight are retried one at a time, and the item that kills its worker alone comes back as a
:class:`WorkerCrash` result.

Worker processes of :class:`ProcessExecutor` die with the process that started them: on
Linux they ask the kernel for ``SIGKILL`` when their parent dies (``prctl(PR_SET_PDEATHSIG)``),
and on every OS a daemon thread in each worker exits it once its parent is gone (the
parent-watch), so a ``kill -9`` of the main process leaves no orphaned workers behind.

Optional back-ends import their dependency lazily and raise :class:`MissingDependencyError`
naming the ``pip install`` command when it is absent.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from deeprank_like.errors import DeeprankLikeError

__all__ = [
    "DaskExecutor",
    "Executor",
    "FuturesExecutor",
    "MPIExecutor",
    "MissingDependencyError",
    "ProcessExecutor",
    "SerialExecutor",
    "WorkerCrash",
    "available_cpus",
    "get_executor",
    "init_worker",
]

log = logging.getLogger(__name__)

EXECUTOR_NAMES = ("serial", "processes", "mpi", "dask")


class MissingDependencyError(DeeprankLikeError, ImportError):
    """An optional dependency of the chosen executor is not installed."""


@dataclass(frozen=True)
class WorkerCrash:
    """The result recorded for an item whose worker process died."""

    exc_type: str
    message: str


def available_cpus() -> int:
    """CPUs this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS/Windows
        return max(1, os.cpu_count() or 1)


class Executor(ABC):
    """Runs a function over items; see the module docstring."""

    #: Short name ("serial", "processes", "mpi", "dask", "futures").
    name: str = ""

    @property
    @abstractmethod
    def n_workers(self) -> int:
        """Number of items processed at the same time."""

    @abstractmethod
    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(items[index]))`` in completion order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} workers={self.n_workers}>"


class SerialExecutor(Executor):
    """Runs everything in the calling process, in order (debugging, tiny jobs)."""

    name = "serial"

    @property
    def n_workers(self) -> int:
        return 1

    def imap_unordered(self, fn, items):
        for i, item in enumerate(items):
            yield i, fn(item)


class FuturesExecutor(Executor):
    """Any :class:`concurrent.futures.Executor` (a user's pool, ``MPIPoolExecutor``...).

    At most ``window`` items are in flight at once (default: 2 per worker), so huge query
    lists do not flood the queue and a worker crash affects few items.
    """

    name = "futures"

    def __init__(
        self,
        executor: cf.Executor | None = None,
        n_workers: int | None = None,
        *,
        owns: bool = False,
        window: int | None = None,
    ) -> None:
        self._executor = executor
        self._n = n_workers or getattr(executor, "_max_workers", None) or 1
        self._owns = owns
        self._window = window

    @property
    def n_workers(self) -> int:
        return int(self._n)

    def _make(self) -> cf.Executor:  # pragma: no cover - overridden
        raise RuntimeError("no executor")

    @property
    def executor(self) -> cf.Executor:
        """The underlying concurrent.futures executor (created on first use)."""
        if self._executor is None:
            self._executor = self._make()
            self._owns = True
        return self._executor

    def _restart(self) -> bool:
        """Replace a broken pool; False if this executor cannot (not ours)."""
        if not self._owns:
            return False
        with contextlib.suppress(Exception):  # best effort
            self._executor.shutdown(wait=False, cancel_futures=True)  # type: ignore[union-attr]
        self._executor = None
        return True

    def imap_unordered(self, fn, items):
        window = self._window or max(2 * self.n_workers, 1)
        queue = list(range(len(items)))[::-1]
        suspects: list[int] = []
        finished = 0
        # Main pass; items in flight when a worker dies become suspects.
        for pair in self._run(fn, items, queue, window, suspects):
            finished += 1
            yield pair
        # Suspects run one at a time in a fresh pool: only the culprit fails.
        while suspects:
            i = suspects.pop(0)
            again: list[int] = []
            for pair in self._run(fn, items, [i], 1, again):
                finished += 1
                yield pair
            if again:  # it crashed alone: it is the culprit
                if finished == 0:
                    # Not one query has run: the workers themselves cannot start. Retrying
                    # every query in a fresh pool would only repeat that, slowly.
                    for j in [i, *suspects]:
                        yield j, WorkerCrash("BrokenProcessPool", _NO_WORKER_MESSAGE)
                    suspects.clear()
                    return
                finished += 1
                yield i, WorkerCrash("BrokenProcessPool", _crash_message(None))

    def _run(self, fn, items, queue, window, suspects):
        pending: dict[cf.Future, int] = {}
        while queue or pending:
            while queue and len(pending) < window:
                i = queue.pop()
                pending[self.executor.submit(fn, items[i])] = i
            done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in done:
                i = pending.pop(fut)
                try:
                    result = fut.result()
                except cf.BrokenExecutor:
                    broken = True
                    suspects.append(i)
                    continue
                yield i, result
            if broken:
                suspects.extend(pending.values())
                pending.clear()
                if not self._restart():  # not our pool: everything left fails
                    for i in suspects + queue[::-1]:
                        yield i, WorkerCrash("BrokenProcessPool", "the executor is broken")
                    suspects.clear()
                    queue.clear()

    def close(self) -> None:
        if self._owns and self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


_NO_WORKER_MESSAGE = (
    "worker processes die before running any query; in a script, call process() under "
    "`if __name__ == '__main__':` (worker processes are spawned and re-import the script), "
    "or use executor='serial'"
)


def _crash_message(exc: BaseException | None) -> str:
    base = "a worker process died while this query was running or queued (killed, out of memory or crashed)"
    return f"{base}: {exc}" if exc else base


class ProcessExecutor(FuturesExecutor):
    """Local worker processes (``concurrent.futures.ProcessPoolExecutor``), spawn-safe.

    The pool starts on first use and is reused until :meth:`close`; pass one instance to
    several ``process`` calls to pay the start-up only once.

    Parameters
    ----------
    n_workers : int, optional
        Default: the CPUs available to this process. More than that is capped with a warning.
    start_method : {"spawn", "forkserver", "fork"}
        ``"spawn"`` (default) is safe with threads, CUDA and every OS.
    """

    name = "processes"

    def __init__(self, n_workers: int | None = None, start_method: str = "spawn") -> None:
        cpus = available_cpus()
        if n_workers is None:
            n_workers = cpus
        n_workers = int(n_workers)
        if n_workers < 1:
            raise ValueError(f"cpu_count must be >= 1, got {n_workers}")
        if n_workers > cpus:
            log.warning(
                "cpu_count %d exceeds the %d available CPUs; using %d", n_workers, cpus, cpus
            )
            n_workers = cpus
        self.start_method = start_method
        super().__init__(None, n_workers, owns=True)

    def _make(self) -> cf.Executor:
        ctx = multiprocessing.get_context(self.start_method)
        # The kernel's parent-death signal follows the *thread* that started a worker, so it is
        # only asked for when the pool is made (and its workers started) by the main thread;
        # the parent-watch thread covers every other case.
        main_thread = threading.current_thread() is threading.main_thread()
        parent = os.getpid() if self.start_method in ("spawn", "fork") else None
        return cf.ProcessPoolExecutor(
            max_workers=self.n_workers,
            mp_context=ctx,
            initializer=init_worker,
            initargs=(parent, main_thread),
        )


#: prctl option number of PR_SET_PDEATHSIG (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
#: Seconds between two checks of the parent-watch thread.
PARENT_POLL_SECONDS = 0.5


def _set_parent_death_signal(sig: int | None = None) -> bool:
    """Ask the Linux kernel to send ``sig`` to this process when its parent dies.

    Parameters
    ----------
    sig : int, optional
        Signal number (default ``SIGKILL``).

    Returns
    -------
    bool
        True if the request was accepted (False on other OSes or without libc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        signum = int(signal.SIGKILL if sig is None else sig)
        return libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return False


def _watch_parent(ppid: int, interval: float) -> None:
    """Exit this process (without cleanup) as soon as its parent ``ppid`` is gone."""
    while True:
        time.sleep(interval)
        if os.getppid() != ppid:
            os._exit(1)


def init_worker(
    parent_pid: int | None = None,
    use_death_signal: bool = True,
    interval: float = PARENT_POLL_SECONDS,
) -> None:
    """Make the calling worker process die with its parent (the pool's ``initializer``).

    Parameters
    ----------
    parent_pid : int, optional
        PID of the process that started this worker. If the worker's parent is already
        another process (the starter died before this ran), the worker exits at once.
        None (forkserver: the parent is the fork server) skips that check.
    use_death_signal : bool
        Request ``SIGKILL`` on parent death through ``prctl(PR_SET_PDEATHSIG)`` (Linux).
    interval : float
        Seconds between two checks of the parent-watch thread, which exits the worker once
        its parent has changed (reparented to init or a subreaper).
    """
    if use_death_signal:
        _set_parent_death_signal()
    ppid = os.getppid()
    if parent_pid is not None and ppid != parent_pid:
        os._exit(1)  # the parent died before the death signal was armed
    threading.Thread(
        target=_watch_parent, args=(ppid, interval), name="deeprank_like-parent-watch", daemon=True
    ).start()


class MPIExecutor(FuturesExecutor):
    """MPI ranks through ``mpi4py.futures.MPIPoolExecutor``.

    Run the script with ``mpiexec -n <N+1> python -m mpi4py.futures script.py``: rank 0 runs
    the script, the N others are workers. Started as plain ``python script.py``, the pool
    spawns ``n_workers`` processes through ``MPI_Comm_spawn`` (needs an MPI that supports it).
    Needs ``pip install 'deeprank_like[mpi]'`` and an MPI library (system MPI, or
    ``pip install mpich``).
    """

    name = "mpi"

    def __init__(self, n_workers: int | None = None, **pool_kwargs: Any) -> None:
        try:
            from mpi4py.futures import MPIPoolExecutor
        except ImportError as exc:
            raise MissingDependencyError(
                "executor='mpi' needs mpi4py and an MPI library: pip install 'deeprank_like[mpi]' "
                f"(and a system MPI, or pip install mpich) ({exc})"
            ) from exc
        self._pool_cls = MPIPoolExecutor
        self._pool_kwargs = pool_kwargs
        if n_workers is not None:
            pool_kwargs["max_workers"] = int(n_workers)
        super().__init__(None, n_workers or _mpi_world_workers() or 1, owns=True)

    def _make(self) -> cf.Executor:
        pool = self._pool_cls(**self._pool_kwargs)
        return pool


def _mpi_world_workers() -> int | None:
    try:
        from mpi4py import MPI

        size = MPI.COMM_WORLD.Get_size()
        return size - 1 if size > 1 else None
    except Exception:  # pragma: no cover - MPI init problems
        return None


class DaskExecutor(Executor):
    """A dask ``distributed`` cluster.

    Parameters
    ----------
    client : distributed.Client or str, optional
        An existing client, or a scheduler address (``"tcp://host:8786"``). None starts a
        local cluster of ``n_workers`` single-threaded worker processes, closed with the executor.
    n_workers : int, optional
        Local cluster size (default: available CPUs).
    chunksize : int, optional
        Items per dask task (default: :meth:`chunk_size`). A worker that dies takes its
        task's items with it; they are run again at the end one at a time, alone, so only
        the item that kills its worker fails (entries its task had written are merged once).
    """

    name = "dask"

    def __init__(
        self, client: Any = None, n_workers: int | None = None, chunksize: int | None = None
    ) -> None:
        if chunksize is not None and int(chunksize) < 1:
            raise ValueError(f"chunksize must be >= 1, got {chunksize}")
        self.chunksize = None if chunksize is None else int(chunksize)
        try:
            import distributed
        except ImportError as exc:
            raise MissingDependencyError(
                f"executor='dask' needs dask.distributed: pip install 'deeprank_like[dask]' ({exc})"
            ) from exc
        self._distributed = distributed
        self._owns = False
        self._cluster = None
        if client is None:
            self._cluster = start_local_cluster(int(n_workers or available_cpus()))
            client = distributed.Client(self._cluster)
            self._owns = True
        elif isinstance(client, str):
            client = distributed.Client(client)
            self._owns = True
        self.client = client

    @property
    def n_workers(self) -> int:
        try:
            threads = self.client.nthreads()
            return max(1, sum(threads.values()))
        except Exception:  # pragma: no cover
            return 1

    def chunk_size(self, n_items: int) -> int:
        """Items per dask task: ``chunksize``, or about 8 tasks per worker, at most 32.

        A dask task costs the scheduler, the client and the worker about a millisecond of
        CPU and several messages; featurising one query costs 40-600 ms. One task per query
        made that overhead compete with the workers (53 % of linear with 2 workers on 2
        cores); a task of several queries pays it once for all of them.
        """
        if self.chunksize is not None:
            return self.chunksize
        return max(1, min(32, -(-n_items // (8 * self.n_workers))))

    def imap_unordered(self, fn, items):
        d = self._distributed
        size = self.chunk_size(len(items))
        chunks = [list(range(s, min(s + size, len(items)))) for s in range(0, len(items), size)]
        window = max(2 * self.n_workers, 1)
        index: dict[Any, list[int]] = {}
        queue = chunks[::-1]
        suspects: list[int] = []

        def submit(chunk: list[int]) -> Any:
            fut = self.client.submit(_run_chunk, fn, [items[i] for i in chunk], pure=False)
            index[fut.key] = chunk
            return fut

        # Main pass; the items of a task whose worker died become suspects.
        first = [submit(queue.pop()) for _ in range(min(window, len(queue)))]
        ac = d.as_completed(first)
        for fut in ac:
            chunk = index.pop(fut.key)
            try:
                results = fut.result()
            except d.KilledWorker:
                suspects.extend(chunk)
                results = None
            if queue:
                ac.add(submit(queue.pop()))
            if results is not None:
                yield from zip(chunk, results, strict=True)
        # Suspects one at a time, nothing else in flight: only the culprit fails.
        for i in sorted(suspects):
            fut = submit([i])
            try:
                (result,) = fut.result()
            except d.KilledWorker as exc:
                result = WorkerCrash("KilledWorker", _crash_message(exc))
            index.pop(fut.key, None)
            yield i, result

    def close(self) -> None:
        if self._owns:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()
            self._owns = False


#: dask settings of the local cluster that :class:`DaskExecutor` starts, where the user has not
#: changed them (config or environment). ``MALLOC_TRIM_THRESHOLD_`` of 64 KiB, which dask's
#: nanny sets for every worker process (``distributed.nanny.pre-spawn-environ``), makes glibc
#: hand freed memory back to the kernel and fault it in again on every query: 3,300 instead of
#: 750 page faults and 33 instead of 25 CPU-ms per query (``benchmarks/scale_out.py``,
#: docs/processing.md); ``None`` leaves glibc's own threshold, as in pool workers and serial
#: runs. Each worker also samples the stack of its task thread every 10 ms for dask's
#: statistical profiler (shown only on the dashboard, which this cluster does not start),
#: and the event-loop ticks and monitors of the scheduler and workers wake every 20-500 ms:
#: each of these takes the GIL from the featurising thread.
LOCAL_CLUSTER_CONFIG: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "200ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def start_local_cluster(n_workers: int) -> Any:
    """A dask ``LocalCluster`` of ``n_workers`` single-threaded worker processes, tuned.

    Applies :data:`LOCAL_CLUSTER_CONFIG` for every setting the user has left at dask's default
    (an exported ``MALLOC_TRIM_THRESHOLD_`` is kept too; to run with dask's own values, pass
    ``DaskExecutor`` a client of your own cluster), and gives the calling process its
    environment back: dask's nanny writes its ``pre-spawn-environ`` (``OMP_NUM_THREADS=1``,
    ``MALLOC_TRIM_THRESHOLD_``...) into ``os.environ`` of the process that starts the workers,
    where every process started later (an ``mpiexec``, a process pool) would inherit it.

    Parameters
    ----------
    n_workers : int
        Number of worker processes (one thread each).

    Returns
    -------
    distributed.LocalCluster
    """
    import dask
    import distributed

    overrides = {
        key: value
        for key, value in LOCAL_CLUSTER_CONFIG.items()
        if dask.config.get(key, default=None) == _dask_default(key)
        and not (key.endswith("MALLOC_TRIM_THRESHOLD_") and "MALLOC_TRIM_THRESHOLD_" in os.environ)
    }
    before = dict(os.environ)
    try:
        with dask.config.set(overrides):
            return distributed.LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
    finally:
        _restore_environ(before)


def _dask_default(key: str) -> Any:
    """The value of dask config ``key`` as shipped (dask's and distributed's YAML defaults)."""
    import dask
    import distributed  # noqa: F401  (registers distributed's defaults)

    merged: dict[str, Any] = {}
    for defaults in dask.config.defaults:
        dask.config.update(merged, defaults)
    return dask.config.get(key, default=None, config=merged)


def _restore_environ(before: dict[str, str]) -> None:
    """Set ``os.environ`` back to ``before`` (only the variables that changed)."""
    for key in set(os.environ) - set(before):
        del os.environ[key]
    for key, value in before.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _run_chunk(fn: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[fn(item) for item in items]`` (one dask task of several items)."""
    return [fn(item) for item in items]


def get_executor(
    executor: Any = "processes", cpu_count: int | None = None
) -> tuple[Executor, bool]:
    """Turn the ``executor=`` argument of ``process`` into an :class:`Executor`.

    Returns
    -------
    executor : Executor
    owned : bool
        True if it was created here (and must be closed by the caller).
    """
    if executor is None or executor == "processes":
        return ProcessExecutor(cpu_count), True
    if isinstance(executor, str):
        name = executor.strip().lower()
        if name == "serial":
            return SerialExecutor(), True
        if name == "processes":
            return ProcessExecutor(cpu_count), True
        if name == "mpi":
            return MPIExecutor(cpu_count), True
        if name == "dask":
            return DaskExecutor(None, cpu_count), True
        if name.startswith(("tcp://", "tls://", "ucx://", "inproc://")):
            return DaskExecutor(executor), True
        raise ValueError(
            f"unknown executor {executor!r}; use one of {', '.join(EXECUTOR_NAMES)}, a dask "
            "scheduler address, an Executor, a concurrent.futures executor or a dask Client"
        )
    if isinstance(executor, Executor):
        return executor, False
    if isinstance(executor, cf.Executor):
        return FuturesExecutor(executor), False
    if type(executor).__module__.split(".")[0] == "distributed" and hasattr(executor, "submit"):
        return DaskExecutor(executor), False
    raise TypeError(f"executor must be a name or an executor object, got {type(executor).__name__}")
