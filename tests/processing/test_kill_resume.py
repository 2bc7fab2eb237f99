"""A run killed with SIGKILL and resumed loses nothing and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
from processing_helpers import assert_same_entries, entries_of

from deeprank_like.processing import output_paths, process
from deeprank_like.storage import read_failures

HERE = Path(__file__).parent


def _complete_entries(paths):
    n = 0
    for path in paths:
        try:
            with h5py.File(path, "r", locking=False) as f:
                n += sum(1 for k in f if not k.startswith("_") and f[k].attrs.get("complete") == 1)
        except Exception:  # being written right now
            pass
    return n


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigkill_then_resume(tmp_path, monkeypatch):
    from drl_test_modules import Slow
    from kill_target import collection

    prefix = tmp_path / "run"
    env = dict(os.environ, DRL_TEST_SLEEP="0.4")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "kill_target.py"), str(prefix)],
        env=env,
        start_new_session=True,  # its own process group: we kill the workers too
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            _, shards = output_paths(prefix)
            if _complete_entries(shards) >= 3:
                break
            if proc.poll() is not None:
                pytest.fail(f"the run ended before it was killed: {proc.stderr.read().decode()}")
            time.sleep(0.05)
        else:
            pytest.fail("no entries written within 60 s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    out, shards = output_paths(prefix)
    assert not Path(out).exists() and shards
    written = _complete_entries(shards)
    qc = collection()
    assert 3 <= written < len(qc)

    monkeypatch.setenv("DRL_TEST_SLEEP", "0.02")
    modules = ["components", "contact", Slow()]
    summary = process(
        qc, prefix=prefix, feature_modules=modules, executor="serial", resume=True, verbose=False
    )
    assert summary.skipped >= written  # entries finished after our count are kept too
    assert summary.skipped + summary.processed == len(qc) and summary.failed == 0
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".unreadable")] == [
        "run.hdf5"
    ]
    with h5py.File(summary.output) as f:
        names = [k for k in f if not k.startswith("_")]
        assert len(names) == len(set(names)) == len(qc)
        assert "_tmp" not in f or len(f["_tmp"]) == 0
        assert f.attrs["entry_count"] == len(qc)
    assert read_failures(summary.output) == []

    reference = process(
        qc, prefix=tmp_path / "ref", feature_modules=modules, executor="serial", verbose=False
    )
    assert_same_entries(entries_of(reference.output), entries_of(summary.output))
