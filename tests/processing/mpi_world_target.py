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

    import deeprank_like.storage.merge as merge_module

    checked: list[str] = []  # shards the merge verified itself (the ranks verify their own)
    check_file = merge_module.check_file

    def recording(f, names=None):
        checked.append(f.filename)
        return check_file(f, names=names)

    merge_module.check_file = recording
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
    if rank == 0:
        ranks = [p for p in checked if ".shard-" in p and not p.endswith("-failures.hdf5")]
        print(f"merge_verified_shards={len(ranks)}", flush=True)
