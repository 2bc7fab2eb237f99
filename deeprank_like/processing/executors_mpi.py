"""MPI without a manager rank: every rank of ``mpiexec -n N python script.py`` featurises.

``mpi4py.futures`` (:class:`~deeprank_like.processing.executors.MPIExecutor`) keeps rank 0 as
a manager that hands out one query at a time and polls for results; on a machine where the
ranks fill the cores, that manager competes with the workers (67 % of linear with 2 workers
on 2 cores, ``benchmarks/scale_out.py``). :class:`MPIWorldExecutor` has no manager: when a
script calling ``process(..., executor="mpi")`` is started on N ranks *without*
``-m mpi4py.futures``, every rank runs the script, rank 0 prepares the run (output lock,
resume, the list of tasks, largest structures first) and broadcasts the tasks once; each rank
then featurises a static share, every N-th task from its rank number on (deterministic; with
the tasks sorted by size the shares are balanced), into its own shard file, with no message
per query. At the end the ranks send their result records to rank 0 (one gather), rank 0
merges the shards and broadcasts the summary, which ``process`` returns on every rank.

* Exactly once: the shares partition the tasks; the merge skips an entry present twice.
* Failure isolation: a query that fails is recorded as in every executor; a rank that dies
  (killed, out of memory) ends the MPI job (as with ``mpi4py.futures``), and the entries
  written so far are kept in the shard files: run again with ``resume=True``.
* Waiting ranks do not spin: before each collective a rank waits on a non-blocking barrier,
  testing it with growing sleeps (at most :data:`POLL_MAX_SECONDS`), so the rank that merges
  has the core to itself.
* An error on rank 0 (the output exists, disk full...) is broadcast: every rank raises.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from deeprank_like.errors import DeeprankLikeError
from deeprank_like.processing.executors import Executor

__all__ = ["MPIWorldExecutor", "mpi_world"]

#: Longest sleep between two tests of a pending barrier (seconds).
POLL_MAX_SECONDS = 0.05


def _under_mpi4py_futures() -> bool:
    """True when this process was started as ``python -m mpi4py.futures`` (pool mode)."""
    core = sys.modules.get("mpi4py.futures._core")
    return core is not None and getattr(core, "SharedPool", None) is not None


def mpi_world(executor: Any) -> MPIWorldExecutor | None:
    """The every-rank executor for ``executor``, or None where it does not apply.

    Parameters
    ----------
    executor : Any
        The ``executor=`` of ``process``. It applies to an :class:`MPIWorldExecutor`, and to
        ``"mpi"`` when the process is one of several ranks started by ``mpiexec`` without
        ``-m mpi4py.futures`` (that keeps the pool of :class:`MPIExecutor`).

    Returns
    -------
    MPIWorldExecutor or None
    """
    if isinstance(executor, MPIWorldExecutor):
        return executor
    if not (isinstance(executor, str) and executor.strip().lower() == "mpi"):
        return None
    if _under_mpi4py_futures():
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        return None  # MPIExecutor raises MissingDependencyError with the install command
    if MPI.COMM_WORLD.Get_size() < 2:
        return None
    return MPIWorldExecutor(MPI.COMM_WORLD)


def quiet_barrier(comm: Any, max_sleep: float = POLL_MAX_SECONDS) -> None:
    """Wait until every rank of ``comm`` got here, sleeping rather than spinning."""
    request = comm.Ibarrier()
    pause = 1e-4
    while not request.Test():
        time.sleep(pause)
        pause = min(pause * 2, max_sleep)


class MPIWorldExecutor(Executor):
    """Every rank of an MPI job is a worker (see the module docstring).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm, optional
        The ranks (default ``MPI.COMM_WORLD``).

    Notes
    -----
    Collective: every rank must call ``process`` with it. Rank 0 calls
    :meth:`imap_unordered` (through ``process``), the other ranks :meth:`follow`. The
    progress bar of rank 0 counts its own share as it goes and the others' at the end.
    """

    name = "mpi"

    def __init__(self, comm: Any = None) -> None:
        if comm is None:
            from mpi4py import MPI

            comm = MPI.COMM_WORLD
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        self._phase = "start"  # -> "running" (tasks sent) -> "gathered" -> "done"
        self._gathered: list[Any] = []

    @property
    def n_workers(self) -> int:
        """Number of ranks (every one featurises)."""
        return self.size

    # ---- rank 0 ----------------------------------------------------------------------------
    def _gather(self) -> list[Any]:
        if self._phase == "running":
            quiet_barrier(self.comm)
            self._gathered = self.comm.gather(None, root=0)
            self._phase = "gathered"
        return self._gathered

    def imap_unordered(
        self, fn: Callable[[Any], Any], items: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Rank 0: send the tasks, run its share, then yield the other ranks' results."""
        if self.rank != 0:
            raise DeeprankLikeError("MPIWorldExecutor.imap_unordered runs on rank 0 only")
        if self._phase != "start":
            raise DeeprankLikeError("an MPIWorldExecutor runs one process() call")
        items = list(items)
        quiet_barrier(self.comm)
        self.comm.bcast(("tasks", fn, items), root=0)
        self._phase = "running"
        try:
            for i in range(0, len(items), self.size):
                yield i, fn(items[i])
            gathered = self._gather()
            for rank, (results, error) in enumerate(gathered[1:], start=1):
                if error is not None:
                    raise DeeprankLikeError(f"MPI rank {rank}: {error}")
                yield from results
        finally:
            self._gather()  # closed early or raised: the other ranks still wait in the gather

    def finish(self, summary: Any = None, error: BaseException | None = None) -> None:
        """Rank 0: release the other ranks with the run's summary, or with ``error``."""
        if self._phase == "done":
            return
        self._gather()
        quiet_barrier(self.comm)
        if error is not None:
            self.comm.bcast(("error", f"{type(error).__name__}: {error}"), root=0)
        else:
            self.comm.bcast(("summary", summary), root=0)
        self._phase = "done"

    # ---- the other ranks ---------------------------------------------------------------------
    def follow(self) -> Any:
        """Ranks > 0: run this rank's share of rank 0's tasks; return rank 0's summary.

        Raises
        ------
        DeeprankLikeError
            Rank 0 stopped with an error (raised there too), or a task raised here.
        """
        quiet_barrier(self.comm)
        message = self.comm.bcast(None, root=0)
        own_error: BaseException | None = None
        if message[0] == "tasks":
            _, fn, items = message
            results: list[tuple[int, Any]] = []
            error = None
            try:
                for i in range(self.rank, len(items), self.size):
                    result = fn(items[i])
                    results.append((i, result))
                    if isinstance(result, dict) and result.get("exc_type") == "DiskFullError":
                        break  # as process() does: stop, keep what is written
            except Exception as exc:
                own_error = exc
                error = f"{type(exc).__name__}: {exc}"
            quiet_barrier(self.comm)
            self.comm.gather((results, error), root=0)
            quiet_barrier(self.comm)
            message = self.comm.bcast(None, root=0)
        self._phase = "done"
        if own_error is not None:
            raise own_error
        if message[0] == "error":
            raise DeeprankLikeError(f"the run stopped on MPI rank 0: {message[1]}")
        return message[1]
