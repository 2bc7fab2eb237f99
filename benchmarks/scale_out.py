"""Featurisation beyond one process: local processes, dask and MPI against the serial rate.

Usage::

    python benchmarks/scale_out.py [--queries 5000] [--baseline 300] [--workers 2]
                                     [--executors processes,dask,mpi] [--modules default]

Prints::

    serial_queries_per_s: <v> queries/s        (one process, --baseline queries)
    <executor>_queries_per_s: <v> queries/s     (--workers workers, --queries queries)
    <executor>_efficiency: <v> %               (rate / (workers x serial rate))
    <executor>_entries_exactly_once: 1          (0: an entry is missing or repeated)
    entry_bytes: <v> B                          (final file size / entries)
    cpu_s_per_query: <v> s                      (1 / serial rate)
    projected_core_hours_1e6: <v> h             (10^6 queries at the serial rate)
    projected_disk_gb_1e6: <v> GB               (10^6 entries at entry_bytes)

The queries are residue PPI interfaces of the example structures shipped in
``deeprank_like.examples`` (cycled, renamed apart), featurised with ``--modules`` through
:func:`deeprank_like.processing.process`. Each executor is started before the clock runs and
warmed up on a few queries; the timed part is one ``process()`` call: featurisation, shard
writing and the final merge. The MPI run starts this script again under
``mpiexec -n <workers+1> python -m mpi4py.futures`` (rank 0 runs the script, the other ranks
are the workers) and reads its timing back from a JSON file.

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
    t0 = time.perf_counter()
    summary = process(qc, make_config(workdir / label, modules), executor=executor)
    seconds = time.perf_counter() - t0
    out = Path(summary.output)
    return {
        "label": label,
        "queries": n,
        "seconds": seconds,
        "rate": n / seconds,
        "failed": len(summary.failures),
        "exactly_once": exactly_once(out, expected),
        "bytes": out.stat().st_size,
    }


def exactly_once(path: Path, expected: list[str]) -> bool:
    """True when the entries of ``path`` are the ``expected`` query ids, each once."""
    from deeprank_like.storage import FeatureFile

    with FeatureFile(path) as f:
        names = list(f.entries)
    return len(names) == len(expected) == len(set(expected)) and set(names) == set(expected)


def mpi_child(args: argparse.Namespace) -> int:
    """Rank 0 of an ``mpiexec ... -m mpi4py.futures`` run: time and write JSON."""
    from deeprank_like.processing import MPIExecutor

    with MPIExecutor(args.workers) as ex:
        result = run_once(ex, args.queries, Path(args.workdir), "mpi", args.modules)
    Path(args.json).write_text(json.dumps(result))
    return 0


def run_mpi(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    local = Path(sys.executable).parent / "mpiexec"
    mpiexec = str(local) if local.exists() else shutil.which("mpiexec")
    if mpiexec is None:
        raise SystemExit("no mpiexec on PATH: pip install mpich (or skip with --executors)")
    out = workdir / "mpi.json"
    cmd = [mpiexec, "-n", str(args.workers + 1), sys.executable, "-m", "mpi4py.futures",
           str(HERE), "--mpi-child", "--json", str(out), "--workdir", str(workdir),
           "--queries", str(args.queries), "--workers", str(args.workers),
           "--modules", args.modules]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        raise SystemExit(f"MPI run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(out.read_text())


def run_executor(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from deeprank_like.processing import DaskExecutor, ProcessExecutor

    if name == "mpi":
        return run_mpi(args, workdir)
    if name == "processes":
        executor: Any = ProcessExecutor(args.workers)
    elif name == "dask":
        executor = DaskExecutor(n_workers=args.workers)
    else:
        raise SystemExit(f"unknown executor {name!r}: processes, dask or mpi")
    with executor:
        return run_once(executor, args.queries, workdir, name, args.modules)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--queries", type=int, default=5000)
    p.add_argument("--baseline", type=int, default=300, help="queries of the serial run")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--executors", default="processes,dask,mpi")
    p.add_argument("--modules", default="default", help="'default', 'all' or a module list")
    p.add_argument("--mpi-child", action="store_true", help=argparse.SUPPRESS)
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
        with SerialExecutor() as ex:
            serial = run_once(ex, args.baseline, workdir, "serial", args.modules)
        r1 = serial["rate"]
        print(f"serial_queries_per_s: {r1:.2f} queries/s", flush=True)
        runs = {}
        for name in [e.strip() for e in args.executors.split(",") if e.strip()]:
            r = run_executor(name, args, workdir)
            runs[name] = r
            print(f"# {name}: {r['queries']} queries in {r['seconds']:.1f} s, "
                  f"{r['failed']} failed", flush=True)  # fmt: skip
            print(f"{name}_queries_per_s: {r['rate']:.2f} queries/s")
            print(f"{name}_efficiency: {100 * r['rate'] / (args.workers * r1):.1f} %")
            print(f"{name}_entries_exactly_once: {int(r['exactly_once'] and not r['failed'])}")
        ref = next(iter(runs.values()), serial)
        entry_bytes = ref["bytes"] / ref["queries"]
        print(f"entry_bytes: {entry_bytes:.0f} B")
        print(f"cpu_s_per_query: {1 / r1:.4f} s")
        print(f"projected_core_hours_1e6: {1e6 / r1 / 3600:.1f} h")
        print(f"projected_disk_gb_1e6: {entry_bytes * 1e6 / 1e9:.1f} GB")
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
