"""Run under ``mpiexec -n 2 python mpi_world_target.py PREFIX [resume|again]`` by the MPI
tests: every rank featurises (no ``-m mpi4py.futures``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from processing_helpers import make_collection

from deeprank_like.processing import process

if __name__ == "__main__":
    from mpi4py import MPI

    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    rank = MPI.COMM_WORLD.Get_rank()
    try:
        summary = process(
            make_collection(), prefix=sys.argv[1], executor="mpi", verbose=False,
            resume=mode == "resume",
        )  # fmt: skip
    except Exception as exc:
        print(f"rank={rank} error={type(exc).__name__}: {exc}", flush=True)
        sys.exit(3)
    print(
        f"rank={rank} executor={summary.executor} workers={summary.workers} "
        f"processed={summary.processed} skipped={summary.skipped} "
        f"failed={len(summary.failures)}",
        flush=True,
    )
