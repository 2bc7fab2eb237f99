"""MPI with every rank featurising (``mpiexec -n 2 python script.py``, no manager rank)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from processing_helpers import assert_same_entries, entries_of, make_collection

from deeprank_like.processing import process

HERE = Path(__file__).parent


def _mpiexec() -> str:
    pytest.importorskip("mpi4py", reason="optional extra: pip install 'deeprank_like[mpi]' mpich")
    local = Path(sys.executable).parent / "mpiexec"
    found = str(local) if local.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    return found


def _run(prefix: Path, mode: str = "") -> subprocess.CompletedProcess:
    cmd = [_mpiexec(), "-n", "2", sys.executable, str(HERE / "mpi_world_target.py"), str(prefix)]
    return subprocess.run(
        [*cmd, *([mode] if mode else [])],
        capture_output=True,
        text=True,
        timeout=240,
        env=dict(os.environ),
    )


def test_every_rank_featurises_exactly_once_and_resumes(tmp_path):
    ref = entries_of(
        process(make_collection(), prefix=tmp_path / "ref", executor="serial", verbose=False).output
    )
    prefix = tmp_path / "world"
    proc = _run(prefix)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = sorted(line for line in proc.stdout.splitlines() if line.startswith("rank="))
    # both ranks return rank 0's summary: 5 written (by the two ranks), the bad query recorded
    assert lines == [
        f"rank={r} executor=mpi workers=2 processed=5 skipped=0 failed=2" for r in (0, 1)
    ], proc.stdout
    assert_same_entries(ref, entries_of(f"{prefix}.hdf5"))
    assert not list(tmp_path.glob("world.shard-*"))  # merged
    # each rank verified its own shard; the merge on rank 0 only copied (the failures table
    # has a file of its own, so rank 0's shard stays as its check left it)
    assert "merge_verified_shards=0" in proc.stdout, proc.stdout
    # an existing output without resume: rank 0's error reaches every rank, nobody hangs
    proc = _run(prefix)
    assert proc.returncode != 0
    assert "rank=0 error=StorageError" in proc.stdout
    assert "rank=1 error=DeeprankLikeError: the run stopped on MPI rank 0: StorageError" in (
        proc.stdout
    )
    # resume: nothing left to do; the ranks are released without a task list
    proc = _run(prefix, "resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank=1 executor=mpi workers=2 processed=0 skipped=5" in proc.stdout
    assert_same_entries(ref, entries_of(f"{prefix}.hdf5"))


def test_mpi_world_applies_only_to_plain_mpiexec_ranks(monkeypatch):
    from deeprank_like.processing.executors_mpi import mpi_world

    assert mpi_world("processes") is None and mpi_world(None) is None
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # not installed: MPIExecutor says so
    assert mpi_world("mpi") is None
