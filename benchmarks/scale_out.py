"""Featurisation beyond one process: local processes, dask and MPI against the serial rate.

Usage::

    python benchmarks/scale_out.py [--queries 5000] [--baseline 300] [--workers 2]
                                     [--executors processes,dask,mpi] [--modules default]

Executors: ``processes`` (local pool), ``dask`` (local cluster, tasks of several queries:
``DaskExecutor.chunk_size``), ``dask-perquery`` (the same, one query per task: the
earlier behaviour), ``mpi`` (``mpiexec -n <workers> python scale_out.py``: every rank
featurises a static share, ``MPIWorldExecutor``), ``mpi-pool`` (``mpiexec -n <workers+1>
python -m mpi4py.futures``: rank 0 runs the script and a manager that hands out queries,
the other ranks are the workers).

Earlier behaviours, to measure a change in the same run: ``dask-plain`` (a local cluster with
dask's own settings: ``MALLOC_TRIM_THRESHOLD_=65536`` in the workers, the 10 ms profiler, 20
ms ticks), ``mpi-trim64k`` (MPI ranks with ``MALLOC_TRIM_THRESHOLD_=65536``, which they
inherited from a dask run started earlier by the same process), ``processes-mergeverifies``
and ``mpi-mergeverifies`` (the final merge verifies every shard itself, in one process,
instead of the workers: ``deeprank_like.processing.run.WORKERS_CHECK_SHARDS = False``).

Prints::

    serial_queries_per_s: <v> queries/s        (one process, --baseline queries)
    <executor>_queries_per_s: <v> queries/s     (--workers workers, --queries queries)
    <executor>_efficiency: <v> %               (rate / (workers x serial rate around it))
    <executor>_serial_queries_per_s: <v> q/s    (mean of the serial runs just before and after)
    <executor>_entries_exactly_once: 1          (0: an entry is missing or repeated)
    <executor>_cpu_s_per_query: <v> s           (CPU of every process of the timed run / queries)
    <executor>_cpu_efficiency: <v> %           (serial CPU per query / the executor's: what
                                                 coordination costs, whatever the load)
    <executor>_cores_busy: <v> %                (CPU of the timed run / (workers x its wall
                                                 time): what the serial phases and the
                                                 uneven end leave idle, whatever the serial
                                                 rate)
    <executor>_worker_cpu_s_per_query: <v> s    (CPU of the featurising processes only: pool or
                                                 dask workers, MPI ranks above 0)
    <executor>_main_cpu_s_per_query: <v> s      (CPU of the process that called process():
                                                 queries, results, merge; dask's scheduler and
                                                 client; MPI rank 0, which also featurises)
    entry_bytes: <v> B                          (final file size / entries)
    cpu_s_per_query: <v> s                      (1 / serial rate)
    serial_cpu_s_per_query: <v> s               (CPU time of the serial run per query)
    projected_core_hours_1e6: <v> h             (10^6 queries at the serial rate)
    projected_disk_gb_1e6: <v> GB               (10^6 entries at entry_bytes)

The queries are residue PPI interfaces of the example structures shipped in
``deeprank_like.examples`` (cycled, renamed apart), featurised with ``--modules`` through
:func:`deeprank_like.processing.process`. Each executor is started before the clock runs and
warmed up on a few queries; the timed part is one ``process()`` call: featurisation, shard
writing and the final merge. The MPI runs start this script again under ``mpiexec`` and read
their timing back from a JSON file. The serial rate is measured before and after every
executor, and each executor is compared with the mean of the two serial runs around it: the
rate of this shared machine drifts by 10-20 % within minutes (same code, same queries), more
than what the executors differ by. ``serial_queries_per_s`` is the mean of all serial runs.

Before each run, a line ``# <executor> workers: MALLOC_TRIM_THRESHOLD_=..., OMP_NUM_THREADS=...``
gives the environment the featurising processes see: dask's nanny sets
``MALLOC_TRIM_THRESHOLD_=65536`` for its workers (and, before the fix, in this process, so
that an MPI run started after dask inherited it), which cost 30 % more CPU per query
(docs/processing.md).

"Exactly once" opens the output file and compares its entry names with the query ids: every
id present, none twice (the HDF5 group names are unique, so a repeat shows as a count
mismatch in the summary) and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def collection(n: int) -> Any:
    """The ``n`` residue PPI queries of ``benchmarks/process.py``."""
    sys.path.insert(0, str(HERE.parent))
    from process import collection as process_collection

    return process_collection(n, "residue")


def make_config(output: Path, modules: str) -> Any:
    from deeprank_like.processing import Execution, FeaturizeConfig

    quiet = Execution(progress=False, verbose=False)
    if modules == "default":
        return FeaturizeConfig(output=str(output), processing=quiet)
    return FeaturizeConfig(output=str(output), feature_modules=modules, processing=quiet)


def run_once(executor: Any, n: int, workdir: Path, label: str, modules: str) -> dict[str, Any]:
    """Warm up ``executor``, then time one ``process()`` of ``n`` queries; check the entries."""
    from deeprank_like.processing import process

    warm = max(4, 2 * getattr(executor, "n_workers", 2))
    process(collection(warm), make_config(workdir / f"{label}-warm", modules),
            executor=executor)  # fmt: skip
    qc = collection(n)
    expected = qc.ids()
    os.sync()  # the kernel writes the earlier runs' files back now, not during this one
    cpu0 = _live_cpu(executor)
    t0 = time.perf_counter()
    summary = process(qc, make_config(workdir / label, modules), executor=executor)
    seconds = time.perf_counter() - t0
    cpu1 = _live_cpu(executor)
    out = Path(summary.output)
    known = cpu0 is not None and cpu1 is not None
    return {
        "label": label,
        "queries": n,
        "seconds": seconds,
        "rate": n / seconds,
        "cpu_s": cpu1[0] + cpu1[1] - cpu0[0] - cpu0[1] if known else None,
        "main_cpu_s": cpu1[0] - cpu0[0] if known else None,
        "worker_cpu_s": cpu1[1] - cpu0[1] if known else None,
        "worker_env": worker_env(executor),
        "failed": len(summary.failures),
        "exactly_once": exactly_once(out, expected),
        "bytes": out.stat().st_size,
    }


def _live_cpu(executor: Any) -> tuple[float, float] | None:
    """``(this process, its workers)``: CPU seconds so far.

    Workers: the live child processes of this process, and dask's workers (their own
    counters). Read around the timed ``process()`` call only (not start-up, imports, warm-up).
    None for an executor whose workers this process cannot see (``mpi4py.futures``' ranks).
    """
    import psutil

    if type(executor).__name__ == "MPIExecutor":
        return None
    workers, seen = 0.0, set()
    if type(executor).__name__ == "DaskExecutor":  # local or remote workers: their own counters
        for pid, cpu in executor.client.run(_own_cpu_seconds).values():
            workers += cpu
            seen.add(pid)
    me = psutil.Process().cpu_times()
    for proc in psutil.Process().children(recursive=True):
        if proc.pid in seen:  # a local dask worker, counted above
            continue
        try:
            t = proc.cpu_times()
        except psutil.Error:  # exited meanwhile
            continue
        workers += t.user + t.system
    return me.user + me.system, workers


#: Environment variables that change what a featurising process costs (glibc's heap trimming,
#: BLAS/OpenMP threads).
ENV_KEYS = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _own_env() -> dict[str, str]:
    """The :data:`ENV_KEYS` of the calling process (``-`` where unset)."""
    return {key: os.environ.get(key, "-") for key in ENV_KEYS}


def worker_env(executor: Any) -> dict[str, str] | None:
    """:data:`ENV_KEYS` as one featurising process of ``executor`` sees them (None: unknown)."""
    name = type(executor).__name__
    if name == "DaskExecutor":
        return next(iter(executor.client.run(_own_env).values()))
    if name == "ProcessExecutor":
        return executor.executor.submit(_own_env).result()
    if name in ("SerialExecutor", "str"):  # serial, or an MPI rank: this process
        return _own_env()
    return None


def exactly_once(path: Path, expected: list[str]) -> bool:
    """True when the entries of ``path`` are the ``expected`` query ids, each once."""
    from deeprank_like.storage import FeatureFile

    with FeatureFile(path) as f:
        names = list(f.entries)
    return len(names) == len(expected) == len(set(expected)) and set(names) == set(expected)


def mpi_child(args: argparse.Namespace) -> int:
    """One rank of an ``mpiexec`` run: time and (rank 0) write JSON.

    ``mpi-pool``: rank 0 of ``-m mpi4py.futures``, the pool's ranks are its workers.
    ``mpi``: every rank runs this and featurises its share (``executor="mpi"``).
    """
    from mpi4py import MPI

    from deeprank_like.processing import MPIExecutor

    workdir = Path(args.workdir)
    _earlier_merge(args.mpi_child)
    if args.mpi_child == "mpi-pool":
        with MPIExecutor(args.workers) as ex:
            result = run_once(ex, args.queries, workdir, "mpi-pool", args.modules)
    else:
        result = run_once("mpi", args.queries, workdir, args.mpi_child, args.modules)
    if args.mpi_child != "mpi-pool":  # every rank measured its own CPU: rank 0 is "main"
        comm = MPI.COMM_WORLD
        own = result["main_cpu_s"] + result["worker_cpu_s"]
        result["cpu_s"] = comm.reduce(own, root=0)
        others = comm.reduce(own if comm.Get_rank() > 0 else 0.0, root=0)
        if comm.Get_rank() == 0:
            result["main_cpu_s"], result["worker_cpu_s"] = own, others
    if MPI.COMM_WORLD.Get_rank() == 0:
        Path(args.json).write_text(json.dumps(result))
    return 0


def run_mpi(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    local = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(local) if local.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("no mpiexec on PATH: pip install mpich (or skip with --executors)")
    out = workdir / f"{name}.json"
    if name == "mpi-pool":
        launch = ["-n", str(args.workers + 1), sys.executable, "-m", "mpi4py.futures"]
    else:
        launch = ["-n", str(args.workers), sys.executable]
    cmd = [mpiexec, *launch, str(HERE), "--mpi-child", name, "--json", str(out),
           "--workdir", str(workdir), "--queries", str(args.queries),
           "--workers", str(args.workers), "--modules", args.modules]  # fmt: skip
    env = dict(os.environ)
    if name == "mpi-trim64k":
        env["MALLOC_TRIM_THRESHOLD_"] = "65536"
    before = _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"MPI run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(out.read_text())
    result["job_cpu_s"] = _children_cpu() - before  # mpiexec, its proxies, ranks' whole lives
    return result


def _children_cpu() -> float:
    """CPU seconds of this process's finished (waited-for) child processes."""
    import resource

    me = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime


def _earlier_merge(name: str) -> None:
    """Set the merge behaviour a label asks for (``-mergeverifies``), or the default."""
    import deeprank_like.processing.run as run

    run.WORKERS_CHECK_SHARDS = not name.endswith("-mergeverifies")


def run_executor(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from deeprank_like.processing import DaskExecutor, ProcessExecutor

    if name in ("mpi", "mpi-pool", "mpi-trim64k", "mpi-mergeverifies"):
        return run_mpi(name, args, workdir)
    environ = dict(os.environ)
    if name in ("processes", "processes-mergeverifies"):
        executor: Any = ProcessExecutor(args.workers)
    elif name == "dask":
        executor = DaskExecutor(n_workers=args.workers)
    elif name == "dask-perquery":
        executor = DaskExecutor(n_workers=args.workers, chunksize=1)
    elif name == "dask-plain":  # dask's own settings (they also leak into os.environ here)
        import distributed

        cluster = distributed.LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        executor = DaskExecutor(distributed.Client(cluster))
    else:
        raise SystemExit(
            f"unknown executor {name!r}: processes, dask, dask-perquery, mpi, mpi-pool, "
            "dask-plain, mpi-trim64k, processes-mergeverifies, mpi-mergeverifies"
        )
    _earlier_merge(name)
    try:
        with executor:
            return run_once(executor, args.queries, workdir, name, args.modules)
    finally:
        _earlier_merge("")
        if name == "dask-plain":
            executor.client.close()
            cluster.close()
            os.environ.clear()  # what dask's nanny wrote here would reach the later runs
            os.environ.update(environ)


def _own_cpu_seconds() -> tuple[int, float]:
    """(pid, user + system CPU seconds) of the calling process (run on dask workers)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    return os.getpid(), me.ru_utime + me.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=5000)
    p.add_argument("--baseline", type=int, default=300, help="queries of the serial run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--executors", default="processes,dask,mpi")
    p.add_argument("--modules", default="default", help="'default', 'all' or a module list")
    p.add_argument("--mpi-child", default="", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mpi_child:
        return mpi_child(args)

    from deeprank_like.processing import SerialExecutor

    print(f"# {args.queries} residue PPI queries, {args.workers} workers, modules "
          f"{args.modules}, load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)

        def serial_run(label: str) -> dict[str, Any]:
            with SerialExecutor() as ex:
                r = run_once(ex, args.baseline, workdir, label, args.modules)
            print(f"# {label}: {r['rate']:.2f} queries/s", flush=True)
            return r

        serials = [serial_run("serial-0")]
        runs, around = {}, {}
        for name in [e.strip() for e in args.executors.split(",") if e.strip()]:
            r = run_executor(name, args, workdir)
            runs[name] = r
            env = ", ".join(f"{k}={v}" for k, v in (r.get("worker_env") or {}).items())
            print(f"# {name}: {r['queries']} queries in {r['seconds']:.1f} s, "
                  f"{r['failed']} failed; workers: {env or 'unknown'}", flush=True)  # fmt: skip
            if r.get("job_cpu_s") is not None and r.get("cpu_s") is not None:
                print(f"# {name}: whole MPI job {r['job_cpu_s']:.1f} CPU-s, of which the timed "
                      f"call {r['cpu_s']:.1f} (the rest: start-up, imports, warm-up, "
                      "mpiexec)", flush=True)  # fmt: skip
            serials.append(serial_run(f"serial-{len(serials)}"))
            around[name] = (serials[-2]["rate"] + serials[-1]["rate"]) / 2
        r1 = sum(s["rate"] for s in serials) / len(serials)
        serial_cpu = sum(s["cpu_s"] for s in serials) / (len(serials) * args.baseline)
        print(f"serial_queries_per_s: {r1:.2f} queries/s")
        for name, r in runs.items():
            print(f"{name}_queries_per_s: {r['rate']:.2f} queries/s")
            print(f"{name}_serial_queries_per_s: {around[name]:.2f} queries/s")
            print(f"{name}_efficiency: {100 * r['rate'] / (args.workers * around[name]):.1f} %")
            print(f"{name}_entries_exactly_once: {int(r['exactly_once'] and not r['failed'])}")
            if r.get("cpu_s") is not None:
                cpu = r["cpu_s"] / r["queries"]
                print(f"{name}_cpu_s_per_query: {cpu:.4f} s")
                print(f"{name}_cpu_efficiency: {100 * serial_cpu / cpu:.1f} %")
                busy = r["cpu_s"] / (args.workers * r["seconds"])
                print(f"{name}_cores_busy: {100 * busy:.1f} %")
                print(f"{name}_worker_cpu_s_per_query: {r['worker_cpu_s'] / r['queries']:.4f} s")
                print(f"{name}_main_cpu_s_per_query: {r['main_cpu_s'] / r['queries']:.4f} s")
        ref = next(iter(runs.values()), serials[0])
        entry_bytes = ref["bytes"] / ref["queries"]
        print(f"entry_bytes: {entry_bytes:.0f} B")
        print(f"cpu_s_per_query: {1 / r1:.4f} s")
        print(f"serial_cpu_s_per_query: {serial_cpu:.4f} s  (CPU time, whatever the load)")
        print(f"projected_core_hours_1e6: {1e6 / r1 / 3600:.1f} h")
        print(f"projected_disk_gb_1e6: {entry_bytes * 1e6 / 1e9:.1f} GB")
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
