"""Run under ``mpiexec -n 3 python -m mpi4py.futures mpi_target.py PREFIX`` by the MPI test."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from processing_helpers import make_collection

from deeprank_like.processing import process

if __name__ == "__main__":
    summary = process(make_collection(), prefix=sys.argv[1], executor="mpi", verbose=False)
    print(f"executor={summary.executor} workers={summary.workers} processed={summary.processed}")
