"""Real MPI (mpiexec + mpi4py.futures) and dask runs, when those optional extras are installed."""

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


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ref"
    return entries_of(
        process(make_collection(), prefix=out, executor="serial", verbose=False).output
    )


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def test_mpiexec_matches_serial(reference, tmp_path):
    pytest.importorskip("mpi4py", reason="optional extra: pip install 'deeprank_like[mpi]' mpich")
    mpiexec = _mpiexec()
    if mpiexec is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    prefix = tmp_path / "mpi"
    proc = subprocess.run(
        [
            mpiexec,
            "-n",
            "3",
            sys.executable,
            "-m",
            "mpi4py.futures",
            str(HERE / "mpi_target.py"),
            str(prefix),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "executor=mpi workers=2 processed=5" in proc.stdout
    assert_same_entries(reference, entries_of(f"{prefix}.hdf5"))


def test_dask_matches_serial(reference, tmp_path):
    pytest.importorskip("distributed", reason="optional extra: pip install 'deeprank_like[dask]'")
    summary = process(
        make_collection(), prefix=tmp_path / "dask", executor="dask", cpu_count=2, verbose=False
    )
    assert summary.executor == "dask" and summary.workers == 2 and summary.processed == 5
    assert_same_entries(reference, entries_of(summary.output))


def test_dask_client_object(reference, tmp_path):
    distributed = pytest.importorskip("distributed", reason="optional extra")
    with distributed.Client(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as client:
        summary = process(make_collection(), prefix=tmp_path / "c", executor=client, verbose=False)
        assert client.status == "running"  # not closed: it is the caller's
    assert_same_entries(reference, entries_of(summary.output))
